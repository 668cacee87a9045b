package redisbudget

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ghaudit/auditlog"
	"github.com/ghaudit/auditlog/auditlogtest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fetchCounter is a GET /rate_limit that answers r after a delay, counting
// its calls.
type fetchCounter struct {
	calls atomic.Int32
	delay time.Duration
	r     auditlog.Rate
	err   error
}

func (f *fetchCounter) fetch(ctx context.Context) (auditlog.Rate, time.Time, error) {
	f.calls.Add(1)
	select {
	case <-time.After(f.delay):
	case <-ctx.Done():
		return auditlog.Rate{}, time.Time{}, ctx.Err()
	}
	return f.r, time.Now(), f.err
}

// seedAll runs Seed on every limiter at once.
func seedAll(ls []*Limiter, f *fetchCounter) {
	var wg sync.WaitGroup
	start := make(chan struct{})
	for _, l := range ls {
		wg.Go(func() {
			<-start
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			l.Seed(ctx, res, f.fetch)
		})
	}
	close(start)
	wg.Wait()
}

// Eight processes starting at once ask GitHub once: the first takes the
// lease, the others wait for its answer, which every one of them then
// knows; none asks again while the window runs.
func TestWarmStartOnceForTheFleet(t *testing.T) {
	ls := fleetOf(t, 8)
	f := &fetchCounter{delay: 100 * time.Millisecond, r: report(1750, 40, time.Now().Add(time.Hour))}
	seedAll(ls, f)
	assert.Equal(t, int32(1), f.calls.Load())
	for i, l := range ls {
		r, ok := l.State(res, time.Now())
		require.True(t, ok, "process %d does not know the budget", i)
		assert.Equal(t, 1750, r.Limit)
		assert.Equal(t, 40, r.Remaining, "process %d", i)
		assert.WithinDuration(t, f.r.Reset, r.Reset, 10*time.Millisecond)
	}
	seedAll(fleetOf(t, 4), f)
	assert.Equal(t, int32(1), f.calls.Load(), "asked again while the window runs")

	// What was seeded paces: 40 left, so the 41st claim waits for the reset.
	reserveOK(t, ls[0], time.Now(), 40)
	rl := refused(t, ls[1], time.Now())
	near(t, time.Hour, rl.RetryAfter, time.Second, "wait for the reset")
}

// Each window that the fleet enters knowing nothing is seeded once more.
func TestWarmStartOncePerWindow(t *testing.T) {
	ls := fleetOf(t, 4, WithRateLimits(map[string]auditlog.RateLimit{res: {Requests: 10, Per: 500 * time.Millisecond}}))
	f := &fetchCounter{delay: 20 * time.Millisecond, r: report(10, 10, time.Now().Add(300*time.Millisecond))}
	seedAll(ls, f)
	require.Equal(t, int32(1), f.calls.Load())
	time.Sleep(400 * time.Millisecond) // the window ends; nothing has been sent in it
	for _, l := range ls {
		_, ok := l.State(res, time.Now())
		assert.False(t, ok, "a window that ended is still known")
	}
	f.r = report(10, 10, time.Now().Add(300*time.Millisecond))
	seedAll(ls, f)
	assert.Equal(t, int32(2), f.calls.Load())
}

// A warm start that taught nothing (GitHub Enterprise Server with rate
// limiting off answers 404) is not tried again by any process for a window;
// nor is one tried while a Pause holds the resource.
func TestWarmStartThatFailedIsNotRepeated(t *testing.T) {
	ls := fleetOf(t, 4)
	f := &fetchCounter{err: errors.New("404 Not Found")}
	seedAll(ls, f)
	seedAll(ls, f)
	assert.Equal(t, int32(1), f.calls.Load())
	for _, l := range ls {
		_, ok := l.State(res, time.Now())
		assert.False(t, ok)
	}

	held := fleetOf(t, 2)
	held[0].Pause(auditlog.ResourceAuditLogStreaming, time.Now().Add(time.Minute))
	g := &fetchCounter{r: report(15, 15, time.Now().Add(time.Hour))}
	held[1].Seed(context.Background(), auditlog.ResourceAuditLogStreaming, g.fetch)
	assert.Zero(t, g.calls.Load(), "asked GitHub while the fleet is held")
}

// Redis unavailable: the process seeds its fallback with its share of what
// GitHub said.
func TestWarmStartWhileRedisIsDown(t *testing.T) {
	srv := startRedis(t)
	l := newLimiter(t, srv, "test:"+t.Name(), WithTimeout(200*time.Millisecond), WithFallbackShare(0.5))
	srv.Stop()
	f := &fetchCounter{r: report(1750, 10, time.Now().Add(time.Hour))}
	l.Seed(context.Background(), res, f.fetch)
	assert.Equal(t, int32(1), f.calls.Load())
	r, ok := l.State(res, time.Now())
	require.True(t, ok)
	assert.Equal(t, 10, r.Remaining)
	reserveOK(t, l, time.Now(), 5) // half of the 10 left
	refused(t, l, time.Now())
}

// Through Clients, against a fake GitHub whose window the token has already
// spent: eight processes starting at once send one GET /rate_limit, and no
// request of theirs is refused; processes that start in a later window,
// when the fleet has forgotten the last one, send one more.
func TestFleetStartsWarm(t *testing.T) {
	const limit, window = 20, 2 * time.Second
	fake := auditlogtest.NewServer(auditlogtest.WithGeneratedEvents(10, 1),
		auditlogtest.WithRateLimit(auditlogtest.ResourceAuditLog, limit, window))
	t.Cleanup(fake.Close)
	fake.ResetRequests() // orders the listener's start before the handlers, for the race detector
	require.NoError(t, fake.Inject(auditlogtest.Rule{Match: auditlogtest.Match{Path: auditlogtest.PathRateLimit}, Times: -1,
		Fault: auditlogtest.Fault{Kind: auditlogtest.FaultLatency, Latency: 100 * time.Millisecond}}))
	hc := fake.Client()
	for range limit { // another process spent the window
		req, err := http.NewRequest(http.MethodGet, fake.URL()+"/enterprises/"+fake.Enterprise()+"/audit-log", nil)
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer "+fake.Token())
		resp, err := hc.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode)
	}
	limits := WithRateLimits(map[string]auditlog.RateLimit{res: {Requests: limit, Per: window}})
	start := func(n int) {
		var wg sync.WaitGroup
		go1 := make(chan struct{})
		for _, l := range fleetOf(t, n, limits) {
			c, err := auditlog.NewClient(auditlog.WithToken(fake.Token()), auditlog.WithBaseURL(fake.URL()),
				auditlog.WithLimiter(l), auditlog.WithMaxWait(time.Minute))
			require.NoError(t, err)
			wg.Go(func() {
				<-go1
				_, err := c.AuditLog(context.Background(), auditlog.Enterprise(fake.Enterprise()), nil)
				assert.NoError(t, err)
			})
		}
		close(go1)
		wg.Wait()
	}
	warmStarts := func() int { return fake.Count(auditlogtest.Match{Path: auditlogtest.PathRateLimit}) }

	start(8)
	assert.Equal(t, 1, warmStarts(), "GET /rate_limit by eight processes starting at once")
	// The fleet forgets a window when it ends: wait for the end of the one
	// the eight opened (x-ratelimit-reset is in whole seconds, rounded up).
	_, _, _, reset := fake.Budget(fake.Token(), res)
	time.Sleep(time.Until(reset) + 1100*time.Millisecond)
	start(8)
	assert.Equal(t, 2, warmStarts(), "GET /rate_limit in the next window")
	for _, r := range fake.Requests() {
		assert.NotContains(t, []int{http.StatusForbidden, http.StatusTooManyRequests}, r.Status, "refused: %s %s at %s", r.Method, r.Path, r.Time)
	}
}
