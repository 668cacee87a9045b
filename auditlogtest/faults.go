package auditlogtest

import (
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

// Faults configures probability-based and periodic fault injection for every
// authenticated request with a supported API version. Aimed faults (see
// [Server.Inject]) take precedence. Draws come from the [WithSeed] source in
// request-arrival order, so a sequential client sees the same faults on every
// run.
type Faults struct {
	// ServerError is the probability of a server error: GitHub's HTML
	// error page, Content-Type text/html, no rate-limit headers. It does
	// not consume budget.
	ServerError float64
	// ServerErrorStatuses are the statuses of those errors: none means 500,
	// one means that status, several a pick at random (from the [WithSeed]
	// source) for each error.
	ServerErrorStatuses []int
	// Reset is the probability of a connection reset (RST) before any
	// response. It does not consume budget.
	Reset float64
	// Truncate is the probability of a truncated body: the full headers
	// including Content-Length, then only part of the body, then the
	// connection is closed. The request is served and consumes budget.
	Truncate float64
	// Latency is added to every request; it ends early when the request's
	// context is done, and the server's Close aborts the request.
	Latency time.Duration
	// Jitter adds a random 0..Jitter on top of Latency.
	Jitter time.Duration
	// SecondaryEvery refuses every Nth request (counting only requests that
	// got neither an aimed nor a probabilistic fault) with a secondary rate
	// limit: 403, retry-after, the x-ratelimit-* headers and GitHub's
	// secondary-limit message. 0 disables it.
	SecondaryEvery int
	// RetryAfter is the retry-after of SecondaryEvery refusals, rounded up to
	// whole seconds, at least 1 (the default).
	RetryAfter time.Duration
}

func (f Faults) validate() error {
	bad := func(format string, args ...any) error { return fmt.Errorf("auditlogtest: Faults."+format, args...) }
	for _, p := range []struct {
		name string
		v    float64
	}{{"ServerError", f.ServerError}, {"Reset", f.Reset}, {"Truncate", f.Truncate}} {
		if p.v < 0 || p.v > 1 || math.IsNaN(p.v) {
			return bad("%s %v is not a probability between 0 and 1", p.name, p.v)
		}
	}
	if f.ServerError+f.Reset+f.Truncate > 1 {
		return bad("ServerError+Reset+Truncate is %v, more than 1", f.ServerError+f.Reset+f.Truncate)
	}
	for _, st := range f.ServerErrorStatuses {
		if st < 500 || st > 599 {
			return bad("ServerErrorStatuses: %d is not a 5xx status", st)
		}
	}
	if f.Latency < 0 || f.Jitter < 0 || f.SecondaryEvery < 0 || f.RetryAfter < 0 {
		return bad("Latency, Jitter, SecondaryEvery and RetryAfter must not be negative")
	}
	return nil
}

// FaultKind names a fault that [Server.Inject] and [Server.Script] inject.
type FaultKind int

// The fault kinds.
const (
	// FaultServerError answers Fault.Status (500 when 0, or any 5xx) with
	// GitHub's HTML error page and no rate-limit headers.
	FaultServerError FaultKind = iota + 1
	// FaultReset resets the connection before any response. Through
	// [Server.Transport] it is a transport error (ECONNRESET).
	FaultReset
	// FaultTruncate serves the request but cuts the body short: the client
	// reads io.ErrUnexpectedEOF.
	FaultTruncate
	// FaultLatency waits Fault.Latency, then handles the request normally.
	FaultLatency
	// FaultPrimary403 exhausts the token's budget for the request's resource
	// until the window resets (used = limit) and answers 403 with
	// x-ratelimit-remaining: 0. Later requests are refused the same way until
	// the reset: it is real state, not a one-off.
	FaultPrimary403
	// FaultPrimary429 is FaultPrimary403 answered with 429.
	FaultPrimary429
	// FaultSecondary403 answers 403 with retry-after (Fault.RetryAfter, whole
	// seconds, min 1), the x-ratelimit-* headers and GitHub's
	// secondary-limit message. It consumes no primary budget.
	FaultSecondary403
	// FaultSecondary429 is FaultSecondary403 answered with 429.
	FaultSecondary429
	// FaultSecondaryBare answers 403 with the secondary-limit message and no
	// retry-after and no x-ratelimit-* headers at all.
	FaultSecondaryBare
	// FaultPrimary403Once answers one primary-limit refusal (403,
	// x-ratelimit-remaining: 0, reset at the end of the window, or
	// Fault.RetryAfter from now when set) without touching the budget: the
	// next request is served as if the window had just reset.
	FaultPrimary403Once
	// FaultPrimary429Once is FaultPrimary403Once answered with 429.
	FaultPrimary429Once
	// FaultResponse answers Fault.Status with Fault.Header and Fault.Body
	// (GitHub's JSON error shape with the status text when Body is empty),
	// plus X-GitHub-Request-Id and Date. It consumes no budget.
	FaultResponse
	// FaultRevokeToken revokes the request's token, as when it expires or
	// is deleted mid-walk: this request and every later one with it get
	// 401 "Bad credentials".
	FaultRevokeToken
)

// String returns the name used in [Request.Fault], e.g. "server_error".
func (k FaultKind) String() string {
	switch k {
	case FaultServerError:
		return "server_error"
	case FaultReset:
		return "reset"
	case FaultTruncate:
		return "truncate"
	case FaultLatency:
		return "latency"
	case FaultPrimary403:
		return "primary_403"
	case FaultPrimary429:
		return "primary_429"
	case FaultSecondary403:
		return "secondary_403"
	case FaultSecondary429:
		return "secondary_429"
	case FaultSecondaryBare:
		return "secondary_bare"
	case FaultPrimary403Once:
		return "primary_403_once"
	case FaultPrimary429Once:
		return "primary_429_once"
	case FaultResponse:
		return "response"
	case FaultRevokeToken:
		return "revoke_token"
	}
	return fmt.Sprintf("FaultKind(%d)", int(k))
}

// Fault is one injected fault. Status, Header and Body are used by
// FaultResponse (Status also by FaultServerError), RetryAfter by the
// secondary and one-shot primary kinds, and Latency by FaultLatency.
type Fault struct {
	Kind       FaultKind
	Status     int
	Header     http.Header
	Body       string
	RetryAfter time.Duration
	Latency    time.Duration
}

func (f Fault) validate() error {
	bad := func(format string, args ...any) error { return fmt.Errorf("auditlogtest: Fault."+format, args...) }
	switch {
	case f.Kind < FaultServerError || f.Kind > FaultRevokeToken:
		return bad("Kind %d is not a FaultKind", int(f.Kind))
	case f.Kind == FaultServerError && f.Status != 0 && (f.Status < 500 || f.Status > 599):
		return bad("Status %d is not a 5xx status (FaultServerError)", f.Status)
	case f.Kind == FaultResponse && (f.Status < 200 || f.Status > 599):
		return bad("Status %d is not a status between 200 and 599 (FaultResponse)", f.Status)
	case f.RetryAfter < 0 || f.Latency < 0:
		return bad("RetryAfter and Latency must not be negative")
	}
	return nil
}

// retryAfterSeconds rounds d up to whole seconds, at least 1.
func retryAfterSeconds(d time.Duration) int {
	s := int(math.Ceil(d.Seconds()))
	if s < 1 {
		s = 1
	}
	return s
}

// Path patterns of the endpoints, for [Match.Path].
const (
	PathAuditLog = "/enterprises/{enterprise}/audit-log"
	// PathOrgAuditLog is an organization's audit log; the login segment,
	// given literally, matches the login or the numeric ID alike, under
	// /orgs/ or /organizations/ (Link URLs use the ID).
	PathOrgAuditLog = "/orgs/{org}/audit-log"
	PathStreamKey   = "/enterprises/{enterprise}/audit-log/stream-key"
	PathStreams     = "/enterprises/{enterprise}/audit-log/streams"
	PathStream      = "/enterprises/{enterprise}/audit-log/streams/{id}"
	PathRateLimit   = "/rate_limit"
)

// Match selects requests. The zero Match selects every request.
type Match struct {
	// Method, if set, is the HTTP method (case-insensitive).
	Method string
	// Path, if set, is a path pattern such as [PathAuditLog]: segments
	// match literally, except that "{name}" matches any one segment and a
	// final "{name...}" the rest (one segment or more, as in
	// [http.ServeMux] patterns). The enterprise segment, given literally,
	// matches the slug or the numeric ID alike (Link URLs use the ID), and
	// an organization's segment its login or ID (see [PathOrgAuditLog]). In
	// [WithEnterpriseServer] mode it is matched without the /api/v3 prefix.
	Path string
	// Query, if set, constrains query parameters: each key's first value
	// in the request must be one of the listed values ("" matching an
	// absent parameter), or, with no values listed, merely be present.
	Query url.Values
}

func (m Match) validate() error {
	if m.Path != "" && !strings.HasPrefix(m.Path, "/") {
		return fmt.Errorf("auditlogtest: Match.Path %q does not start with /", m.Path)
	}
	if i := strings.Index(m.Path, "...}"); i >= 0 && i+len("...}") != len(m.Path) {
		return fmt.Errorf("auditlogtest: Match.Path %q: a {name...} segment must come last", m.Path)
	}
	return nil
}

// matches reports whether a request with method, API path (without any
// /api/v3 prefix) and query is selected; canon rewrites a path's account
// segment so that every name of an account reads the same.
func (m Match) matches(method, path string, q url.Values, canon func(string) string) bool {
	if m.Method != "" && !strings.EqualFold(m.Method, method) {
		return false
	}
	if m.Path != "" && !matchPath(canon(m.Path), canon(path)) {
		return false
	}
	for k, want := range m.Query {
		if len(want) == 0 {
			if !q.Has(k) {
				return false
			}
		} else if !slices.Contains(want, q.Get(k)) {
			return false
		}
	}
	return true
}

func matchPath(pattern, path string) bool {
	ps := strings.Split(strings.TrimPrefix(pattern, "/"), "/")
	xs := strings.Split(strings.TrimPrefix(path, "/"), "/")
	for i, p := range ps {
		if i >= len(xs) {
			return false
		}
		if strings.HasPrefix(p, "{") && strings.HasSuffix(p, "...}") {
			return true
		}
		x := xs[i]
		switch {
		case strings.HasPrefix(p, "{") && strings.HasSuffix(p, "}"):
			if x == "" {
				return false
			}
		case p != x:
			return false
		}
	}
	return len(xs) == len(ps)
}

// Rule aims a fault at the requests that match it: "the third audit-log
// page answers 502 once", "every stream PUT is refused with a 422".
type Rule struct {
	Match
	// Nth is the matching request the fault starts at: 0 or 1 is the
	// first, 3 the third. Requests are counted after the authentication and
	// API-version checks, from the moment the rule is injected.
	Nth int
	// Times is how many matching requests get the fault from then on; 0
	// means once, a negative value every one.
	Times int
	Fault Fault
}

func (r Rule) validate() error {
	if err := r.Match.validate(); err != nil {
		return err
	}
	if r.Nth < 0 {
		return fmt.Errorf("auditlogtest: Rule.Nth %d is negative", r.Nth)
	}
	return r.Fault.validate()
}

// rule is a pending Rule and its progress.
type rule struct {
	Rule
	seen  int // matching requests since it was injected
	fired int
}

func (r *rule) remaining() int {
	if r.Times < 0 {
		return -1
	}
	return max(r.Times, 1) - r.fired
}

// Inject adds rules. A rule counts the requests it matches; from its Nth on
// it gives its fault to each matching request until it has done so Times
// times, then it is spent. When several rules would fault one request, the
// one injected first does, and the others wait for their next matching
// request. Rules come before the faults of [WithFaults]. On an invalid rule
// Inject adds none and returns an error naming the field.
func (s *Server) Inject(rules ...Rule) error {
	for i, r := range rules {
		if err := r.validate(); err != nil {
			return fmt.Errorf("%w (rule %d)", err, i)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range rules {
		s.rules = append(s.rules, &rule{Rule: r})
	}
	return nil
}

// Script makes the next n requests (any endpoint, counted after the
// authentication and API-version checks) get fault f. It is
// Inject(Rule{Times: n, Fault: f}) for n > 0; f is not checked.
func (s *Server) Script(f Fault, n int) {
	if n <= 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rules = append(s.rules, &rule{Rule: Rule{Times: n, Fault: f}})
}

// PendingFaults returns the rules not yet spent, in injection order, each
// with Nth counting from now (1 when it fires on its next matching request)
// and Times what it has left (negative: unlimited). A test that aimed a
// fault can assert that it fired: require.Empty(t, srv.PendingFaults()).
func (s *Server) PendingFaults() []Rule {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Rule, 0, len(s.rules))
	for _, r := range s.rules {
		p := r.Rule
		p.Nth = max(max(r.Nth, 1)-r.seen, 1)
		p.Times = r.remaining()
		out = append(out, p)
	}
	return out
}

// ClearFaults removes every pending rule (including [Server.Script]'s) and
// returns them as [Server.PendingFaults] would have.
func (s *Server) ClearFaults() []Rule {
	out := s.PendingFaults()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rules = nil
	return out
}

// pickFault returns the fault for this request: aimed first, then the
// probabilistic ones, then SecondaryEvery. It also returns the latency to add.
func (s *Server) pickFault(method, path string, q url.Values) (f Fault, ok bool, latency time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	fc := s.cfg.faults
	latency = fc.Latency
	if fc.Jitter > 0 {
		latency += time.Duration(s.rng.Int64N(int64(fc.Jitter) + 1))
	}
	var fired *rule
	for _, r := range s.rules {
		if !r.matches(method, path, q, s.canonPathLocked) {
			continue
		}
		r.seen++
		if fired == nil && r.seen >= max(r.Nth, 1) {
			fired = r
		}
	}
	if fired != nil {
		fired.fired++
		if fired.remaining() == 0 {
			s.rules = slices.DeleteFunc(s.rules, func(r *rule) bool { return r == fired })
		}
		return fired.Fault, true, latency
	}
	if fc.ServerError > 0 || fc.Reset > 0 || fc.Truncate > 0 {
		x := s.rng.Float64()
		switch {
		case x < fc.ServerError:
			f := Fault{Kind: FaultServerError}
			switch n := len(fc.ServerErrorStatuses); n {
			case 0:
			case 1:
				f.Status = fc.ServerErrorStatuses[0]
			default:
				f.Status = fc.ServerErrorStatuses[s.rng.IntN(n)]
			}
			return f, true, latency
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

var errServerClosed = errors.New("auditlogtest: server closed")
