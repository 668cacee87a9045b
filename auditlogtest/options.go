package auditlogtest

import (
	"encoding/json"
	"errors"
	"strings"
	"time"
)

// Default values used by [NewServer] when no option overrides them.
const (
	// DefaultToken is the only valid token unless [WithToken] is used.
	DefaultToken = "ghp_fake0000000000000000000000000000000"
	// DefaultEnterprise is the enterprise slug unless [WithEnterprise] is used.
	DefaultEnterprise = "avocado-corp"
	// DefaultEnterpriseID is the numeric enterprise ID unless [WithEnterprise] is used.
	DefaultEnterpriseID int64 = 13827
	// DefaultEventCount is the size of the generated dataset when neither
	// [WithEvents] nor [WithGeneratedEvents] is given.
	DefaultEventCount = 500
)

// Rate-limit resources, as reported in the x-ratelimit-resource header.
const (
	// ResourceAuditLog is the bucket of GET /enterprises/{e}/audit-log (1,750/hour by default).
	ResourceAuditLog = "audit_log"
	// ResourceAuditLogStreaming is the bucket of the stream-key and stream endpoints (15/hour by default).
	ResourceAuditLogStreaming = "audit_log_streaming"
)

// Option configures a [Server] created by [New] or [NewServer].
type Option func(*config)

type limitConfig struct {
	limit  int
	window time.Duration
}

type config struct {
	err error // the first invalid option

	enterprise   string
	enterpriseID int64
	orgs         []Org // WithOrganizations
	orgsSet      bool
	tokens       []string
	scopes       map[string][]string // WithScopes

	// The dataset: data (WithDataset), else events (WithEvents), else gen.
	data      *Dataset
	events    []json.RawMessage
	eventsSet bool
	gen       Generator

	now       func() time.Time
	limits    map[string]limitConfig
	limitsSet bool // WithRateLimit was given
	faults    Faults
	seed      int64
	ghes      bool

	searchTimeout SearchTimeout // WithSearchTimeout

	noRateLimits bool   // WithoutRateLimits
	linkBase     string // WithLinkBase; "" means the server's own URL
	noListener   bool   // WithoutListener
	tls          bool   // WithTLS
}

func (c *config) fail(err error) {
	if c.err == nil {
		c.err = err
	}
}

func defaultConfig() config {
	return config{
		enterprise:   DefaultEnterprise,
		enterpriseID: DefaultEnterpriseID,
		tokens:       []string{DefaultToken},
		gen:          NewGenerator(DefaultEventCount, 1),
		now:          time.Now,
		limits: map[string]limitConfig{
			ResourceAuditLog:          {limit: 1750, window: time.Hour},
			ResourceAuditLogStreaming: {limit: 15, window: time.Hour},
		},
		seed: 1,
	}
}

// WithEnterprise sets the enterprise slug and numeric ID the server answers for.
// Both the slug (case-insensitively) and the decimal ID are accepted in paths.
func WithEnterprise(slug string, id int64) Option {
	return func(c *config) {
		c.enterprise = slug
		c.enterpriseID = id
	}
}

// WithToken sets the valid tokens, replacing the default. Rate-limit budgets
// are kept per token. The first token is the one [Server.Token] returns.
// Empty strings are ignored; if none remain the default token is kept.
func WithToken(tokens ...string) Option {
	return func(c *config) {
		var ts []string
		for _, t := range tokens {
			if t != "" {
				ts = append(ts, t)
			}
		}
		if len(ts) > 0 {
			c.tokens = ts
		}
	}
}

// WithEvents sets an explicit dataset, checked as by [NewDataset] (an
// integer "@timestamp" in epoch milliseconds, a unique "_document_id");
// [NewServer] panics and [New] fails the test otherwise. The bytes are
// served as given (after compaction); [Event.JSON] builds them. It replaces
// any other dataset option; a suite that starts many fakes over the same
// events builds a [Dataset] once and uses [WithDataset].
func WithEvents(events ...json.RawMessage) Option {
	return func(c *config) {
		c.events = append([]json.RawMessage(nil), events...)
		c.eventsSet, c.data = true, nil
	}
}

// WithGeneratedEvents generates n realistic events from seed, spread over the
// 30 days before the clock's time at [NewServer] (git events over the last 7
// days, as GitHub keeps them only that long): WithGenerator(NewGenerator(n,
// seed)). n == 0 gives an empty dataset. It replaces any other dataset option.
func WithGeneratedEvents(n int, seed int64) Option {
	return WithGenerator(NewGenerator(max(n, 0), seed))
}

// WithGenerator generates the dataset from g (see [Generator]); a zero
// Until is the clock's time at [NewServer]. Servers started with the same
// generator and the same resolved range share one immutable dataset while
// any of them is alive. It replaces any other dataset option.
func WithGenerator(g Generator) Option {
	return func(c *config) {
		if err := g.validate(); err != nil {
			c.fail(err)
		}
		c.gen, c.events, c.eventsSet, c.data = g, nil, false, nil
	}
}

// WithDataset serves d, which any number of servers may share: startup
// costs nothing however large it is. Events added to a server
// ([Server.AddEvents]) stay on that server. It replaces any other dataset
// option.
func WithDataset(d *Dataset) Option {
	return func(c *config) {
		if d == nil {
			c.fail(errors.New("auditlogtest: WithDataset(nil)"))
			return
		}
		c.data, c.events, c.eventsSet = d, nil, false
	}
}

// WithClock sets the clock used for rate-limit windows, reset headers, the
// Date header, stream timestamps, the request log, late events
// ([Server.AddEventsAt]) and the time range of generated events. The
// default is [time.Now], which inside a synctest bubble is the bubble's
// fake clock. A [Clock] is a clock the test sets: WithClock(clk.Now).
func WithClock(now func() time.Time) Option {
	return func(c *config) {
		if now != nil {
			c.now = now
		}
	}
}

// WithRateLimit sets the primary limit of a resource (e.g. [ResourceAuditLog])
// to limit requests per fixed window. The defaults are audit_log 1750/hour and
// audit_log_streaming 15/hour. A limit below 1 or a window below 1ms is
// ignored. In [WithEnterpriseServer] mode it also turns rate limiting on, as
// an administrator does.
func WithRateLimit(resource string, limit int, window time.Duration) Option {
	return func(c *config) {
		if limit < 1 || window < time.Millisecond {
			return
		}
		c.limits[resource] = limitConfig{limit: limit, window: window}
		c.limitsSet = true
	}
}

// WithFaults enables probability-based and periodic fault injection.
// Probabilities outside [0, 1] or summing to more than 1 are invalid.
func WithFaults(f Faults) Option {
	return func(c *config) {
		f.ServerErrorStatuses = append([]int(nil), f.ServerErrorStatuses...)
		c.faults = f
	}
}

// SearchTimeout models GitHub's limit on how long a request may run
// (10 seconds, after which GitHub answers 502 or 504 and advises asking for
// less): an audit-log search that asks for too much fails every time, not
// at random, until the client narrows it.
type SearchTimeout struct {
	// MaxEvents: a search whose phrase and include match more events than
	// this (visible now, wherever its cursor is) times out; 0 means no
	// bound.
	MaxEvents int
	// MaxSpan: a search whose created: range is wider than this, or open
	// at its start (no created: at all is open), times out; 0 means no
	// bound. A range open at its end ends at the server's clock:
	// created:>=X spans X to now, as GitHub's index holds nothing later.
	MaxSpan time.Duration
	// Status is the answer: 504 when 0, or 502.
	Status int
}

// WithSearchTimeout makes audit-log searches that ask for too much time out
// (see [SearchTimeout]). The answer is Status with GitHub's JSON message for
// a request that ran out of time; the request was run, so it counts against
// the budget (whether GitHub counts it is undocumented).
func WithSearchTimeout(st SearchTimeout) Option {
	return func(c *config) {
		if st.MaxEvents < 0 || st.MaxSpan < 0 || (st.Status != 0 && st.Status != 502 && st.Status != 504) {
			c.fail(errors.New("auditlogtest: WithSearchTimeout: MaxEvents and MaxSpan must not be negative, Status must be 0, 502 or 504"))
			return
		}
		if st.Status == 0 {
			st.Status = 504
		}
		c.searchTimeout = st
	}
}

// WithSeed seeds the fault randomness and the stream key pairs (default 1).
// It does not change the generated dataset (see [WithGeneratedEvents]).
func WithSeed(seed int64) Option {
	return func(c *config) { c.seed = seed }
}

// WithEnterpriseServer switches to GitHub Enterprise Server mode: everything
// is served under /api/v3, every response carries X-GitHub-Enterprise-Version
// ([EnterpriseServerVersion]), the audit log is paginated by page numbers
// only (after/before are ignored; Link carries next, last, first and prev),
// the stream endpoints, which are GitHub-Cloud-only, answer 404, and rate
// limiting is off (no x-ratelimit-* headers, no refusals), as GHES ships,
// unless [WithRateLimit] turns it on.
func WithEnterpriseServer() Option {
	return func(c *config) { c.ghes = true }
}

// WithoutRateLimits turns rate limiting off, as on a GitHub Enterprise
// Server whose administrator has not enabled it (the default there):
// responses carry no x-ratelimit-* headers and no request is refused for
// budget. Injected rate-limit faults still fire.
func WithoutRateLimits() Option {
	return func(c *config) { c.noRateLimits = true }
}

// WithoutListener opens no socket: the server is reached only through
// [Server.Transport] or [Server.Client], and [Server.URL] names a loopback
// address nothing listens on. This is what a test inside a synctest bubble
// needs (a listener would keep the bubble from ever going idle), and what
// any test that does not need a real port should prefer.
func WithoutListener() Option {
	return func(c *config) { c.noListener = true }
}

// WithTLS serves HTTPS, with a certificate that [Server.Client] trusts (see
// [httptest.NewTLSServer]), for clients that insist on https.
func WithTLS() Option {
	return func(c *config) { c.tls = true }
}

// WithScopes sets the OAuth scopes of token, a classic personal access
// token, and makes it valid if [WithToken] did not. Tokens it does not name
// have [ScopeReadAuditLog] and [ScopeAdminEnterprise]. A request whose
// token lacks the endpoint's scope is refused 403 (after routing, without
// consuming budget), and every routed response carries X-OAuth-Scopes and
// X-Accepted-OAuth-Scopes, as GitHub sends them.
func WithScopes(token string, scopes ...string) Option {
	return func(c *config) {
		if token == "" {
			c.fail(errors.New("auditlogtest: WithScopes: empty token"))
			return
		}
		if c.scopes == nil {
			c.scopes = map[string][]string{}
		}
		c.scopes[token] = append([]string{}, scopes...)
	}
}

// WithLinkBase makes the Link headers of audit-log pages name base (for
// example "https://api.github.com") instead of the server's own URL, as
// GitHub does when it is reached through a proxy, a gateway or a host alias
// that it does not know about. The links still carry the real cursors.
func WithLinkBase(base string) Option {
	return func(c *config) { c.linkBase = strings.TrimSuffix(base, "/") }
}
