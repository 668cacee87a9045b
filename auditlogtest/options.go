package auditlogtest

import (
	"encoding/json"
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

// Option configures a [Server] created by [NewServer].
type Option func(*config)

type limitConfig struct {
	limit  int
	window time.Duration
}

type config struct {
	enterprise   string
	enterpriseID int64
	tokens       []string

	events    []json.RawMessage
	eventsSet bool
	genN      int
	genSeed   int64
	genSet    bool

	now    func() time.Time
	limits map[string]limitConfig
	faults Faults
	seed   int64
	ghes   bool

	noRateLimits bool   // WithoutRateLimits
	linkBase     string // WithLinkBase; "" means the server's own URL
}

func defaultConfig() config {
	return config{
		enterprise:   DefaultEnterprise,
		enterpriseID: DefaultEnterpriseID,
		tokens:       []string{DefaultToken},
		genN:         DefaultEventCount,
		genSeed:      1,
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

// WithEvents sets an explicit dataset. Every event must be a JSON object with
// an integer "@timestamp" (epoch milliseconds) and a unique string
// "_document_id"; [NewServer] panics otherwise. The bytes are served as given
// (after compaction). It replaces any [WithGeneratedEvents].
func WithEvents(events ...json.RawMessage) Option {
	return func(c *config) {
		c.events = append([]json.RawMessage(nil), events...)
		c.eventsSet = true
		c.genSet = false
	}
}

// WithGeneratedEvents generates n realistic events from seed, spread over the
// 30 days before the clock's time at [NewServer] (git events over the last 7
// days, as GitHub keeps them only that long). n == 0 gives an empty dataset.
// It replaces any [WithEvents].
func WithGeneratedEvents(n int, seed int64) Option {
	return func(c *config) {
		if n < 0 {
			n = 0
		}
		c.genN = n
		c.genSeed = seed
		c.genSet = true
		c.eventsSet = false
		c.events = nil
	}
}

// WithClock sets the clock used for rate-limit windows, reset headers, stream
// timestamps, the request log and the time range of generated events.
// The default is [time.Now].
func WithClock(now func() time.Time) Option {
	return func(c *config) {
		if now != nil {
			c.now = now
		}
	}
}

// WithRateLimit sets the primary limit of a resource (e.g. [ResourceAuditLog])
// to limit requests per fixed window. The defaults are audit_log 1750/hour and
// audit_log_streaming 15/hour. A limit below 1 or a window below 1ms is ignored.
func WithRateLimit(resource string, limit int, window time.Duration) Option {
	return func(c *config) {
		if limit < 1 || window < time.Millisecond {
			return
		}
		c.limits[resource] = limitConfig{limit: limit, window: window}
	}
}

// WithFaults enables probability-based and periodic fault injection.
func WithFaults(f Faults) Option {
	return func(c *config) { c.faults = f }
}

// WithSeed seeds the fault randomness and the stream key pairs (default 1).
// It does not change the generated dataset (see [WithGeneratedEvents]).
func WithSeed(seed int64) Option {
	return func(c *config) { c.seed = seed }
}

// WithEnterpriseServer switches to GitHub Enterprise Server mode: everything
// is served under /api/v3, the audit log is paginated by page numbers only
// (after/before are ignored; Link carries next, last, first and prev), and the
// stream endpoints, which are GitHub-Cloud-only, answer 404.
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

// WithLinkBase makes the Link headers of audit-log pages name base (for
// example "https://api.github.com") instead of the server's own URL, as
// GitHub does when it is reached through a proxy, a gateway or a host alias
// that it does not know about. The links still carry the real cursors.
func WithLinkBase(base string) Option {
	return func(c *config) { c.linkBase = strings.TrimSuffix(base, "/") }
}
