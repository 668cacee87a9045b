package auditlogtest

import (
	"maps"
	"net/http"
	"slices"
	"strconv"
	"time"
)

// resourceCore is the bucket of GitHub's REST endpoints that have none of
// their own (5,000 an hour for a personal access token). The fake serves no
// endpoint of it, but GET /rate_limit reports it, as GitHub does.
const resourceCore = "core"

// budgetKey names a budget: a token's, for a resource, and for the audit
// log an account (see orgEntity); entity is "" for the stream endpoints.
type budgetKey struct{ token, resource, entity string }

// budget is a fixed window: it starts at the first request after the previous
// window ended and resets at start+window.
type budget struct {
	off   bool // WithoutRateLimits: never refuses, sends no headers
	limit int
	used  int
	start time.Time
	reset time.Time
}

func (s *Server) limitFor(resource string) limitConfig {
	if l, ok := s.cfg.limits[resource]; ok {
		return l
	}
	return limitConfig{limit: 5000, window: time.Hour}
}

// budgetLocked returns the current window of k, starting a new one when
// the previous has ended.
func (s *Server) budgetLocked(k budgetKey, now time.Time) *budget {
	b := s.budgets[k]
	if b == nil || !now.Before(b.reset) {
		l := s.limitFor(k.resource)
		b = &budget{limit: l.limit, start: now, reset: now.Add(l.window), off: s.cfg.noRateLimits}
		s.budgets[k] = b
	}
	return b
}

// resetEpoch is the reset time in epoch seconds, rounded up.
func (b *budget) resetEpoch() int64 {
	sec := b.reset.Unix()
	if b.reset.Nanosecond() > 0 {
		sec++
	}
	return sec
}

func (b *budget) setHeaders(h http.Header, resource string) {
	if b.off {
		return // rate limiting is off: GitHub Enterprise Server sends no headers
	}
	h.Set("X-RateLimit-Limit", strconv.Itoa(b.limit))
	h.Set("X-RateLimit-Remaining", strconv.Itoa(max(b.limit-b.used, 0)))
	h.Set("X-RateLimit-Used", strconv.Itoa(b.used))
	h.Set("X-RateLimit-Reset", strconv.FormatInt(b.resetEpoch(), 10))
	h.Set("X-RateLimit-Resource", resource)
}

// Budget reports the server's view of a token's budget for a resource: for
// [ResourceAuditLog], the budget of the enterprise's audit log (an
// organization's is [Server.OrgBudget]). When no window is running (none
// started yet, or the last one has ended) it returns the full limit, used 0
// and a zero reset time.
func (s *Server) Budget(token, resource string) (limit, remaining, used int, reset time.Time) {
	return s.budget(s.keyFor(token, resource))
}

// keyFor is the budget of token and resource that is not an
// organization's: the enterprise's, for the audit log.
func (s *Server) keyFor(token, resource string) budgetKey {
	if resource == ResourceAuditLog {
		return budgetKey{token, resource, s.enterpriseEntity()}
	}
	return budgetKey{token, resource, ""}
}

func (s *Server) budget(k budgetKey) (limit, remaining, used int, reset time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.budgets[k]
	if b == nil || !s.now().Before(b.reset) {
		l := s.limitFor(k.resource).limit
		return l, l, 0, time.Time{}
	}
	return b.limit, max(b.limit-b.used, 0), b.used, b.reset
}

// viewLocked is the window of k as a request would find it at now, without
// opening one: when none is running, the whole limit and a reset one window
// from now.
func (s *Server) viewLocked(k budgetKey, now time.Time) budget {
	if b := s.budgets[k]; b != nil && now.Before(b.reset) {
		return *b
	}
	l := s.limitFor(k.resource)
	return budget{limit: l.limit, start: now, reset: now.Add(l.window), off: s.cfg.noRateLimits}
}

// reportedLocked is the window GET /rate_limit reports for token and
// resource. It names no path, while GitHub keeps an audit-log budget per
// account: the fake reports the running window with the least left among
// the token's (the enterprise's when none runs), so that a client seeding
// a budget from it never thinks it has more than any account has left.
func (s *Server) reportedLocked(token, resource string, now time.Time) budget {
	view := s.viewLocked(s.keyFor(token, resource), now)
	if resource != ResourceAuditLog {
		return view
	}
	for k, b := range s.budgets {
		if k.token == token && k.resource == resource && now.Before(b.reset) && b.limit-b.used < view.limit-view.used {
			view = *b
		}
	}
	return view
}

// rateStatus is one entry of GET /rate_limit's resources.
type rateStatus struct {
	Limit     int    `json:"limit"`
	Used      int    `json:"used"`
	Remaining int    `json:"remaining"`
	Reset     int64  `json:"reset"`
	Resource  string `json:"resource"`
}

// rateLimitLocked answers GET /rate_limit for token: each resource's
// current window, the one its requests are counted in, read without
// opening or spending it. With rate limiting off it is 404, as on GitHub
// Enterprise Server. An injected secondary limit refuses it; the primary
// kinds do not apply (GitHub counts it against no primary limit) and it is
// answered.
func (s *Server) rateLimitLocked(tok, version string, f Fault, hasFault bool, reqID string) *response {
	now := s.now()
	core := s.viewLocked(budgetKey{tok, resourceCore, ""}, now)
	if hasFault {
		switch f.Kind {
		case FaultSecondary403, FaultSecondary429, FaultSecondaryBare:
			r := secondaryRefusal(f, reqID)
			if f.Kind != FaultSecondaryBare {
				core.setHeaders(r.header, resourceCore)
			}
			return r
		}
	}
	if s.cfg.noRateLimits {
		return errorResponse(http.StatusNotFound, "Rate limiting is not enabled.", docsRateLimit)
	}
	resources := map[string]rateStatus{}
	for _, res := range append(slices.Sorted(maps.Keys(s.cfg.limits)), resourceCore) {
		b := s.reportedLocked(tok, res, now)
		resources[res] = rateStatus{Limit: b.limit, Used: b.used, Remaining: max(b.limit-b.used, 0),
			Reset: b.resetEpoch(), Resource: res}
	}
	body := map[string]any{"resources": resources}
	if version == "2022-11-28" {
		body["rate"] = resources[resourceCore] // deprecated; 2026-03-10 drops it
	}
	r := jsonResponse(http.StatusOK, body)
	core.setHeaders(r.header, resourceCore)
	r.header.Set("X-GitHub-Api-Version-Selected", version)
	r.header.Set("X-GitHub-Media-Type", "github.v3; format=json")
	return r
}
