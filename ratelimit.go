package auditlog

import (
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"
	"golang.org/x/time/rate"
)

// Rate is a rate-limit budget: the x-ratelimit-* headers of a response, or
// what a [Limiter] knows of a resource (see [Client.Rate]). Counts are -1
// when unknown.
type Rate struct {
	Limit     int // x-ratelimit-limit: requests allowed per window
	Remaining int // x-ratelimit-remaining: requests left in this window
	Used      int // x-ratelimit-used: requests made in this window
	// Reset is when the window ends (x-ratelimit-reset), on the local clock:
	// the SDK converts GitHub's time through the response's Date header, so
	// a skewed local clock still waits the right time. Zero when unknown.
	Reset    time.Time
	Resource string // x-ratelimit-resource: the budget charged, e.g. "audit_log"
}

// Known reports whether the budget is known: the response carried
// rate-limit headers.
func (r Rate) Known() bool { return r.Limit >= 0 && r.Remaining >= 0 }

// unknownRate is a Rate of which nothing is known.
var unknownRate = Rate{Limit: -1, Remaining: -1, Used: -1}

// rateHeaders are the headers a response with rate-limit information has at
// least one of.
var rateHeaders = []string{"X-Ratelimit-Limit", "X-Ratelimit-Remaining", "X-Ratelimit-Used", "X-Ratelimit-Reset", "X-Ratelimit-Resource"}

// hasRateHeaders reports whether h carries any x-ratelimit-* header.
func hasRateHeaders(h http.Header) bool {
	for _, k := range rateHeaders {
		if len(h[k]) > 0 {
			return true
		}
	}
	return false
}

// parseRate reads the x-ratelimit-* headers; Reset is on GitHub's clock.
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
// A Limiter that also implements [Seeder] can be told the budget before the
// first response (the warm start). Implementations must be safe for
// concurrent use. The pipeline settles each
// successful Reserve exactly once, with Observe or Release for the same
// resource. Every time it gets from a response (a Rate's Reset, a Pause's
// until) is already on the local clock, converted through the response's
// Date header, and bounded: no later than one window (an hour) and a minute
// of allowed clock skew after the response arrived.
type Limiter interface {
	// Reserve claims one request on resource at now and returns how long the
	// caller must wait before sending it. When the wait would exceed maxWait
	// it claims nothing and returns an error, typically a [*RateLimitError]
	// whose RetryAfter says how long the wait would have been.
	Reserve(resource string, now time.Time, maxWait time.Duration) (time.Duration, error)
	// Observe settles one reservation with the budget a response reported,
	// received at now. The server's view wins over the local estimate. A
	// successful (2xx) response that carried no x-ratelimit-* header is
	// passed with r.Known() false: the server enforces no limit on resource
	// (GitHub Enterprise Server with rate limiting off), so none should be
	// invented, unless the caller configured one.
	Observe(resource string, now time.Time, r Rate)
	// Release settles one reservation that got no budget information: a
	// network error, an abandoned wait, or an error response (a 502 from a
	// proxy, say) without rate headers. It says nothing about the limit.
	Release(resource string, now time.Time)
	// Pause holds every request on resource until until: a secondary limit,
	// a retry-after or a spent budget, whether or not the call that met it
	// waits.
	Pause(resource string, until time.Time)
	// State is the budget of resource as the limiter knows it at now (limit,
	// remaining estimate, reset), and whether it knows one. ok with
	// r.Known() false means the server reported no limit on resource.
	State(resource string, now time.Time) (r Rate, ok bool)
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
// A server that reports no limit (a success without x-ratelimit-* headers:
// GitHub Enterprise Server as shipped) is not paced at all, until it reports
// one, unless the limit of that resource was given to NewBudget: a
// configured limit always holds.
//
// A Budget is safe for concurrent use and is meant to be shared by every
// [Client] using the same token. The zero value is not usable; create one
// with [NewBudget].
type Budget struct {
	limits     map[string]RateLimit // read-only after NewBudget
	configured map[string]bool      // resources whose limit the caller gave; read-only
	mu         sync.Mutex
	res        map[string]*bucket
	seeds      singleflight.Group // one warm start at a time per resource
}

// bucket is the state of one resource, guarded by Budget.mu.
type bucket struct {
	tb        *rate.Limiter
	cfg       RateLimit
	limit     int       // last x-ratelimit-limit seen, 0 for none
	known     bool      // remaining and reset describe the current window
	remaining int       // local estimate of what is left before reset
	reset     time.Time // end of the window remaining refers to
	inflight  int       // reserved, not yet settled
	hold      time.Time // no request before this (Pause)
	// unlimited: the server reported no limit and none was configured.
	unlimited bool
}

// NewBudget returns a [Budget] with limits, which override
// [DefaultRateLimits] resource by resource; nil keeps the defaults. It
// fails, naming the resource, when a limit is invalid.
func NewBudget(limits map[string]RateLimit) (*Budget, error) {
	all := DefaultRateLimits()
	configured := map[string]bool{}
	for res, l := range limits {
		if res == "" {
			return nil, &InputError{Field: "RateLimit", Reason: "resource name is empty"}
		}
		if err := l.validate(); err != nil {
			return nil, &InputError{Field: "RateLimit[" + quoteValue(res) + "]", Reason: err.Error()}
		}
		all[res] = l
		configured[res] = true
	}
	return &Budget{limits: all, configured: configured, res: map[string]*bucket{}}, nil
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
	if bk.unlimited {
		if wait > maxWait {
			return 0, &RateLimitError{Resource: resource, Remaining: -1, RetryAfter: wait, observed: now}
		}
		bk.inflight++
		return wait, nil
	}
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
	b.learnLocked(resource, bk, now, r)
}

// learnLocked takes in a budget the server reported for resource at now.
func (b *Budget) learnLocked(resource string, bk *bucket, now time.Time, r Rate) {
	if !r.Known() {
		// A success without rate headers: the server enforces no limit.
		if !b.configured[resource] {
			bk.unlimited, bk.known = true, false
		}
		return
	}
	bk.unlimited = false
	if r.Reset.IsZero() || !now.Before(r.Reset) {
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

// Release implements [Limiter].
func (b *Budget) Release(resource string, _ time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if bk := b.res[resource]; bk != nil && bk.inflight > 0 {
		bk.inflight--
	}
}

// State implements [Limiter]. Between the end of a window GitHub reported
// and the next response, it reports the whole limit as remaining (the next
// window starts with the next request) and a zero Reset.
func (b *Budget) State(resource string, now time.Time) (Rate, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	bk := b.res[resource]
	switch {
	case bk == nil:
		return unknownRate, false
	case bk.unlimited:
		r := unknownRate
		r.Resource = resource
		return r, true
	case bk.known && now.Before(bk.reset):
		left := max(bk.remaining, 0)
		return Rate{Limit: bk.limit, Remaining: left, Used: max(bk.limit-left, 0), Reset: bk.reset, Resource: resource}, bk.limit > 0
	case bk.limit > 0:
		return Rate{Limit: bk.limit, Remaining: bk.limit, Used: 0, Resource: resource}, true
	}
	return unknownRate, false
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

// skewClock estimates how far GitHub's clock is ahead of ours (negative
// when behind) from the Date headers of responses, so that x-ratelimit-reset
// and HTTP-date retry-after values, which are on GitHub's clock, can be
// converted to ours.
//
// Date has a resolution of a second and is stamped somewhere between the
// request's send and the response's arrival, so each response only bounds
// the skew: Date - received <= skew <= Date + 1s - sent. The estimate keeps
// the intersection of those intervals over the responses seen. While it
// holds 0 the clocks agree as far as Date can tell, and times are taken as
// GitHub gives them; otherwise its lower end is used, so converted times are
// never earlier than GitHub's (a request sent on them is not refused), and
// later by less the more responses there are. When a response's interval
// does not meet the kept one, a clock has been stepped: the estimate starts
// over from that response.
type skewClock struct {
	mu     sync.Mutex
	ok     bool
	lo, hi time.Duration
}

// observe takes a response's Date header, the local times its request was
// sent and it arrived, and returns the estimate (0 while there is none).
func (s *skewClock) observe(date string, sent, received time.Time) time.Duration {
	d, err := http.ParseTime(date)
	s.mu.Lock()
	defer s.mu.Unlock()
	if date == "" || err != nil {
		return s.estimate()
	}
	lo, hi := d.Sub(received), d.Add(time.Second).Sub(sent)
	if !s.ok || lo > s.hi || hi < s.lo {
		s.lo, s.hi, s.ok = lo, hi, true
	} else {
		s.lo, s.hi = max(s.lo, lo), min(s.hi, hi)
	}
	return s.estimate()
}

func (s *skewClock) estimate() time.Duration {
	if s.lo <= 0 && s.hi >= 0 {
		return 0
	}
	return s.lo
}
