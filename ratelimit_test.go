package auditlog

import (
	"testing"
	"time"

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
			mustReserve(t, b, t0, 0)
			b.Observe(ResourceAuditLog, t0, rateOf(10, 0, t0.Add(40*time.Second)))
			mustReserve(t, b, t0.Add(time.Second), 39*time.Second)
		}},
		{"untouched budget: a whole window at once, then paced", func(t *testing.T, b *Budget) {
			for range 10 {
				mustReserve(t, b, t0, 0)
			}
			mustReserve(t, b, t0, 6*time.Second)
		}},
		{"a lower limit re-paces", func(t *testing.T, b *Budget) {
			mustReserve(t, b, t0, 0)
			b.Observe(ResourceAuditLog, t0, rateOf(2, 1, t0.Add(time.Minute)))
			mustReserve(t, b, t0, 0)
			// the bucket now holds 2 per minute: the next token in 30 s
			b.Release(ResourceAuditLog, t0)
			mustReserve(t, b, t0, time.Minute) // remaining 0 → reset
		}},
		{"in-flight requests count as spent", func(t *testing.T, b *Budget) {
			for range 4 {
				mustReserve(t, b, t0, 0)
			}
			// one answer: GitHub counted only it; three are still in flight
			b.Observe(ResourceAuditLog, t0, rateOf(10, 4, t0.Add(time.Minute)))
			mustReserve(t, b, t0, 0) // 4-3 = 1 left
			mustReserve(t, b, t0, time.Minute)
		}},
		{"an older answer does not raise the estimate", func(t *testing.T, b *Budget) {
			mustReserve(t, b, t0, 0)
			mustReserve(t, b, t0, 0)
			b.Observe(ResourceAuditLog, t0, rateOf(10, 0, t0.Add(time.Minute)))
			b.Observe(ResourceAuditLog, t0, rateOf(10, 5, t0.Add(time.Minute)))
			mustReserve(t, b, t0, time.Minute)
		}},
		{"a new window starts from GitHub's count", func(t *testing.T, b *Budget) {
			mustReserve(t, b, t0, 0)
			b.Observe(ResourceAuditLog, t0, rateOf(10, 0, t0.Add(time.Minute)))
			mustReserve(t, b, t0.Add(time.Minute), 0)
			b.Observe(ResourceAuditLog, t0.Add(time.Minute), rateOf(10, 9, t0.Add(2*time.Minute)))
			mustReserve(t, b, t0.Add(time.Minute), 0)
		}},
		{"Pause holds every caller", func(t *testing.T, b *Budget) {
			b.Pause(ResourceAuditLog, t0.Add(time.Minute))
			mustReserve(t, b, t0, time.Minute)
			b.Pause(ResourceAuditLog, t0.Add(time.Second)) // an earlier pause does not shorten it
			mustReserve(t, b, t0.Add(30*time.Second), 30*time.Second)
		}},
		{"resources are separate", func(t *testing.T, b *Budget) {
			b.Observe(ResourceAuditLogStreaming, t0, Rate{Limit: 15, Remaining: 0, Reset: t0.Add(time.Hour)})
			mustReserve(t, b, t0, 0)
			_, err := b.Reserve(ResourceAuditLogStreaming, t0, time.Minute)
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
			_, err := b.Reserve(ResourceAuditLog, t0, time.Second)
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
		settle     func(b *Budget)
		paced      bool
	}{
		{"no headers: no limit", false, func(b *Budget) { b.Observe(ResourceAuditLog, t0, unknownRate) }, false},
		{"Release: nothing known", false, func(b *Budget) { b.Release(ResourceAuditLog, t0) }, true},
		{"no headers, limit configured", true, func(b *Budget) { b.Observe(ResourceAuditLog, t0, unknownRate) }, true},
		{"no headers, then headers again", false, func(b *Budget) {
			b.Observe(ResourceAuditLog, t0, unknownRate)
			mustReserve(t, b, t0, 0)
			b.Observe(ResourceAuditLog, t0, rateOf(10, 9, t0.Add(time.Minute)))
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
			mustReserve(t, b, t0, 0)
			tc.settle(b)
			var waited time.Duration
			for range 20 {
				w, err := b.Reserve(ResourceAuditLog, t0, time.Hour)
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
	mustReserve(t, b, t0, 0)
	b.Observe(ResourceAuditLog, t0, unknownRate)
	b.Pause(ResourceAuditLog, t0.Add(time.Minute))
	mustReserve(t, b, t0, time.Minute)
	_, err = b.Reserve(ResourceAuditLog, t0, time.Second)
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

	mustReserve(t, b, t0, 0)
	mustReserve(t, b, t0, 0)
	b.Observe(ResourceAuditLog, t0, rateOf(1750, 1740, t0.Add(time.Hour)))
	r, ok := b.State(ResourceAuditLog, t0)
	require.True(t, ok)
	// One request is still in flight: GitHub's 1,740 less that one.
	assert.Equal(t, Rate{Limit: 1750, Remaining: 1739, Used: 11, Reset: t0.Add(time.Hour), Resource: ResourceAuditLog}, r)

	r, ok = b.State(ResourceAuditLog, t0.Add(time.Hour))
	require.True(t, ok)
	assert.Equal(t, Rate{Limit: 1750, Remaining: 1750, Used: 0, Resource: ResourceAuditLog}, r, "after the reset")

	_, ok = b.State(ResourceAuditLogStreaming, t0)
	assert.False(t, ok, "another resource")
	mustReserveOn(t, b, ResourceAuditLogStreaming, t0)
	b.Observe(ResourceAuditLogStreaming, t0, unknownRate)
	r, ok = b.State(ResourceAuditLogStreaming, t0)
	require.True(t, ok)
	assert.False(t, r.Known(), "the server reported no limit")
	assert.Equal(t, ResourceAuditLogStreaming, r.Resource)
}

func mustReserveOn(t *testing.T, b *Budget, resource string, now time.Time) {
	t.Helper()
	_, err := b.Reserve(resource, now, time.Hour)
	require.NoError(t, err)
}

func mustReserve(t *testing.T, b *Budget, now time.Time, want time.Duration) {
	t.Helper()
	got, err := b.Reserve(ResourceAuditLog, now, time.Hour)
	require.NoError(t, err)
	assert.Equal(t, want, got)
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
		if _, err := bud.Reserve(ResourceAuditLog, now, time.Hour); err != nil {
			b.Fatal(err)
		}
		bud.Observe(ResourceAuditLog, now, r)
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
			if _, err := bud.Reserve(ResourceAuditLog, now, time.Hour); err != nil {
				b.Error(err)
				return
			}
			bud.Observe(ResourceAuditLog, now, r)
		}
	})
}
