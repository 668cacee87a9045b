package auditlog

import (
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Rate is the rate-limit state GitHub reported with a response, from the
// x-ratelimit-* headers. Counts are -1 when the header was absent.
type Rate struct {
	Limit     int       // x-ratelimit-limit: requests allowed per window
	Remaining int       // x-ratelimit-remaining: requests left in this window
	Used      int       // x-ratelimit-used: requests made in this window
	Reset     time.Time // x-ratelimit-reset: when the window ends
	Resource  string    // x-ratelimit-resource: the budget charged, e.g. "audit_log"
}

// Known reports whether the response carried rate-limit headers.
func (r Rate) Known() bool { return r.Limit >= 0 && r.Remaining >= 0 }

func parseRate(h http.Header) Rate {
	r := Rate{
		Limit:     headerInt(h, "X-Ratelimit-Limit"),
		Remaining: headerInt(h, "X-Ratelimit-Remaining"),
		Used:      headerInt(h, "X-Ratelimit-Used"),
		Resource:  h.Get("X-Ratelimit-Resource"),
	}
	if secs := headerInt(h, "X-Ratelimit-Reset"); secs >= 0 {
		r.Reset = time.Unix(int64(secs), 0)
	}
	return r
}

func headerInt(h http.Header, key string) int {
	v := h.Get(key)
	if v == "" {
		return -1
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return -1
	}
	return n
}

// A Limiter paces requests so that they stay within GitHub's per-resource
// budgets. The pipeline of every [Client] asks it before each attempt and
// tells it what each response said. GitHub counts the budget per user and IP,
// so every Client that sends the same token from the same host should share
// one Limiter (see [NewBudget] and [WithLimiter]).
//
// Implementations must be safe for concurrent use. The pipeline guarantees
// that each successful Reserve is followed by exactly one Observe for the
// same resource: with the response's Rate, or with a Rate whose Known is
// false when no response arrived (a network error) or the request was
// abandoned before it was sent.
type Limiter interface {
	// Reserve claims one request on resource at now and returns how long the
	// caller must wait before sending it. When the wait would exceed maxWait
	// it claims nothing and returns an error, typically a [*RateLimitError]
	// whose RetryAfter says how long the wait would have been.
	Reserve(resource string, now time.Time, maxWait time.Duration) (time.Duration, error)
	// Observe records the budget GitHub reported with a response received
	// at now. The server's view wins over the local estimate.
	Observe(resource string, now time.Time, r Rate)
	// Pause holds every request on resource until until, for example after a
	// secondary rate limit said to retry later.
	Pause(resource string, until time.Time)
}

// RateLimit is the budget of one resource: Requests per Per, of which at
// most Burst may be sent back to back.
type RateLimit struct {
	Requests int           // requests allowed per window, at least 1
	Per      time.Duration // length of the window, at least 1ms
	// Burst is how many requests may be sent at once when the budget is
	// untouched; 0 means Requests: GitHub grants a whole window at once, and
	// the server's x-ratelimit-remaining stops the burst at the right place.
	// A smaller Burst spreads requests evenly over the window.
	Burst int
}

func (l RateLimit) validate() error {
	switch {
	case l.Requests < 1:
		return fmt.Errorf("requests must be at least 1, got %d", l.Requests)
	case l.Per < time.Millisecond:
		return fmt.Errorf("per must be at least 1ms, got %v", l.Per)
	case l.Burst < 0 || l.Burst > l.Requests:
		return fmt.Errorf("burst must be between 0 and requests (%d), got %d", l.Requests, l.Burst)
	}
	return nil
}

func (l RateLimit) burst() int {
	if l.Burst == 0 {
		return l.Requests
	}
	return l.Burst
}

// DefaultRateLimits returns GitHub's documented budgets: audit_log 1,750
// requests per hour and audit_log_streaming 15 per hour, both per user and IP.
// A resource not listed gets [DefaultOtherRateLimit]. The map is a fresh copy.
func DefaultRateLimits() map[string]RateLimit {
	return map[string]RateLimit{
		ResourceAuditLog:          {Requests: 1750, Per: time.Hour},
		ResourceAuditLogStreaming: {Requests: 15, Per: time.Hour},
	}
}

// DefaultOtherRateLimit is the budget a [Budget] assumes for a resource that
// has no limit of its own: GitHub's primary limit for a personal access
// token, 5,000 requests per hour.
var DefaultOtherRateLimit = RateLimit{Requests: 5000, Per: time.Hour}

// Budget is the default [Limiter]: one token bucket per resource on
// golang.org/x/time/rate, kept in line with the x-ratelimit-* headers of
// every response. When GitHub says remaining is 0, no request on that
// resource is let through until x-ratelimit-reset; each window GitHub
// reports is paced from its own headers (what remains, over the time until
// its reset), so a limit or window other than the configured one is
// followed at once; the configured RateLimit paces only until the first
// response. Requests in flight are counted against the remaining budget, so
// goroutines and Clients sharing one Budget never overdraw it between them.
//
// A Budget is safe for concurrent use and is meant to be shared by every
// [Client] using the same token. The zero value is not usable; create one
// with [NewBudget].
type Budget struct {
	limits map[string]RateLimit // read-only after NewBudget
	mu     sync.Mutex
	res    map[string]*bucket
}

// bucket is the state of one resource, guarded by Budget.mu.
type bucket struct {
	tb        *rate.Limiter
	cfg       RateLimit
	limit     int       // last x-ratelimit-limit seen, 0 for none
	known     bool      // remaining and reset describe the current window
	remaining int       // local estimate of what is left before reset
	reset     time.Time // end of the window remaining refers to
	inflight  int       // reserved, not yet observed
	hold      time.Time // no request before this (Pause)
}

// NewBudget returns a [Budget] with limits, which override
// [DefaultRateLimits] resource by resource; nil keeps the defaults. It
// fails, naming the resource, when a limit is invalid.
func NewBudget(limits map[string]RateLimit) (*Budget, error) {
	all := DefaultRateLimits()
	for res, l := range limits {
		if res == "" {
			return nil, &InputError{Field: "RateLimit", Reason: "resource name is empty"}
		}
		if err := l.validate(); err != nil {
			return nil, &InputError{Field: "RateLimit[" + quoteValue(res) + "]", Reason: err.Error()}
		}
		all[res] = l
	}
	return &Budget{limits: all, res: map[string]*bucket{}}, nil
}

func (b *Budget) bucketLocked(resource string) *bucket {
	bk := b.res[resource]
	if bk == nil {
		cfg, ok := b.limits[resource]
		if !ok {
			cfg = DefaultOtherRateLimit
		}
		bk = &bucket{cfg: cfg, tb: rate.NewLimiter(perWindow(cfg.Requests, cfg.Per), cfg.burst())}
		b.res[resource] = bk
	}
	return bk
}

func perWindow(n int, per time.Duration) rate.Limit {
	return rate.Limit(float64(n) / per.Seconds())
}

// Reserve implements [Limiter].
func (b *Budget) Reserve(resource string, now time.Time, maxWait time.Duration) (time.Duration, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	bk := b.bucketLocked(resource)
	if bk.known && !now.Before(bk.reset) {
		bk.known = false // the window GitHub described is over
	}
	wait := max(bk.hold.Sub(now), 0)
	exhausted := bk.known && bk.remaining <= 0
	if exhausted {
		wait = max(wait, bk.reset.Sub(now))
	}
	r := bk.tb.ReserveN(now, 1)
	wait = max(wait, r.DelayFrom(now))
	if !r.OK() || wait > maxWait {
		r.CancelAt(now)
		e := &RateLimitError{Resource: resource, Limit: bk.cfg.Requests, Remaining: -1,
			RetryAfter: wait, observed: now}
		if bk.limit > 0 {
			e.Limit = bk.limit
		}
		if bk.known {
			e.Remaining, e.Reset = max(bk.remaining, 0), bk.reset
		}
		return 0, e
	}
	if bk.known && !exhausted {
		bk.remaining--
	}
	bk.inflight++
	return wait, nil
}

// Observe implements [Limiter].
func (b *Budget) Observe(resource string, now time.Time, r Rate) {
	b.mu.Lock()
	defer b.mu.Unlock()
	bk := b.bucketLocked(resource)
	if bk.inflight > 0 {
		bk.inflight--
	}
	if !r.Known() || r.Reset.IsZero() || !now.Before(r.Reset) {
		// No window to go by: a limit GitHub reports still re-paces the
		// bucket, over the configured window.
		if r.Limit > 0 && r.Limit != bk.limit {
			bk.limit = r.Limit
			bk.tb.SetLimitAt(now, perWindow(r.Limit, bk.cfg.Per))
			bk.tb.SetBurstAt(now, min(bk.cfg.burst(), r.Limit))
		}
		return
	}
	if bk.known && r.Reset.Before(bk.reset) {
		return // a late answer from a window that has ended
	}
	// GitHub's count excludes requests still in flight; count them as spent.
	// Within a window, answers arrive out of order and an older one reports
	// more than is left: only a lower count is news (another consumer of
	// the same budget). A new window starts from what GitHub says.
	left := r.Remaining - bk.inflight
	newWindow := !bk.known || r.Reset.After(bk.reset)
	if !newWindow {
		left = min(left, bk.remaining)
	}
	bk.known, bk.reset, bk.remaining = true, r.Reset, left
	if r.Limit > 0 {
		bk.limit = r.Limit
	}
	if newWindow {
		// The server's window wins over the configured one, whatever its
		// length: pace what it says is left over the time it says is left.
		span := r.Reset.Sub(now)
		if bk.cfg.Burst == 0 {
			// GitHub grants the window at once; remaining stops the burst.
			bk.tb = rate.NewLimiter(perWindow(max(bk.limit, 1), span), max(bk.limit, 1))
		} else {
			// left+1 intervals: the last request goes before the reset,
			// not on it (where it would count against the next window).
			bk.tb.SetLimitAt(now, perWindow(max(left, 0)+1, span))
			bk.tb.SetBurstAt(now, min(bk.cfg.Burst, max(bk.limit, 1)))
		}
	}
}

// Pause implements [Limiter].
func (b *Budget) Pause(resource string, until time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	bk := b.bucketLocked(resource)
	if until.After(bk.hold) {
		bk.hold = until
	}
}
