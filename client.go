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
	"strings"
	"time"
)

// Version is the version of this SDK. It is part of the default User-Agent.
const Version = "0.1.0"

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
// SDK calls. Each resource has its own budget.
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

	limiter     Limiter
	rateLimits  map[string]RateLimit
	maxWait     time.Duration
	maxAttempts int

	streamKeyTTL time.Duration
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
// only for a loopback host, unless [WithInsecureHTTP] is also given.
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
// Jar and CheckRedirect are kept; hc itself is never modified).
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
// resource, over [DefaultRateLimits]; for example, a GitHub Enterprise
// Server whose administrator set other limits. The map is copied. To share
// a budget between Clients use [NewBudget] and [WithLimiter] instead; the
// two options cannot be combined.
func WithRateLimits(limits map[string]RateLimit) Option {
	return func(s *settings) error {
		if len(limits) == 0 {
			return optionError("WithRateLimits", "no limits given")
		}
		for res, l := range limits {
			if res == "" {
				return optionError("WithRateLimits", "resource name is empty")
			}
			if err := l.validate(); err != nil {
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
// transient error.
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
// between 1 and 20.
func WithMaxAttempts(n int) Option {
	return func(s *settings) error {
		if n < 1 || n > 20 {
			return optionError("WithMaxAttempts", fmt.Sprintf("must be between 1 and 20, got %d", n))
		}
		s.maxAttempts = n
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

	limiter     Limiter
	maxWait     time.Duration
	maxAttempts int
	backoff     backoff
}

// NewClient returns a client configured by opts. It fails, naming the
// option, when an option's argument is invalid.
func NewClient(opts ...Option) (*Client, error) {
	s := settings{apiVersion: DefaultAPIVersion, userAgent: defaultUserAgent,
		maxWait: DefaultMaxWait, maxAttempts: DefaultMaxAttempts, streamKeyTTL: DefaultStreamKeyTTL}
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
	if s.token != nil {
		hc.Transport = &authTransport{base: base, source: s.token, scheme: s.baseURL.Scheme, host: s.baseURL.Host}
	}
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

		limiter:     limiter,
		maxWait:     s.maxWait,
		maxAttempts: s.maxAttempts,
		backoff:     defaultBackoff,
	}, nil
}

// BaseURL returns the API root the client sends requests to.
func (c *Client) BaseURL() string { return strings.TrimSuffix(c.base.String(), "/") }

// authTransport adds the Authorization header to requests for the base URL's
// scheme and host only, so a redirect or a link to another host never
// carries the token.
type authTransport struct {
	base   http.RoundTripper
	source TokenSource
	scheme string
	host   string
}

func (t *authTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Scheme != t.scheme || req.URL.Host != t.host {
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
	r := req.Clone(req.Context())
	r.Header.Set("Authorization", "Bearer "+tok)
	return t.base.RoundTrip(r)
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
	if !strings.HasSuffix(u.Path, "/") {
		u.Path += "/"
	}
	u.RawPath = ""
	return u, nil
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
	resource string     // rate-limit resource the call is charged to
}

// response is what the pipeline hands back to an endpoint method: a 2xx
// status with its headers and bounded body.
type response struct {
	status    int
	header    http.Header
	body      string
	rate      Rate
	requestID string
}

// do runs one call through the pipeline: build, wait for budget, send,
// classify, retry. It is the only place requests are sent.
func (c *Client) do(ctx context.Context, cl *call) (*response, error) {
	if ctx == nil {
		return nil, &InputError{Field: "ctx", Reason: "context is nil"}
	}
	var payload []byte
	if cl.body != nil {
		var err error
		if payload, err = json.Marshal(cl.body); err != nil {
			return nil, fmt.Errorf("auditlog: encoding request body: %w", err)
		}
	}
	target, err := url.Parse(c.base.String() + cl.path)
	if err != nil {
		return nil, fmt.Errorf("auditlog: building URL: %w", err)
	}
	if cl.query != nil {
		target.RawQuery = cl.query.Encode()
	}
	st := &callState{call: cl, path: target.Path, start: time.Now()}
	reached := false // an attempt that failed may have been carried out by the server
	for attempt := 1; ; attempt++ {
		if err := c.pace(ctx, st); err != nil {
			return nil, err
		}
		resp, answered, err := c.send(ctx, cl, target, payload)
		if !answered {
			// Settle the reservation: nothing came back to count.
			c.limiter.Observe(cl.resource, time.Now(), Rate{Limit: -1, Remaining: -1, Used: -1})
		}
		if err == nil {
			return resp, nil
		}
		if reached && cl.method == http.MethodDelete && errors.Is(err, ErrNotFound) {
			// An earlier attempt did delete it; only its answer was lost.
			c.logger.LogAttrs(ctx, slog.LevelInfo, "auditlog: retried DELETE found nothing: an earlier attempt deleted it",
				slog.String("path", target.Path), slog.Int("attempt", attempt))
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
			slog.String("method", cl.method), slog.String("path", target.Path),
			slog.Int("attempt", attempt), slog.Int("max_attempts", c.maxAttempts),
			slog.Duration("after", delay), slog.String("reason", reason), slog.String("error", err.Error()))
		var ne *NetworkError
		reached = reached || (reason == reasonTransient && !(errors.As(err, &ne) && notSent(ne)))
		if delay > 0 && reason == reasonTransient {
			if err := sleep(ctx, delay); err != nil {
				return nil, err
			}
			st.waited += delay
		}
	}
}

// send makes one attempt and classifies its outcome. answered reports
// whether a response (of any status) arrived and was shown to the limiter.
func (c *Client) send(ctx context.Context, cl *call, target *url.URL, payload []byte) (_ *response, answered bool, _ error) {
	var body io.Reader
	if payload != nil {
		body = bytes.NewReader(payload)
	}
	req, err := http.NewRequestWithContext(ctx, cl.method, target.String(), body)
	if err != nil {
		return nil, false, fmt.Errorf("auditlog: building request: %w", err)
	}
	req.Header.Set("Accept", "application/vnd.github+json")
	req.Header.Set("X-GitHub-Api-Version", c.apiVersion)
	req.Header.Set("User-Agent", c.userAgent)
	if payload != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	start := time.Now()
	httpResp, err := c.hc.Do(req)
	if err != nil {
		var te *tokenError
		if errors.As(err, &te) {
			return nil, false, te
		}
		return nil, false, &NetworkError{Method: cl.method, Path: target.Path, Err: stripURLError(err)}
	}
	defer httpResp.Body.Close()
	rate := c.observe(ctx, cl, httpResp)

	limit := int64(maxBodyBytes)
	if httpResp.StatusCode >= 300 {
		limit = maxErrorBodyBytes
	}
	var sb strings.Builder
	if httpResp.ContentLength > 0 && httpResp.ContentLength <= limit {
		sb.Grow(int(httpResp.ContentLength))
	}
	n, readErr := io.Copy(&sb, io.LimitReader(httpResp.Body, limit+1))
	requestID := httpResp.Header.Get("X-GitHub-Request-Id")
	c.logger.LogAttrs(ctx, slog.LevelDebug, "auditlog: response",
		slog.String("method", cl.method), slog.String("path", target.Path),
		slog.Int("status", httpResp.StatusCode), slog.String("request_id", requestID),
		slog.String("ratelimit_remaining", httpResp.Header.Get("X-Ratelimit-Remaining")),
		slog.Duration("elapsed", time.Since(start)))
	if readErr != nil {
		return nil, true, &NetworkError{Method: cl.method, Path: target.Path, Status: httpResp.StatusCode,
			Err: fmt.Errorf("reading response body: %w", readErr)}
	}
	if n > limit {
		if httpResp.StatusCode < 300 {
			return nil, true, fmt.Errorf("auditlog: %s %s: response body larger than %d bytes", cl.method, target.Path, limit)
		}
		// An error body past the bound: classify on what was read.
	}
	if httpResp.StatusCode >= 300 {
		return nil, true, checkResponse(cl.method, target.Path, httpResp, redactToken(sb.String(), httpResp.Request), time.Now())
	}
	return &response{
		status:    httpResp.StatusCode,
		header:    httpResp.Header,
		body:      sb.String(),
		rate:      rate,
		requestID: requestID,
	}, true, nil
}

// redactToken removes the token the request carried from an error body, in
// case a server or proxy echoes it, before the body reaches an error value.
func redactToken(body string, req *http.Request) string {
	if req == nil {
		return body
	}
	tok, ok := strings.CutPrefix(req.Header.Get("Authorization"), "Bearer ")
	if !ok || tok == "" {
		return body
	}
	return strings.ReplaceAll(body, tok, "[REDACTED]")
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
