package redisbudget

import (
	"context"
	"testing"
	"time"

	"github.com/ghaudit/auditlog"
)

// BenchmarkReserveObserve is what the budget costs one request: a Reserve
// before it is sent and an Observe of its response, on the SDK's local
// Budget and on a Limiter against a redis-server on loopback (two script
// calls, each one round trip); baseline=2xPING is two bare round trips to
// the same server, the floor of the Limiter's figure. The budget is never
// exhausted: no wait.
func BenchmarkReserveObserve(b *testing.B) {
	limits := map[string]auditlog.RateLimit{res: {Requests: 1 << 30, Per: time.Hour}}
	run := func(b *testing.B, l auditlog.Limiter) {
		reset := time.Now().Add(time.Hour)
		for b.Loop() {
			now := time.Now()
			k, _, err := l.Reserve(res, now, 0)
			if err != nil {
				b.Fatal(err)
			}
			l.Observe(res, k, now, auditlog.Rate{Limit: 1 << 30, Remaining: 1 << 29, Used: 1 << 29, Reset: reset, Resource: res})
		}
	}
	b.Run("limiter=budget", func(b *testing.B) {
		budget, err := auditlog.NewBudget(limits)
		if err != nil {
			b.Fatal(err)
		}
		run(b, budget)
	})
	b.Run("limiter=redis", func(b *testing.B) {
		srv := sharedRedis(b)
		// A timeout no busy machine reaches: the figure must be Redis's,
		// not the fallback's.
		l, err := New(srv.Client(b, ""), "bench:"+b.Name(), WithRateLimits(limits), WithTimeout(time.Minute))
		if err != nil {
			b.Fatal(err)
		}
		run(b, l)
		if !l.healthy() {
			b.Fatal("Redis failed during the benchmark: the figure is the fallback's")
		}
	})
	b.Run("baseline=2xPING", func(b *testing.B) {
		rdb := sharedRedis(b).Client(b, "")
		ctx := context.Background()
		for b.Loop() {
			if err := rdb.Ping(ctx).Err(); err != nil {
				b.Fatal(err)
			}
			if err := rdb.Ping(ctx).Err(); err != nil {
				b.Fatal(err)
			}
		}
	})
}
