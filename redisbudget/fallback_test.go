package redisbudget

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ghaudit/auditlog"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// logBuffer collects a Limiter's log records.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func (l *logBuffer) logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(l, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

const (
	msgDown = "Redis unavailable"
	msgBack = "Redis is back"
)

// While Redis is down a process paces on its share of the budget, logs the
// outage once, and goes back to Redis when it returns.
func TestFallbackWhileRedisIsDown(t *testing.T) {
	srv := startRedis(t)
	var logs logBuffer
	l := newLimiter(t, srv, "test:"+t.Name(),
		WithRateLimits(map[string]auditlog.RateLimit{res: {Requests: 40, Per: time.Hour}}),
		WithFallbackShare(0.25), WithRetryInterval(200*time.Millisecond), WithLogger(logs.logger()))
	srv.Stop()

	now := time.Now()
	reserveOK(t, l, now, 10) // a quarter of 40
	refused(t, l, now)
	assert.Equal(t, 1, strings.Count(logs.String(), msgDown), logs.String())
	assert.Contains(t, logs.String(), "level=WARN")
	assert.Zero(t, strings.Count(logs.String(), msgBack))

	require.NoError(t, srv.Restart())
	time.Sleep(250 * time.Millisecond) // the retry interval
	_, w := reserveWait(t, l, auditlog.ResourceAuditLogStreaming, time.Now(), time.Hour)
	assert.Zero(t, w)
	assert.Equal(t, 1, strings.Count(logs.String(), msgBack), logs.String())
	// The claim is in Redis now.
	n, err := srv.Client(t, "").ZCard(context.Background(), bucketKeys("test:"+t.Name(), auditlog.ResourceAuditLogStreaming)[1]).Result()
	require.NoError(t, err)
	assert.Equal(t, int64(1), n)
}

// The local fallback sees every report while Redis is healthy, so when it
// takes over it holds this process's share of what is left of the current
// window.
func TestFallbackTakesOverTheCurrentWindow(t *testing.T) {
	srv := startRedis(t)
	l := newLimiter(t, srv, "test:"+t.Name(), WithFallbackShare(0.25), WithRetryInterval(time.Hour))
	now := time.Now()
	reset := now.Add(20 * time.Second)
	k := reserveOK(t, l, now, 2)
	l.Observe(res, k[0], now, report(60, 30, reset))
	l.Observe(res, k[1], now, report(60, 26, reset)) // the others spent 3
	srv.Stop()

	reserveOK(t, l, now, 6) // a quarter of the 26 left
	rl := refused(t, l, now)
	near(t, 20*time.Second, rl.RetryAfter, 200*time.Millisecond, "until reset")

	st, ok := l.State(res, now)
	require.True(t, ok, "the last report stands in for Redis")
	assert.Equal(t, 26, st.Remaining)
	assert.Equal(t, reset, st.Reset)
}

// stallListener accepts connections and never answers: a Redis that hangs.
type stallListener struct {
	ln       net.Listener
	accepted atomic.Int32
	mu       sync.Mutex
	conns    []net.Conn
}

func newStallListener(t *testing.T) *stallListener {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	s := &stallListener{ln: ln}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.accepted.Add(1)
			s.mu.Lock()
			s.conns = append(s.conns, c)
			s.mu.Unlock()
			go io.Copy(io.Discard, c)
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		s.mu.Lock()
		for _, c := range s.conns {
			c.Close()
		}
		s.mu.Unlock()
	})
	return s
}

// A Redis that hangs costs one call the timeout, whatever the client's own
// timeouts; the calls after it pace locally without waiting on Redis until
// the retry interval has passed.
func TestFallbackWhenRedisHangs(t *testing.T) {
	stall := newStallListener(t)
	rdb := redis.NewClient(&redis.Options{Addr: stall.ln.Addr().String(), ReadTimeout: time.Minute,
		WriteTimeout: time.Minute, MaxRetries: -1})
	t.Cleanup(func() { rdb.Close() })
	var logs logBuffer
	l, err := New(rdb, "test:"+t.Name(), WithTimeout(50*time.Millisecond), WithRetryInterval(time.Hour),
		WithLogger(logs.logger()))
	require.NoError(t, err)

	start := time.Now()
	reserveOK(t, l, start, 1)
	assert.Less(t, time.Since(start), 10*time.Second, "bounded by WithTimeout, not the client's minute")
	assert.Contains(t, logs.String(), "did not answer in time")
	before := stall.accepted.Load()
	reserveOK(t, l, time.Now(), 50)
	l.Observe(res, 0, time.Now(), report(1750, 1700, time.Now().Add(time.Hour)))
	l.Pause(res, time.Now())
	_, _ = l.State(res, time.Now())
	assert.Equal(t, before, stall.accepted.Load(), "no call went to Redis during the retry interval")
}

// Redis restarted without persistence has lost every budget: each process
// seeds it again with the last window and pause it saw, so a process that
// saw nothing does not spend the whole limit on its own.
func TestARedisThatLostItsStateIsSeededAgain(t *testing.T) {
	srv := sharedRedis(t)
	key := "test:" + t.Name()
	a := newLimiter(t, srv, key)
	now := time.Now()
	k := reserveOK(t, a, now, 2)
	a.Observe(res, k[1], now, report(60, 5, now.Add(10*time.Second)))
	a.Observe(res, k[0], now, report(60, 8, now.Add(10*time.Second))) // older, answered late
	a.Pause(res, now.Add(time.Second))
	require.NoError(t, srv.Client(t, "").Del(context.Background(), bucketKeys(key, res)...).Err())

	b := newLimiter(t, srv, key) // a process that has seen nothing yet
	_, w := reserveWait(t, a, res, now, time.Minute)
	near(t, time.Second, w+time.Since(now), 150*time.Millisecond, "a's pause seeded again")
	_, w = reserveWait(t, b, res, time.Now(), time.Minute)
	near(t, time.Second, w+time.Since(now), 150*time.Millisecond, "b held by a's pause")
	st, ok := b.State(res, time.Now())
	require.True(t, ok)
	assert.Equal(t, 60, st.Limit)
	assert.Equal(t, 3, st.Remaining, "a's lowest report, less the two claims in flight")
}

// The log says what happened without the Redis password.
func TestFallbackLogsNoPassword(t *testing.T) {
	srv := startRedis(t, "--requirepass", "the-right-pw-4a1f")
	rdb := srv.Client(t, "wrong-s3cret-pw-9c2e")
	var logs logBuffer
	l, err := New(rdb, "test:"+t.Name(), WithLogger(logs.logger()))
	require.NoError(t, err)
	reserveOK(t, l, time.Now(), 1)
	out := logs.String()
	assert.Contains(t, out, msgDown)
	assert.Contains(t, out, "WRONGPASS")
	assert.NotContains(t, out, "wrong-s3cret-pw-9c2e")
	assert.NotContains(t, out, "the-right-pw-4a1f")
}

// Calls that Redis cannot serve are served locally, each once: a claim made
// on one side is settled on that side.
func TestClaimsSettleWhereTheyWereMade(t *testing.T) {
	srv := startRedis(t)
	key := "test:" + t.Name()
	l := newLimiter(t, srv, key, WithRetryInterval(100*time.Millisecond),
		WithRateLimits(map[string]auditlog.RateLimit{res: {Requests: 8, Per: time.Hour}}), WithFallbackShare(0.5))
	rdb := srv.Client(t, "")
	now := time.Now()
	ks := reserveOK(t, l, now, 2) // in Redis
	srv.Stop()
	ks = append(ks, reserveOK(t, l, now, 4)...) // locally: half of 8
	refused(t, l, now)
	require.NoError(t, srv.Restart())
	time.Sleep(150 * time.Millisecond)
	ks = append(ks, reserveOK(t, l, now, 1)...) // in Redis again (its state was lost with the restart)
	n, err := rdb.ZCard(context.Background(), bucketKeys(key, res)[1]).Result()
	require.NoError(t, err)
	assert.Equal(t, int64(1), n)

	// Settle everything: the two Redis claims were lost with the restart,
	// the four local ones go back to the fallback, the last one leaves
	// Redis.
	for _, k := range ks {
		l.Release(res, k, now)
	}
	n, err = rdb.ZCard(context.Background(), bucketKeys(key, res)[1]).Result()
	require.NoError(t, err)
	assert.Zero(t, n)
	l.mu.Lock()
	assert.Empty(t, l.claims)
	l.mu.Unlock()
}

// A server that reported no limit (GitHub Enterprise Server with rate
// limiting off) gets none from the fallback either, unless one was
// configured.
func TestFallbackInventsNoLimit(t *testing.T) {
	t.Run("defaults", func(t *testing.T) {
		srv := startRedis(t)
		l := newLimiter(t, srv, "test:"+t.Name(), WithRetryInterval(time.Hour))
		now := time.Now()
		k := reserveOK(t, l, now, 1)
		l.Observe(res, k[0], now, unknown)
		srv.Stop()
		reserveOK(t, l, now, 2000) // a quarter of the default 1,750 is 437
		st, ok := l.State(res, now)
		assert.True(t, ok)
		assert.False(t, st.Known())
		l.Pause(res, now.Add(time.Minute)) // a pause still holds
		rl := refused(t, l, now)
		near(t, time.Minute, rl.RetryAfter, time.Second, "the pause")
	})
	t.Run("configured", func(t *testing.T) {
		srv := startRedis(t)
		l := newLimiter(t, srv, "test:"+t.Name(), WithRetryInterval(time.Hour), WithFallbackShare(0.5),
			WithRateLimits(map[string]auditlog.RateLimit{res: {Requests: 8, Per: time.Hour}}))
		now := time.Now()
		k := reserveOK(t, l, now, 1)
		l.Observe(res, k[0], now, unknown)
		srv.Stop()
		reserveOK(t, l, now, 4)
		refused(t, l, now)
	})
}
