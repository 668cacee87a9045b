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

var unknownRate = Rate{Limit: -1, Remaining: -1, Used: -1}

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
			b.Observe(ResourceAuditLog, t0, unknownRate)
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
