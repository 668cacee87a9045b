package auditlog

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Version is the version of this SDK. It is part of the default User-Agent.
const Version = "0.2.0"

// DefaultAPIVersion is the REST API version sent in X-GitHub-Api-Version
// unless [WithAPIVersion] chooses another.
const DefaultAPIVersion = "2022-11-28"

// DefaultBaseURL is the REST API root of GitHub.com and GitHub Enterprise Cloud.
const DefaultBaseURL = "https://api.github.com"

const (
	defaultUserAgent = "ghaudit-go/" + Version + " (+https://github.com/ghaudit/auditlog)"
	// maxBodyBytes bounds a successful response body; a full page of 100
	// events is about 100 KB, so this leaves room for unusually large events
	// without letting a broken or hostile server exhaust memory.
	maxBodyBytes = 32 << 20
	// maxErrorBodyBytes bounds the body read from an error response.
	maxErrorBodyBytes = 1 << 20
)

// supportedAPIVersions lists the X-GitHub-Api-Version values accepted by
// [WithAPIVersion]. The audit-log operations are identical in both.
var supportedAPIVersions = []string{"2022-11-28", "2026-03-10"}

// Resource names GitHub uses in x-ratelimit-resource for the endpoints this
// SDK calls. GitHub counts audit_log per entity path as well: each [Scope]'s
// budget is kept under its own key ([BudgetKey]).
const (
	ResourceAuditLog          = "audit_log"
	ResourceAuditLogStreaming = "audit_log_streaming"
)

// A TokenSource supplies the token sent with each request. It is called once
// per attempt, so it can rotate tokens; it must be safe for concurrent use.
type TokenSource interface {
	Token(ctx context.Context) (string, error)
}

// TokenFunc adapts a function to a [TokenSource].
type TokenFunc func(ctx context.Context) (string, error)

// Token calls f.
func (f TokenFunc) Token(ctx context.Context) (string, error) { return f(ctx) }

// staticToken is the TokenSource behind WithToken. Its String method keeps
// the token out of %v output.
type staticToken string

func (t staticToken) Token(context.Context) (string, error) { return string(t), nil }
func (staticToken) String() string                          { return "[REDACTED]" }
func (staticToken) GoString() string                        { return "[REDACTED]" }

// An Option configures a [Client]. Options are applied in order by
// [NewClient]; each one validates its argument and names itself in its error.
type Option func(*settings) error

type settings struct {
	baseURL    *url.URL
	allowHTTP  bool
	httpClient *http.Client
	token      TokenSource
	apiVersion string
	userAgent  string
	logger     *slog.Logger

	limiter           Limiter
	rateLimits        map[string]RateLimit
	maxWait           time.Duration
	maxAttempts       int
	streamMaxAttempts int
	attemptTimeout    time.Duration

	streamKeyTTL time.Duration
	hooks        Hooks
	coldStart    bool // WithoutWarmStart
}

// WithToken authenticates every request with a personal access token
// (classic, with the read:audit_log or admin:enterprise scope) or an OAuth
// token. The token is sent only to the base URL's host.
func WithToken(token string) Option {
	return func(s *settings) error {
		if err := checkToken(token); err != nil {
			return optionError("WithToken", err.Error())
		}
		s.token = staticToken(token)
		return nil
	}
}

// WithTokenSource authenticates every request with a token from src, asked
// once per attempt, for tokens that rotate.
func WithTokenSource(src TokenSource) Option {
	return func(s *settings) error {
		if src == nil {
			return optionError("WithTokenSource", "token source is nil")
		}
		s.token = src
		return nil
	}
}

// WithBaseURL sets the REST API root, for example
// "https://api.octocorp.ghe.com" for GitHub Enterprise Cloud with data
// residency. The default is [DefaultBaseURL]. A plain http URL is accepted
// only for a loopback host, unless [WithInsecureHTTP] is also given. The
// path, if any, must be plain segments (letters, digits and -._~!$&'()*+,;=:@,
// no spaces, escapes, empty or dot segments); the host is lower-cased.
func WithBaseURL(rawURL string) Option {
	return func(s *settings) error {
		u, err := parseBaseURL(rawURL)
		if err != nil {
			return optionError("WithBaseURL", err.Error())
		}
		s.baseURL = u
		return nil
	}
}

// WithEnterpriseServer points the client at a GitHub Enterprise Server
// instance: host is its hostname (optionally with a port, or a full
// "https://host" URL) and the API root becomes https://host/api/v3.
func WithEnterpriseServer(host string) Option {
	return func(s *settings) error {
		raw := host
		if !strings.Contains(host, "://") {
			raw = "https://" + host
		}
		u, err := parseBaseURL(raw)
		if err != nil {
			return optionError("WithEnterpriseServer", err.Error())
		}
		if u.Path != "/" {
			return optionError("WithEnterpriseServer", "want a host name without a path, got "+quoteValue(host))
		}
		u.Path = "/api/v3/"
		s.baseURL = u
		return nil
	}
}

// WithInsecureHTTP allows a plain http base URL to a host that is not a
// loopback address. Tokens then cross the network unencrypted; use it only
// behind a trusted proxy.
func WithInsecureHTTP() Option {
	return func(s *settings) error {
		s.allowHTTP = true
		return nil
	}
}

// WithHTTPClient sends requests with a copy of hc (its Transport, Timeout,
// Jar and CheckRedirect are kept; hc itself is never modified). Redirects to
// another scheme or host than the base URL's are never followed, whatever
// hc's CheckRedirect says. For a loopback base URL, an *http.Transport is
// cloned without its Proxy: a request to this machine never goes through a
// proxy (the token would cross it).
func WithHTTPClient(hc *http.Client) Option {
	return func(s *settings) error {
		if hc == nil {
			return optionError("WithHTTPClient", "client is nil")
		}
		copied := *hc
		s.httpClient = &copied
		return nil
	}
}

// WithAPIVersion sets X-GitHub-Api-Version. Accepted values are "2022-11-28"
// (the default) and "2026-03-10"; the audit-log operations are the same in
// both.
func WithAPIVersion(version string) Option {
	return func(s *settings) error {
		for _, v := range supportedAPIVersions {
			if v == version {
				s.apiVersion = version
				return nil
			}
		}
		return optionError("WithAPIVersion", fmt.Sprintf("unsupported version %s (supported: %s)",
			quoteValue(version), strings.Join(supportedAPIVersions, ", ")))
	}
}

// WithUserAgent sets the User-Agent header; GitHub asks integrators to name
// their application in it.
func WithUserAgent(ua string) Option {
	return func(s *settings) error {
		if strings.TrimSpace(ua) == "" || hasControl(ua) {
			return optionError("WithUserAgent", "user agent is empty or has control characters")
		}
		s.userAgent = ua
		return nil
	}
}

// WithLogger sends debug records of each request, wait and retry to l. The
// records never hold the token or a secret. Without it nothing is logged.
func WithLogger(l *slog.Logger) Option {
	return func(s *settings) error {
		if l == nil {
			return optionError("WithLogger", "logger is nil")
		}
		s.logger = l
		return nil
	}
}

// WithLimiter paces requests with l instead of a Budget of the client's own.
// Give every Client that sends the same token from the same host the same
// Limiter (for example one from [NewBudget]): GitHub counts the budget per
// user and IP, not per Client. It cannot be combined with [WithRateLimits].
func WithLimiter(l Limiter) Option {
	return func(s *settings) error {
		if l == nil {
			return optionError("WithLimiter", "limiter is nil")
		}
		s.limiter = l
		return nil
	}
}

// WithRateLimits sets the budgets of the client's own [Budget], resource by
// resource, over [DefaultRateLimits] (audit_log's limit holds for the budget
// of each [Scope]); for example, a GitHub Enterprise
// Server whose administrator set other limits. The map is copied. To share
// a budget between Clients use [NewBudget] and [WithLimiter] instead; the
// two options cannot be combined.
func WithRateLimits(limits map[string]RateLimit) Option {
	return func(s *settings) error {
		if len(limits) == 0 {
			return optionError("WithRateLimits", "no limits given")
		}
		for res, l := range limits {
			if err := validateLimit(res, l); err != nil {
				return optionError("WithRateLimits", quoteValue(res)+": "+err.Error())
			}
		}
		s.rateLimits = maps.Clone(limits)
		return nil
	}
}

// WithMaxWait bounds the total time one call may spend waiting, for budget
// or between retries; the default is [DefaultMaxWait]. 0 means never wait:
// a call that would have to wait fails at once. When a wait would go past
// the bound or past the context's deadline, the call does not start it and
// returns at once: a [*RateLimitError] saying when to come back, or the last
// transient error. The time spent in the attempts themselves is bounded by
// [WithAttemptTimeout]: one call takes at most MaxWait plus MaxAttempts
// attempt timeouts, and a Client's first call on a resource up to 10 s more
// for the warm start (see [Seeder]).
func WithMaxWait(d time.Duration) Option {
	return func(s *settings) error {
		if d < 0 {
			return optionError("WithMaxWait", fmt.Sprintf("must not be negative, got %v", d))
		}
		s.maxWait = d
		return nil
	}
}

// WithMaxAttempts bounds how many times one call is sent, counting the
// first; the default is [DefaultMaxAttempts] and 1 turns retries off. n is
// between 1 and 20. It applies to every call but those on the stream
// endpoints, which have their own bound: [WithStreamMaxAttempts].
func WithMaxAttempts(n int) Option {
	return func(s *settings) error {
		if n < 1 || n > 20 {
			return optionError("WithMaxAttempts", fmt.Sprintf("must be between 1 and 20, got %d", n))
		}
		s.maxAttempts = n
		return nil
	}
}

// WithStreamMaxAttempts bounds how many times one call to a stream endpoint
// (the audit_log_streaming resource: streams and the stream key) is sent,
// counting the first; the default is [DefaultStreamMaxAttempts]. These
// endpoints allow 15 requests an hour, so every retry is a fifteenth of the
// hour's budget. n is between 1 and 20.
func WithStreamMaxAttempts(n int) Option {
	return func(s *settings) error {
		if n < 1 || n > 20 {
			return optionError("WithStreamMaxAttempts", fmt.Sprintf("must be between 1 and 20, got %d", n))
		}
		s.streamMaxAttempts = n
		return nil
	}
}

// WithAttemptTimeout bounds each attempt of a call, from sending the request
// to the last byte of the response; the default is [DefaultAttemptTimeout].
// An attempt that runs out of time (a server that never answers, or trickles
// its body) fails as a network error, and is retried as one. d must be
// positive.
func WithAttemptTimeout(d time.Duration) Option {
	return func(s *settings) error {
		if d <= 0 {
			return optionError("WithAttemptTimeout", fmt.Sprintf("must be positive, got %v", d))
		}
		s.attemptTimeout = d
		return nil
	}
}

// Client calls GitHub's enterprise audit-log API. Create one with
// [NewClient]; it is safe for concurrent use by many goroutines.
type Client struct {
	base       *url.URL // API root; its path ends in "/"
	hc         *http.Client
	apiVersion string
	userAgent  string
	logger     *slog.Logger
	keys       keyCache // per-enterprise stream keys; see streamkey.go

	limiter           Limiter
	maxWait           time.Duration
	maxAttempts       int
	streamMaxAttempts int
	attemptTimeout    time.Duration
	backoff           backoff
	skew              skewClock // GitHub's clock against ours, from Date headers
	hooks             Hooks
	warm              *warmStart // see ratelimit_warm.go

	// baseHint says why the base URL may be wrong for its host ("" when it
	// looks right), for a 404 before the base URL has ever answered.
	baseHint string
	answered atomic.Bool // a success came back: the base URL is right
}

// NewClient returns a client configured by opts. It fails, naming the
// option, when an option's argument is invalid.
func NewClient(opts ...Option) (*Client, error) {
	s := settings{apiVersion: DefaultAPIVersion, userAgent: defaultUserAgent,
		maxWait: DefaultMaxWait, maxAttempts: DefaultMaxAttempts,
		streamMaxAttempts: DefaultStreamMaxAttempts, attemptTimeout: DefaultAttemptTimeout,
		streamKeyTTL: DefaultStreamKeyTTL}
	for _, opt := range opts {
		if opt == nil {
			return nil, optionError("NewClient", "nil Option")
		}
		if err := opt(&s); err != nil {
			return nil, err
		}
	}
	if s.baseURL == nil {
		s.baseURL, _ = url.Parse(DefaultBaseURL + "/")
	}
	if s.baseURL.Scheme == "http" && !s.allowHTTP && !isLoopback(s.baseURL.Hostname()) {
		return nil, optionError("WithBaseURL", "plain http to a non-loopback host "+quoteValue(s.baseURL.Host)+
			" would send the token unencrypted; use https or add WithInsecureHTTP")
	}
	hc := s.httpClient
	if hc == nil {
		hc = &http.Client{}
	}
	base := hc.Transport
	if base == nil {
		base = http.DefaultTransport
	}
	if t, ok := base.(*http.Transport); ok && t.Proxy != nil && isLoopback(s.baseURL.Hostname()) {
		// Never through a proxy to this machine: net/http's environment
		// proxy skips only a lower-case "localhost", and a proxy would see
		// the token (in clear, over http).
		t = t.Clone()
		t.Proxy = nil
		base = t
	}
	hc.Transport = &authTransport{base: base, source: s.token, origin: s.baseURL}
	hc.CheckRedirect = sameOriginRedirects(s.baseURL, hc.CheckRedirect)
	limiter := s.limiter
	switch {
	case limiter != nil && s.rateLimits != nil:
		return nil, optionError("WithRateLimits", "cannot be combined with WithLimiter; give the limits to NewBudget")
	case limiter == nil:
		b, err := NewBudget(s.rateLimits)
		if err != nil {
			return nil, optionError("WithRateLimits", err.Error())
		}
		limiter = b
	}
	logger := s.logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Client{
		base:       s.baseURL,
		hc:         hc,
		apiVersion: s.apiVersion,
		userAgent:  s.userAgent,
		logger:     logger,
		keys:       keyCache{ttl: s.streamKeyTTL},

		limiter:           limiter,
		maxWait:           s.maxWait,
		maxAttempts:       s.maxAttempts,
		streamMaxAttempts: s.streamMaxAttempts,
		attemptTimeout:    s.attemptTimeout,
		backoff:           defaultBackoff,
		hooks:             s.hooks,
		warm:              &warmStart{seeder: seederOf(limiter, s.coldStart)},
		baseHint:          baseURLHint(s.baseURL),
	}, nil
}

// BaseURL returns the API root the client sends requests to.
func (c *Client) BaseURL() string { return strings.TrimSuffix(c.base.String(), "/") }

// Rate returns the budget kept under key as the client's [Limiter] knows it
// now: [BudgetKey] of a [Scope] for its audit log (each scope has its own
// budget, as GitHub counts them), [ResourceAuditLogStreaming] for the stream
// endpoints. It reports the limit, an estimate of what remains (GitHub's
// last count, less the requests sent since) and when the window resets, on
// the local clock. ok is false while nothing is known of it (no response on
// that budget yet). ok with
// r.Known() false means the server reported no limit (GitHub Enterprise
// Server with rate limiting off). It sends no request.
func (c *Client) Rate(key string) (r Rate, ok bool) {
	return c.limiter.State(key, time.Now())
}

// authTransport adds the Authorization header to requests for the base URL's
// scheme and host only, so a redirect or a link to another host never
// carries the token. It tells the attempt which token it sent, so that the
// pipeline can scrub it from whatever the server sends back.
type authTransport struct {
	base   http.RoundTripper
	source TokenSource // nil: no token
	origin *url.URL
}

func (t *authTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if t.source == nil || !sameOrigin(req.URL, t.origin) {
		return t.base.RoundTrip(req)
	}
	tok, err := t.source.Token(req.Context())
	if err == nil {
		err = checkToken(tok)
	}
	if err != nil {
		if req.Body != nil {
			req.Body.Close()
		}
		return nil, &tokenError{err: err}
	}
	if a, ok := req.Context().Value(attemptKey{}).(*attempt); ok {
		a.tokens = append(a.tokens, tok)
	}
	r := req.Clone(req.Context())
	r.Header.Set("Authorization", "Bearer "+tok)
	return t.base.RoundTrip(r)
}

// attempt is what one attempt's transport calls learn: the tokens they sent.
// It travels in the request's context (set by send, read by authTransport).
type attempt struct{ tokens []string }

type attemptKey struct{}

// sameOrigin reports whether u has the scheme, host and port of base (the
// port defaulting by scheme, names compared without case).
func sameOrigin(u, base *url.URL) bool {
	return strings.EqualFold(u.Scheme, base.Scheme) && strings.EqualFold(u.Hostname(), base.Hostname()) &&
		portOf(u) == portOf(base)
}

func portOf(u *url.URL) string {
	if p := u.Port(); p != "" {
		return p
	}
	switch strings.ToLower(u.Scheme) {
	case "https":
		return "443"
	case "http":
		return "80"
	}
	return ""
}

// sameOriginRedirects is the client's redirect policy: a redirect to another
// scheme or host than base's is not followed (the pipeline gets the 3xx and
// refuses it); within base's origin, then, next decides (at most 10 hops
// when next is nil, as net/http's default).
func sameOriginRedirects(base *url.URL, next func(*http.Request, []*http.Request) error) func(*http.Request, []*http.Request) error {
	return func(req *http.Request, via []*http.Request) error {
		if !sameOrigin(req.URL, base) {
			return http.ErrUseLastResponse
		}
		if next != nil {
			return next(req, via)
		}
		if len(via) >= 10 {
			return errors.New("stopped after 10 redirects")
		}
		return nil
	}
}

// tokenError wraps a failure of the TokenSource; it is never retried.
type tokenError struct{ err error }

func (e *tokenError) Error() string { return "auditlog: token source: " + e.err.Error() }
func (e *tokenError) Unwrap() error { return e.err }

func checkToken(tok string) error {
	if tok == "" {
		return errors.New("token is empty")
	}
	if hasControl(tok) || strings.ContainsAny(tok, " \t") {
		return errors.New("token has spaces or control characters")
	}
	return nil
}

func parseBaseURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil || raw == "" {
		return nil, fmt.Errorf("not a URL: %s", quoteValue(raw))
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return nil, fmt.Errorf("scheme must be https (or http on loopback), got %s", quoteValue(u.Scheme))
	case u.Host == "" || u.Hostname() == "":
		return nil, fmt.Errorf("no host in %s", quoteValue(raw))
	case u.User != nil:
		return nil, errors.New("credentials in the URL are not allowed; use WithToken")
	case u.RawQuery != "" || u.Fragment != "" || u.ForceQuery:
		return nil, fmt.Errorf("query or fragment not allowed in %s", quoteValue(raw))
	}
	if err := checkBasePath(u.Path); err != nil {
		return nil, err
	}
	if p := strings.Trim(u.Path, "/"); p == "" {
		u.Path = "/"
	} else {
		u.Path = "/" + p + "/"
	}
	u.RawPath = ""
	u.Host = strings.ToLower(u.Host)
	return u, nil
}

// checkBasePath refuses a base URL path that cannot be an API root: any
// character but letters, digits and -._~!$&'()*+,;=:@ between slashes
// (so no spaces, escapes or non-ASCII), and empty or dot segments.
func checkBasePath(p string) error {
	for _, r := range p {
		ok := r < 0x80 && (r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' ||
			strings.ContainsRune("/-._~!$&'()*+,;=:@", r))
		if !ok {
			return fmt.Errorf("path %s has %q, which an API root cannot have", quoteValue(p), r)
		}
	}
	if inner := strings.Trim(p, "/"); inner != "" {
		for _, seg := range strings.Split(inner, "/") {
			if seg == "" || seg == "." || seg == ".." {
				return fmt.Errorf("path %s has an empty or dot segment", quoteValue(p))
			}
		}
	}
	return nil
}

// baseURLHint says why u may not be the REST API root of its host, or ""
// when it looks right. It is added to a 404 on a client's first requests.
func baseURLHint(u *url.URL) string {
	host := u.Hostname()
	root := u.Path == "/"
	ghe := strings.HasSuffix(host, ".ghe.com")
	switch {
	case host == "github.com" || host == "www.github.com":
		return "GitHub.com's REST API is at https://api.github.com, not " + host
	case ghe && !strings.HasPrefix(host, "api."):
		return "the REST API of " + host + " is at https://api." + host
	case host == "api.github.com" || ghe:
		if !root {
			return host + " serves the REST API at its root, without a path such as " + strings.TrimSuffix(u.Path, "/")
		}
	case isLoopback(host):
	case root:
		return "a GitHub Enterprise Server serves its REST API under /api/v3: use WithEnterpriseServer(" + strconv.Quote(u.Host) + ")"
	}
	return ""
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// call describes one API operation for the pipeline.
type call struct {
	method   string
	path     string     // relative to the base URL, segments already escaped
	query    url.Values // nil for none
	body     any        // marshalled to JSON once; nil for none
	resource string     // budget key the call is charged to (see Limiter)
	// free: charged to no budget (GET /rate_limit), so neither paced nor
	// settled with the limiter, and sent once; a refusal still holds
	// resource.
	free bool
	// secrets are plaintexts the request carries in some form (sealed, say);
	// the pipeline scrubs them, and the token, from what the server sends back.
	secrets []string
}

// response is a response as the pipeline hands it on: its headers scrubbed
// of secrets, its rate headers parsed (Reset on the local clock), its request
// ID scrubbed, escaped and bounded, its body bounded. Endpoint methods get
// only 2xx responses; error responses become errors in checkResponse.
type response struct {
	status    int
	header    http.Header
	body      string
	rate      Rate
	requestID string
	received  time.Time     // local time the headers arrived
	skew      time.Duration // GitHub's clock minus ours, from the Date headers
}

// do runs one call through the pipeline: build, wait for budget, send,
// classify, retry. It is the only place requests are sent.
func (c *Client) do(ctx context.Context, cl *call) (*response, error) {
	if ctx == nil {
		return nil, &InputError{Field: "ctx", Reason: "context is nil"}
	}
	req, err := c.newRequest(ctx, cl)
	if err != nil {
		return nil, err
	}
	st := &callState{call: cl, req: req, path: req.URL.Path, start: time.Now(), maxAttempts: c.maxAttempts}
	switch {
	case cl.free:
		st.maxAttempts = 1
	case KeyResource(cl.resource) == ResourceAuditLogStreaming:
		st.maxAttempts = c.streamMaxAttempts
	}
	if !cl.free {
		if err := c.warmUp(ctx, cl); err != nil {
			return nil, err
		}
	}
	reached := false // an attempt that failed may have been carried out by the server
	for attempt := 1; ; attempt++ {
		if !cl.free {
			if err := c.pace(ctx, st); err != nil {
				return nil, err
			}
		}
		resp, err := c.send(ctx, st)
		if err == nil {
			return resp, nil
		}
		if reached && cl.method == http.MethodDelete && errors.Is(err, ErrNotFound) {
			// An earlier attempt did delete it; only its answer was lost.
			c.logger.LogAttrs(ctx, slog.LevelInfo, "auditlog: retried DELETE found nothing: an earlier attempt deleted it",
				slog.String("path", st.path), slog.Int("attempt", attempt))
			return &response{status: http.StatusNoContent}, nil
		}
		if ctx.Err() != nil {
			return nil, err
		}
		delay, reason, again := c.retryAfter(ctx, st, attempt, err)
		if !again {
			return nil, err
		}
		c.logger.LogAttrs(ctx, slog.LevelInfo, "auditlog: retrying",
			slog.String("method", cl.method), slog.String("path", st.path),
			slog.Int("attempt", attempt), slog.Int("max_attempts", st.maxAttempts),
			slog.Duration("after", delay), slog.String("reason", string(reason)), slog.String("error", err.Error()))
		if c.hooks.OnRetry != nil {
			c.hooks.OnRetry(RetryInfo{Method: cl.method, Path: st.path, Resource: cl.resource,
				Attempt: attempt, MaxAttempts: st.maxAttempts, Reason: reason, After: delay, Err: err})
		}
		var ne *NetworkError
		reached = reached || (reason == ReasonTransient && !(errors.As(err, &ne) && notSent(ne)))
		if delay > 0 && reason == ReasonTransient {
			c.waitStarts(st, reason, time.Now(), delay)
			if err := sleep(ctx, delay); err != nil {
				return nil, err
			}
			st.waited += delay
		}
	}
}

// newRequest builds the request of a call, once for all its attempts: its
// URL, headers and body (encoded once).
func (c *Client) newRequest(ctx context.Context, cl *call) (*http.Request, error) {
	var body io.Reader
	if cl.body != nil {
		payload, err := json.Marshal(cl.body)
		if err != nil {
			return nil, fmt.Errorf("auditlog: encoding request body: %w", err)
		}
		body = bytes.NewReader(payload)
	}
	target := c.base.String() + cl.path
	if q := cl.query.Encode(); q != "" {
		target += "?" + q
	}
	req, err := http.NewRequestWithContext(ctx, cl.method, target, body)
	if err != nil {
		return nil, fmt.Errorf("auditlog: building request: %w", err)
	}
	req.Header.Set("Accept", "application/vnd.github+json")
	req.Header.Set("X-GitHub-Api-Version", c.apiVersion)
	req.Header.Set("User-Agent", c.userAgent)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	return req, nil
}

// send makes one attempt, within the attempt timeout, and classifies its
// outcome. It settles the attempt's reservation (st.ticket) with the limiter
// exactly once: Observe when the response said something about the budget;
// Cancel when GitHub did not count the request (never sent, or refused
// without saying what is left); Release otherwise. Everything the server
// sent is scrubbed of the token and the call's secrets before any error is
// built or anything is logged.
func (c *Client) send(ctx context.Context, st *callState) (*response, error) {
	cl := st.call
	actx, cancel := context.WithTimeout(ctx, c.attemptTimeout)
	defer cancel()
	at := &attempt{}
	// The call's request, shared by its attempts, which only read it (the
	// transport sends a copy that carries the token).
	req := st.req.WithContext(context.WithValue(actx, attemptKey{}, at))
	if req.GetBody != nil {
		req.Body, _ = req.GetBody() // the payload from its start; a bytes.Reader's cannot fail
	}
	sent := time.Now()
	httpResp, err := c.hc.Do(req)
	sc := scrubber{secrets: append(at.tokens, cl.secrets...)}
	if err != nil {
		var te *tokenError
		if errors.As(err, &te) {
			c.cancel(st, time.Now()) // no token, nothing sent
			return nil, te
		}
		cause := c.networkCause(ctx, actx, sc, stripURLError(err))
		if httpResp != nil {
			// The redirect policy stopped (too many hops within the API's
			// origin): an answer, not a network failure, and not worth
			// repeating.
			c.release(st, time.Now())
			return nil, &APIError{StatusCode: httpResp.StatusCode, Method: cl.method, Path: st.path, Message: cause.Error()}
		}
		ne := &NetworkError{Method: cl.method, Path: st.path, Err: cause}
		if notSent(ne) {
			c.cancel(st, time.Now())
		} else {
			c.release(st, time.Now())
		}
		return nil, ne
	}
	defer httpResp.Body.Close()
	resp := &response{status: httpResp.StatusCode, header: httpResp.Header, received: time.Now()}
	sc.cleanHeader(resp.header)
	resp.requestID = serverText(resp.header.Get("X-GitHub-Request-Id"), maxRequestIDText)
	resp.rate = c.observe(ctx, st, resp, sent)

	limit := int64(maxBodyBytes)
	if resp.status >= 300 {
		limit = maxErrorBodyBytes
	}
	raw, n, readErr := readBody(httpResp.Body, limit)
	c.logger.LogAttrs(ctx, slog.LevelDebug, "auditlog: response",
		slog.String("method", cl.method), slog.String("path", st.path),
		slog.Int("status", resp.status), slog.String("request_id", resp.requestID),
		slog.Int("ratelimit_remaining", resp.rate.Remaining),
		slog.Duration("elapsed", time.Since(sent)))
	if readErr != nil {
		c.release(st, time.Now())
		return nil, &NetworkError{Method: cl.method, Path: st.path, Status: resp.status,
			Err: fmt.Errorf("reading response body: %w", c.networkCause(ctx, actx, sc, readErr))}
	}
	if n > limit && resp.status < 300 {
		return nil, fmt.Errorf("auditlog: %s %s: response body larger than %d bytes", cl.method, st.path, limit)
	}
	// An error body past the bound is classified on what was read.
	if resp.status >= 300 {
		resp.body = sc.clean(raw)
		from := req.URL
		if httpResp.Request != nil && httpResp.Request.URL != nil {
			from = httpResp.Request.URL // after redirects within the API's origin
		}
		err := c.refusal(ctx, st, resp, from, checkResponse(cl.method, st.path, resp))
		if errors.Is(err, ErrRateLimited) {
			c.cancel(st, resp.received) // a refusal without rate headers: GitHub did not count it
		} else {
			c.release(st, resp.received)
		}
		return nil, err
	}
	c.answered.Store(true)
	resp.body = raw
	return resp, nil
}

// bodyChunk is the unit readBody reads a body in.
type bodyChunk [32 << 10]byte

// bodyChunks holds the chunks of bodies read and joined, for the next ones.
var bodyChunks = sync.Pool{New: func() any { return new(bodyChunk) }}

// readBody reads at most limit+1 bytes of a body into one string. It reads
// into chunks from a pool and joins them once, into a string of exactly the
// size read, so a body costs its own bytes in allocations, whether its
// length was announced or not (GitHub sends gzip: mostly not), and the
// limit bounds that too. Only io.EOF ends the read: a body cut short fails.
func readBody(body io.Reader, limit int64) (string, int64, error) {
	r := io.LimitReader(body, limit+1)
	var chunks []*bodyChunk
	defer func() {
		for _, c := range chunks {
			bodyChunks.Put(c)
		}
	}()
	var n int64
	for done := false; !done; {
		c := bodyChunks.Get().(*bodyChunk)
		chunks = append(chunks, c)
		m := 0
		for m < len(c) {
			k, err := r.Read(c[m:])
			m += k
			if err == io.EOF {
				done = true
				break
			}
			if err != nil {
				return "", n + int64(m), err
			}
		}
		n += int64(m)
	}
	var sb strings.Builder
	sb.Grow(int(n))
	rest := n // every chunk is full but the last
	for _, c := range chunks {
		k := min(rest, int64(len(c)))
		sb.Write(c[:k])
		rest -= k
	}
	return sb.String(), n, nil
}

// refusal completes the error of an error response: a rate-limit refusal
// holds every caller of the limiter until the time GitHub gave, and is
// logged, whether or not this call will wait for it; a redirect the client
// did not follow says where it led; a 404 before the base URL has ever
// answered says what may be wrong with it.
func (c *Client) refusal(ctx context.Context, st *callState, resp *response, at *url.URL, err error) error {
	var rl *RateLimitError
	var ae *APIError
	switch {
	case errors.As(err, &rl):
		c.hold(ctx, st, rl, resp.received)
	case !errors.As(err, &ae):
	case resp.status >= 300 && resp.status < 400:
		raw := resp.header.Get("Location")
		if loc, lerr := at.Parse(raw); raw != "" && lerr == nil && !sameOrigin(loc, c.base) {
			ae.Message = "redirect to " + loc.Scheme + "://" + loc.Host + " refused: not the API's scheme and host"
			ae.Errors, ae.Body, ae.DocumentationURL = nil, "", ""
		}
	case resp.status == http.StatusNotFound && c.baseHint != "" && !c.answered.Load():
		ae.hint = "check the base URL: " + c.baseHint
	}
	return err
}

// networkCause is the cause of a failed attempt as a NetworkError keeps it:
// a timeout of the attempt says so; text that holds a secret (net/http
// quotes what a server sent, in a malformed response) is scrubbed.
func (c *Client) networkCause(ctx, actx context.Context, sc scrubber, err error) error {
	if ctx.Err() == nil && errors.Is(actx.Err(), context.DeadlineExceeded) {
		return fmt.Errorf("no complete response within the attempt timeout (%v, WithAttemptTimeout): %w", c.attemptTimeout, context.DeadlineExceeded)
	}
	text := err.Error()
	if clean := sc.clean(text); clean != text {
		return errors.New(clean)
	}
	return err
}

// sleep waits for d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// stripURLError removes the *url.Error wrapper, whose text repeats the full
// URL, keeping the cause for errors.Is and errors.As.
func stripURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

func optionError(option, reason string) error {
	return &InputError{Field: option, Reason: reason}
}

func hasControl(s string) bool {
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return true
		}
	}
	return false
}

// quoteValue quotes a caller's value for an error message, shortened so a
// pasted secret or a huge string cannot flood logs.
func quoteValue(s string) string {
	const max = 64
	if len(s) > max {
		s = s[:max] + "…"
	}
	return fmt.Sprintf("%q", s)
}
