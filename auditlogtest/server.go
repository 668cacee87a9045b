package auditlogtest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"maps"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

const (
	docsREST       = "https://docs.github.com/rest"
	docsRateLimits = "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api"
	docsSecondary  = "https://docs.github.com/free-pro-team@latest/rest/overview/rate-limits-for-the-rest-api#about-secondary-rate-limits"
	docsAuditLog   = "https://docs.github.com/rest/enterprise-admin/audit-log#get-the-audit-log-for-an-enterprise"
	docsCreate     = "https://docs.github.com/rest/enterprise-admin/audit-log#create-an-audit-log-streaming-configuration-for-an-enterprise"
	docsUpdate     = "https://docs.github.com/rest/enterprise-admin/audit-log#update-an-existing-audit-log-stream-configuration"
	docsScopes     = "https://docs.github.com/apps/oauth-apps/building-oauth-apps/scopes-for-oauth-apps"
	docsRateLimit  = "https://docs.github.com/rest/rate-limit/rate-limit#get-rate-limit-status-for-the-authenticated-user"

	defaultAPIVersion = "2022-11-28"
	contentTypeJSON   = "application/json; charset=utf-8"
)

var supportedVersions = []string{"2022-11-28", "2026-03-10"}

// EnterpriseServerVersion is the X-GitHub-Enterprise-Version that
// [WithEnterpriseServer] mode sends: a release that serves both API
// versions the fake accepts.
const EnterpriseServerVersion = "3.21.0"

// Server is a running fake of GitHub's enterprise audit-log and audit-log
// stream REST API. All methods are safe for concurrent use.
type Server struct {
	cfg  config
	t    testing.TB // set by New
	ts   *httptest.Server
	base string // scheme and host of URL(), without /api/v3
	once sync.Once

	mu        sync.Mutex
	closed    bool
	active    int                           // in-memory requests in flight
	idle      chan struct{}                 // closed by the last of them after Close
	sleepers  map[uint64]context.CancelFunc // requests waiting in an injected latency
	data      *Dataset                      // shared, never modified
	events    []*event                      // data's events plus added ones, sorted ascending
	orgs      []Org                         // the organizations served (WithOrganizations, or the events')
	orgIdx    orgSet                        // orgs by login and ID
	ownEvents bool                          // events is this server's copy, not data's shared slice
	added     map[string]bool
	rng       *rand.Rand
	seq       uint64 // requests received
	secondary int    // requests counted for Faults.SecondaryEvery
	rules     []*rule
	budgets   map[budgetKey]*budget
	log       []Request     // in arrival order
	logged    chan struct{} // closed when a request is logged, if someone waits
	revoked   map[string]bool
	streams   map[int64]*stream
	nextID    int64
	secrets   map[int64]map[string]string
	key       streamKey
	keyRand   io.Reader
}

// NewServer starts a fake, on 127.0.0.1 unless [WithoutListener] is given.
// It panics when an option is invalid (e.g. an event without "@timestamp"),
// like [httptest.NewServer] panics when it cannot listen; [New] fails the
// test instead. Call [Server.Close] when done.
func NewServer(opts ...Option) *Server {
	s, err := newServer(opts)
	if err != nil {
		panic(err.Error())
	}
	return s
}

// New starts a fake for the test t: it fails the test (t.Fatal) when an
// option is invalid, closes the server when the test and its subtests end
// (t.Cleanup), and a misuse later on (such as [Server.Events] with an
// unknown include) fails the test instead of panicking.
func New(t testing.TB, opts ...Option) *Server {
	t.Helper()
	s, err := newServer(opts)
	if err != nil {
		t.Fatal(err)
		return nil
	}
	s.t = t
	t.Cleanup(s.Close)
	return s
}

func newServer(opts []Option) (*Server, error) {
	cfg := defaultConfig()
	for _, o := range opts {
		if o != nil {
			o(&cfg)
		}
	}
	if cfg.err != nil {
		return nil, cfg.err
	}
	if err := cfg.faults.validate(); err != nil {
		return nil, err
	}
	if cfg.ghes && !cfg.limitsSet {
		cfg.noRateLimits = true // GitHub Enterprise Server ships with rate limits off
	}
	data := cfg.data
	if data == nil {
		var err error
		if cfg.eventsSet {
			data, err = NewDataset(cfg.events...)
		} else {
			g := cfg.gen.resolve(cfg.now, cfg.enterprise, cfg.enterpriseID)
			if err = g.validate(); err == nil {
				data, err = cachedDataset(g.key(), g.dataset)
			}
		}
		if err != nil {
			return nil, err
		}
	}
	s := &Server{
		cfg:      cfg,
		sleepers: map[uint64]context.CancelFunc{},
		data:     data,
		events:   data.evs,
		rng:      rand.New(rand.NewPCG(uint64(cfg.seed), 0x5eed_fa017)),
		budgets:  map[budgetKey]*budget{},
		revoked:  map[string]bool{},
		streams:  map[int64]*stream{},
		secrets:  map[int64]map[string]string{},
		nextID:   1,
		orgs:     slices.Clone(data.orgs),
	}
	if cfg.orgsSet {
		s.orgs = slices.Clone(cfg.orgs)
	}
	for i, o := range s.orgs {
		s.orgIdx.index(o, i)
	}
	var seedBytes [32]byte
	copy(seedBytes[:], "auditlogtest stream key seed....")
	for i := 0; i < 8; i++ {
		seedBytes[i] = byte(uint64(cfg.seed) >> (8 * i))
	}
	s.keyRand = rand.NewChaCha8(seedBytes)
	s.rotateKeyLocked()

	switch {
	case cfg.noListener && cfg.tls:
		s.base = "https://127.0.0.1:0"
	case cfg.noListener:
		s.base = "http://127.0.0.1:0"
	default:
		s.ts = httptest.NewUnstartedServer(http.HandlerFunc(s.serveHTTP))
		s.ts.Config.ErrorLog = log.New(quietHandshakes{os.Stderr}, "", log.LstdFlags)
		if cfg.tls {
			s.ts.StartTLS()
		} else {
			s.ts.Start()
		}
		s.base = s.ts.URL
	}
	return s, nil
}

// quietHandshakes drops the server's "TLS handshake error" lines, which a
// client refusing the test certificate (often what a test checks) causes.
type quietHandshakes struct{ w io.Writer }

func (q quietHandshakes) Write(p []byte) (int, error) {
	if bytes.Contains(p, []byte("TLS handshake error")) {
		return len(p), nil
	}
	return q.w.Write(p)
}

// URL returns the base URL, e.g. "http://127.0.0.1:1234", with "/api/v3"
// appended in [WithEnterpriseServer] mode. With [WithoutListener] nothing
// listens there: the host is 127.0.0.1 port 0 (which the SDK accepts as
// loopback over plain http, and no dial can reach), and only
// [Server.Transport] and [Server.Client] serve it.
func (s *Server) URL() string {
	if s.cfg.ghes {
		return s.base + "/api/v3"
	}
	return s.base
}

// Token returns a valid token: the first one given to [WithToken], or [DefaultToken].
func (s *Server) Token() string { return s.cfg.tokens[0] }

// Enterprise returns the enterprise slug.
func (s *Server) Enterprise() string { return s.cfg.enterprise }

// EnterpriseID returns the numeric enterprise ID.
func (s *Server) EnterpriseID() int64 { return s.cfg.enterpriseID }

// Now returns the server's time: its clock ([WithClock]), which inside a
// synctest bubble is the bubble's fake time by default.
func (s *Server) Now() time.Time { return s.now() }

// Client returns an HTTP client for the server that adds no Authorization
// header: over TCP (trusting the server's certificate with [WithTLS]), or
// through [Server.Transport] with [WithoutListener].
func (s *Server) Client() *http.Client {
	if s.ts == nil {
		return &http.Client{Transport: s.Transport()}
	}
	return s.ts.Client()
}

// Close stops the server: requests waiting in an injected latency are
// aborted (the client sees a connection error, never a response), requests
// in flight are waited for, and no goroutine of the server is left behind.
// Later requests through [Server.Transport] fail as a refused connection
// would. It is safe to call more than once.
func (s *Server) Close() {
	s.once.Do(func() {
		s.mu.Lock()
		s.closed = true
		var idle chan struct{}
		if s.active > 0 {
			idle = make(chan struct{})
			s.idle = idle
		}
		sleepers := slices.Collect(maps.Values(s.sleepers))
		if s.logged != nil {
			close(s.logged) // WaitRequests sees closed
			s.logged = nil
		}
		s.mu.Unlock()
		for _, cancel := range sleepers {
			cancel()
		}
		if s.ts != nil {
			s.ts.Close()
		}
		if idle != nil {
			<-idle
		}
	})
}

// fail reports a misuse: it fails the test of a server from New, and
// panics otherwise.
func (s *Server) fail(format string, args ...any) {
	msg := fmt.Sprintf("auditlogtest: "+format, args...)
	if s.t != nil {
		s.t.Helper()
		s.t.Fatal(msg)
		return
	}
	panic(msg)
}

// response is what a handler produces; it is written by serveHTTP.
type response struct {
	status int
	header http.Header
	body   []byte
}

func newResponse(status int) *response {
	return &response{status: status, header: http.Header{}}
}

type apiFieldError struct {
	Resource string `json:"resource"`
	Field    string `json:"field"`
	Code     string `json:"code"`
	Message  string `json:"message"`
}

type apiError struct {
	Message          string          `json:"message"`
	Errors           []apiFieldError `json:"errors,omitempty"`
	DocumentationURL string          `json:"documentation_url"`
}

// encodeJSON marshals v compactly without HTML escaping, as GitHub sends JSON.
func encodeJSON(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimRight(b.Bytes(), "\n"), nil
}

// marshal is encodeJSON for the fake's own values, which always marshal.
func marshal(v any) []byte {
	b, err := encodeJSON(v)
	if err != nil {
		panic(err)
	}
	return b
}

func jsonResponse(status int, v any) *response {
	r := newResponse(status)
	r.header.Set("Content-Type", contentTypeJSON)
	r.body = marshal(v)
	return r
}

func errorResponse(status int, message, docs string) *response {
	return jsonResponse(status, apiError{Message: message, DocumentationURL: docs})
}

func notFound() *response { return errorResponse(http.StatusNotFound, "Not Found", docsREST) }

// outcome is the result of processing one request.
type outcome struct {
	resp     *response
	resource string
	fault    string
	reset    bool // reset the connection instead of answering
	truncate bool // truncate the body
	aborted  bool // the client went away or the server closed
}

func (s *Server) now() time.Time { return s.cfg.now() }

// apiPath is the request path without the /api/v3 prefix of GHES mode.
func (s *Server) apiPath(p string) string {
	if s.cfg.ghes {
		if rest, ok := strings.CutPrefix(p, "/api/v3"); ok {
			return rest
		}
	}
	return p
}

// serve processes one request, over TCP or in memory, and logs it before
// the answer is written: a client that has its response finds its request
// in Requests().
func (s *Server) serve(r *http.Request) outcome {
	s.mu.Lock()
	s.seq++
	n, arrived := s.seq, s.now() // together, so Seq and Time agree
	s.mu.Unlock()
	entry := Request{
		Seq:      int(n),
		Method:   r.Method,
		Path:     r.URL.Path,
		RawQuery: r.URL.RawQuery,
		Header:   redactedHeader(r.Header),
		Time:     arrived,
	}
	out := s.process(r, n)
	entry.Resource, entry.Fault = out.resource, out.fault
	if !out.aborted && !out.reset {
		id := requestID(s.cfg.seed, n)
		h := out.resp.header
		h.Set("X-GitHub-Request-Id", id)
		// GitHub dates every response on its own clock; clients that
		// correct x-ratelimit-reset for clock skew read it.
		h.Set("Date", s.now().UTC().Format(http.TimeFormat))
		if s.cfg.ghes {
			h.Set("X-GitHub-Enterprise-Version", EnterpriseServerVersion)
		}
		entry.Status, entry.RequestID = out.resp.status, id
	}
	s.mu.Lock()
	s.logLocked(entry)
	s.mu.Unlock()
	return out
}

func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	out := s.serve(r)
	switch {
	case out.aborted:
		// The client is gone, or the server is closing during an injected
		// latency: end the connection without a response, as a server
		// going down does (never a 200 with an empty body).
		panic(http.ErrAbortHandler)
	case out.reset:
		resetConn(w)
	case out.truncate && len(out.resp.body) > 0:
		if !writeTruncated(w, out.resp) {
			writeResponse(w, out.resp)
		}
	default:
		writeResponse(w, out.resp)
	}
}

func requestID(seed int64, n uint64) string {
	return fmt.Sprintf("C0DE:%04X:%06X:%07X:%08X", uint16(seed), n, (n*7919)&0xFFFFFFF, 0x66A00000+n)
}

func writeResponse(w http.ResponseWriter, resp *response) {
	h := w.Header()
	for k, v := range resp.header {
		h[k] = v
	}
	if resp.status != http.StatusNoContent {
		h.Set("Content-Length", strconv.Itoa(len(resp.body)))
	}
	w.WriteHeader(resp.status)
	if len(resp.body) > 0 {
		_, _ = w.Write(resp.body)
	}
}

// writeTruncated hijacks the connection, writes the full headers (with the
// real Content-Length) and half the body, then closes the connection.
func writeTruncated(w http.ResponseWriter, resp *response) bool {
	hj, ok := w.(http.Hijacker)
	if !ok {
		return false
	}
	conn, bufrw, err := hj.Hijack()
	if err != nil {
		return false
	}
	defer conn.Close()
	h := resp.header.Clone()
	h.Set("Content-Length", strconv.Itoa(len(resp.body)))
	if h.Get("Date") == "" {
		h.Set("Date", time.Now().UTC().Format(http.TimeFormat))
	}
	fmt.Fprintf(bufrw, "HTTP/1.1 %d %s\r\n", resp.status, http.StatusText(resp.status))
	_ = h.Write(bufrw)
	_, _ = bufrw.WriteString("\r\n")
	_, _ = bufrw.Write(resp.body[:len(resp.body)/2])
	_ = bufrw.Flush()
	return true
}

// resetConn hijacks the connection and closes it with SO_LINGER 0, so the
// peer sees a reset rather than an orderly close.
func resetConn(w http.ResponseWriter) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		return
	}
	conn, _, err := hj.Hijack()
	if err != nil {
		return
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = conn.Close()
}

// sleep waits d for request seq, returning false when the request ended or
// the server closed first. Only the request's own goroutine makes the
// channels it waits on, so inside a synctest bubble the wait is durably
// blocking even for a server made outside the bubble.
func (s *Server) sleep(r *http.Request, seq uint64, d time.Duration) bool {
	if d <= 0 {
		return true
	}
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return false
	}
	s.sleepers[seq] = cancel
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.sleepers, seq)
		s.mu.Unlock()
	}()
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// serverError is GitHub's HTML error page with status (500 when 0).
func serverError(status int) *response {
	if status == 0 {
		status = http.StatusInternalServerError
	}
	r := newResponse(status)
	r.header.Set("Content-Type", "text/html; charset=utf-8")
	r.body = []byte(fmt.Sprintf("<!DOCTYPE html>\n<html>\n<head><meta http-equiv=\"Content-Type\" content=\"text/html; charset=utf-8\"><title>%d %s &middot; GitHub</title></head>\n<body>\n<h1>%s</h1>\n<p>We had issues producing the response to your request. Sorry about that. Please try resubmitting your request and contact us if the problem persists.</p>\n</body>\n</html>\n",
		status, http.StatusText(status), "Unicorn! &middot; GitHub"))
	return r
}

// customResponse is a FaultResponse's answer.
func customResponse(f Fault) *response {
	r := newResponse(f.Status)
	for k, v := range f.Header {
		r.header[http.CanonicalHeaderKey(k)] = slices.Clone(v)
	}
	if f.Body == "" {
		if f.Status == http.StatusNoContent || f.Status == http.StatusNotModified {
			return r
		}
		r.body = marshal(apiError{Message: http.StatusText(f.Status), DocumentationURL: docsREST})
		r.header.Set("Content-Type", contentTypeJSON)
		return r
	}
	r.body = []byte(f.Body)
	if r.header.Get("Content-Type") == "" {
		if json.Valid(r.body) {
			r.header.Set("Content-Type", contentTypeJSON)
		} else {
			r.header.Set("Content-Type", "text/plain; charset=utf-8")
		}
	}
	return r
}

// process handles request number seq up to the response it gets.
func (s *Server) process(r *http.Request, seq uint64) outcome {
	reqID := requestID(s.cfg.seed, seq)
	// 1. Authentication.
	tok := tokenFrom(r)
	if tok == "" {
		return outcome{resp: errorResponse(http.StatusUnauthorized, "Requires authentication", docsREST)}
	}
	if !s.validToken(tok) {
		return outcome{resp: badCredentials()}
	}
	// 2. API version.
	version := defaultAPIVersion
	if v := r.Header.Get("X-GitHub-Api-Version"); v != "" {
		if !slices.Contains(supportedVersions, v) {
			return outcome{resp: errorResponse(http.StatusBadRequest,
				fmt.Sprintf("Unsupported 'X-GitHub-Api-Version' header: %s. Supported versions are: %s", v, strings.Join(supportedVersions, ", ")),
				"https://docs.github.com/rest/about-the-rest-api/api-versions")}
		}
		version = v
	}
	// 3. Faults. An injected latency delays the answer: a request that is
	// served is counted when it arrives (GitHub counts a request before it
	// runs it), and answered once the latency has passed.
	var out outcome
	f, hasFault, latency := s.pickFault(r.Method, s.apiPath(r.URL.Path), r.URL.Query())
	if hasFault {
		out.fault = f.Kind.String()
		if f.Kind == FaultLatency {
			latency += f.Latency
		}
	}
	answer := func() outcome {
		if !s.sleep(r, seq, latency) {
			out.aborted = true
		}
		return out
	}
	if hasFault {
		switch f.Kind {
		case FaultServerError:
			out.resp = serverError(f.Status)
			return answer()
		case FaultReset:
			out.reset = true
			return answer()
		case FaultTruncate:
			out.truncate = true
		case FaultResponse:
			out.resp = customResponse(f)
			return answer()
		case FaultRevokeToken:
			s.RevokeToken(tok)
			out.resp = badCredentials()
			return answer()
		}
	}
	// 4. Route and enterprise.
	rt, ok := s.route(r)
	if !ok {
		out.resp = notFound()
		return answer()
	}
	out.resource = rt.resource
	if rt.kind == routeRateLimit {
		s.mu.Lock()
		out.resp = s.rateLimitLocked(tok, version, f, hasFault, reqID)
		s.mu.Unlock()
		return answer()
	}
	var body []byte
	if r.Method == http.MethodPost || r.Method == http.MethodPut {
		var err error
		if body, err = io.ReadAll(io.LimitReader(r.Body, 1<<20)); err != nil {
			out.aborted = true
			return out
		}
	}
	out.resp = s.accountLocked(r, rt, tok, version, reqID, f, hasFault, body)
	return answer()
}

// accountLocked checks the token's scope and budget and runs the handler,
// under the server's lock: the response, or the refusal.
func (s *Server) accountLocked(r *http.Request, rt route, tok, version, reqID string, f Fault, hasFault bool, body []byte) (resp *response) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	b := s.budgetLocked(budgetKey{tok, rt.resource, rt.entity}, now)
	defer func() {
		// Every answer past routing says what the token may do.
		s.scopeHeaders(resp.header, tok, rt.resource)
	}()
	// 5. Scopes: a refusal consumes no budget.
	if need := requiredScope(rt.resource); !s.hasScope(tok, need) {
		resp = errorResponse(http.StatusForbidden, fmt.Sprintf("Resource not accessible: this endpoint needs the %s scope, which the token does not have.", need), docsScopes)
		b.setHeaders(resp.header, rt.resource)
		return resp
	}
	// 6. Rate accounting (and the rate-limit faults, which need the resource).
	if hasFault {
		switch f.Kind {
		case FaultPrimary403, FaultPrimary429:
			b.used = b.limit
			resp = primaryRefusal(f.Kind == FaultPrimary429, reqID)
			b.setHeaders(resp.header, rt.resource)
			return resp
		case FaultPrimary403Once, FaultPrimary429Once:
			shown := budget{limit: b.limit, used: b.limit, reset: b.reset}
			if f.RetryAfter > 0 {
				shown.reset = now.Add(f.RetryAfter)
			}
			resp = primaryRefusal(f.Kind == FaultPrimary429Once, reqID)
			shown.setHeaders(resp.header, rt.resource)
			return resp
		case FaultSecondary403, FaultSecondary429, FaultSecondaryBare:
			resp = secondaryRefusal(f, reqID)
			if f.Kind != FaultSecondaryBare {
				b.setHeaders(resp.header, rt.resource)
			}
			return resp
		}
	}
	if b.used >= b.limit && !b.off {
		resp = primaryRefusal(false, reqID)
		b.setHeaders(resp.header, rt.resource)
		return resp
	}
	b.used++
	// 7. Handler.
	resp = s.handleLocked(r, rt, body, now)
	b.setHeaders(resp.header, rt.resource)
	resp.header.Set("X-GitHub-Api-Version-Selected", version)
	resp.header.Set("X-GitHub-Media-Type", "github.v3; format=json")
	return resp
}

// secondaryRefusal is GitHub's answer to a request past a secondary limit:
// 403 (429 for FaultSecondary429) with its message and, but for
// FaultSecondaryBare, retry-after.
func secondaryRefusal(f Fault, reqID string) *response {
	status := http.StatusForbidden
	if f.Kind == FaultSecondary429 {
		status = http.StatusTooManyRequests
	}
	r := errorResponse(status, "You have exceeded a secondary rate limit. Please wait a few minutes before you try again. If you reach out to GitHub Support for help, please include the request ID "+reqID+".", docsSecondary)
	if f.Kind != FaultSecondaryBare {
		r.header.Set("Retry-After", strconv.Itoa(retryAfterSeconds(f.RetryAfter)))
	}
	return r
}

func primaryRefusal(tooMany bool, reqID string) *response {
	status := http.StatusForbidden
	if tooMany {
		status = http.StatusTooManyRequests
	}
	return errorResponse(status, "API rate limit exceeded for user ID 1. If you reach out to GitHub Support for help, please include the request ID "+reqID+".", docsRateLimits)
}

type routeKind int

const (
	routeAuditLog routeKind = iota + 1
	routeStreamKey
	routeStreams
	routeStream
	routeRateLimit // GET /rate_limit: no resource, counted against none
)

type route struct {
	kind     routeKind
	resource string
	streamID int64
	// entity is the account whose budget the request counts against, for
	// the audit log (see orgEntity); "" for the stream endpoints, whose
	// budget is the token's.
	entity string
	org    *Org // the organization of an organization's audit log
}

// route resolves the path and method; false means 404.
func (s *Server) route(r *http.Request) (route, bool) {
	p := r.URL.Path
	if s.cfg.ghes {
		var ok bool
		if p, ok = strings.CutPrefix(p, "/api/v3"); !ok {
			return route{}, false
		}
	}
	if p == PathRateLimit {
		if r.Method == http.MethodGet {
			return route{kind: routeRateLimit}, true
		}
		return route{}, false
	}
	parts := strings.Split(strings.TrimPrefix(p, "/"), "/")
	if len(parts) < 3 || parts[2] != "audit-log" {
		return route{}, false
	}
	if parts[0] == "orgs" || parts[0] == "organizations" {
		// An organization's audit log, by login or (as its Link headers
		// name it) by ID; it has no stream endpoints.
		s.mu.Lock()
		o, ok := s.orgLocked(parts[1], parts[0] == "organizations")
		s.mu.Unlock()
		if !ok || len(parts) != 3 || r.Method != http.MethodGet {
			return route{}, false
		}
		return route{kind: routeAuditLog, resource: ResourceAuditLog, entity: orgEntity(o), org: &o}, true
	}
	if parts[0] != "enterprises" || !s.isEnterprise(parts[1]) {
		return route{}, false
	}
	rest := parts[3:]
	switch {
	case len(rest) == 0:
		if r.Method == http.MethodGet {
			return route{kind: routeAuditLog, resource: ResourceAuditLog, entity: s.enterpriseEntity()}, true
		}
		return route{}, false
	case s.cfg.ghes:
		return route{}, false // stream endpoints are GitHub-Cloud-only
	case len(rest) == 1 && rest[0] == "stream-key":
		if r.Method == http.MethodGet {
			return route{kind: routeStreamKey, resource: ResourceAuditLogStreaming}, true
		}
	case len(rest) == 1 && rest[0] == "streams":
		if r.Method == http.MethodGet || r.Method == http.MethodPost {
			return route{kind: routeStreams, resource: ResourceAuditLogStreaming}, true
		}
	case len(rest) == 2 && rest[0] == "streams":
		id, err := strconv.ParseInt(rest[1], 10, 64)
		if err != nil || id < 1 {
			return route{}, false
		}
		switch r.Method {
		case http.MethodGet, http.MethodPut, http.MethodDelete:
			return route{kind: routeStream, resource: ResourceAuditLogStreaming, streamID: id}, true
		}
	}
	return route{}, false
}

func (s *Server) handleLocked(r *http.Request, rt route, body []byte, now time.Time) *response {
	switch rt.kind {
	case routeAuditLog:
		return s.auditLogLocked(r, rt.org, now)
	case routeStreamKey:
		return s.streamKeyLocked()
	case routeStreams:
		if r.Method == http.MethodPost {
			return s.createStreamLocked(body, now)
		}
		return s.listStreamsLocked()
	case routeStream:
		switch r.Method {
		case http.MethodPut:
			return s.updateStreamLocked(body, rt.streamID, now)
		case http.MethodDelete:
			return s.deleteStreamLocked(rt.streamID)
		}
		return s.getStreamLocked(rt.streamID)
	}
	return notFound()
}
