package auditlogtest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"time"
)

const (
	docsREST       = "https://docs.github.com/rest"
	docsRateLimits = "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api"
	docsSecondary  = "https://docs.github.com/free-pro-team@latest/rest/overview/rate-limits-for-the-rest-api#about-secondary-rate-limits"
	docsAuditLog   = "https://docs.github.com/rest/enterprise-admin/audit-log#get-the-audit-log-for-an-enterprise"
	docsCreate     = "https://docs.github.com/rest/enterprise-admin/audit-log#create-an-audit-log-streaming-configuration-for-an-enterprise"
	docsUpdate     = "https://docs.github.com/rest/enterprise-admin/audit-log#update-an-existing-audit-log-stream-configuration"

	defaultAPIVersion = "2022-11-28"
	contentTypeJSON   = "application/json; charset=utf-8"
)

var supportedVersions = []string{"2022-11-28", "2026-03-10"}

// Request is one entry of the server's request log. It never holds the
// Authorization header or request bodies.
type Request struct {
	Method   string
	Path     string
	RawQuery string
	// Status is the final status code, 0 when the connection was reset or
	// the request was abandoned.
	Status int
	// Resource is the rate-limit resource the request was routed to, if any.
	Resource string
	// Fault is the injected fault's name (see [FaultKind.String]), if any.
	Fault string
	// Time is the server clock when the request arrived.
	Time time.Time
}

// Server is a running fake of GitHub's enterprise audit-log and audit-log
// stream REST API. All methods are safe for concurrent use.
type Server struct {
	cfg  config
	ts   *httptest.Server
	done chan struct{}
	once sync.Once

	mu        sync.Mutex
	events    []*event // sorted by (@timestamp, _document_id) ascending
	ids       map[string]bool
	rng       *rand.Rand
	seq       uint64 // requests received
	secondary int    // requests counted for Faults.SecondaryEvery
	script    []Fault
	budgets   map[budgetKey]*budget
	log       []Request
	streams   map[int64]*stream
	nextID    int64
	secrets   map[int64]map[string]string
	key       streamKey
	keyRand   io.Reader
}

// NewServer starts a fake on 127.0.0.1. It panics when the options are
// invalid (e.g. an event without "@timestamp"), like [httptest.NewServer]
// panics when it cannot listen. Call [Server.Close] when done.
func NewServer(opts ...Option) *Server {
	cfg := defaultConfig()
	for _, o := range opts {
		if o != nil {
			o(&cfg)
		}
	}
	s := &Server{
		cfg:     cfg,
		done:    make(chan struct{}),
		ids:     map[string]bool{},
		rng:     rand.New(rand.NewPCG(uint64(cfg.seed), 0x5eed_fa017)),
		budgets: map[budgetKey]*budget{},
		streams: map[int64]*stream{},
		secrets: map[int64]map[string]string{},
		nextID:  1,
	}
	var seedBytes [32]byte
	copy(seedBytes[:], "auditlogtest stream key seed....")
	for i := 0; i < 8; i++ {
		seedBytes[i] = byte(uint64(cfg.seed) >> (8 * i))
	}
	s.keyRand = rand.NewChaCha8(seedBytes)
	s.rotateKeyLocked()

	raw := cfg.events
	if !cfg.eventsSet {
		raw = generateEvents(cfg.genN, cfg.genSeed, cfg.now(), cfg.enterprise, cfg.enterpriseID)
	}
	evs := make([]*event, 0, len(raw))
	for i, r := range raw {
		ev, err := parseEvent(r)
		if err != nil {
			panic(fmt.Sprintf("auditlogtest: event %d: %v", i, err))
		}
		if s.ids[ev.id] {
			panic(fmt.Sprintf("auditlogtest: event %d: duplicate _document_id %q", i, ev.id))
		}
		s.ids[ev.id] = true
		evs = append(evs, ev)
	}
	sortEvents(evs)
	s.events = evs

	s.ts = httptest.NewServer(http.HandlerFunc(s.serveHTTP))
	return s
}

// URL returns the base URL, e.g. "http://127.0.0.1:1234", with "/api/v3"
// appended in [WithEnterpriseServer] mode.
func (s *Server) URL() string {
	if s.cfg.ghes {
		return s.ts.URL + "/api/v3"
	}
	return s.ts.URL
}

// Token returns a valid token: the first one given to [WithToken], or [DefaultToken].
func (s *Server) Token() string { return s.cfg.tokens[0] }

// Enterprise returns the enterprise slug.
func (s *Server) Enterprise() string { return s.cfg.enterprise }

// EnterpriseID returns the numeric enterprise ID.
func (s *Server) EnterpriseID() int64 { return s.cfg.enterpriseID }

// Client returns a plain HTTP client configured for the server. It adds no
// Authorization header.
func (s *Server) Client() *http.Client { return s.ts.Client() }

// Close stops the server: pending injected latencies end at once, in-flight
// requests are waited for, and no goroutine of the server is left behind.
// It is safe to call more than once.
func (s *Server) Close() {
	s.once.Do(func() {
		close(s.done)
		s.ts.Close()
	})
}

// Script makes the next n requests (any endpoint, counted after the
// authentication and API-version checks) get fault f, ahead of the
// probability-based faults of [WithFaults].
func (s *Server) Script(f Fault, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := 0; i < n; i++ {
		s.script = append(s.script, f)
	}
}

// Requests returns a copy of the request log, in arrival order.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.log...)
}

// ResetRequests empties the request log.
func (s *Server) ResetRequests() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.log = nil
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

func marshal(v any) []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		panic(err) // only our own types are encoded
	}
	return bytes.TrimRight(b.Bytes(), "\n")
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

func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	arrived := s.now()
	s.mu.Lock()
	s.seq++
	n := s.seq
	s.mu.Unlock()
	reqID := requestID(s.cfg.seed, n)

	out := s.process(r, reqID)

	entry := Request{
		Method:   r.Method,
		Path:     r.URL.Path,
		RawQuery: r.URL.RawQuery,
		Resource: out.resource,
		Fault:    out.fault,
		Time:     arrived,
	}
	if !out.aborted && !out.reset {
		entry.Status = out.resp.status
	}
	// Log before answering: a client that has its response must find its
	// request in Requests().
	s.mu.Lock()
	s.log = append(s.log, entry)
	s.mu.Unlock()

	switch {
	case out.aborted:
		// Nothing to write: the client is gone or the server is closing.
	case out.reset:
		resetConn(w)
	default:
		out.resp.header.Set("X-GitHub-Request-Id", reqID)
		// GitHub dates every response on its own clock; clients that
		// correct x-ratelimit-reset for clock skew read it.
		out.resp.header.Set("Date", s.now().UTC().Format(http.TimeFormat))
		if out.truncate && len(out.resp.body) > 0 {
			if !writeTruncated(w, out.resp) {
				writeResponse(w, out.resp)
			}
		} else {
			writeResponse(w, out.resp)
		}
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

func tokenFrom(r *http.Request) string {
	h := r.Header.Get("Authorization")
	if h == "" {
		return ""
	}
	scheme, tok, ok := strings.Cut(strings.TrimSpace(h), " ")
	if !ok {
		return "\x00invalid"
	}
	switch strings.ToLower(scheme) {
	case "bearer", "token":
		return strings.TrimSpace(tok)
	}
	return "\x00invalid"
}

func (s *Server) validToken(tok string) bool {
	for _, t := range s.cfg.tokens {
		if t == tok {
			return true
		}
	}
	return false
}

// sleep waits d, returning false when the request or the server ended first.
func (s *Server) sleep(r *http.Request, d time.Duration) bool {
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-r.Context().Done():
		return false
	case <-s.done:
		return false
	}
}

// pickFault returns the fault for this request: scripted first, then the
// probabilistic ones, then SecondaryEvery. It also returns the latency to add.
func (s *Server) pickFault() (f Fault, ok bool, latency time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	fc := s.cfg.faults
	latency = fc.Latency
	if fc.Jitter > 0 {
		latency += time.Duration(s.rng.Int64N(int64(fc.Jitter) + 1))
	}
	if len(s.script) > 0 {
		f = s.script[0]
		s.script = s.script[1:]
		return f, true, latency
	}
	if fc.ServerError > 0 || fc.Reset > 0 || fc.Truncate > 0 {
		x := s.rng.Float64()
		switch {
		case x < fc.ServerError:
			return Fault{Kind: FaultServerError}, true, latency
		case x < fc.ServerError+fc.Reset:
			return Fault{Kind: FaultReset}, true, latency
		case x < fc.ServerError+fc.Reset+fc.Truncate:
			return Fault{Kind: FaultTruncate}, true, latency
		}
	}
	if fc.SecondaryEvery > 0 {
		s.secondary++
		if s.secondary%fc.SecondaryEvery == 0 {
			return Fault{Kind: FaultSecondary403, RetryAfter: fc.RetryAfter}, true, latency
		}
	}
	return Fault{}, false, latency
}

var serverErrorStatuses = []int{500, 502, 503, 504}

func (s *Server) serverError() *response {
	s.mu.Lock()
	status := serverErrorStatuses[s.rng.IntN(len(serverErrorStatuses))]
	s.mu.Unlock()
	r := newResponse(status)
	r.header.Set("Content-Type", "text/html; charset=utf-8")
	r.body = []byte(fmt.Sprintf("<!DOCTYPE html>\n<html>\n<head><meta http-equiv=\"Content-Type\" content=\"text/html; charset=utf-8\"><title>%d %s &middot; GitHub</title></head>\n<body>\n<h1>%s</h1>\n<p>We had issues producing the response to your request. Sorry about that. Please try resubmitting your request and contact us if the problem persists.</p>\n</body>\n</html>\n",
		status, http.StatusText(status), "Unicorn! &middot; GitHub"))
	return r
}

func (s *Server) process(r *http.Request, reqID string) outcome {
	// 1. Authentication.
	tok := tokenFrom(r)
	if tok == "" {
		return outcome{resp: errorResponse(http.StatusUnauthorized, "Requires authentication", docsREST)}
	}
	if !s.validToken(tok) {
		return outcome{resp: errorResponse(http.StatusUnauthorized, "Bad credentials", docsREST)}
	}
	// 2. API version.
	version := defaultAPIVersion
	if v := r.Header.Get("X-GitHub-Api-Version"); v != "" {
		ok := false
		for _, sv := range supportedVersions {
			ok = ok || v == sv
		}
		if !ok {
			return outcome{resp: errorResponse(http.StatusBadRequest,
				fmt.Sprintf("Unsupported 'X-GitHub-Api-Version' header: %s. Supported versions are: %s", v, strings.Join(supportedVersions, ", ")),
				"https://docs.github.com/rest/about-the-rest-api/api-versions")}
		}
		version = v
	}
	// 3. Faults.
	var out outcome
	f, hasFault, latency := s.pickFault()
	if hasFault {
		out.fault = f.Kind.String()
		if f.Kind == FaultLatency {
			latency += f.Latency
		}
	}
	if !s.sleep(r, latency) {
		out.aborted = true
		return out
	}
	if hasFault {
		switch f.Kind {
		case FaultServerError:
			out.resp = s.serverError()
			return out
		case FaultReset:
			out.reset = true
			return out
		case FaultTruncate:
			out.truncate = true
		}
	}
	// 4. Route and enterprise.
	rt, ok := s.route(r)
	if !ok {
		out.resp = notFound()
		return out
	}
	out.resource = rt.resource
	var body []byte
	if r.Method == http.MethodPost || r.Method == http.MethodPut {
		var err error
		if body, err = io.ReadAll(io.LimitReader(r.Body, 1<<20)); err != nil {
			out.aborted = true
			return out
		}
	}
	// 5. Rate accounting (and the rate-limit faults, which need the resource).
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	b := s.budgetLocked(tok, rt.resource, now)
	if hasFault {
		switch f.Kind {
		case FaultPrimary403, FaultPrimary429:
			b.used = b.limit
			status := http.StatusForbidden
			if f.Kind == FaultPrimary429 {
				status = http.StatusTooManyRequests
			}
			out.resp = primaryRefusal(status, reqID)
			b.setHeaders(out.resp.header, rt.resource)
			return out
		case FaultSecondary403, FaultSecondary429, FaultSecondaryBare:
			status := http.StatusForbidden
			if f.Kind == FaultSecondary429 {
				status = http.StatusTooManyRequests
			}
			out.resp = errorResponse(status, "You have exceeded a secondary rate limit. Please wait a few minutes before you try again. If you reach out to GitHub Support for help, please include the request ID "+reqID+".", docsSecondary)
			if f.Kind != FaultSecondaryBare {
				out.resp.header.Set("Retry-After", strconv.Itoa(retryAfterSeconds(f.RetryAfter)))
				b.setHeaders(out.resp.header, rt.resource)
			}
			return out
		}
	}
	if b.used >= b.limit && !b.off {
		out.resp = primaryRefusal(http.StatusForbidden, reqID)
		b.setHeaders(out.resp.header, rt.resource)
		return out
	}
	b.used++
	// 6. Handler.
	out.resp = s.handleLocked(r, rt, body, now)
	b.setHeaders(out.resp.header, rt.resource)
	out.resp.header.Set("X-GitHub-Api-Version-Selected", version)
	out.resp.header.Set("X-GitHub-Media-Type", "github.v3; format=json")
	return out
}

func primaryRefusal(status int, reqID string) *response {
	return errorResponse(status, "API rate limit exceeded for user ID 1. If you reach out to GitHub Support for help, please include the request ID "+reqID+".", docsRateLimits)
}

type routeKind int

const (
	routeAuditLog routeKind = iota + 1
	routeStreamKey
	routeStreams
	routeStream
)

type route struct {
	kind     routeKind
	resource string
	streamID int64
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
	parts := strings.Split(strings.TrimPrefix(p, "/"), "/")
	if len(parts) < 3 || parts[0] != "enterprises" || parts[2] != "audit-log" {
		return route{}, false
	}
	ent := parts[1]
	if !strings.EqualFold(ent, s.cfg.enterprise) && ent != strconv.FormatInt(s.cfg.enterpriseID, 10) {
		return route{}, false
	}
	rest := parts[3:]
	switch {
	case len(rest) == 0:
		if r.Method == http.MethodGet {
			return route{kind: routeAuditLog, resource: ResourceAuditLog}, true
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
		return s.auditLogLocked(r)
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
