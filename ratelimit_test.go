package auditlog

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/ghaudit/auditlog/auditlogtest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var t0 = time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)

func rateOf(limit, remaining int, reset time.Time) Rate {
	return Rate{Limit: limit, Remaining: remaining, Used: limit - remaining, Reset: reset, Resource: ResourceAuditLog}
}

// TestBudgetFollowsServer drives a Budget by explicit times and checks each
// way the server's view is taken in.
func TestBudgetFollowsServer(t *testing.T) {
	t.Parallel()
	small := map[string]RateLimit{ResourceAuditLog: {Requests: 10, Per: time.Minute}}
	for _, tc := range []struct {
		name  string
		steps func(t *testing.T, b *Budget)
	}{
		{"remaining 0 holds until reset", func(t *testing.T, b *Budget) {
			k := mustReserve(t, b, t0, 0)
			b.Observe(ResourceAuditLog, k, t0, rateOf(10, 0, t0.Add(40*time.Second)))
			mustReserve(t, b, t0.Add(time.Second), 39*time.Second)
		}},
		{"untouched budget: a whole window at once, then paced", func(t *testing.T, b *Budget) {
			for range 10 {
				mustReserve(t, b, t0, 0)
			}
			mustReserve(t, b, t0, 6*time.Second)
		}},
		{"a lower limit re-paces", func(t *testing.T, b *Budget) {
			k := mustReserve(t, b, t0, 0)
			b.Observe(ResourceAuditLog, k, t0, rateOf(2, 1, t0.Add(time.Minute)))
			k = mustReserve(t, b, t0, 0)
			// the bucket now holds 2 per minute: the next token in 30 s
			b.Release(ResourceAuditLog, k, t0)
			mustReserve(t, b, t0, time.Minute) // remaining 0 → reset
		}},
		{"requests sent after an answer count as spent", func(t *testing.T, b *Budget) {
			k := reserveEvery(t, b, 4)
			// the first answer: GitHub counted only it; three are still in flight
			now := t0.Add(7 * time.Second)
			b.Observe(ResourceAuditLog, k[0], now, rateOf(10, 4, t0.Add(time.Minute)))
			mustReserve(t, b, now, 0) // 4-3 = 1 left
			mustReserve(t, b, now, t0.Add(time.Minute).Sub(now))
		}},
		{"an older answer does not raise the estimate", func(t *testing.T, b *Budget) {
			older := mustReserve(t, b, t0, 0)
			newer := mustReserve(t, b, t0, 0)
			b.Observe(ResourceAuditLog, newer, t0, rateOf(10, 0, t0.Add(time.Minute)))
			b.Observe(ResourceAuditLog, older, t0, rateOf(10, 5, t0.Add(time.Minute)))
			mustReserve(t, b, t0, time.Minute)
		}},
		{"a new window starts from GitHub's count", func(t *testing.T, b *Budget) {
			k := mustReserve(t, b, t0, 0)
			b.Observe(ResourceAuditLog, k, t0, rateOf(10, 0, t0.Add(time.Minute)))
			k = mustReserve(t, b, t0.Add(time.Minute), 0)
			b.Observe(ResourceAuditLog, k, t0.Add(time.Minute), rateOf(10, 9, t0.Add(2*time.Minute)))
			mustReserve(t, b, t0.Add(time.Minute), 0)
		}},
		{"Pause holds every caller", func(t *testing.T, b *Budget) {
			b.Pause(ResourceAuditLog, t0.Add(time.Minute))
			mustReserve(t, b, t0, time.Minute)
			b.Pause(ResourceAuditLog, t0.Add(time.Second)) // an earlier pause does not shorten it
			mustReserve(t, b, t0.Add(30*time.Second), 30*time.Second)
		}},
		{"resources are separate", func(t *testing.T, b *Budget) {
			b.Observe(ResourceAuditLogStreaming, 0, t0, Rate{Limit: 15, Remaining: 0, Reset: t0.Add(time.Hour)})
			mustReserve(t, b, t0, 0)
			_, _, err := b.Reserve(ResourceAuditLogStreaming, t0, time.Minute)
			var rl *RateLimitError
			require.ErrorAs(t, err, &rl)
			assert.Equal(t, ResourceAuditLogStreaming, rl.Resource)
			assert.Equal(t, time.Hour, rl.RetryAfter)
			assert.Equal(t, 15, rl.Limit)
		}},
		{"past maxWait nothing is claimed", func(t *testing.T, b *Budget) {
			for range 10 {
				mustReserve(t, b, t0, 0)
			}
			_, _, err := b.Reserve(ResourceAuditLog, t0, time.Second)
			var rl *RateLimitError
			require.ErrorAs(t, err, &rl)
			assert.Equal(t, 6*time.Second, rl.RetryAfter)
			mustReserve(t, b, t0, 6*time.Second) // the refused try took no token
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b, err := NewBudget(small)
			require.NoError(t, err)
			tc.steps(t, b)
		})
	}
}

// TestBudgetMatchesAnswersToReservations: each answer is matched to its
// reservation. GitHub's latest count is the lowest remaining it reported in
// the window, whatever order the answers came back in; it counts the
// requests sent more than Reorder before the one it answered (answered or
// not) and not those sent after it, nor those sent at about the same time.
// Every case but the last starts from a window of 10 whose reset is a
// minute away.
func TestBudgetMatchesAnswersToReservations(t *testing.T) {
	t.Parallel()
	reset := t0.Add(time.Minute)
	in := func(remaining int) Rate { return rateOf(10, remaining, reset) }
	for _, tc := range []struct {
		name  string
		steps func(t *testing.T, b *Budget)
	}{
		{"answers out of order", func(t *testing.T, b *Budget) {
			k := reserveEvery(t, b, 4) // GitHub counts them in order: 9, 8, 7, 6 left
			now := t0.Add(7 * time.Second)
			b.Observe(ResourceAuditLog, k[2], now, in(7))
			assertLeft(t, b, now, 6, "k3 is not counted in k2's answer; k1 is")
			b.Observe(ResourceAuditLog, k[0], now, in(9))
			assertLeft(t, b, now, 6, "an older answer: not news")
			b.Observe(ResourceAuditLog, k[3], now, in(6))
			b.Observe(ResourceAuditLog, k[1], now, in(8))
			assertLeft(t, b, now, 6, "all answered")
			reserveN(t, b, now, 6)
			mustReserve(t, b, now, reset.Sub(now))
		}},
		{"requests sent together may be counted in any order", func(t *testing.T, b *Budget) {
			k := reserveN(t, b, t0, 3) // GitHub counts k2, k0, k1: 9, 8, 7 left
			b.Observe(ResourceAuditLog, k[2], t0, in(9))
			assertLeft(t, b, t0, 7, "k0 and k1 may have reached GitHub after k2")
			b.Observe(ResourceAuditLog, k[0], t0, in(8))
			assertLeft(t, b, t0, 7)
			b.Observe(ResourceAuditLog, k[1], t0, in(7))
			assertLeft(t, b, t0, 7)
		}},
		{"nothing left but an answer may give a place back: ask again", func(t *testing.T, b *Budget) {
			k := reserveN(t, b, t0, 2)
			b.Observe(ResourceAuditLog, k[1], t0, in(1))
			assertLeft(t, b, t0, 0, "k0 may not be counted yet")
			again, wait, err := b.Reserve(ResourceAuditLog, t0, time.Hour)
			require.NoError(t, err)
			assert.Zero(t, again, "nothing claimed")
			assert.Equal(t, time.Second, wait)
			b.Observe(ResourceAuditLog, k[0], t0, in(2)) // it was counted first
			assertLeft(t, b, t0, 1)
			mustReserve(t, b, t0, 0)
			mustReserve(t, b, t0, time.Minute)
		}},
		{"an older answer with less left: another consumer spent some", func(t *testing.T, b *Budget) {
			k := reserveEvery(t, b, 3)
			now := t0.Add(5 * time.Second)
			b.Observe(ResourceAuditLog, k[2], now, in(7))
			b.Observe(ResourceAuditLog, k[0], now, in(3))
			assertLeft(t, b, now, 2, "3 less k1, sent after k0 and not answered")
		}},
		{"a refusal that says what is left: the refused request was not counted", func(t *testing.T, b *Budget) {
			k := reserveEvery(t, b, 2)
			now := t0.Add(3 * time.Second)
			b.Observe(ResourceAuditLog, k[0], now, in(5))
			assertLeft(t, b, now, 4)
			b.Observe(ResourceAuditLog, k[1], now, in(5)) // a secondary limit refused it
			assertLeft(t, b, now, 5, "the refused request gave its place back")
		}},
		{"a released request counts until an answer sent after it", func(t *testing.T, b *Budget) {
			k := reserveEvery(t, b, 3)
			now := t0.Add(5 * time.Second)
			b.Observe(ResourceAuditLog, k[0], now, in(9))
			assertLeft(t, b, now, 7)
			b.Release(ResourceAuditLog, k[1], now) // a network error: GitHub may have counted it
			assertLeft(t, b, now, 7)
			b.Observe(ResourceAuditLog, k[0], now, in(9)) // settled twice: an old count, not news
			assertLeft(t, b, now, 7)
			b.Observe(ResourceAuditLog, k[2], now, in(8))
			assertLeft(t, b, now, 8, "GitHub did not count it")
		}},
		{"a cancelled request gives its place back", func(t *testing.T, b *Budget) {
			k := reserveEvery(t, b, 3)
			now := t0.Add(5 * time.Second)
			b.Observe(ResourceAuditLog, k[0], now, in(9))
			assertLeft(t, b, now, 7)
			b.Cancel(ResourceAuditLog, k[2], now) // its wait was abandoned
			assertLeft(t, b, now, 8)
			b.Cancel(ResourceAuditLog, k[2], now) // twice: nothing more
			assertLeft(t, b, now, 8)
			b.Observe(ResourceAuditLog, k[1], now, in(8))
			assertLeft(t, b, now, 8)
		}},
		{"a request sent long before the latest count was counted in it", func(t *testing.T, b *Budget) {
			k := reserveEvery(t, b, 2)
			now := t0.Add(3 * time.Second)
			b.Observe(ResourceAuditLog, k[1], now, in(8))
			assertLeft(t, b, now, 8)
			b.Cancel(ResourceAuditLog, k[0], now)
			assertLeft(t, b, now, 8)
		}},
		{"an answer from the next window", func(t *testing.T, b *Budget) {
			k := reserveEvery(t, b, 3)
			b.Observe(ResourceAuditLog, k[0], t0.Add(5*time.Second), in(9))
			late := mustReserve(t, b, reset.Add(-time.Second), 0)
			// Sent before the reset, it reached GitHub after: the first
			// request of the next window. k1 and k2, sent long before it,
			// were counted before it, in the window that ended.
			now, next := reset.Add(time.Second), reset.Add(time.Minute+time.Second)
			b.Observe(ResourceAuditLog, late, now, rateOf(10, 9, next))
			assertLeft(t, b, now, 9)
			b.Observe(ResourceAuditLog, k[1], now, in(8))
			assertLeft(t, b, now, 9, "a late answer from the window that ended")
		}},
		{"a spent window's waiters take no more than the next window holds", func(t *testing.T, b *Budget) {
			k := mustReserve(t, b, t0, 0)
			b.Observe(ResourceAuditLog, k, t0, rateOf(3, 0, reset))
			committed := []Ticket{mustReserve(t, b, t0, time.Minute), mustReserve(t, b, t0, time.Minute), mustReserve(t, b, t0, time.Minute)}
			// The next window's 3 are spoken for: come back at the reset.
			again, wait, err := b.Reserve(ResourceAuditLog, t0, time.Hour)
			require.NoError(t, err)
			assert.Zero(t, again, "nothing claimed")
			assert.Equal(t, time.Minute, wait)
			_, _, err = b.Reserve(ResourceAuditLog, t0, 30*time.Second)
			assert.ErrorIs(t, err, ErrRateLimited, "past maxWait")
			// An abandoned wait gives its place in the next window back.
			b.Cancel(ResourceAuditLog, committed[2], t0)
			committed[2] = mustReserve(t, b, t0, time.Minute)

			// At the reset the committed three go; GitHub has not answered
			// in the new window: its reset is unknown, so ask again soon.
			again, wait, err = b.Reserve(ResourceAuditLog, reset, time.Hour)
			require.NoError(t, err)
			assert.Zero(t, again)
			assert.Equal(t, time.Second, wait)
			r, ok := b.State(ResourceAuditLog, reset)
			require.True(t, ok)
			assert.Equal(t, Rate{Limit: 3, Remaining: 0, Used: 3, Resource: ResourceAuditLog}, r)
			// The first answer in the new window says when it ends. The
			// three were sent together: until all have answered, GitHub
			// may have counted more of them than it said.
			now, next := reset.Add(time.Second), reset.Add(time.Minute+time.Second)
			b.Observe(ResourceAuditLog, committed[0], now, rateOf(3, 2, next))
			assertLeft(t, b, now, 0)
			again, wait, err = b.Reserve(ResourceAuditLog, now, time.Hour)
			require.NoError(t, err)
			assert.Zero(t, again)
			assert.Equal(t, time.Second, wait)
			b.Observe(ResourceAuditLog, committed[2], now, rateOf(3, 0, next))
			b.Observe(ResourceAuditLog, committed[1], now, rateOf(3, 1, next))
			mustReserve(t, b, now, time.Minute)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b, err := NewBudget(map[string]RateLimit{ResourceAuditLog: {Requests: 10, Per: time.Minute}})
			require.NoError(t, err)
			tc.steps(t, b)
		})
	}
}

// reserveEvery reserves n requests on audit_log, one every 2 s from t0
// (further apart than Reorder), that need not wait.
func reserveEvery(t *testing.T, b *Budget, n int) []Ticket {
	t.Helper()
	ks := make([]Ticket, n)
	for i := range ks {
		ks[i] = mustReserve(t, b, t0.Add(time.Duration(2*i)*time.Second), 0)
	}
	return ks
}

// reserveN reserves n requests on audit_log at now that need not wait.
func reserveN(t *testing.T, b *Budget, now time.Time, n int) []Ticket {
	t.Helper()
	ks := make([]Ticket, n)
	for i := range ks {
		ks[i] = mustReserve(t, b, now, 0)
	}
	return ks
}

// assertLeft checks what b estimates is left of the audit_log window at now.
func assertLeft(t *testing.T, b *Budget, now time.Time, want int, msg ...any) {
	t.Helper()
	r, ok := b.State(ResourceAuditLog, now)
	require.True(t, ok)
	assert.Equal(t, want, r.Remaining, msg...)
}

// TestBudgetWithoutReportedLimit: a server that answers a success without
// rate headers enforces no limit; a Budget then stops pacing that resource
// (until a response reports a limit again), unless its limit was
// configured. Release, which settles a reservation without a budget, says
// nothing about the limit.
func TestBudgetWithoutReportedLimit(t *testing.T) {
	t.Parallel()
	small := RateLimit{Requests: 10, Per: time.Minute}
	for _, tc := range []struct {
		name       string
		configured bool
		settle     func(b *Budget, k Ticket)
		paced      bool
	}{
		{"no headers: no limit", false, func(b *Budget, k Ticket) { b.Observe(ResourceAuditLog, k, t0, unknownRate) }, false},
		{"Release: nothing known", false, func(b *Budget, k Ticket) { b.Release(ResourceAuditLog, k, t0) }, true},
		{"Cancel: nothing known", false, func(b *Budget, k Ticket) { b.Cancel(ResourceAuditLog, k, t0) }, true},
		{"no headers, limit configured", true, func(b *Budget, k Ticket) { b.Observe(ResourceAuditLog, k, t0, unknownRate) }, true},
		{"no headers, then headers again", false, func(b *Budget, k Ticket) {
			b.Observe(ResourceAuditLog, k, t0, unknownRate)
			k = mustReserve(t, b, t0, 0)
			b.Observe(ResourceAuditLog, k, t0, rateOf(10, 9, t0.Add(time.Minute)))
		}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			// The default limit of an unknown resource stands in for an
			// assumed one; the configured case names it.
			var limits map[string]RateLimit
			if tc.configured {
				limits = map[string]RateLimit{ResourceAuditLog: small}
			}
			b, err := NewBudget(limits)
			require.NoError(t, err)
			b.limits[ResourceAuditLog] = small // assumed, not configured, in the other cases
			tc.settle(b, mustReserve(t, b, t0, 0))
			var waited time.Duration
			for range 20 {
				_, w, err := b.Reserve(ResourceAuditLog, t0, time.Hour)
				require.NoError(t, err)
				waited = max(waited, w)
			}
			assert.Equal(t, tc.paced, waited > 0, "longest wait %v", waited)
			r, ok := b.State(ResourceAuditLog, t0)
			if !tc.paced {
				assert.True(t, ok)
				assert.False(t, r.Known(), "no limit")
			}
		})
	}
	// A pause holds an unpaced resource too.
	b, err := NewBudget(nil)
	require.NoError(t, err)
	b.Observe(ResourceAuditLog, mustReserve(t, b, t0, 0), t0, unknownRate)
	b.Pause(ResourceAuditLog, t0.Add(time.Minute))
	mustReserve(t, b, t0, time.Minute)
	_, _, err = b.Reserve(ResourceAuditLog, t0, time.Second)
	var rl *RateLimitError
	require.ErrorAs(t, err, &rl)
	assert.Equal(t, time.Minute, rl.RetryAfter)
}

// TestBudgetState: what a Budget reports of a resource: nothing before any
// response, GitHub's window with the remaining estimate while it runs, the
// whole limit once it has ended, and "no limit" when the server said so.
func TestBudgetState(t *testing.T) {
	t.Parallel()
	b, err := NewBudget(nil)
	require.NoError(t, err)
	_, ok := b.State(ResourceAuditLog, t0)
	assert.False(t, ok, "nothing known yet")

	k := mustReserve(t, b, t0, 0)
	mustReserve(t, b, t0, 0)
	b.Observe(ResourceAuditLog, k, t0, rateOf(1750, 1740, t0.Add(time.Hour)))
	r, ok := b.State(ResourceAuditLog, t0)
	require.True(t, ok)
	// One request reserved after it is still in flight: GitHub's 1,740 less that one.
	assert.Equal(t, Rate{Limit: 1750, Remaining: 1739, Used: 11, Reset: t0.Add(time.Hour), Resource: ResourceAuditLog}, r)

	r, ok = b.State(ResourceAuditLog, t0.Add(time.Hour))
	require.True(t, ok)
	assert.Equal(t, Rate{Limit: 1750, Remaining: 1750, Used: 0, Resource: ResourceAuditLog}, r, "after the reset")

	_, ok = b.State(ResourceAuditLogStreaming, t0)
	assert.False(t, ok, "another resource")
	b.Observe(ResourceAuditLogStreaming, mustReserveOn(t, b, ResourceAuditLogStreaming, t0), t0, unknownRate)
	r, ok = b.State(ResourceAuditLogStreaming, t0)
	require.True(t, ok)
	assert.False(t, r.Known(), "the server reported no limit")
	assert.Equal(t, ResourceAuditLogStreaming, r.Resource)
}

func mustReserveOn(t *testing.T, b *Budget, resource string, now time.Time) Ticket {
	t.Helper()
	k, _, err := b.Reserve(resource, now, time.Hour)
	require.NoError(t, err)
	require.NotZero(t, k, "a ticket")
	return k
}

// mustReserve reserves a request on audit_log at now, checks its wait and
// returns its ticket.
func mustReserve(t *testing.T, b *Budget, now time.Time, want time.Duration) Ticket {
	t.Helper()
	k, got, err := b.Reserve(ResourceAuditLog, now, time.Hour)
	require.NoError(t, err)
	require.NotZero(t, k, "a ticket")
	assert.Equal(t, want, got)
	return k
}

func TestDefaultRateLimits(t *testing.T) {
	t.Parallel()
	d := DefaultRateLimits()
	assert.Equal(t, RateLimit{Requests: 1750, Per: time.Hour}, d[ResourceAuditLog])
	assert.Equal(t, RateLimit{Requests: 15, Per: time.Hour}, d[ResourceAuditLogStreaming])
	d[ResourceAuditLog] = RateLimit{Requests: 1, Per: time.Hour}
	assert.Equal(t, 1750, DefaultRateLimits()[ResourceAuditLog].Requests, "a fresh copy")
}

func TestRateLimitOptions(t *testing.T) {
	t.Parallel()
	b, err := NewBudget(nil)
	require.NoError(t, err)
	for _, tc := range []struct {
		name  string
		opts  []Option
		field string // "" for success
	}{
		{"defaults", nil, ""},
		{"limiter", []Option{WithLimiter(b)}, ""},
		{"nil limiter", []Option{WithLimiter(nil)}, "WithLimiter"},
		{"limits", []Option{WithRateLimits(map[string]RateLimit{ResourceAuditLog: {Requests: 60, Per: 6 * time.Second}})}, ""},
		{"empty limits", []Option{WithRateLimits(nil)}, "WithRateLimits"},
		{"zero requests", []Option{WithRateLimits(map[string]RateLimit{ResourceAuditLog: {Per: time.Hour}})}, "WithRateLimits"},
		{"zero window", []Option{WithRateLimits(map[string]RateLimit{ResourceAuditLog: {Requests: 1}})}, "WithRateLimits"},
		{"burst too big", []Option{WithRateLimits(map[string]RateLimit{ResourceAuditLog: {Requests: 1, Per: time.Hour, Burst: 2}})}, "WithRateLimits"},
		{"empty resource", []Option{WithRateLimits(map[string]RateLimit{"": {Requests: 1, Per: time.Hour}})}, "WithRateLimits"},
		{"limits and limiter", []Option{WithLimiter(b), WithRateLimits(map[string]RateLimit{ResourceAuditLog: {Requests: 1, Per: time.Hour}})}, "WithRateLimits"},
		{"max wait 0", []Option{WithMaxWait(0)}, ""},
		{"negative max wait", []Option{WithMaxWait(-time.Second)}, "WithMaxWait"},
		{"attempts 1", []Option{WithMaxAttempts(1)}, ""},
		{"attempts 0", []Option{WithMaxAttempts(0)}, "WithMaxAttempts"},
		{"attempts 21", []Option{WithMaxAttempts(21)}, "WithMaxAttempts"},
		{"stream attempts 1", []Option{WithStreamMaxAttempts(1)}, ""},
		{"stream attempts 0", []Option{WithStreamMaxAttempts(0)}, "WithStreamMaxAttempts"},
		{"stream attempts 21", []Option{WithStreamMaxAttempts(21)}, "WithStreamMaxAttempts"},
		{"attempt timeout", []Option{WithAttemptTimeout(time.Second)}, ""},
		{"attempt timeout 0", []Option{WithAttemptTimeout(0)}, "WithAttemptTimeout"},
		{"negative attempt timeout", []Option{WithAttemptTimeout(-time.Second)}, "WithAttemptTimeout"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, err := NewClient(tc.opts...)
			if tc.field == "" {
				require.NoError(t, err)
				assert.NotNil(t, c.limiter)
				return
			}
			var ie *InputError
			require.ErrorAs(t, err, &ie)
			assert.Equal(t, tc.field, ie.Field)
			assert.ErrorIs(t, err, ErrInvalidInput)
		})
	}
	_, err = NewBudget(map[string]RateLimit{"x": {}})
	var ie *InputError
	require.ErrorAs(t, err, &ie)
	assert.Contains(t, ie.Field, `"x"`)
}

// BenchmarkLimiterReserveObserve is the limiter's overhead per request: one
// Reserve and one Observe, as the pipeline does.
func BenchmarkLimiterReserveObserve(b *testing.B) {
	bud, err := NewBudget(map[string]RateLimit{ResourceAuditLog: {Requests: 1 << 30, Per: time.Second}})
	require.NoError(b, err)
	r := rateOf(1<<30, 1<<29, t0.Add(time.Hour))
	now := t0
	b.ReportAllocs()
	for b.Loop() {
		now = now.Add(time.Nanosecond)
		k, _, err := bud.Reserve(ResourceAuditLog, now, time.Hour)
		if err != nil {
			b.Fatal(err)
		}
		bud.Observe(ResourceAuditLog, k, now, r)
	}
}

// BenchmarkLimiterParallel is the same under contention from all CPUs.
func BenchmarkLimiterParallel(b *testing.B) {
	bud, err := NewBudget(map[string]RateLimit{ResourceAuditLog: {Requests: 1 << 30, Per: time.Second}})
	require.NoError(b, err)
	r := rateOf(1<<30, 1<<29, t0.Add(time.Hour))
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		now := t0
		for pb.Next() {
			now = now.Add(time.Nanosecond)
			k, _, err := bud.Reserve(ResourceAuditLog, now, time.Hour)
			if err != nil {
				b.Error(err)
				return
			}
			bud.Observe(ResourceAuditLog, k, now, r)
		}
	})
}

// ledger is a Limiter that checks the pipeline's side of the contract:
// every ticket Reserve hands out is settled exactly once, for its resource.
type ledger struct {
	*Budget
	mu       sync.Mutex
	open     map[Ticket]string // ticket → resource
	settled  map[string]int    // by how
	problems []string
}

func newLedger(t *testing.T, limits map[string]RateLimit) *ledger {
	t.Helper()
	b, err := NewBudget(limits)
	require.NoError(t, err)
	return &ledger{Budget: b, open: map[Ticket]string{}, settled: map[string]int{}}
}

func (l *ledger) Reserve(resource string, now time.Time, maxWait time.Duration) (Ticket, time.Duration, error) {
	k, wait, err := l.Budget.Reserve(resource, now, maxWait)
	if k != 0 {
		l.mu.Lock()
		l.open[k] = resource
		l.mu.Unlock()
	}
	return k, wait, err
}

func (l *ledger) settle(how, resource string, k Ticket) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if res, ok := l.open[k]; !ok || res != resource {
		l.problems = append(l.problems, fmt.Sprintf("%s of ticket %d on %s: not open (open on %q)", how, k, resource, res))
	}
	delete(l.open, k)
	l.settled[how]++
}

func (l *ledger) Observe(resource string, k Ticket, now time.Time, r Rate) {
	l.settle("Observe", resource, k)
	l.Budget.Observe(resource, k, now, r)
}

func (l *ledger) Release(resource string, k Ticket, now time.Time) {
	l.settle("Release", resource, k)
	l.Budget.Release(resource, k, now)
}

func (l *ledger) Cancel(resource string, k Ticket, now time.Time) {
	l.settle("Cancel", resource, k)
	l.Budget.Cancel(resource, k, now)
}

// TestPipelineSettlesEveryTicketOnce: whatever becomes of an attempt (an
// answer, a refusal with or without rate headers, a 502, a reset, a cut
// body, a token that cannot be had, a wait abandoned), the pipeline settles
// its reservation exactly once, and in the way that says whether GitHub
// counted it.
func TestPipelineSettlesEveryTicketOnce(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		const limit, window = 60, 12 * time.Second
		srv := auditlogtest.New(t, auditlogtest.WithoutListener(), auditlogtest.WithGeneratedEvents(2000, 3),
			auditlogtest.WithRateLimit(ResourceAuditLog, limit, window),
			auditlogtest.WithFaults(auditlogtest.Faults{ServerError: 0.05, ServerErrorStatuses: []int{502},
				Reset: 0.05, Truncate: 0.05, SecondaryEvery: 37, Latency: 100 * time.Millisecond}))
		require.NoError(t, srv.Inject(auditlogtest.Rule{Nth: 20, Times: 3, Fault: auditlogtest.Fault{Kind: auditlogtest.FaultSecondaryBare}}))
		l := newLedger(t, nil)
		var sealed atomic.Bool
		tokens := TokenFunc(func(context.Context) (string, error) {
			if sealed.Load() {
				return "", errors.New("the vault is sealed")
			}
			return srv.Token(), nil
		})
		c, err := NewClient(WithBaseURL(srv.URL()), WithTokenSource(tokens), WithHTTPClient(srv.Client()),
			WithLimiter(l), WithMaxAttempts(10), quiet)
		require.NoError(t, err)
		until := time.Now()
		since := until.Add(-31 * 24 * time.Hour)
		b := c.Backfill(Enterprise(srv.Enterprise()), &Query{Include: IncludeAll, PerPage: 25}, BackfillOptions{Since: since, Until: until, Parallel: 4})
		got := map[string]int{}
		require.NoError(t, drain(t.Context(), b, got))
		exactlyOnce(t, rangeIDs(t, srv, genScopes()[0], since, until), got)
		// Waits abandoned: calls whose caller gives up while they wait for
		// the next window.
		var wg sync.WaitGroup
		for range 2 * limit {
			wg.Go(func() {
				ctx, cancel := context.WithCancel(t.Context())
				time.AfterFunc(2*time.Second, cancel)
				_, _ = c.AuditLog(ctx, Enterprise(srv.Enterprise()), nil)
			})
		}
		wg.Wait()
		// A token that cannot be had: nothing is sent.
		sealed.Store(true)
		_, err = c.AuditLog(t.Context(), Enterprise(srv.Enterprise()), nil)
		var te *tokenError
		require.ErrorAs(t, err, &te)

		l.mu.Lock()
		defer l.mu.Unlock()
		assert.Empty(t, l.problems)
		assert.Empty(t, l.open, "tickets never settled")
		t.Logf("settled: %v", l.settled)
		for _, how := range []string{"Observe", "Release", "Cancel"} {
			assert.Positive(t, l.settled[how], how)
		}
	})
}

// TestSkewClockWithoutDate: a response without a usable Date header (a
// proxy's, say) leaves the estimate as it was, and one without any costs no
// attempt at parsing it.
func TestSkewClockWithoutDate(t *testing.T) {
	var s skewClock
	sent, received := t0, t0.Add(100*time.Millisecond)
	want := time.Minute - 100*time.Millisecond // Date - received: the lower end
	assert.Equal(t, want, s.observe(t0.Add(time.Minute).Format(http.TimeFormat), sent, received))
	assert.Equal(t, want, s.observe("", sent, received))
	assert.Equal(t, want, s.observe("yesterday", sent, received))
	assert.Zero(t, testing.AllocsPerRun(10, func() { s.observe("", sent, received) }))
}
