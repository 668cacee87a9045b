// Package redisbudget shares one GitHub rate budget between every process
// that sends the same token, through Redis.
//
// GitHub counts the audit-log budget (1,750 requests an hour) per user and
// IP address, not per process: replicas of an exporter, a tail beside a
// backfill, or several tools on one service account all spend the same
// budget. Each [auditlog.Budget] knows only its own process, so N processes
// spend N times the budget and meet refusals. A [Limiter] keeps the budget
// in Redis instead, and every process's [auditlog.Client] asks it:
//
//	l, err := redisbudget.New(rdb, "ghaudit:svc-account")
//	c, err := auditlog.NewClient(auditlog.WithToken(tok), auditlog.WithLimiter(l))
//
// # What is shared
//
// Per budget key (audit_log_streaming, and audit_log per scope's path, such
// as audit_log:orgs/octo-org: see [auditlog.BudgetKey]), atomically (each
// operation is one Lua script) and on the Redis server's clock (TIME):
//
//   - pacing, as [auditlog.Budget] paces: the configured rate until GitHub
//     reports a window, then what GitHub says is left over the time it says
//     is left;
//   - what every response reported: the lowest x-ratelimit-remaining of the
//     window, GitHub's latest count, wins for every process;
//   - the requests in flight across the fleet, each with its place in the
//     fleet's order, so that an answer is taken to count the requests sent
//     before it and not those sent after it (the rule of
//     [auditlog.Budget]); each claim expires ([WithClaimTTL]) so that a
//     process that crashed does not hold budget for longer;
//   - pauses: a secondary limit or a retry-after met by one process holds
//     every process until GitHub's time;
//   - the warm start ([auditlog.Seeder]): a process that starts while the
//     fleet knows nothing of the budget asks GitHub (GET /rate_limit) before
//     its first request, and what GitHub says holds for every process. One
//     process asks per window, whatever the number starting at once: the
//     first takes a lease in Redis, and the others wait for its answer.
//
// Each process's clock may differ from the others': times are sent to Redis
// as offsets from the caller's now, and converted back the same way.
//
// # When Redis is unavailable or slow
//
// Every call to Redis is bounded by [WithTimeout] (500 ms by default),
// whatever the client's own timeouts. When a call fails or times out, the
// Limiter logs a warning and paces on a local [auditlog.Budget] that holds a
// share of the budget ([WithFallbackShare], a quarter by default): the
// configured limits scaled by the share and, of a window GitHub reported,
// the share of what was left plus what this process had spent in it, less
// what it spent, so that N processes with a share of 1/N together stay
// within the budget without talking to each other. A request it would hold
// into the next window is asked to come back at the reset instead, when
// Redis may be back. It never stops the caller, and it never lets a process
// spend the whole budget on its own.
// The local Budget sees every response even while Redis is healthy, so it
// knows the current window when it takes over. Every [WithRetryInterval]
// (1 s by default) one call tries Redis again; the first that succeeds
// switches back, with an info log. A Redis that lost its state (restarted
// without persistence, evicted, flushed) is seeded again by each process
// with the last window and pause that process saw.
//
// Claims made on one side are settled on the same side; a claim made in
// Redis whose response arrives during an outage expires there.
package redisbudget

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ghaudit/auditlog"
	"github.com/redis/go-redis/v9"
)

// Defaults of the options.
const (
	// DefaultTimeout bounds each call to Redis. A healthy Redis answers in
	// well under a millisecond; a busy client host (CPU starved, collecting
	// garbage) can take a hundred times that, which is no outage.
	DefaultTimeout = 500 * time.Millisecond
	// DefaultRetryInterval is how long the Limiter paces locally after Redis
	// failed before it tries Redis again.
	DefaultRetryInterval = time.Second
	// DefaultClaimTTL is how long a request in flight is counted against
	// the fleet's budget when its process never settles it (it crashed).
	// GitHub ends a request that runs past 10 s; a minute leaves room for a
	// slow body and a wait for budget is added on top.
	DefaultClaimTTL = time.Minute
	// DefaultFallbackShare is the share of the budget a process paces on
	// while Redis is unavailable: a fleet of up to four processes stays
	// within the budget. Set 1/N for a fleet of N.
	DefaultFallbackShare = 0.25
)

// maxTolerance is the largest difference between two processes' reset times
// for one window that is still taken as the same window: each process
// converts GitHub's reset to its own clock through the response's Date,
// which has a resolution of a second.
const maxTolerance = 2 * time.Second

// An Option configures a [Limiter]. Options are applied in order by [New];
// each one validates its argument and names itself in its error.
type Option func(*settings) error

type settings struct {
	limits   map[string]auditlog.RateLimit
	share    float64
	timeout  time.Duration
	retry    time.Duration
	claimTTL time.Duration
	logger   *slog.Logger
}

// WithRateLimits sets the budgets, resource by resource (audit_log's holds
// for every scope's key), over
// [auditlog.DefaultRateLimits], as [auditlog.WithRateLimits] does for a
// Client's own Budget; for example a GitHub Enterprise Server whose
// administrator set other limits. A limit set here is paced even when the
// server reports none. Every process of a fleet should set the same limits.
// The map is copied.
func WithRateLimits(limits map[string]auditlog.RateLimit) Option {
	return func(s *settings) error {
		if len(limits) == 0 {
			return optionError("WithRateLimits", "no limits given")
		}
		if _, err := auditlog.NewBudget(limits); err != nil {
			return optionError("WithRateLimits", err.Error())
		}
		s.limits = maps.Clone(limits)
		return nil
	}
}

// WithFallbackShare sets the share of the budget (above 0, at most 1) this
// process paces on while Redis is unavailable; the default is
// [DefaultFallbackShare]. Give each of N processes 1/N (or less) so that
// the fleet stays within the budget during an outage.
func WithFallbackShare(share float64) Option {
	return func(s *settings) error {
		if !(share > 0 && share <= 1) {
			return optionError("WithFallbackShare", fmt.Sprintf("must be above 0 and at most 1, got %v", share))
		}
		s.share = share
		return nil
	}
}

// WithTimeout bounds each call to Redis (default [DefaultTimeout]); a call
// that takes longer counts as a failure and the Limiter paces locally.
func WithTimeout(d time.Duration) Option {
	return func(s *settings) error {
		if d <= 0 {
			return optionError("WithTimeout", fmt.Sprintf("must be positive, got %v", d))
		}
		s.timeout = d
		return nil
	}
}

// WithRetryInterval sets how long the Limiter paces locally after a Redis
// failure before it tries Redis again (default [DefaultRetryInterval]).
func WithRetryInterval(d time.Duration) Option {
	return func(s *settings) error {
		if d <= 0 {
			return optionError("WithRetryInterval", fmt.Sprintf("must be positive, got %v", d))
		}
		s.retry = d
		return nil
	}
}

// WithClaimTTL sets how long a request in flight counts against the fleet's
// budget when it is never settled, after the wait it was given (default
// [DefaultClaimTTL]). It should be longer than the slowest response.
func WithClaimTTL(d time.Duration) Option {
	return func(s *settings) error {
		if d <= 0 {
			return optionError("WithClaimTTL", fmt.Sprintf("must be positive, got %v", d))
		}
		s.claimTTL = d
		return nil
	}
}

// WithLogger sends the Limiter's records to l: a warning when it falls back
// to local pacing, an info record when Redis is back. Without it nothing is
// logged.
func WithLogger(l *slog.Logger) Option {
	return func(s *settings) error {
		if l == nil {
			return optionError("WithLogger", "logger is nil")
		}
		s.logger = l
		return nil
	}
}

func optionError(option, reason string) error {
	return &auditlog.InputError{Field: option, Reason: reason}
}

var (
	_ auditlog.Limiter = (*Limiter)(nil)
	_ auditlog.Seeder  = (*Limiter)(nil)
)

// Limiter is an [auditlog.Limiter] shared by every process that uses the
// same Redis and key. Create one with [New] and give it to each Client
// with [auditlog.WithLimiter]; one Limiter per process is enough, and it is
// safe for concurrent use.
type Limiter struct {
	rdb      redis.UniversalClient
	prefix   string
	pacing   map[string]pacing // per resource, read-only after New
	other    pacing            // of a resource not in pacing
	share    float64
	timeout  time.Duration
	retry    time.Duration
	claimTTL time.Duration
	log      *slog.Logger
	fallback *auditlog.Budget // holds share of every limit

	id  string // prefix of this process's claim IDs
	seq atomic.Uint64

	mu       sync.Mutex
	claims   map[auditlog.Ticket]claim // the reservations not settled yet
	last     map[string]seen           // per resource, the last report with a window
	quota    map[string]quota          // per resource, this process's share of the window on the fallback
	hold     map[string]time.Time
	nolimit  map[string]bool // the server reported no limit (and none is configured)
	down     bool            // pacing on the fallback
	downAt   time.Time       // when the outage began
	retryAt  time.Time       // when to try Redis again
	probing  bool            // a call is trying Redis
	downErrs int             // failed calls in this outage
}

// pacing is what the Limiter needs of a resource's configured limit on
// every call, worked out once in New.
type pacing struct {
	limit      auditlog.RateLimit
	configured int           // 1 when WithRateLimits set the limit, 0 for a default (a script argument)
	emission   string        // µs between requests at the configured rate, for the scripts
	burst      int           // the configured burst; the whole window when it is 0
	tol        time.Duration // the largest difference between two reports' resets of one window
}

func newPacing(lim auditlog.RateLimit, configured bool) pacing {
	p := pacing{limit: lim, burst: lim.Burst, tol: min(maxTolerance, lim.Per/2),
		emission: strconv.FormatFloat(float64(lim.Per.Microseconds())/float64(lim.Requests), 'f', 3, 64)}
	if p.burst == 0 {
		p.burst = lim.Requests
	}
	if configured {
		p.configured = 1
	}
	return p
}

// claim is a reservation this process holds: in Redis (id and its place in
// the fleet's order) or on the fallback (its ticket there; 0 when the
// server reports no limit and the fallback was not asked).
type claim struct {
	resource string
	id       string // "" for a claim on the fallback
	order    int64
	fb       auditlog.Ticket
}

// quota is what this process may spend of a window GitHub reported while
// it paces on the fallback: share of the window's limit less what it has
// spent in it, and no more than share of the latest count it saw while
// Redis was healthy less what it has spent since. The first bounds what N
// processes on 1/N each spend in the window to its limit; the second keeps
// processes that spent little before an outage from spending, between
// them, more than the window had left. (Share of each count as it comes
// would not do: each answer would give a process a share again of a count
// its own spending had lowered, and the processes would drain the window
// between them before any stopped.)
type quota struct {
	reset time.Time // the window's
	own   int       // requests of this process answered in the window
	ref   int       // share of the latest count seen while Redis was healthy; -1 for none
	since int       // requests of this process answered since that count
}

// seen is a report with a window, kept to seed a Redis that lost its state.
type seen struct {
	limit, remaining int
	reset            time.Time // local clock
}

// New returns a Limiter that keeps its budgets in rdb under keys that start
// with key. Every process sharing one token (and egress IP) must use the
// same key; different tokens need different keys. It fails, naming the
// argument, when rdb is nil, key is empty or an option is invalid. It does
// not contact Redis: a Redis that is down at start is met like any outage.
func New(rdb redis.UniversalClient, key string, opts ...Option) (*Limiter, error) {
	if rdb == nil {
		return nil, &auditlog.InputError{Field: "rdb", Reason: "Redis client is nil"}
	}
	if key == "" {
		return nil, &auditlog.InputError{Field: "key", Reason: "key is empty"}
	}
	for _, r := range key {
		if r < 0x20 || r == 0x7f {
			return nil, &auditlog.InputError{Field: "key", Reason: "key has control characters"}
		}
	}
	s := settings{share: DefaultFallbackShare, timeout: DefaultTimeout, retry: DefaultRetryInterval, claimTTL: DefaultClaimTTL}
	for _, opt := range opts {
		if opt == nil {
			return nil, optionError("New", "nil Option")
		}
		if err := opt(&s); err != nil {
			return nil, err
		}
	}
	limits := auditlog.DefaultRateLimits()
	for res, l := range s.limits {
		limits[res] = l
	}
	scaled := make(map[string]auditlog.RateLimit, len(limits))
	paced := make(map[string]pacing, len(limits))
	for res, l := range limits {
		scaled[res] = scaleLimit(l, s.share)
		_, configured := s.limits[res]
		paced[res] = newPacing(l, configured)
	}
	fb, err := auditlog.NewBudget(scaled)
	if err != nil {
		return nil, optionError("WithFallbackShare", err.Error())
	}
	var b [6]byte
	_, _ = rand.Read(b[:])
	logger := s.logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Limiter{
		rdb: rdb, prefix: key, pacing: paced, other: newPacing(auditlog.DefaultOtherRateLimit, false),
		share: s.share, timeout: s.timeout, retry: s.retry, claimTTL: s.claimTTL,
		log: logger, fallback: fb, id: hex.EncodeToString(b[:]),
		claims: map[auditlog.Ticket]claim{}, last: map[string]seen{}, quota: map[string]quota{}, hold: map[string]time.Time{},
		nolimit: map[string]bool{},
	}, nil
}

// scaleLimit is l holding share of its requests (at least one).
func scaleLimit(l auditlog.RateLimit, share float64) auditlog.RateLimit {
	out := auditlog.RateLimit{Requests: max(1, int(float64(l.Requests)*share)), Per: l.Per}
	if l.Burst > 0 {
		out.Burst = min(max(1, int(float64(l.Burst)*share)), out.Requests)
	}
	return out
}

// scaleRate is what the fallback is told of a report: share of the limit
// and of what remains, so that the fleet's fallbacks add up to the budget.
func (l *Limiter) scaleRate(r auditlog.Rate) auditlog.Rate {
	if !r.Known() {
		return r
	}
	s := r
	s.Limit = max(1, int(float64(r.Limit)*l.share))
	s.Remaining = int(float64(r.Remaining) * l.share)
	s.Used = s.Limit - s.Remaining
	return s
}

// pacingOf is the pacing of the resource of budget key key.
func (l *Limiter) pacingOf(key string) pacing {
	if p, ok := l.pacing[auditlog.KeyResource(key)]; ok {
		return p
	}
	return l.other
}

// micros is d in microseconds for a script, clamped to what a Lua number
// holds exactly.
func micros(d time.Duration) int64 {
	const maxMicros = 1 << 50 // about 35 years
	return min(max(d.Microseconds(), -maxMicros), maxMicros)
}

// Reserve implements [auditlog.Limiter]: it claims one request on resource
// for the whole fleet and returns its ticket and how long to wait before
// sending it; a zero ticket asks the caller to come back after the wait.
func (l *Limiter) Reserve(resource string, now time.Time, maxWait time.Duration) (auditlog.Ticket, time.Duration, error) {
	n := l.seq.Add(1)
	if use, probe := l.useRedis(); use {
		id := l.id + "-" + strconv.FormatUint(n, 36)
		wait, order, refusal, err := l.reserveRedis(resource, id, now, maxWait)
		l.done(err, probe)
		switch {
		case err != nil: // paced on the fallback below
		case refusal != nil:
			return 0, 0, refusal
		case order == 0:
			return 0, wait, nil // ask again
		default:
			return l.keep(n, claim{resource: resource, id: id, order: order}), wait, nil
		}
	}
	l.mu.Lock()
	unlimited, hold := l.nolimit[resource], l.hold[resource]
	l.mu.Unlock()
	if unlimited {
		// The server enforces no limit: the fallback, which holds every
		// default limit as configured, must not invent one.
		wait := max(hold.Sub(now), 0)
		if wait > maxWait {
			return 0, 0, &auditlog.RateLimitError{Resource: resource, Remaining: -1, RetryAfter: wait}
		}
		return l.keep(n, claim{resource: resource}), wait, nil
	}
	fb, wait, err := l.fallback.Reserve(resource, now, maxWait)
	if err != nil || fb == 0 {
		return 0, wait, err
	}
	if st, ok := l.fallback.State(resource, now); ok && !st.Reset.IsZero() && !now.Add(wait).Before(st.Reset) {
		// It would go at or after the reset, into a window the fleet will
		// share through Redis again once it is back, and where this claim
		// would be unknown: ask again then.
		l.fallback.Cancel(resource, fb, now)
		return 0, st.Reset.Sub(now), nil
	}
	return l.keep(n, claim{resource: resource, fb: fb}), wait, nil
}

// keep records a claim this process holds under ticket n.
func (l *Limiter) keep(n uint64, c claim) auditlog.Ticket {
	t := auditlog.Ticket(n)
	l.mu.Lock()
	l.claims[t] = c
	l.mu.Unlock()
	return t
}

// take removes the claim of ticket t on resource, if this process holds it.
func (l *Limiter) take(resource string, t auditlog.Ticket) (claim, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	c, ok := l.claims[t]
	if !ok || c.resource != resource {
		return claim{}, false
	}
	delete(l.claims, t)
	return c, true
}

// reserveRedis runs the reserve script: a claim (its order), a request to
// ask again (order 0), or a refusal.
func (l *Limiter) reserveRedis(resource, id string, now time.Time, maxWait time.Duration) (time.Duration, int64, *auditlog.RateLimitError, error) {
	p := l.pacingOf(resource)
	l.mu.Lock()
	last, hold := l.last[resource], l.hold[resource]
	l.mu.Unlock()
	hintRem, hintReset := int64(-1), int64(0)
	if last.reset.After(now) {
		hintRem, hintReset = int64(last.remaining), micros(last.reset.Sub(now))
	}
	v, err := l.eval(reserveScript, resource, id, micros(max(maxWait, 0)), micros(l.claimTTL),
		p.emission, p.burst, p.configured, last.limit, hintRem, hintReset, micros(max(hold.Sub(now), 0)))
	if err != nil {
		return 0, 0, nil, err
	}
	if len(v) < 2 || (v[0] == 1 && (len(v) < 3 || v[2] <= 0)) || (v[0] == 0 && len(v) < 5) {
		return 0, 0, nil, fmt.Errorf("redisbudget: unexpected reply %v", v)
	}
	wait := time.Duration(v[1]) * time.Microsecond
	switch v[0] {
	case 1:
		return wait, v[2], nil, nil
	case 2:
		return wait, 0, nil, nil
	}
	e := &auditlog.RateLimitError{Resource: resource, Limit: int(v[2]), Remaining: int(v[3]), RetryAfter: wait}
	if e.Limit <= 0 {
		e.Limit = p.limit.Requests
	}
	if e.Remaining >= 0 {
		e.Reset = now.Add(time.Duration(v[4]) * time.Microsecond)
	}
	return 0, 0, e, nil
}

// Observe implements [auditlog.Limiter]: it settles reservation t with what
// its response reported, for every process.
func (l *Limiter) Observe(resource string, t auditlog.Ticket, now time.Time, r auditlog.Rate) {
	c, held := l.take(resource, t)
	p := l.pacingOf(resource)
	l.mu.Lock()
	l.nolimit[resource] = !r.Known() && p.configured == 0 && !l.last[resource].reset.After(now)
	healthy := !l.down
	l.mu.Unlock()
	l.remember(resource, now, r, p.tol)
	l.tellFallback(resource, c, held, now, r, p.tol, healthy)
	if !healthy {
		return // a claim made in Redis expires there
	}
	id, order := "", int64(0) // a claim of the fallback: a report, older than every claim
	if held && c.id != "" {
		id, order = c.id, c.order
	}
	known, resetOff := 0, int64(0)
	if r.Known() {
		known = 1
		if !r.Reset.IsZero() {
			resetOff = micros(r.Reset.Sub(now))
		}
	}
	_, err := l.eval(observeScript, resource, id, order, known, r.Limit, r.Remaining, resetOff,
		micros(p.limit.Per), p.emission, p.limit.Burst, p.burst, micros(p.tol))
	l.done(err, false)
}

// tellFallback hands a report to the fallback, which sees every one so that
// it knows the window when it takes over, and settles the claim it made:
// what this process may still spend of the window (see quota), as a count
// that holds every request the fallback has in flight. tol is the
// resource's pacing's, and healthy whether Redis was when the report came.
func (l *Limiter) tellFallback(resource string, c claim, held bool, now time.Time, r auditlog.Rate, tol time.Duration, healthy bool) {
	var fb auditlog.Ticket
	if held && c.id == "" {
		fb = c.fb
	}
	s := l.scaleRate(r)
	if !r.Known() || r.Reset.IsZero() || !now.Before(r.Reset) {
		l.fallback.Observe(resource, fb, now, s)
		return
	}
	l.mu.Lock()
	q := l.quota[resource]
	if q.reset.IsZero() || absDuration(q.reset.Sub(r.Reset)) > tol {
		q = quota{reset: r.Reset, ref: -1}
	}
	if held {
		q.own++
		q.since++
	}
	if v := int(float64(r.Remaining) * l.share); healthy && (q.ref < 0 || v <= q.ref) {
		q.ref, q.since = v, 0
	}
	l.quota[resource] = q
	l.mu.Unlock()
	allow := s.Limit - q.own
	if q.ref >= 0 {
		allow = min(allow, q.ref-q.since)
	}
	s.Remaining = max(min(allow, r.Remaining), 0)
	s.Used = s.Limit - s.Remaining
	l.fallback.Observe(resource, 0, now, s)
	if fb != 0 {
		l.fallback.Cancel(resource, fb, now) // counted in s
	}
}

// remember keeps a report with a window as this process's last, to seed a
// Redis that lost its state; tol is the resource's pacing's.
func (l *Limiter) remember(resource string, now time.Time, r auditlog.Rate, tol time.Duration) {
	if !r.Known() || r.Reset.IsZero() || !now.Before(r.Reset) {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	s := seen{limit: r.Limit, remaining: r.Remaining, reset: r.Reset}
	if old := l.last[resource]; old.reset.After(now) && absDuration(old.reset.Sub(r.Reset)) <= tol {
		// The same window: keep the lowest count, as Redis does.
		s.remaining = min(s.remaining, old.remaining)
	}
	l.last[resource] = s
}

func absDuration(d time.Duration) time.Duration {
	if d < 0 {
		return -d
	}
	return d
}

// Release implements [auditlog.Limiter]: it settles reservation t, which
// got no budget information (a network error, an error response without
// rate headers). GitHub may have counted the request, so the fleet counts it
// as spent until GitHub's count is taken from a request sent after it.
func (l *Limiter) Release(resource string, t auditlog.Ticket, now time.Time) {
	c, ok := l.take(resource, t)
	switch {
	case !ok:
	case c.id == "":
		l.fallback.Release(resource, c.fb, now)
	case l.healthy():
		p := l.pacingOf(resource)
		_, err := l.eval(releaseScript, resource, c.id, c.order, p.emission, p.burst)
		l.done(err, false)
	}
}

// Cancel implements [auditlog.Limiter]: it settles reservation t, whose
// request GitHub did not count (never sent, or refused), and gives its
// place back to the fleet.
func (l *Limiter) Cancel(resource string, t auditlog.Ticket, now time.Time) {
	c, ok := l.take(resource, t)
	switch {
	case !ok:
	case c.id == "":
		l.fallback.Cancel(resource, c.fb, now)
	case l.healthy():
		p := l.pacingOf(resource)
		_, err := l.eval(cancelScript, resource, c.id, p.emission, p.burst)
		l.done(err, false)
	}
}

// Pause implements [auditlog.Limiter]: it holds every request on resource,
// in every process, until until.
func (l *Limiter) Pause(resource string, until time.Time) {
	l.mu.Lock()
	if until.After(l.hold[resource]) {
		l.hold[resource] = until
	}
	l.mu.Unlock()
	l.fallback.Pause(resource, until)
	use, probe := l.useRedis()
	if !use {
		return
	}
	p := l.pacingOf(resource)
	_, err := l.eval(pauseScript, resource, micros(time.Until(until)), p.emission, p.burst)
	l.done(err, probe)
}

// maxSeedLease bounds how long one process may hold the warm start of a
// resource before another may take it over: a Client's warm start lasts at
// most 10 s (its context's deadline, which is used when it is sooner).
const maxSeedLease = 10 * time.Second

// Seed implements [auditlog.Seeder] for the whole fleet: the first process
// to find that the fleet knows nothing of resource's budget takes a lease
// in Redis, asks GitHub (fetch) and records the answer there, where every
// process finds it (State then reports it known to all of them); the
// processes that start meanwhile wait for that answer rather than asking
// GitHub too. So N processes starting at once send one GET /rate_limit per
// window, not N. A seed that taught nothing (GitHub did not say, or gave no
// window) is not tried again by any process for a window's length, and
// none is tried while a Pause holds the resource. While Redis is
// unavailable the process seeds its fallback (a share of what GitHub said).
// It returns when the fleet knows the budget, when it gave up, or when ctx
// ends.
func (l *Limiter) Seed(ctx context.Context, resource string, fetch func(context.Context) (auditlog.Rate, time.Time, error)) {
	configured := l.pacingOf(resource).configured
	lease := maxSeedLease
	if dl, ok := ctx.Deadline(); ok {
		lease = min(lease, max(time.Until(dl), time.Millisecond))
	}
	for poll := 5 * time.Millisecond; ; poll = min(2*poll, 100*time.Millisecond) {
		use, probe := l.useRedis()
		if !use {
			l.seedLocal(ctx, resource, fetch)
			return
		}
		v, err := l.eval(seedClaimScript, resource, l.id, micros(lease), configured)
		l.done(err, probe)
		if err != nil || len(v) == 0 {
			l.seedLocal(ctx, resource, fetch)
			return
		}
		switch v[0] {
		case 1, 3: // known, or not to be fetched
			return
		case 2: // ours to fetch; its answer counts the claims made before now
			var asked int64
			if len(v) > 1 {
				asked = v[1]
			}
			l.seedFleet(ctx, resource, asked, fetch)
			return
		}
		if len(v) > 1 && v[1] > 0 {
			poll = min(poll, time.Duration(v[1])*time.Millisecond)
		}
		t := time.NewTimer(poll)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// seedFleet asks GitHub for resource's budget on the fleet's behalf (this
// process holds the lease) and records it in Redis, or that there was
// nothing to learn.
func (l *Limiter) seedFleet(ctx context.Context, resource string, asked int64, fetch func(context.Context) (auditlog.Rate, time.Time, error)) {
	p := l.pacingOf(resource)
	r, now, err := fetch(ctx)
	if err != nil || !r.Known() || r.Reset.IsZero() || !now.Before(r.Reset) {
		_, err := l.eval(seedDoneScript, resource, p.limit.Per.Milliseconds())
		l.done(err, false)
		return
	}
	l.remember(resource, now, r, p.tol)
	l.fallback.Seed(ctx, resource, func(context.Context) (auditlog.Rate, time.Time, error) {
		return l.scaleRate(r), now, nil
	})
	_, err = l.eval(seedScript, resource, "", asked, 1, r.Limit, r.Remaining, micros(r.Reset.Sub(now)),
		micros(p.limit.Per), p.emission, p.limit.Burst, p.burst, micros(p.tol))
	l.done(err, false)
}

// seedLocal seeds the fallback, while Redis is unavailable, with a share of
// what GitHub says.
func (l *Limiter) seedLocal(ctx context.Context, resource string, fetch func(context.Context) (auditlog.Rate, time.Time, error)) {
	l.fallback.Seed(ctx, resource, func(ctx context.Context) (auditlog.Rate, time.Time, error) {
		r, now, err := fetch(ctx)
		if err != nil {
			return r, now, err
		}
		l.remember(resource, now, r, l.pacingOf(resource).tol)
		return l.scaleRate(r), now, nil
	})
}

// State returns the budget of resource as the fleet knows it at now: the
// limit GitHub reported, an estimate of what remains (the lowest count
// reported in the window, less the requests in flight in every process)
// and the reset, converted to the clock of now. ok is false when nothing is
// known; ok with a Rate whose Known is false means the server reported no
// limit (and none was configured). While Redis is unavailable it returns
// the last report this process saw.
func (l *Limiter) State(resource string, now time.Time) (auditlog.Rate, bool) {
	none := auditlog.Rate{Limit: -1, Remaining: -1, Used: -1, Resource: resource}
	if use, probe := l.useRedis(); use {
		v, err := l.eval(stateScript, resource)
		l.done(err, probe)
		if err == nil && len(v) >= 7 {
			switch {
			case v[0] == 1:
				return auditlog.Rate{Limit: int(v[1]), Remaining: int(v[2]), Used: max(int(v[1]-v[2]), -1),
					Reset: now.Add(time.Duration(v[3]) * time.Microsecond), Resource: resource}, true
			case v[6] == 1 && l.pacingOf(resource).configured == 0:
				return none, true // no limit enforced
			}
			return none, false
		}
	}
	l.mu.Lock()
	s, unlimited := l.last[resource], l.nolimit[resource]
	l.mu.Unlock()
	if unlimited {
		return none, true
	}
	if !now.Before(s.reset) {
		return none, false
	}
	return auditlog.Rate{Limit: s.limit, Remaining: s.remaining, Used: s.limit - s.remaining,
		Reset: s.reset, Resource: resource}, true
}

// useRedis reports whether a call should go to Redis: always while it is
// healthy; during an outage, for one call at a time once the retry interval
// has passed (probe is then true, and the caller must report through done).
func (l *Limiter) useRedis() (use, probe bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.down {
		return true, false
	}
	if l.probing || time.Now().Before(l.retryAt) {
		return false, false
	}
	l.probing = true
	return true, true
}

func (l *Limiter) healthy() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return !l.down
}

// done records the outcome of a call to Redis, switching to the fallback on
// a failure and back on a success, and logs each switch.
func (l *Limiter) done(err error, probe bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if probe {
		l.probing = false
	}
	now := time.Now()
	if err == nil {
		if l.down {
			l.down = false
			l.log.LogAttrs(context.Background(), slog.LevelInfo, "redisbudget: Redis is back; pacing with the fleet again",
				slog.String("key", l.prefix), slog.Duration("outage", now.Sub(l.downAt)),
				slog.Int("failed_calls", l.downErrs))
		}
		return
	}
	l.retryAt = now.Add(l.retry)
	l.downErrs++
	if !l.down {
		l.down, l.downAt, l.downErrs = true, now, 1
		l.log.LogAttrs(context.Background(), slog.LevelWarn, "redisbudget: Redis unavailable; pacing locally on a share of the budget",
			slog.String("key", l.prefix), slog.String("error", err.Error()),
			slog.Float64("share", l.share), slog.Duration("retry_in", l.retry))
	}
}

// errTimeout is the failure of a call that took longer than WithTimeout.
var errTimeout = errors.New("redisbudget: Redis did not answer in time")

// eval runs a script on resource's keys, bounded by the timeout whatever
// the client's own settings: a client that ignores contexts is left to
// finish in the background, and its claim, if any, expires.
func (l *Limiter) eval(s *redis.Script, resource string, args ...any) ([]int64, error) {
	type result struct {
		v   []int64
		err error
	}
	ch := make(chan result, 1)
	ctx, cancel := context.WithTimeout(context.Background(), l.timeout)
	defer cancel()
	go func() {
		v, err := s.Run(ctx, l.rdb, bucketKeys(l.prefix, resource), args...).Int64Slice()
		ch <- result{v, err}
	}()
	select {
	case r := <-ch:
		if r.err != nil {
			return nil, fmt.Errorf("redisbudget: %w", r.err)
		}
		return r.v, nil
	case <-ctx.Done():
		return nil, errTimeout
	}
}
