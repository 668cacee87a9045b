package redisbudget

import (
	"context"
	"errors"
	"math"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ghaudit/auditlog"
	"github.com/ghaudit/auditlog/auditlogtest"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const res = auditlog.ResourceAuditLog

var (
	sharedOnce sync.Once
	shared     *redisServer
	sharedErr  error
	sharedDir  string
)

// sharedRedis is one redis-server for the tests that neither stop nor
// restart it; each test keeps to keys of its own (its name). TestMain stops
// it.
func sharedRedis(t testing.TB) *redisServer {
	t.Helper()
	sharedOnce.Do(func() {
		if sharedDir, sharedErr = os.MkdirTemp("", "redisbudget-"); sharedErr == nil {
			shared, sharedErr = launchRedis(sharedDir)
		}
	})
	if sharedErr != nil {
		t.Fatal(sharedErr)
	}
	return shared
}

func stopSharedRedis() {
	if shared != nil {
		shared.Stop()
	}
	if sharedDir != "" {
		os.RemoveAll(sharedDir)
	}
}

// newLimiter is one process of a fleet: a Limiter with a Redis client of
// its own, on key. Its timeout is a minute unless opts set one, so that a
// loaded machine does not fake an outage.
func newLimiter(t *testing.T, srv *redisServer, key string, opts ...Option) *Limiter {
	t.Helper()
	l, err := New(srv.Client(t, ""), key, append([]Option{WithTimeout(time.Minute)}, opts...)...)
	require.NoError(t, err)
	return l
}

// fleetOf returns n Limiters on the shared server, on a key of the test's own.
func fleetOf(t *testing.T, n int, opts ...Option) []*Limiter {
	t.Helper()
	srv := sharedRedis(t)
	ls := make([]*Limiter, n)
	for i := range ls {
		ls[i] = newLimiter(t, srv, "test:"+t.Name(), opts...)
	}
	return ls
}

func report(limit, remaining int, reset time.Time) auditlog.Rate {
	return auditlog.Rate{Limit: limit, Remaining: remaining, Used: limit - remaining, Reset: reset, Resource: res}
}

var unknown = auditlog.Rate{Limit: -1, Remaining: -1, Used: -1}

// reserveOK claims n requests that need no wait and returns their tickets.
func reserveOK(t *testing.T, l *Limiter, now time.Time, n int) []auditlog.Ticket {
	t.Helper()
	ks := make([]auditlog.Ticket, n)
	for i := range n {
		k, w, err := l.Reserve(res, now, 0)
		require.NoError(t, err, "reserve %d of %d", i+1, n)
		require.Zero(t, w, "reserve %d of %d", i+1, n)
		require.NotZero(t, k, "reserve %d of %d", i+1, n)
		ks[i] = k
	}
	return ks
}

// reserveWait claims a request that may wait up to maxWait and returns its
// ticket and wait.
func reserveWait(t *testing.T, l *Limiter, resource string, now time.Time, maxWait time.Duration) (auditlog.Ticket, time.Duration) {
	t.Helper()
	k, w, err := l.Reserve(resource, now, maxWait)
	require.NoError(t, err)
	require.NotZero(t, k, "a claim")
	return k, w
}

// refused asserts that a Reserve that may not wait is refused and returns
// the error.
func refused(t *testing.T, l *Limiter, now time.Time) *auditlog.RateLimitError {
	t.Helper()
	_, w, err := l.Reserve(res, now, 0)
	var rl *auditlog.RateLimitError
	require.ErrorAs(t, err, &rl, "wait %v", w)
	assert.ErrorIs(t, err, auditlog.ErrRateLimited)
	return rl
}

func near(t *testing.T, want, got time.Duration, tol time.Duration, msg string) {
	t.Helper()
	assert.LessOrEqual(t, math.Abs(float64(got-want)), float64(tol), "%s: want %v, got %v", msg, want, got)
}

func TestClaimsInFlightCountAcrossProcesses(t *testing.T) {
	ls := fleetOf(t, 2)
	a, b := ls[0], ls[1]
	now := time.Now()
	reset := now.Add(10 * time.Second)
	k := reserveOK(t, a, now, 1)
	a.Observe(res, k[0], now, report(60, 5, reset))

	ka := reserveOK(t, a, now, 3)
	reserveOK(t, b, now, 2)
	rl := refused(t, b, now) // 5 left, 5 in flight: none for anyone
	assert.Equal(t, 0, rl.Remaining)
	assert.Equal(t, 60, rl.Limit)
	assert.Equal(t, res, rl.Resource)
	near(t, 10*time.Second, rl.RetryAfter, 200*time.Millisecond, "retry after")
	near(t, 0, rl.Reset.Sub(reset), 200*time.Millisecond, "reset")
	refused(t, a, now)

	// One of a's requests comes back with what GitHub already said (it was
	// counted before the report): one fewer in flight, one for anyone.
	a.Observe(res, ka[0], now, report(60, 5, reset))
	reserveOK(t, b, now, 1)
	refused(t, a, now)

	st, ok := b.State(res, now)
	require.True(t, ok)
	assert.Equal(t, 0, st.Remaining)
	assert.Equal(t, 60, st.Limit)
}

func TestWhatGitHubReportedWinsForEveryProcess(t *testing.T) {
	ls := fleetOf(t, 2)
	a, b := ls[0], ls[1]
	now := time.Now()
	reset := now.Add(20 * time.Second)
	k := reserveOK(t, a, now, 3)
	a.Observe(res, k[0], now, report(60, 30, reset))
	a.Observe(res, k[1], now, report(60, 10, reset)) // another consumer spent 20
	a.Observe(res, k[2], now, report(60, 12, reset)) // an older count, late: not news
	st, ok := b.State(res, now)
	require.True(t, ok)
	assert.Equal(t, 10, st.Remaining)
	near(t, 0, st.Reset.Sub(reset), 200*time.Millisecond, "reset")

	a.Observe(res, 0, now, report(60, 0, reset)) // no claim: a report all the same
	rl := refused(t, b, now)
	near(t, 20*time.Second, rl.RetryAfter, 200*time.Millisecond, "wait for the reset")
	_, w := reserveWait(t, b, res, now, time.Minute)
	near(t, 20*time.Second, w, 200*time.Millisecond, "wait for the reset")
}

func TestWindows(t *testing.T) {
	ls := fleetOf(t, 2)
	a, b := ls[0], ls[1]
	now := time.Now()
	state := func() auditlog.Rate {
		st, ok := b.State(res, now)
		require.True(t, ok)
		return st
	}
	a.Observe(res, 0, now, report(60, 2, now.Add(5*time.Second)))
	assert.Equal(t, 2, state().Remaining)

	// A reset further than the tolerance: a new window, whatever its count.
	a.Observe(res, 0, now, report(60, 50, now.Add(10*time.Second)))
	st := state()
	assert.Equal(t, 50, st.Remaining)
	near(t, 10*time.Second, st.Reset.Sub(now), 200*time.Millisecond, "new reset")

	// A late answer from the window that ended is ignored.
	a.Observe(res, 0, now, report(60, 1, now.Add(5*time.Second)))
	assert.Equal(t, 50, state().Remaining)

	// Another process converts the same reset to its clock a second later:
	// the same window, so only a lower count is news; the reset is the
	// later of the two.
	a.Observe(res, 0, now, report(60, 55, now.Add(11*time.Second)))
	st = state()
	assert.Equal(t, 50, st.Remaining)
	near(t, 11*time.Second, st.Reset.Sub(now), 200*time.Millisecond, "reset")

	// A reported limit is the fleet's.
	a.Observe(res, 0, now, report(100, 40, now.Add(11*time.Second)))
	assert.Equal(t, 100, state().Limit)
}

func TestAWindowThatEndedIsForgotten(t *testing.T) {
	a := fleetOf(t, 1)[0]
	now := time.Now()
	a.Observe(res, 0, now, report(60, 0, now.Add(300*time.Millisecond)))
	rl := refused(t, a, now)
	near(t, 300*time.Millisecond, rl.RetryAfter, 100*time.Millisecond, "until reset")
	time.Sleep(400 * time.Millisecond)
	_, ok := a.State(res, time.Now())
	assert.False(t, ok)
	reserveOK(t, a, time.Now(), 1)
}

func TestPauseHoldsEveryProcess(t *testing.T) {
	ls := fleetOf(t, 3)
	now := time.Now()
	ls[0].Pause(res, now.Add(1500*time.Millisecond))
	for i, l := range ls[1:] {
		_, w := reserveWait(t, l, res, time.Now(), time.Minute)
		near(t, 1500*time.Millisecond, w+time.Since(now), 150*time.Millisecond, "process "+string(rune('b'+i)))
		rl := refused(t, l, time.Now())
		near(t, 1500*time.Millisecond, rl.RetryAfter+time.Since(now), 150*time.Millisecond, "retry after")
	}
	// A shorter pause does not shorten a longer one.
	ls[1].Pause(res, now.Add(100*time.Millisecond))
	_, w := reserveWait(t, ls[2], res, time.Now(), time.Minute)
	near(t, 1500*time.Millisecond, w+time.Since(now), 150*time.Millisecond, "longest pause")
	// Another resource is not held.
	_, w = reserveWait(t, ls[2], auditlog.ResourceAuditLogStreaming, time.Now(), 0)
	assert.Zero(t, w)
}

// Each process converts times to offsets from its own now: a process whose
// clock is an hour off shares the same reset with the others.
func TestClocksOfProcessesDiffer(t *testing.T) {
	for _, skew := range []time.Duration{time.Hour, -time.Hour, 30 * time.Second} {
		t.Run(skew.String(), func(t *testing.T) {
			ls := fleetOf(t, 2)
			a, b := ls[0], ls[1] // b's clock is skewed
			nowB := time.Now().Add(skew)
			k, w := reserveWait(t, b, res, nowB, 0)
			require.Zero(t, w)
			b.Observe(res, k, nowB, report(60, 0, nowB.Add(8*time.Second)))

			nowA := time.Now()
			st, ok := a.State(res, nowA)
			require.True(t, ok)
			near(t, 8*time.Second, st.Reset.Sub(nowA), 200*time.Millisecond, "reset on a's clock")
			rl := refused(t, a, nowA)
			near(t, 8*time.Second, rl.RetryAfter, 200*time.Millisecond, "a waits for the reset")
			near(t, 0, rl.Reset.Sub(nowA.Add(8*time.Second)), 200*time.Millisecond, "reset in a's refusal")
		})
	}
}

func TestClaimsOfACrashedProcessExpire(t *testing.T) {
	ls := fleetOf(t, 2, WithClaimTTL(500*time.Millisecond))
	crashed, b := ls[0], ls[1]
	now := time.Now()
	k := reserveOK(t, b, now, 1)
	b.Observe(res, k[0], now, report(60, 10, now.Add(30*time.Second)))
	reserveOK(t, crashed, now, 4) // never settled
	st, _ := b.State(res, time.Now())
	assert.Equal(t, 6, st.Remaining)

	time.Sleep(700 * time.Millisecond)
	st, _ = b.State(res, time.Now())
	assert.Equal(t, 10, st.Remaining, "the crashed process's claims expired")
	reserveOK(t, b, time.Now(), 10)
	refused(t, b, time.Now())
}

// A claim expires after the wait it was given, not before: a request that
// waits for the reset is not sent yet.
func TestAClaimThatWaitsDoesNotExpireBeforeItIsSent(t *testing.T) {
	ls := fleetOf(t, 2, WithClaimTTL(300*time.Millisecond))
	a, b := ls[0], ls[1]
	now := time.Now()
	k := reserveOK(t, a, now, 1)
	a.Observe(res, k[0], now, report(60, 0, now.Add(time.Second)))
	_, w := reserveWait(t, a, res, now, time.Minute)
	near(t, time.Second, w, 150*time.Millisecond, "wait for the reset")
	time.Sleep(500 * time.Millisecond) // past the TTL, not past wait+TTL
	_, _, n := stateOf(t, b)
	assert.Equal(t, int64(1), n)
}

func TestReleaseCountsTheRequestAsSpent(t *testing.T) {
	ls := fleetOf(t, 2, WithClaimTTL(300*time.Millisecond))
	a, b := ls[0], ls[1]
	now := time.Now()
	k := reserveOK(t, a, now, 1)
	a.Observe(res, k[0], now, report(60, 10, now.Add(30*time.Second)))
	k = reserveOK(t, a, now, 1)
	a.Release(res, k[0], now) // a network error: GitHub may have counted it
	st, _ := b.State(res, now)
	assert.Equal(t, 9, st.Remaining)

	// GitHub's count from a request sent at about the same time may not
	// count it: it still counts as spent.
	k = reserveOK(t, a, now, 1)
	a.Observe(res, k[0], now, report(60, 9, now.Add(30*time.Second)))
	st, _ = b.State(res, now)
	assert.Equal(t, 8, st.Remaining)

	// A count from a request sent well after it is the truth: here GitHub
	// had not counted it, and that request says 8 left after itself.
	time.Sleep(auditlog.Reorder + 100*time.Millisecond)
	k = reserveOK(t, a, time.Now(), 1)
	a.Observe(res, k[0], time.Now(), report(60, 8, now.Add(30*time.Second)))
	st, _ = b.State(res, time.Now())
	assert.Equal(t, 8, st.Remaining)

	// A claim released after it expired is not counted again: every
	// report since it expired counts it if GitHub did.
	k = reserveOK(t, a, time.Now(), 1)
	time.Sleep(400 * time.Millisecond)
	a.Release(res, k[0], time.Now())
	st, _ = b.State(res, time.Now())
	assert.Equal(t, 8, st.Remaining)
}

// A cancelled claim (never sent, or refused) gives its place back to the
// fleet at once.
func TestCancelGivesThePlaceBack(t *testing.T) {
	ls := fleetOf(t, 2)
	a, b := ls[0], ls[1]
	now := time.Now()
	k := reserveOK(t, a, now, 1)
	a.Observe(res, k[0], now, report(60, 2, now.Add(30*time.Second)))
	k = reserveOK(t, a, now, 2)
	refused(t, b, now)
	a.Cancel(res, k[1], now)
	reserveOK(t, b, now, 1)
	a.Cancel(res, k[1], now) // settled twice: nothing more
	refused(t, b, now)
}

// The fleet's order decides what an answer counts: GitHub's count is the
// lowest remaining reported, whichever process's answer brought it, and it
// counts the requests sent more than auditlog.Reorder before its own, not
// those sent after it or at about the same time.
func TestAnswersCountWhatWasSentBeforeThem(t *testing.T) {
	ls := fleetOf(t, 2)
	a, b := ls[0], ls[1]
	reset := time.Now().Add(time.Minute)
	early := reserveOK(t, a, time.Now(), 2) // GitHub counts them first: 9, 8 left
	time.Sleep(auditlog.Reorder + 100*time.Millisecond)
	late := reserveOK(t, b, time.Now(), 2) // then these: 7, 6 left
	now := time.Now()

	b.Observe(res, late[0], now, report(10, 7, reset))
	left := func() int {
		st, ok := a.State(res, time.Now())
		require.True(t, ok)
		return st.Remaining
	}
	assert.Equal(t, 6, left(), "late[1] may not be counted in late[0]'s answer; early[*] are")
	a.Observe(res, early[1], now, report(10, 8, reset))
	assert.Equal(t, 6, left(), "an older count: not news")
	b.Observe(res, late[1], now, report(10, 6, reset))
	a.Observe(res, early[0], now, report(10, 9, reset))
	assert.Equal(t, 6, left(), "all answered")
	reserveOK(t, a, time.Now(), 6)
	refused(t, b, time.Now())
}

// When nothing is left but an answer on its way may give a place back, a
// caller is asked to come back shortly rather than committed to the reset;
// when the next window is spoken for too, it is asked to come back at the
// reset.
func TestAskAgain(t *testing.T) {
	ls := fleetOf(t, 2, WithRateLimits(map[string]auditlog.RateLimit{res: {Requests: 3, Per: time.Minute}}))
	a, b := ls[0], ls[1]
	reset := time.Now().Add(time.Minute)
	k := reserveOK(t, a, time.Now(), 2)
	a.Observe(res, k[1], time.Now(), report(3, 1, reset))
	again, w, err := b.Reserve(res, time.Now(), time.Hour)
	require.NoError(t, err)
	assert.Zero(t, again, "k[0] may be counted already: ask again")
	assert.Equal(t, time.Second, w, "a request's share of the window, at most a second")
	a.Observe(res, k[0], time.Now(), report(3, 2, reset)) // it was counted first
	reserveOK(t, b, time.Now(), 1)

	// Spent: three are committed to the reset, the next window's limit.
	for range 3 {
		_, w := reserveWait(t, a, res, time.Now(), time.Hour)
		near(t, time.Minute, w, time.Second, "the reset")
	}
	again, w, err = b.Reserve(res, time.Now(), time.Hour)
	require.NoError(t, err)
	assert.Zero(t, again, "the next window is spoken for")
	near(t, time.Minute, w, time.Second, "come back at the reset")
}

// stateOf reads the raw state: whether a window is known, what is left, and
// the claims in flight.
func stateOf(t *testing.T, l *Limiter) (known bool, left, claims int64) {
	t.Helper()
	v, err := l.eval(stateScript, res)
	require.NoError(t, err)
	return v[0] == 1, v[2], v[5]
}

// The fleet paces as one local Budget would: the same waits for the same
// sequence, before and after GitHub reports a window.
func TestPacingMatchesTheLocalBudget(t *testing.T) {
	type step struct {
		observe  bool // else reserve
		rate     auditlog.Rate
		resetIn  time.Duration
		maxWait  time.Duration
		wantErr  bool
		reserves int
	}
	cases := []struct {
		name  string
		limit auditlog.RateLimit
		steps []step
	}{
		{"even spacing", auditlog.RateLimit{Requests: 10, Per: time.Second, Burst: 2},
			[]step{{reserves: 6, maxWait: time.Minute}}},
		{"burst of the whole window", auditlog.RateLimit{Requests: 5, Per: 2 * time.Second},
			[]step{{reserves: 7, maxWait: time.Minute}}},
		{"refused past maxWait", auditlog.RateLimit{Requests: 10, Per: time.Second, Burst: 2},
			[]step{{reserves: 2}, {reserves: 1, wantErr: true}}},
		{"reported window, whole burst", auditlog.RateLimit{Requests: 100, Per: time.Hour},
			[]step{{reserves: 1, maxWait: time.Minute}, {observe: true, rate: report(6, 4, time.Time{}), resetIn: 3 * time.Second},
				{reserves: 5, maxWait: time.Minute}}},
		{"reported window, spread", auditlog.RateLimit{Requests: 100, Per: time.Hour, Burst: 1},
			[]step{{reserves: 2, maxWait: time.Minute}, {observe: true, rate: report(6, 3, time.Time{}), resetIn: 3 * time.Second},
				{reserves: 4, maxWait: time.Minute}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			limits := map[string]auditlog.RateLimit{res: tc.limit}
			l := fleetOf(t, 1, WithRateLimits(limits))[0]
			budget, err := auditlog.NewBudget(limits)
			require.NoError(t, err)
			start := time.Now()
			for _, s := range tc.steps {
				now := time.Now()
				if s.observe {
					r := s.rate
					r.Reset = now.Add(s.resetIn)
					l.Observe(res, 0, now, r)
					budget.Observe(res, 0, now, r)
					continue
				}
				for i := range s.reserves {
					now := time.Now()
					_, want, werr := budget.Reserve(res, now, s.maxWait)
					_, got, gerr := l.Reserve(res, now, s.maxWait)
					require.Equal(t, s.wantErr, werr != nil, "budget, reserve %d", i)
					require.Equal(t, s.wantErr, gerr != nil, "redis, reserve %d: %v", i, gerr)
					near(t, want, got, 30*time.Millisecond, "reserve "+string(rune('0'+i)))
				}
			}
			require.Less(t, time.Since(start), time.Second, "the steps must run at one moment for the comparison")
		})
	}
}

// GitHub Enterprise Server with rate limiting off sends no rate headers:
// the fleet then invents no limit, unless one was configured.
func TestNoLimitReported(t *testing.T) {
	t.Run("defaults", func(t *testing.T) {
		ls := fleetOf(t, 2)
		l := ls[0]
		now := time.Now()
		_, ok := ls[1].State(res, now)
		assert.False(t, ok, "nothing known yet")
		k := reserveOK(t, l, now, 1)
		l.Observe(res, k[0], now, unknown)
		reserveOK(t, l, now, 3000) // the default is 1,750 an hour
		st, ok := ls[1].State(res, now)
		assert.True(t, ok, "known: no limit")
		assert.False(t, st.Known())
	})
	t.Run("defaults, nothing reported", func(t *testing.T) {
		l := fleetOf(t, 1)[0]
		reserveOK(t, l, time.Now(), 1750)
		refused(t, l, time.Now())
	})
	t.Run("configured", func(t *testing.T) {
		l := fleetOf(t, 1, WithRateLimits(map[string]auditlog.RateLimit{res: {Requests: 3, Per: time.Hour}}))[0]
		now := time.Now()
		k := reserveOK(t, l, now, 1)
		l.Observe(res, k[0], now, unknown)
		reserveOK(t, l, now, 2)
		refused(t, l, now)
		_, ok := l.State(res, now)
		assert.False(t, ok, "a configured limit is paced, and no window is known")
	})
	t.Run("a window is running", func(t *testing.T) {
		// A response without headers in the middle of a window GitHub
		// reported (an error page from a proxy) does not lift the limit.
		l := fleetOf(t, 1)[0]
		now := time.Now()
		k := reserveOK(t, l, now, 2)
		l.Observe(res, k[0], now, report(60, 0, now.Add(10*time.Second)))
		l.Observe(res, k[1], now, unknown)
		refused(t, l, now)
	})
}

func TestResourcesAndKeysAreSeparate(t *testing.T) {
	srv := sharedRedis(t)
	a := newLimiter(t, srv, "test:"+t.Name()+":one")
	b := newLimiter(t, srv, "test:"+t.Name()+":two")
	now := time.Now()
	k := reserveOK(t, a, now, 1)
	a.Observe(res, k[0], now, report(60, 0, now.Add(10*time.Second)))
	refused(t, a, now)
	_, w := reserveWait(t, a, auditlog.ResourceAuditLogStreaming, now, 0)
	assert.Zero(t, w)
	reserveOK(t, b, now, 1)

	// The keys of a budget hash to one cluster slot, whatever the prefix;
	// budgets of different prefixes do not all share one.
	for _, prefix := range []string{"ghaudit:svc", "a{b}c", "x}y", "{tag}rest"} {
		keys := bucketKeys(prefix, res)
		require.Len(t, keys, 5)
		for i, k := range keys[1:] {
			assert.NotContains(t, keys[:i+1], k)
			assert.Equal(t, hashTag(keys[0]), hashTag(k), prefix)
		}
		assert.Contains(t, keys[0], prefix)
		assert.Contains(t, keys[0], res)
	}
	assert.NotEqual(t, hashTag(bucketKeys("ghaudit:one", res)[0]), hashTag(bucketKeys("ghaudit:two", res)[0]))
}

// TestScopesKeepSeparateBudgets: the audit-log budgets of two scopes
// (auditlog.BudgetKey) are two budgets in Redis, shared by the fleet, each
// paced by what is configured for audit_log, and each under its own keys,
// whose ':' and '/' keep them in one cluster slot.
func TestScopesKeepSeparateBudgets(t *testing.T) {
	srv := sharedRedis(t)
	prefix := "test:" + t.Name()
	limits := WithRateLimits(map[string]auditlog.RateLimit{res: {Requests: 3, Per: time.Hour}})
	a := newLimiter(t, srv, prefix, limits)
	b := newLimiter(t, srv, prefix, limits)
	ent := auditlog.BudgetKey(auditlog.Enterprise("avocado-corp"))
	org := auditlog.BudgetKey(auditlog.Organization("octo-org"))
	now := time.Now()

	// audit_log's 3 an hour holds for each scope, across the fleet.
	var entTickets []auditlog.Ticket
	for _, l := range []*Limiter{a, b, a} {
		k, w := reserveWait(t, l, ent, now, 0)
		assert.Zero(t, w)
		entTickets = append(entTickets, k)
	}
	_, _, err := b.Reserve(ent, now, 0)
	var rl *auditlog.RateLimitError
	require.ErrorAs(t, err, &rl, "the enterprise's budget is spent")
	assert.Equal(t, ent, rl.Resource)
	assert.Equal(t, 3, rl.Limit)
	var orgTickets []auditlog.Ticket
	for range 3 {
		k, w := reserveWait(t, b, org, now, 0)
		assert.Zero(t, w, "the organization's budget is its own")
		orgTickets = append(orgTickets, k)
	}

	// What GitHub reports on one scope's path is that scope's alone, and
	// every process sees it.
	reset := now.Add(time.Hour)
	a.Observe(ent, entTickets[0], now, auditlog.Rate{Limit: 1750, Remaining: 10, Used: 1740, Reset: reset, Resource: res})
	st, ok := b.State(ent, now)
	require.True(t, ok)
	assert.Equal(t, 8, st.Remaining, "10 reported, less the 2 in flight")
	assert.Equal(t, ent, st.Resource)
	b.Observe(org, orgTickets[0], now, auditlog.Rate{Limit: 1750, Remaining: 50, Used: 1700, Reset: reset, Resource: res})
	st, ok = a.State(org, now)
	require.True(t, ok)
	assert.Equal(t, 48, st.Remaining, "50 reported, less the 2 in flight")
	st, ok = a.State(ent, now)
	require.True(t, ok)
	assert.Equal(t, 8, st.Remaining, "the organization's report left the enterprise's budget alone")

	rdb := srv.Client(t, "")
	for _, key := range []string{ent, org} {
		keys := bucketKeys(prefix, key)
		n, err := rdb.Exists(context.Background(), keys[0]).Result()
		require.NoError(t, err)
		assert.Equal(t, int64(1), n, "the state of %s is kept under %s", key, keys[0])
		assert.Equal(t, prefix+":"+key, hashTag(keys[0]))
		for _, k := range keys[1:] {
			assert.Equal(t, hashTag(keys[0]), hashTag(k), "one slot for %s", key)
		}
	}
}

// hashTag is the part of key that Redis Cluster hashes: what lies between
// the first "{" and the first "}" after it, when that is not empty.
func hashTag(key string) string {
	if i := strings.IndexByte(key, '{'); i >= 0 {
		if j := strings.IndexByte(key[i+1:], '}'); j > 0 {
			return key[i+1 : i+1+j]
		}
	}
	return key
}

func TestARefusalClaimsNothing(t *testing.T) {
	ls := fleetOf(t, 2)
	a, b := ls[0], ls[1]
	now := time.Now()
	k := reserveOK(t, a, now, 1)
	a.Observe(res, k[0], now, report(60, 2, now.Add(10*time.Second)))
	k = reserveOK(t, a, now, 2)
	for range 5 {
		refused(t, b, now)
	}
	_, left, claims := stateOf(t, b)
	assert.Equal(t, int64(0), left)
	assert.Equal(t, int64(2), claims)
	a.Observe(res, k[0], now, report(60, 2, now.Add(10*time.Second)))
	reserveOK(t, b, now, 1)
}

// The keys expire once they say nothing more, so an abandoned key leaves
// nothing behind for ever.
func TestKeysExpire(t *testing.T) {
	srv := sharedRedis(t)
	l := newLimiter(t, srv, "test:"+t.Name())
	now := time.Now()
	k := reserveOK(t, l, now, 1)
	l.Observe(res, k[0], now, report(60, 10, now.Add(time.Hour)))
	reserveOK(t, l, now, 1)
	rdb := srv.Client(t, "")
	for _, k := range bucketKeys("test:"+t.Name(), res)[:3] { // the warm start's lease has its own expiry
		ttl, err := rdb.PTTL(context.Background(), k).Result()
		require.NoError(t, err)
		assert.Greater(t, ttl, time.Hour, k)
		assert.LessOrEqual(t, ttl, time.Hour+11*time.Minute, k)
	}
}

func TestNewRefusesBadArguments(t *testing.T) {
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"})
	defer rdb.Close()
	cases := []struct {
		name  string
		rdb   redis.UniversalClient
		key   string
		opts  []Option
		field string
	}{
		{"nil client", nil, "k", nil, "rdb"},
		{"empty key", rdb, "", nil, "key"},
		{"control character", rdb, "k\n", nil, "key"},
		{"nil option", rdb, "k", []Option{nil}, "New"},
		{"share 0", rdb, "k", []Option{WithFallbackShare(0)}, "WithFallbackShare"},
		{"share above 1", rdb, "k", []Option{WithFallbackShare(1.5)}, "WithFallbackShare"},
		{"share NaN", rdb, "k", []Option{WithFallbackShare(math.NaN())}, "WithFallbackShare"},
		{"timeout", rdb, "k", []Option{WithTimeout(0)}, "WithTimeout"},
		{"retry", rdb, "k", []Option{WithRetryInterval(-time.Second)}, "WithRetryInterval"},
		{"claim TTL", rdb, "k", []Option{WithClaimTTL(0)}, "WithClaimTTL"},
		{"logger", rdb, "k", []Option{WithLogger(nil)}, "WithLogger"},
		{"no limits", rdb, "k", []Option{WithRateLimits(nil)}, "WithRateLimits"},
		{"bad limit", rdb, "k", []Option{WithRateLimits(map[string]auditlog.RateLimit{res: {Requests: 0, Per: time.Hour}})}, "WithRateLimits"},
		{"empty resource", rdb, "k", []Option{WithRateLimits(map[string]auditlog.RateLimit{"": {Requests: 1, Per: time.Hour}})}, "WithRateLimits"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			l, err := New(tc.rdb, tc.key, tc.opts...)
			assert.Nil(t, l)
			require.ErrorIs(t, err, auditlog.ErrInvalidInput)
			var ie *auditlog.InputError
			require.True(t, errors.As(err, &ie))
			assert.Equal(t, tc.field, ie.Field)
		})
	}
	l, err := New(rdb, "k", WithRateLimits(map[string]auditlog.RateLimit{res: {Requests: 1, Per: time.Hour}}),
		WithFallbackShare(1), WithTimeout(time.Second), WithRetryInterval(time.Second), WithClaimTTL(time.Second))
	require.NoError(t, err)
	assert.NotNil(t, l)
}

// Through a Client: GitHub Enterprise Server with rate limiting off sends
// no rate headers, and 2,000 requests (more than the default 1,750) go out
// without one wait for budget.
func TestClientOnAServerWithoutLimits(t *testing.T) {
	fake := auditlogtest.NewServer(auditlogtest.WithGeneratedEvents(10, 1), auditlogtest.WithoutRateLimits())
	t.Cleanup(fake.Close)
	l := fleetOf(t, 1)[0]
	c, err := auditlog.NewClient(auditlog.WithToken(fake.Token()), auditlog.WithBaseURL(fake.URL()),
		auditlog.WithLimiter(l), auditlog.WithMaxWait(0))
	require.NoError(t, err)
	for i := range 2000 {
		_, err := c.AuditLog(context.Background(), auditlog.Enterprise(fake.Enterprise()), &auditlog.Query{PerPage: 1})
		require.NoError(t, err, "request %d", i+1)
	}
	st, ok := l.State(auditlog.BudgetKey(auditlog.Enterprise(fake.Enterprise())), time.Now())
	assert.True(t, ok)
	assert.False(t, st.Known(), "no limit")
}
