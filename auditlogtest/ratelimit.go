package auditlogtest

import (
	"net/http"
	"strconv"
	"time"
)

type budgetKey struct{ token, resource string }

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

// budgetLocked returns the current window of (token, resource), starting a
// new one when the previous has ended.
func (s *Server) budgetLocked(token, resource string, now time.Time) *budget {
	k := budgetKey{token, resource}
	b := s.budgets[k]
	if b == nil || !now.Before(b.reset) {
		l := s.limitFor(resource)
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

// Budget reports the server's view of a token's budget for a resource. When
// no window is running (none started yet, or the last one has ended) it
// returns the full limit, used 0 and a zero reset time.
func (s *Server) Budget(token, resource string) (limit, remaining, used int, reset time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.budgets[budgetKey{token, resource}]
	if b == nil || !s.now().Before(b.reset) {
		l := s.limitFor(resource).limit
		return l, l, 0, time.Time{}
	}
	return b.limit, max(b.limit-b.used, 0), b.used, b.reset
}
