package auditlog

import (
	"errors"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
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
	Reset time.Time
	// Resource is the budget charged: in a response, x-ratelimit-resource
	// ("audit_log"); from a Limiter ([Client.Rate]), the budget key
	// ("audit_log:orgs/octo-org", see [BudgetKey]).
	Resource string
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

// A Limiter paces requests so that they stay within GitHub's budgets. The
// pipeline of every [Client] asks it before each attempt and tells it how
// each attempt ended. GitHub counts the budget per user and IP, so every
// Client that sends the same token from the same host should share one
// Limiter (see [NewBudget] and [WithLimiter]).
//
// Every method takes the key of the budget a request is charged to: a
// resource name as GitHub reports it in x-ratelimit-resource, optionally
// followed by ":" and a path, when GitHub counts that resource per entity
// path. An audit-log call is charged to [BudgetKey] of its [Scope]
// ("audit_log:orgs/octo-org"), a stream call to
// [ResourceAuditLogStreaming]. Each key is a budget of its own; what is
// configured per resource (limits, such as [DefaultRateLimits]) applies to
// every key of that resource ([KeyResource]).
//
// Each reservation has a [Ticket], and the pipeline settles every ticket
// Reserve returns exactly once, for the same key: with Observe when the
// response reported the budget, Release when the request may have reached
// GitHub but nothing was reported, Cancel when GitHub did not count it. The
// ticket tells the Limiter which request an answer belongs to. GitHub counts
// a request when it reaches it, and requests reach it in about the order
// they were reserved: the remaining count an answer reports already counts
// the requests reserved before it, even those whose answers are still on
// their way, and not those reserved after it.
//
// A Limiter that also implements [Seeder] can be told the budget before the
// first response (the warm start). Implementations must be safe for
// concurrent use. Every time the pipeline gets from a response (a Rate's
// Reset, a Pause's until) is already on the local clock, converted through
// the response's Date header, and bounded: no later than one window (an
// hour) and a minute of allowed clock skew after the response arrived.
type Limiter interface {
	// Reserve claims one request on key's budget at now and returns its ticket
	// and how long the caller must wait before sending it. When the wait
	// would exceed maxWait it claims nothing and returns an error, typically
	// a [*RateLimitError] whose RetryAfter says how long the wait would have
	// been. A zero Ticket with a nil error claims nothing either: the
	// Limiter cannot place the request yet (the next window is already
	// spoken for, and when it ends is not known until GitHub answers in
	// it), and the caller waits the duration returned and asks again.
	Reserve(key string, now time.Time, maxWait time.Duration) (Ticket, time.Duration, error)
	// Observe settles reservation t with the budget its response reported,
	// received at now. The server's view wins over the local estimate. A
	// successful (2xx) response that carried no x-ratelimit-* header is
	// passed with r.Known() false: the server enforces no limit on key's budget
	// (GitHub Enterprise Server with rate limiting off), so none should be
	// invented, unless the caller configured one. A refusal that carried
	// rate headers is observed too: what it reports (GitHub did not count
	// the refused request) is as good as any answer's.
	Observe(key string, t Ticket, now time.Time, r Rate)
	// Release settles reservation t when its request may have reached
	// GitHub but nothing came back about the budget: a network error after
	// the connection was made, or an error response (a 502 from a proxy,
	// say) without rate headers. It says nothing about the limit, and GitHub
	// may have counted the request.
	Release(key string, t Ticket, now time.Time)
	// Cancel settles reservation t when GitHub did not count its request:
	// it was never sent (the wait was abandoned, the connection never made,
	// the token could not be had) or GitHub refused it without saying what
	// is left (a secondary limit's bare 403 or 429). What the reservation
	// took from the budget is given back.
	Cancel(key string, t Ticket, now time.Time)
	// Pause holds every request on key until until: a secondary limit,
	// a retry-after or a spent budget, whether or not the call that met it
	// waits.
	Pause(key string, until time.Time)
	// State is the budget kept under key as the limiter knows it at now (limit,
	// remaining estimate, reset), and whether it knows one. ok with
	// r.Known() false means the server reported no limit on it. A Rate it returns
	// names key as its Resource.
	State(key string, now time.Time) (r Rate, ok bool)
}

// KeyResource is the resource of a budget key (see [Limiter]): the part
// before the first ":", such as "audit_log" for "audit_log:orgs/octo-org",
// or the whole key when it has no path. A Limiter looks up what is
// configured per resource, such as its [RateLimit], by it.
func KeyResource(key string) string {
	res, _, _ := strings.Cut(key, ":")
	return res
}

// A Ticket identifies one reservation of a [Limiter]: Reserve returns it and
// the pipeline hands it back when it settles that reservation. Its value is
// the Limiter's to choose; the zero Ticket is no reservation.
type Ticket uint64

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

// validateLimit checks the limit given for resource res.
func validateLimit(res string, l RateLimit) error {
	if res == "" {
		return errors.New("resource name is empty")
	}
	if KeyResource(res) != res {
		return fmt.Errorf("limits are set per resource (%s), which holds for every scope's budget, not per budget key",
			quoteValue(KeyResource(res)))
	}
	return l.validate()
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

// Budget is the default [Limiter]: one token bucket per budget key (a
// resource, or a resource and a scope's path: see [BudgetKey]) on
// golang.org/x/time/rate, kept in line with the x-ratelimit-* headers of
// every response. When GitHub says remaining is 0, no request on that
// key is let through until x-ratelimit-reset; each window GitHub
// reports is paced from its own headers (what remains, over the time until
// its reset), so a limit or window other than the configured one is
// followed at once; the configured RateLimit paces only until the first
// response.
//
// What is left of a window is GitHub's latest count less the requests it
// may not have counted yet. GitHub's count only goes down within a window,
// so the lowest remaining it reported is its latest count, whichever
// request it answered and in whatever order the answers came back (a lower
// count from another consumer of the token is news too). Matched to its
// reservation through its [Ticket], that answer counts every request sent
// before it; the requests sent after it that are still in flight, or were
// released without an answer, count as spent, and so do those sent within
// [Reorder] before it, which may have reached GitHub after it. Settling a
// request takes it out of that count: an answer with a higher remaining,
// a Cancel or a refusal gives its place back. So goroutines and Clients
// sharing one Budget never overdraw it between them, and use all of it.
//
// When nothing is left, a caller whose request may yet fit (requests sent
// at about the same time as the latest answer are still in flight) is told
// to ask again shortly; otherwise it is committed to the reset, as many as
// the next window allows (its limit, taken to be the last one reported),
// and the next ones are told to ask again once GitHub has answered in that
// window: a spent window's waiters do not overdraw the next one at its
// reset.
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

// Reorder is how far apart two requests may be sent and still reach GitHub
// in either order (a new connection's handshake, a token to refresh, the
// network): a limiter takes an answer to count the requests sent more than
// Reorder before it, and not those sent later.
const Reorder = time.Second

// bucket is the state of one resource, guarded by Budget.mu.
type bucket struct {
	tb    *rate.Limiter
	cfg   RateLimit
	limit int // last x-ratelimit-limit seen, 0 for none
	// known: low and reset describe the window GitHub reported. between:
	// that window ended at from, and GitHub has not answered in the next
	// one yet, whose requests are those sent from then on; it is given up
	// at until.
	known, between bool
	reset          time.Time
	from, until    time.Time
	low            int    // the lowest remaining GitHub reported in the window: its latest count
	lowAt          int64  // when the request it answered was sent (see nanos)
	lowLast        Ticket // the last reservation made before that answer came
	span           time.Duration
	hold           time.Time // no request before this (Pause)
	// unlimited: the server reported no limit and none was configured.
	unlimited bool

	last    Ticket    // the last ticket issued
	lastAt  int64     // when it was to be sent
	pending []pending // reservations GitHub may not have counted, in ticket order
}

// pending is a reservation not settled, or released (settled without an
// answer, so perhaps counted) since the latest count.
type pending struct {
	t        Ticket
	at       int64 // when it is sent (see nanos): never before an earlier ticket's
	released bool
}

// before is a send time before every request's.
const before = math.MinInt64

// nanos is t as a send time: Unix nanoseconds, which compare cheaply and
// keep the pending reservations free of pointers. (Times outside 1678-2262
// saturate; a Budget is driven by a clock, not by such dates.)
func nanos(t time.Time) int64 {
	switch {
	case t.Before(minNanos):
		return before + 1
	case t.After(maxNanos):
		return math.MaxInt64
	}
	return t.UnixNano()
}

var minNanos, maxNanos = time.Unix(0, math.MinInt64+1), time.Unix(0, math.MaxInt64)

// NewBudget returns a [Budget] with limits, which override
// [DefaultRateLimits] resource by resource; nil keeps the defaults. A
// resource's limit applies to each of its keys: audit_log's to the budget
// of every [Scope]. It fails, naming the resource, when a limit is invalid
// or is given for a budget key rather than a resource.
func NewBudget(limits map[string]RateLimit) (*Budget, error) {
	all := DefaultRateLimits()
	configured := map[string]bool{}
	for res, l := range limits {
		if err := validateLimit(res, l); err != nil {
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
		cfg, ok := b.limits[KeyResource(resource)]
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

// issue records a reservation to be sent at at and returns its ticket.
func (bk *bucket) issue(at time.Time) Ticket {
	bk.last++
	bk.lastAt = max(nanos(at), bk.lastAt)
	bk.pending = append(bk.pending, pending{t: bk.last, at: bk.lastAt})
	return bk.last
}

// sentAfter is the index of the first pending reservation sent after x.
func (bk *bucket) sentAfter(x int64) int {
	lo, hi := 0, len(bk.pending)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if bk.pending[m].at > x {
			hi = m
		} else {
			lo = m + 1
		}
	}
	return lo
}

// find is the index of ticket t among the pending ones, or -1.
func (bk *bucket) find(t Ticket) int {
	lo, hi := 0, len(bk.pending)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if bk.pending[m].t < t {
			lo = m + 1
		} else {
			hi = m
		}
	}
	if t == 0 || lo == len(bk.pending) || bk.pending[lo].t != t {
		return -1
	}
	return lo
}

// horizon is the time after which a request sent may not be counted in the
// latest count.
func (bk *bucket) horizon() int64 {
	if bk.lowAt < before+int64(Reorder) {
		return before // a count older than every request
	}
	return bk.lowAt - int64(Reorder)
}

// left is what the window has left for a new request: the latest count less
// the requests it may not count.
func (bk *bucket) left() int {
	return bk.low - (len(bk.pending) - bk.sentAfter(bk.horizon()))
}

// unsure reports whether a request that the latest count may already
// count, though it is counted as spent, is in flight: one sent at about the
// same time as the request that count answered, before the answer came.
// Its own answer may give its place back.
func (bk *bucket) unsure() bool {
	end := bk.horizon() + 2*int64(Reorder)
	for _, p := range bk.pending[bk.sentAfter(bk.horizon()):] {
		if p.at >= end || p.t > bk.lowLast {
			break
		}
		if !p.released {
			return true
		}
	}
	return false
}

// committed counts the reservations sent at or after x.
func (bk *bucket) committed(x time.Time) int {
	return len(bk.pending) - bk.sentAfter(nanos(x)-1)
}

// prune forgets the released reservations sent up to x.
func (bk *bucket) prune(x int64) {
	n := bk.sentAfter(x)
	j := 0
	for _, p := range bk.pending[:n] {
		if !p.released {
			bk.pending[j] = p
			j++
		}
	}
	if j < n {
		bk.pending = slices.Delete(bk.pending, j, n)
	}
}

// roll moves the bucket past the end of the window GitHub reported, and
// past the end of the next one when GitHub never answered in it (then
// nothing is known).
func (bk *bucket) roll(now time.Time) {
	if bk.between && !now.Before(bk.until) {
		bk.between = false
	}
	if !bk.known || now.Before(bk.reset) {
		return
	}
	bk.known = false
	bk.prune(bk.lastAt) // released requests were the ended window's
	if bk.limit > 0 {
		bk.between, bk.from, bk.until = true, bk.reset, bk.reset.Add(max(bk.span, time.Millisecond))
	}
}

// poll is how long a caller who cannot be placed yet waits before asking
// again: a request's share of the window, between 10ms and a second.
func (bk *bucket) poll() time.Duration {
	return min(max(bk.span/time.Duration(max(bk.limit, 1)), 10*time.Millisecond), time.Second)
}

// Reserve implements [Limiter].
func (b *Budget) Reserve(resource string, now time.Time, maxWait time.Duration) (Ticket, time.Duration, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	bk := b.bucketLocked(resource)
	bk.roll(now)
	wait := max(bk.hold.Sub(now), 0)
	if bk.unlimited {
		if wait > maxWait {
			return 0, 0, &RateLimitError{Resource: resource, Remaining: -1, RetryAfter: wait, observed: now}
		}
		return bk.issue(now.Add(wait)), wait, nil
	}
	switch {
	case bk.known && bk.left() <= 0:
		switch {
		case bk.unsure():
			// An answer on its way may say GitHub counted a request it
			// was not known to have counted: ask again shortly.
			return b.askAgain(resource, bk, now, max(wait, bk.poll()), maxWait)
		case bk.limit > 0 && bk.committed(bk.reset) >= bk.limit:
			// This window is spent and the next is spoken for.
			return b.askAgain(resource, bk, now, max(wait, bk.reset.Sub(now)), maxWait)
		}
		wait = max(wait, bk.reset.Sub(now))
	case bk.between && bk.committed(bk.from) >= bk.limit:
		// The next window is spoken for, and its reset is not known
		// until GitHub answers in it: ask again then.
		return b.askAgain(resource, bk, now, max(wait, bk.poll()), maxWait)
	}
	r := bk.tb.ReserveN(now, 1)
	wait = max(wait, r.DelayFrom(now))
	if !r.OK() || wait > maxWait {
		r.CancelAt(now)
		return 0, 0, b.refusal(resource, bk, now, wait)
	}
	return bk.issue(now.Add(wait)), wait, nil
}

// askAgain tells a caller who cannot be placed yet to come back after wait,
// or refuses when that is past maxWait.
func (b *Budget) askAgain(resource string, bk *bucket, now time.Time, wait, maxWait time.Duration) (Ticket, time.Duration, error) {
	if wait > maxWait {
		return 0, 0, b.refusal(resource, bk, now, wait)
	}
	return 0, wait, nil
}

// refusal is the error of a Reserve that would wait past its bound.
func (b *Budget) refusal(resource string, bk *bucket, now time.Time, wait time.Duration) error {
	e := &RateLimitError{Resource: resource, Limit: bk.cfg.Requests, Remaining: -1,
		RetryAfter: wait, observed: now}
	if bk.limit > 0 {
		e.Limit = bk.limit
	}
	if bk.known {
		e.Remaining, e.Reset = max(bk.left(), 0), bk.reset
	}
	return e
}

// Observe implements [Limiter]. A zero Ticket settles nothing: the report
// is taken in as an answer to a request sent before every one in flight,
// for a Limiter that keeps a Budget informed of reports on its own
// reservations.
func (b *Budget) Observe(resource string, t Ticket, now time.Time, r Rate) {
	b.mu.Lock()
	defer b.mu.Unlock()
	bk := b.bucketLocked(resource)
	bk.roll(now)
	sent := int64(before) // not a reservation in hand: sent before every one
	if i := bk.find(t); i >= 0 {
		sent = bk.pending[i].at
		bk.pending = slices.Delete(bk.pending, i, i+1)
	}
	b.learnLocked(resource, bk, now, r, sent)
}

// learnLocked takes in a budget the server reported for resource at now, in
// the answer to a request sent at sent (see nanos; before: before every one
// in flight).
func (b *Budget) learnLocked(resource string, bk *bucket, now time.Time, r Rate, sent int64) {
	if !r.Known() {
		// A success without rate headers: the server enforces no limit.
		if !b.configured[KeyResource(resource)] {
			bk.unlimited, bk.known, bk.between = true, false, false
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
	newWindow := !bk.known || r.Reset.After(bk.reset)
	if newWindow || r.Remaining < bk.low {
		// GitHub's latest count: a new window's first, or lower than any
		// reported in this one. A higher count is an older one (answers
		// come back out of order); its request no longer counts as spent.
		bk.low, bk.lowAt, bk.lowLast = r.Remaining, sent, bk.last
		bk.prune(bk.horizon())
	}
	bk.known, bk.between, bk.reset = true, false, r.Reset
	if r.Limit > 0 {
		bk.limit = r.Limit
	}
	if newWindow {
		// The server's window wins over the configured one, whatever its
		// length: pace what it says is left over the time it says is left.
		span := r.Reset.Sub(now)
		bk.span = max(bk.span, span)
		if bk.cfg.Burst == 0 {
			// GitHub grants the window at once; remaining stops the burst.
			bk.tb = rate.NewLimiter(perWindow(max(bk.limit, 1), span), max(bk.limit, 1))
		} else {
			// left+1 intervals: the last request goes before the reset,
			// not on it (where it would count against the next window).
			bk.tb.SetLimitAt(now, perWindow(max(bk.left(), 0)+1, span))
			bk.tb.SetBurstAt(now, min(bk.cfg.Burst, max(bk.limit, 1)))
		}
	}
}

// Release implements [Limiter]. The request counts as spent until an
// answer GitHub sent after it says what GitHub counted.
func (b *Budget) Release(resource string, t Ticket, now time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	bk, i := b.pendingLocked(resource, t, now)
	switch {
	case i < 0:
	case (bk.known || bk.between) && bk.pending[i].at > bk.horizon():
		bk.pending[i].released = true
	default:
		bk.pending = slices.Delete(bk.pending, i, i+1)
	}
}

// Cancel implements [Limiter].
func (b *Budget) Cancel(resource string, t Ticket, now time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if bk, i := b.pendingLocked(resource, t, now); i >= 0 && !bk.pending[i].released {
		bk.pending = slices.Delete(bk.pending, i, i+1)
	}
}

// pendingLocked finds reservation t of resource, to settle it at now: the
// bucket, rolled to now, and t's index among its pending reservations, or
// -1 (and a nil bucket when resource has none: nothing was reserved on it).
func (b *Budget) pendingLocked(resource string, t Ticket, now time.Time) (*bucket, int) {
	bk := b.res[resource]
	if bk == nil {
		return nil, -1
	}
	bk.roll(now)
	return bk, bk.find(t)
}

// State implements [Limiter]. Between the end of a window GitHub reported
// and its first answer in the next, it reports the next window's limit less
// the requests sent or committed to it since, and a zero Reset.
func (b *Budget) State(resource string, now time.Time) (Rate, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	bk := b.res[resource]
	if bk == nil {
		return unknownRate, false
	}
	bk.roll(now)
	switch {
	case bk.unlimited:
		r := unknownRate
		r.Resource = resource
		return r, true
	case bk.known:
		left := max(bk.left(), 0)
		return Rate{Limit: bk.limit, Remaining: left, Used: max(bk.limit-left, 0), Reset: bk.reset, Resource: resource}, bk.limit > 0
	case bk.between:
		left := max(bk.limit-bk.committed(bk.from), 0)
		return Rate{Limit: bk.limit, Remaining: left, Used: bk.limit - left, Resource: resource}, true
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
	var d time.Time
	ok := false
	if date != "" { // most responses have one; parsing an absent one costs three failed parses
		var err error
		d, err = http.ParseTime(date)
		ok = err == nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !ok {
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
