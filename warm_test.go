package auditlog

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/ghaudit/auditlog/auditlogtest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var rateLimitPath = auditlogtest.Match{Method: "GET", Path: auditlogtest.PathRateLimit}

// spend uses up the audit_log window of srv's token with plain requests, as
// another process on the same token would have, and returns when the window
// resets.
func spend(t *testing.T, srv *auditlogtest.Server) time.Time {
	t.Helper()
	hc := srv.Client()
	for {
		req, err := http.NewRequest(http.MethodGet, srv.URL()+"/enterprises/"+srv.Enterprise()+"/audit-log", nil)
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer "+srv.Token())
		resp, err := hc.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			break
		}
	}
	_, remaining, _, reset := srv.Budget(srv.Token(), ResourceAuditLog)
	require.Zero(t, remaining)
	srv.ResetRequests()
	return reset
}

// refusals are the requests in srv's log that a rate limit refused.
func refusals(srv *auditlogtest.Server) []auditlogtest.Request {
	var out []auditlogtest.Request
	for _, r := range srv.Requests() {
		if r.Status == http.StatusForbidden || r.Status == http.StatusTooManyRequests {
			out = append(out, r)
		}
	}
	return out
}

// TestWarmStartWaitsForTheReset (issue 19): a fresh Client against a token
// whose window is already spent sends no request that gets refused: it
// learns the budget from GET /rate_limit and waits for the reset; a call
// that may not wait that long is refused without sending, with the reset
// as its RetryAt.
func TestWarmStartWaitsForTheReset(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		srv := memFake(t, auditlogtest.WithGeneratedEvents(50, 1),
			auditlogtest.WithRateLimit(ResourceAuditLog, 5, time.Hour))
		reset := spend(t, srv)
		time.Sleep(10 * time.Minute) // the process restarts ten minutes into the spent window

		hasty := memClient(t, srv, nil) // MaxWait 15 minutes: less than the 50 left
		_, err := hasty.AuditLog(t.Context(), Enterprise(srv.Enterprise()), nil)
		recordErr(err)
		var rl *RateLimitError
		require.ErrorAs(t, err, &rl)
		assert.Zero(t, rl.StatusCode, "sent into the spent window")
		assert.True(t, rl.RetryAt().Equal(reset), "RetryAt %v, reset %v", rl.RetryAt(), reset)
		assert.Equal(t, 1, srv.Count(rateLimitPath))
		assert.Zero(t, auditLogRequests(srv))

		patient := memClient(t, srv, nil, WithMaxWait(time.Hour))
		start := time.Now()
		_, err = patient.AuditLog(t.Context(), Enterprise(srv.Enterprise()), nil)
		require.NoError(t, err)
		assert.Empty(t, refusals(srv), "requests refused")
		reqs := srv.Requests()
		require.Len(t, reqs, 3)
		assert.Equal(t, "/rate_limit", reqs[1].Path)
		assert.Equal(t, start, reqs[1].Time, "the warm start comes first")
		assert.False(t, reqs[2].Time.Before(reset), "sent %v before the reset", reset.Sub(reqs[2].Time))
		assert.Less(t, reqs[2].Time.Sub(reset), 2*time.Second, "sent long after the reset")
	})
}

// TestWarmStartOnceForConcurrentCallers: the first callers of a Client, and
// of Clients sharing a Budget, share one GET /rate_limit; later calls send
// none.
func TestWarmStartOnceForConcurrentCallers(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		srv := memFake(t, auditlogtest.WithGeneratedEvents(50, 1),
			auditlogtest.WithFaults(auditlogtest.Faults{Latency: 100 * time.Millisecond}))
		b, err := NewBudget(nil)
		require.NoError(t, err)
		clients := []*Client{memClient(t, srv, nil, WithLimiter(b)), memClient(t, srv, nil, WithLimiter(b))}
		var wg sync.WaitGroup
		for i := range 8 {
			wg.Go(func() {
				_, err := clients[i%2].AuditLog(t.Context(), Enterprise(srv.Enterprise()), nil)
				assert.NoError(t, err)
			})
		}
		wg.Wait()
		assert.Equal(t, 1, srv.Count(rateLimitPath))
		reqs := srv.Requests()
		assert.Equal(t, "/rate_limit", reqs[0].Path, "a first call was sent before the warm start ended")
		for _, c := range clients {
			_, err := c.AuditLog(t.Context(), Enterprise(srv.Enterprise()), nil)
			require.NoError(t, err)
		}
		assert.Equal(t, 1, srv.Count(rateLimitPath))
		assert.Equal(t, 10, auditLogRequests(srv))
		// The streams resource is learned on its own, once.
		_, err = clients[0].ListStreams(t.Context(), Enterprise(srv.Enterprise()))
		require.NoError(t, err)
		assert.Equal(t, 2, srv.Count(rateLimitPath))
	})
}

// TestWarmStartSeedsTheBudget: what GET /rate_limit says is what the Limiter
// knows (Client.Rate, OnRate), Reset converted through the Date header,
// whichever API version is asked for.
func TestWarmStartSeedsTheBudget(t *testing.T) {
	t.Parallel()
	for _, version := range supportedAPIVersions {
		t.Run(version, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				skewed := func() time.Time { return time.Now().Add(30 * time.Second) } // GitHub's clock is ahead
				srv := memFake(t, auditlogtest.WithGeneratedEvents(50, 1),
					auditlogtest.WithClock(skewed), auditlogtest.WithRateLimit(ResourceAuditLog, 100, time.Hour))
				for range 3 {
					_, err := memClient(t, srv, nil, WithoutWarmStart()).AuditLog(t.Context(), Enterprise(srv.Enterprise()), nil)
					require.NoError(t, err)
				}
				opened := time.Now() // on our clock
				time.Sleep(time.Minute)
				var rates []Rate
				c := memClient(t, srv, nil, WithAPIVersion(version), WithHooks(Hooks{OnRate: func(res string, r Rate) {
					assert.Equal(t, BudgetKey(Enterprise(srv.Enterprise())), res)
					rates = append(rates, r)
				}}))
				_, err := c.AuditLog(t.Context(), Enterprise(srv.Enterprise()), nil)
				require.NoError(t, err)
				require.Len(t, rates, 2, "OnRate: the seed, then the response")
				seed := rates[0]
				assert.Equal(t, []int{100, 97, 3}, []int{seed.Limit, seed.Remaining, seed.Used})
				assert.WithinDuration(t, opened.Add(time.Hour), seed.Reset, time.Second, "reset on our clock")
				assert.Equal(t, 96, rates[1].Remaining)
				r, ok := c.Rate(BudgetKey(Enterprise(srv.Enterprise())))
				require.True(t, ok)
				assert.Equal(t, 96, r.Remaining)
				assert.Equal(t, 1, srv.Count(rateLimitPath))
			})
		})
	}
}

// TestWarmStartSeedsEachScope: GET /rate_limit has one audit_log entry,
// not one per path; each scope's budget is seeded from it when the Client
// first reads that scope's log (the fake reports the window with least
// left, so the seed never promises more than the scope has), and the
// scope's own first answer, in a window ending later than the one the seed
// described, then says what it has. (Had both windows the same reset, the
// Budget would keep the seed's lower count for that window: conservative.)
func TestWarmStartSeedsEachScope(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		srv := memFake(t, auditlogtest.WithGeneratedEvents(200, 1), auditlogtest.WithRateLimit(ResourceAuditLog, 100, time.Hour))
		ent, org := Enterprise(srv.Enterprise()), Organization(genOrg)
		for range 3 {
			_, err := memClient(t, srv, nil, WithoutWarmStart()).AuditLog(t.Context(), ent, nil)
			require.NoError(t, err)
		}
		time.Sleep(time.Minute) // the organization's window opens later, and ends later
		rates := map[string][]int{}
		c := memClient(t, srv, nil, WithHooks(Hooks{OnRate: func(key string, r Rate) {
			rates[key] = append(rates[key], r.Remaining)
		}}))
		_, err := c.AuditLog(t.Context(), org, nil)
		require.NoError(t, err)
		_, err = c.AuditLog(t.Context(), ent, nil)
		require.NoError(t, err)
		assert.Equal(t, map[string][]int{
			BudgetKey(org): {97, 99}, // seeded from the enterprise's window, then its own
			BudgetKey(ent): {97, 96},
		}, rates)
		assert.Equal(t, 2, srv.Count(rateLimitPath), "one seed per scope")
		r, ok := c.Rate(BudgetKey(org))
		require.True(t, ok)
		assert.Equal(t, 99, r.Remaining)
	})
}

// TestWarmStartGoesOnCold: when GET /rate_limit fails, is absent or lacks
// the resource, the call goes on as without a warm start, and the reason is
// logged at debug level, quoting nothing the server sent.
func TestWarmStartGoesOnCold(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		opts  []auditlogtest.Option
		fault *auditlogtest.Fault // aimed at GET /rate_limit
		why   string
		wait  time.Duration // before the call's request
	}{
		{name: "GHES, rate limiting off: 404", opts: []auditlogtest.Option{auditlogtest.WithEnterpriseServer()}, why: "answered 404"},
		{name: "server error", fault: &auditlogtest.Fault{Kind: auditlogtest.FaultServerError, Status: 502}, why: "answered 502"},
		{name: "connection reset", fault: &auditlogtest.Fault{Kind: auditlogtest.FaultReset}, why: "network error"},
		{name: "not JSON", fault: &auditlogtest.Fault{Kind: auditlogtest.FaultResponse, Status: 200, Body: "<html>SECRET-warm</html>"},
			why: "the answer is not GitHub's JSON"},
		{name: "no such resource", fault: &auditlogtest.Fault{Kind: auditlogtest.FaultResponse, Status: 200,
			Body: `{"resources":{"core":{"limit":5000,"used":0,"remaining":5000,"reset":1}}}`}, why: "the resource is not in the answer"},
		{name: "negative counts", fault: &auditlogtest.Fault{Kind: auditlogtest.FaultResponse, Status: 200,
			Body: `{"resources":{"audit_log":{"limit":-1,"used":0,"remaining":-5,"reset":1}}}`}, why: "the answer is not GitHub's JSON"},
		{name: "secondary limit: the resource is held", fault: &auditlogtest.Fault{Kind: auditlogtest.FaultSecondary403, RetryAfter: time.Minute},
			why: "refused (403)", wait: time.Minute},
		{name: "no answer in time", fault: &auditlogtest.Fault{Kind: auditlogtest.FaultLatency, Latency: time.Hour},
			why: "out of time", wait: maxWarmStart},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				srv := memFake(t, append([]auditlogtest.Option{auditlogtest.WithGeneratedEvents(50, 1)}, tc.opts...)...)
				if tc.fault != nil {
					require.NoError(t, srv.Inject(auditlogtest.Rule{Match: rateLimitPath, Fault: *tc.fault}))
				}
				registerSecret("SECRET-warm")
				logs := newCapture()
				c := memClient(t, srv, logs)
				start := time.Now()
				_, err := c.AuditLog(t.Context(), Enterprise(srv.Enterprise()), nil)
				require.NoError(t, err)
				suiteCapture.record(logs.text())
				assert.Equal(t, tc.wait, time.Since(start))
				assert.Equal(t, 1, srv.Count(rateLimitPath))
				assert.Equal(t, 1, auditLogRequests(srv))
				assert.Contains(t, logs.text(), "DEBUG auditlog: warm start: GitHub did not say; starting cold resource="+BudgetKey(Enterprise(srv.Enterprise()))+" why="+tc.why)
				assert.NotContains(t, logs.text(), "SECRET")

				// Once per Client, even when it failed.
				_, err = c.AuditLog(t.Context(), Enterprise(srv.Enterprise()), nil)
				require.NoError(t, err)
				assert.Equal(t, 1, srv.Count(rateLimitPath))
			})
		})
	}
}

// TestWarmStartOff: WithoutWarmStart, or a Limiter that is not a Seeder,
// sends no GET /rate_limit.
func TestWarmStartOff(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		srv := memFake(t, auditlogtest.WithGeneratedEvents(50, 1))
		b, err := NewBudget(nil)
		require.NoError(t, err)
		for _, c := range []*Client{
			memClient(t, srv, nil, WithoutWarmStart()),
			memClient(t, srv, nil, WithLimiter(struct{ Limiter }{b})), // hides Seed
		} {
			_, err := c.AuditLog(t.Context(), Enterprise(srv.Enterprise()), nil)
			require.NoError(t, err)
		}
		assert.Zero(t, srv.Count(rateLimitPath))
		assert.Equal(t, 2, auditLogRequests(srv))
	})
}

// TestWarmStartHeldByARefusal: a refusal of GET /rate_limit holds the
// resource for every Client sharing the Budget, and none of them asks
// GET /rate_limit again while it holds.
func TestWarmStartHeldByARefusal(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		srv := memFake(t, auditlogtest.WithGeneratedEvents(50, 1))
		require.NoError(t, srv.Inject(auditlogtest.Rule{Match: rateLimitPath,
			Fault: auditlogtest.Fault{Kind: auditlogtest.FaultSecondary429, RetryAfter: 2 * time.Minute}}))
		b, err := NewBudget(nil)
		require.NoError(t, err)
		first := memClient(t, srv, nil, WithLimiter(b), WithMaxWait(0))
		_, err = first.AuditLog(t.Context(), Enterprise(srv.Enterprise()), nil)
		recordErr(err)
		var rl *RateLimitError
		require.ErrorAs(t, err, &rl)
		assert.Zero(t, rl.StatusCode, "the call was sent into the secondary limit")
		time.Sleep(time.Minute)
		second := memClient(t, srv, nil, WithLimiter(b))
		start := time.Now()
		_, err = second.AuditLog(t.Context(), Enterprise(srv.Enterprise()), nil)
		require.NoError(t, err)
		assert.Equal(t, time.Minute, time.Since(start), "waited for the rest of the hold")
		assert.Equal(t, 1, srv.Count(rateLimitPath), "asked again while held")
		assert.Len(t, refusals(srv), 1)
	})
}

// TestWarmStartCallerGivesUp: a first caller whose context ends stops
// waiting for the warm start; it goes on for the others.
func TestWarmStartCallerGivesUp(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		srv := memFake(t, auditlogtest.WithGeneratedEvents(50, 1))
		require.NoError(t, srv.Inject(auditlogtest.Rule{Match: rateLimitPath,
			Fault: auditlogtest.Fault{Kind: auditlogtest.FaultLatency, Latency: 5 * time.Second}}))
		c := memClient(t, srv, nil)
		ctx, cancel := context.WithTimeout(t.Context(), time.Second)
		defer cancel()
		var done atomic.Bool
		go func() {
			_, err := c.AuditLog(t.Context(), Enterprise(srv.Enterprise()), nil)
			assert.NoError(t, err)
			done.Store(true)
		}()
		_, err := c.AuditLog(ctx, Enterprise(srv.Enterprise()), nil)
		assert.ErrorIs(t, err, context.DeadlineExceeded)
		synctest.Wait()
		assert.False(t, done.Load(), "the other caller did not wait for the warm start")
		time.Sleep(5 * time.Second)
		synctest.Wait()
		assert.True(t, done.Load())
		assert.Equal(t, 1, srv.Count(rateLimitPath))
		assert.Equal(t, 1, auditLogRequests(srv))
		r, ok := c.Rate(BudgetKey(Enterprise(srv.Enterprise())))
		require.True(t, ok)
		assert.Equal(t, 1749, r.Remaining)
	})
}

// TestBudgetSeed: a Budget learns from a seed only what it does not know,
// settles no reservation with it, and paces on it as on a response.
func TestBudgetSeed(t *testing.T) {
	t.Parallel()
	now := time.Now() // Seed reads the clock: is the resource held now?
	reset := now.Add(40 * time.Minute)
	fetched := 0
	fetch := func(r Rate, err error) func(context.Context) (Rate, time.Time, error) {
		return func(context.Context) (Rate, time.Time, error) { fetched++; return r, now, err }
	}
	spent := Rate{Limit: 1750, Remaining: 0, Used: 1750, Reset: reset, Resource: ResourceAuditLog}
	ctx := context.Background()

	b, err := NewBudget(nil)
	require.NoError(t, err)
	b.Seed(ctx, ResourceAuditLog, fetch(unknownRate, errors.New("404")))
	_, ok := b.State(ResourceAuditLog, now)
	assert.False(t, ok, "a failed fetch taught something")

	b.Seed(ctx, ResourceAuditLog, fetch(spent, nil))
	r, ok := b.State(ResourceAuditLog, now)
	require.True(t, ok)
	assert.Equal(t, spent, r)
	k, wait, err := b.Reserve(ResourceAuditLog, now, time.Hour)
	require.NoError(t, err)
	assert.Equal(t, 40*time.Minute, wait, "waits for the reset of a spent window")
	_, _, err = b.Reserve(ResourceAuditLog, now, 10*time.Minute)
	assert.ErrorIs(t, err, ErrRateLimited)

	b.Seed(ctx, ResourceAuditLog, fetch(Rate{Limit: 1750, Remaining: 1000, Reset: reset}, nil))
	assert.Equal(t, 2, fetched, "fetched though the budget was known")

	// The seed settled nothing: one reservation is in flight, and its
	// response is counted against the window.
	b.Observe(ResourceAuditLog, k, reset.Add(time.Second), Rate{Limit: 1750, Remaining: 1749, Reset: reset.Add(time.Hour)})
	b.mu.Lock()
	assert.Empty(t, b.res[ResourceAuditLog].pending)
	b.mu.Unlock()

	// Held by a refusal: no fetch until the hold ends.
	b.Pause(ResourceAuditLogStreaming, now.Add(time.Minute))
	b.Seed(ctx, ResourceAuditLogStreaming, fetch(Rate{Limit: 15, Remaining: 15, Reset: reset}, nil))
	assert.Equal(t, 2, fetched, "fetched while held")
}

// TestBudgetSeedShared: Clients that seed one Budget at once share a fetch.
func TestBudgetSeedShared(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		b, err := NewBudget(nil)
		require.NoError(t, err)
		var fetches atomic.Int32
		release := make(chan struct{})
		var wg sync.WaitGroup
		for range 4 {
			wg.Go(func() {
				b.Seed(t.Context(), ResourceAuditLog, func(context.Context) (Rate, time.Time, error) {
					fetches.Add(1)
					<-release
					return Rate{Limit: 10, Remaining: 3, Used: 7, Reset: time.Now().Add(time.Hour)}, time.Now(), nil
				})
			})
		}
		synctest.Wait() // one fetches, the others have joined its flight
		assert.Equal(t, int32(1), fetches.Load())
		close(release)
		wg.Wait()
		assert.Equal(t, int32(1), fetches.Load())
		r, ok := b.State(ResourceAuditLog, time.Now())
		require.True(t, ok)
		assert.Equal(t, 3, r.Remaining)
	})
}

// TestParseRateLimit: GET /rate_limit's body, GitHub's shape or a broken
// one.
func TestParseRateLimit(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, body string
		want       Rate
		err        error
	}{
		{"GitHub's shape", `{"resources":{"core":{"limit":5000,"used":1,"remaining":4999,"reset":1700000000,"resource":"core"},` +
			`"audit_log":{"limit":1750,"used":10,"remaining":1740,"reset":1700000100,"resource":"audit_log"}},` +
			`"rate":{"limit":5000,"used":1,"remaining":4999,"reset":1700000000,"resource":"core"}}`,
			Rate{Limit: 1750, Remaining: 1740, Used: 10, Reset: time.Unix(1700000100, 0), Resource: ResourceAuditLog}, nil},
		{"no used, no reset", `{"resources":{"audit_log":{"limit":1750,"remaining":1740}}}`,
			Rate{Limit: 1750, Remaining: 1740, Used: -1, Resource: ResourceAuditLog}, nil},
		{"absurd reset", `{"resources":{"audit_log":{"limit":1,"remaining":1,"reset":99999999999999}}}`,
			Rate{Limit: 1, Remaining: 1, Used: -1, Resource: ResourceAuditLog}, nil},
		{"resource missing", `{"resources":{"core":{"limit":1,"remaining":1}}}`, unknownRate, errNotReported},
		{"no resources", `{"rate":{"limit":1,"remaining":1}}`, unknownRate, errNotReported},
		{"array", `[]`, unknownRate, errBadRateLimit},
		{"not JSON", `<html>`, unknownRate, errBadRateLimit},
		{"strings", `{"resources":{"audit_log":{"limit":"1750","remaining":"3"}}}`, unknownRate, errBadRateLimit},
		{"no remaining", `{"resources":{"audit_log":{"limit":1750}}}`, unknownRate, errBadRateLimit},
		{"negative", `{"resources":{"audit_log":{"limit":1750,"remaining":-1}}}`, unknownRate, errBadRateLimit},
		{"overflow", `{"resources":{"audit_log":{"limit":1e30,"remaining":1}}}`, unknownRate, errBadRateLimit},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseRateLimit(tc.body, ResourceAuditLog)
			if tc.err != nil {
				assert.ErrorIs(t, err, tc.err)
				if quoted := strings.Trim(tc.body, "{}[]"); quoted != "" {
					assert.NotContains(t, fmt.Sprint(err), quoted, "quotes the body")
				}
			} else {
				require.NoError(t, err)
			}
			assert.Equal(t, tc.want, got)
		})
	}
}
