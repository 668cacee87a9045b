package auditlog

import (
	"context"
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

// walk reads the whole audit log page by page, following Next, and returns
// the document IDs seen.
func walk(ctx context.Context, c *Client, enterprise string, perPage int) ([]string, error) {
	var ids []string
	q := &Query{PerPage: perPage, Order: OrderAsc, Include: IncludeAll}
	for {
		page, err := c.AuditLog(ctx, Enterprise(enterprise), q)
		if err != nil {
			return ids, err
		}
		for _, ev := range page.Events {
			ids = append(ids, ev.DocumentID)
		}
		if page.Next.Done() {
			return ids, nil
		}
		q = q.At(page.Next)
	}
}

// servedWithinBudget asserts that no request was refused and no window
// served more than limit, and returns how many were served in all.
func servedWithinBudget(t *testing.T, reqs []auditlogtest.Request, window time.Duration, limit int) (total, refused int) {
	t.Helper()
	served, refused := windowCounts(reqs, window)
	assert.Zero(t, refused, "requests refused")
	for w, n := range served {
		assert.LessOrEqual(t, n, limit, "window %d over budget", w)
		total += n
	}
	return total, refused
}

// windowCounts counts the requests the server let through (2xx) and refused
// with 403/429 in each window of length w since synctestEpoch, among those
// counted against a budget (not GET /rate_limit).
func windowCounts(reqs []auditlogtest.Request, w time.Duration) (served map[int]int, refused int) {
	served = map[int]int{}
	for _, r := range budgeted(reqs) {
		switch {
		case r.Status >= 200 && r.Status < 300:
			served[int(r.Time.Sub(synctestEpoch)/w)]++
		case r.Status == http.StatusForbidden || r.Status == http.StatusTooManyRequests:
			refused++
		}
	}
	return served, refused
}

// TestWalkUsesTheWholeBudget walks the log continuously for five windows of
// 60 requests per 6 s and checks that the budget is used (>= 99%) without a
// single refusal, both with the default burst (a window's budget at once)
// and with requests spread evenly over the window.
func TestWalkUsesTheWholeBudget(t *testing.T) {
	t.Parallel()
	const (
		limit   = 60
		window  = 6 * time.Second
		windows = 5
		perPage = 10
	)
	for _, tc := range []struct {
		name     string
		burst    int
		defaults bool // no WithRateLimits: the client learns the window from the headers
	}{
		{"burst", 0, false},
		{"even", 1, false},
		{"defaults", 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			// Exactly windows*limit pages: the walk needs the whole budget of 5 windows.
			synctest.Test(t, func(t *testing.T) {
				f := memFake(t, auditlogtest.WithRateLimit(ResourceAuditLog, limit, window),
					auditlogtest.WithGeneratedEvents(windows*limit*perPage, 7))
				var opts []Option
				if !tc.defaults {
					opts = append(opts, WithRateLimits(map[string]RateLimit{
						ResourceAuditLog: {Requests: limit, Per: window, Burst: tc.burst}}))
				}
				c := memClient(t, f, nil, opts...)
				start := time.Now()
				ids, err := walk(t.Context(), c, f.Enterprise(), perPage)
				require.NoError(t, err)
				elapsed := time.Since(start)
				assert.Equal(t, windows*limit*perPage, len(ids))

				total, refused := servedWithinBudget(t, f.Requests(), window, limit)
				assert.Equal(t, windows*limit, total)
				// The walk needs 300 requests; at 60 per 6 s the last window
				// opens at 24 s. Utilisation is what was served over what the
				// windows the walk spanned allowed.
				spanned := int(elapsed/window) + 1
				util := float64(total) / float64(spanned*limit)
				t.Logf("served %d in %v over %d windows: utilisation %.1f%%, %d refusals", total, elapsed, spanned, 100*util, refused)
				assert.GreaterOrEqual(t, util, 0.99)
			})
		})
	}
}

// TestWalkThroughRefusals forces each refusal shape in the middle of a walk
// and checks that the walk still returns every event and that the wait after
// the refusal is the one GitHub's documentation asks for, to the nanosecond
// of the fake clock.
func TestWalkThroughRefusals(t *testing.T) {
	t.Parallel()
	const (
		limit  = 1000
		window = time.Hour
		events = 200
	)
	for _, tc := range []struct {
		name  string
		fault auditlogtest.Fault
		n     int
		// want is the wait before each retry, from the refusal's time.
		want func(refusal time.Time, reset time.Time) []time.Duration
	}{
		{"primary 403: remaining 0, wait for reset", auditlogtest.Fault{Kind: auditlogtest.FaultPrimary403}, 1,
			func(at, reset time.Time) []time.Duration { return []time.Duration{reset.Sub(at)} }},
		{"primary 429: remaining 0, wait for reset", auditlogtest.Fault{Kind: auditlogtest.FaultPrimary429}, 1,
			func(at, reset time.Time) []time.Duration { return []time.Duration{reset.Sub(at)} }},
		{"429 with retry-after", auditlogtest.Fault{Kind: auditlogtest.FaultSecondary429, RetryAfter: 7 * time.Second}, 1,
			func(time.Time, time.Time) []time.Duration { return []time.Duration{7 * time.Second} }},
		{"secondary 403 with retry-after", auditlogtest.Fault{Kind: auditlogtest.FaultSecondary403, RetryAfter: 42 * time.Second}, 1,
			func(time.Time, time.Time) []time.Duration { return []time.Duration{42 * time.Second} }},
		{"secondary 403 bare, twice: 1 min then 2 min", auditlogtest.Fault{Kind: auditlogtest.FaultSecondaryBare}, 2,
			func(time.Time, time.Time) []time.Duration { return []time.Duration{time.Minute, 2 * time.Minute} }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				f := memFake(t, auditlogtest.WithRateLimit(ResourceAuditLog, limit, window),
					auditlogtest.WithGeneratedEvents(events, 3))
				c := memClient(t, f, nil, WithMaxWait(time.Hour))
				// A few pages first, then the refusals on the next request.
				first, err := c.AuditLog(t.Context(), Enterprise(f.Enterprise()), &Query{PerPage: 50, Order: OrderAsc, Include: IncludeAll})
				require.NoError(t, err)
				f.Script(tc.fault, tc.n)
				rest, err := walk(t.Context(), c, f.Enterprise(), 50)
				require.NoError(t, err)
				ids := map[string]bool{}
				for _, id := range rest {
					ids[id] = true
				}
				assert.Equal(t, events, len(ids), "every event")
				assert.Equal(t, events, len(rest), "no event twice")
				assert.Len(t, first.Events, 50)

				reqs := f.Requests()
				var refusals []int
				for i, r := range reqs {
					if r.Fault != "" {
						refusals = append(refusals, i)
					}
				}
				require.Len(t, refusals, tc.n)
				// The first window opened with the first request, at the epoch.
				want := tc.want(reqs[refusals[0]].Time, synctestEpoch.Add(window))
				for k, i := range refusals {
					require.Less(t, i+1, len(reqs))
					assert.Equal(t, want[k], reqs[i+1].Time.Sub(reqs[i].Time), "wait after refusal %d", k+1)
				}
				if tc.fault.Kind == auditlogtest.FaultPrimary403 || tc.fault.Kind == auditlogtest.FaultPrimary429 {
					// The wait ended exactly when the window reset, at the
					// end of the hour that began with the first request.
					retried := reqs[refusals[0]+1].Time
					assert.True(t, synctestEpoch.Add(window).Equal(retried), "retried at %v", retried)
				}
			})
		})
	}
}

// TestSharedBudget runs 8 goroutines on one Client, and two Clients on one
// Budget, against a 60 per 6 s limit: between them they never exceed it and
// are never refused.
func TestSharedBudget(t *testing.T) {
	t.Parallel()
	const (
		limit  = 60
		window = 6 * time.Second
	)
	for _, tc := range []struct {
		name    string
		clients int
		workers int // per client
	}{
		{"8 goroutines, 1 client", 1, 8},
		{"2 clients, 4 goroutines each", 2, 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				f := memFake(t, auditlogtest.WithRateLimit(ResourceAuditLog, limit, window),
					auditlogtest.WithGeneratedEvents(30, 5))
				b, err := NewBudget(map[string]RateLimit{ResourceAuditLog: {Requests: limit, Per: window}})
				require.NoError(t, err)
				var wg sync.WaitGroup
				var failures atomic.Int64
				for range tc.clients {
					c := memClient(t, f, nil, WithLimiter(b))
					for range tc.workers {
						wg.Go(func() {
							for range 40 { // 320 requests in all: over 5 windows' worth
								if _, err := c.AuditLog(t.Context(), Enterprise(f.Enterprise()), &Query{PerPage: 5}); err != nil {
									failures.Add(1)
								}
							}
						})
					}
				}
				wg.Wait()
				assert.Zero(t, failures.Load())
				total, _ := servedWithinBudget(t, f.Requests(), window, limit)
				assert.Equal(t, tc.clients*tc.workers*40, total)
			})
		})
	}
}

// TestStreamBudgetIsSeparate spends the whole 15/h stream budget and checks
// that audit-log calls are neither charged nor held back by it, and that the
// 16th stream call would wait for the stream window.
func TestStreamBudgetIsSeparate(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		f := memFake(t, auditlogtest.WithGeneratedEvents(10, 1))
		c := memClient(t, f, nil, WithMaxWait(time.Minute))
		streamCall := func() error {
			_, err := c.do(t.Context(), &call{method: http.MethodGet,
				path: "enterprises/" + f.Enterprise() + "/audit-log/streams", resource: ResourceAuditLogStreaming})
			return err
		}
		for range 15 {
			require.NoError(t, streamCall())
		}
		start := time.Now()
		for range 20 {
			_, err := c.AuditLog(t.Context(), Enterprise(f.Enterprise()), nil)
			require.NoError(t, err)
		}
		assert.Zero(t, time.Since(start), "audit-log calls waited on the stream budget")
		_, remaining, used, _ := f.Budget(f.Token(), ResourceAuditLog)
		assert.Equal(t, 20, used)
		assert.Equal(t, 1730, remaining)

		// The 16th stream call would wait the rest of the hour: past MaxWait,
		// it fails at once without being sent, saying when to come back.
		err := streamCall()
		var rl *RateLimitError
		require.ErrorAs(t, err, &rl)
		assert.ErrorIs(t, err, ErrRateLimited)
		assert.Equal(t, ResourceAuditLogStreaming, rl.Resource)
		assert.Equal(t, 15, rl.Limit)
		assert.Equal(t, 0, rl.Remaining)
		assert.True(t, synctestEpoch.Add(time.Hour).Equal(rl.Reset), "Reset %v", rl.Reset)
		assert.True(t, synctestEpoch.Add(time.Hour).Equal(rl.RetryAt()), "RetryAt %v", rl.RetryAt())
		assert.Zero(t, time.Since(start), "the call slept")
		_, _, used, _ = f.Budget(f.Token(), ResourceAuditLogStreaming)
		assert.Equal(t, 15, used, "the call was sent")
	})
}

// TestRefusalPausesSharedBudget: a refusal holds every Client sharing the
// Budget until the time GitHub gave, whether or not the call that met it
// waits (it may give up: MaxWait, its context's deadline, its last
// attempt), and it is logged.
func TestRefusalPausesSharedBudget(t *testing.T) {
	t.Parallel()
	const retryAfter = 10 * time.Second
	for _, tc := range []struct {
		name     string
		opts     []Option      // of the client that meets the refusal
		deadline time.Duration // of its context, 0 for none
	}{
		{"MaxWait shorter than retry-after", []Option{WithMaxWait(2 * time.Second)}, 0},
		{"context deadline shorter than retry-after", nil, 2 * time.Second},
		{"last attempt", []Option{WithMaxAttempts(1)}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				f := memFake(t, auditlogtest.WithGeneratedEvents(10, 1))
				b, err := NewBudget(nil)
				require.NoError(t, err)
				logs := newCapture()
				first := memClient(t, f, logs, append([]Option{WithLimiter(b)}, tc.opts...)...)
				patient := memClient(t, f, nil, WithLimiter(b))
				hasty := memClient(t, f, nil, WithLimiter(b), WithMaxWait(2*time.Second))

				require.NoError(t, f.Inject(auditlogtest.Rule{Match: auditlogtest.Match{Path: auditlogtest.PathAuditLog},
					Fault: auditlogtest.Fault{Kind: auditlogtest.FaultSecondary403, RetryAfter: retryAfter}}))
				ctx := t.Context()
				if tc.deadline > 0 {
					var cancel context.CancelFunc
					ctx, cancel = context.WithTimeout(ctx, tc.deadline)
					defer cancel()
				}
				refusedAt := time.Now()
				_, err = first.AuditLog(ctx, Enterprise(f.Enterprise()), nil)
				var rl *RateLimitError
				require.ErrorAs(t, err, &rl)
				assert.Equal(t, http.StatusForbidden, rl.StatusCode)
				assert.True(t, refusedAt.Add(retryAfter).Equal(rl.RetryAt()), "RetryAt %v", rl.RetryAt())
				assert.Equal(t, refusedAt, time.Now(), "the first call waited")
				assert.Contains(t, logs.text(), "WARN auditlog: rate limited by GitHub", "the refusal was not logged")

				// Another Client on the same Budget, which may not wait that
				// long, is refused without sending.
				_, err = hasty.AuditLog(t.Context(), Enterprise(f.Enterprise()), nil)
				require.ErrorAs(t, err, &rl)
				assert.Equal(t, 0, rl.StatusCode, "sent into the secondary limit")
				assert.Equal(t, retryAfter, rl.RetryAfter)

				// One that may wait is sent when GitHub said, not before.
				_, err = patient.AuditLog(t.Context(), Enterprise(f.Enterprise()), nil)
				require.NoError(t, err)
				reqs := budgeted(f.Requests())
				require.Len(t, reqs, 2)
				assert.Equal(t, retryAfter, reqs[1].Time.Sub(reqs[0].Time))
			})
		})
	}
}

// TestNoLimitReportedNoPacing: against a server that reports no rate limit
// (GitHub Enterprise Server as shipped: no x-ratelimit-* headers), the
// client does not invent one: 3,000 requests go without a budget wait.
func TestNoLimitReportedNoPacing(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		f := memFake(t, auditlogtest.WithoutRateLimits(), auditlogtest.WithGeneratedEvents(10, 1))
		c := memClient(t, f, nil)
		start := time.Now()
		for i := range 3000 {
			_, err := c.AuditLog(t.Context(), Enterprise(f.Enterprise()), &Query{PerPage: 1})
			require.NoError(t, err, "request %d", i+1)
		}
		assert.Zero(t, time.Since(start), "waited for a budget the server never reported")
	})
}

// TestClockSkew: GitHub's clock 30 s ahead of the client's, and 30 s
// behind. The client converts x-ratelimit-reset to its own clock through
// the Date header, so a walk across several windows is never refused and
// each new window is entered within a second of GitHub's reset; after a
// refusal the retry lands on the reset, once.
func TestClockSkew(t *testing.T) {
	t.Parallel()
	const (
		limit  = 20
		window = time.Minute
	)
	for _, skew := range []time.Duration{30 * time.Second, -30 * time.Second} {
		t.Run(fmt.Sprintf("walk, GitHub %v", skew), func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				f := memFake(t, skewedClock(skew),
					auditlogtest.WithRateLimit(ResourceAuditLog, limit, window),
					auditlogtest.WithGeneratedEvents(700, 2))
				c := memClient(t, f, nil, WithMaxWait(time.Hour))
				ids, err := walk(t.Context(), c, f.Enterprise(), 10)
				require.NoError(t, err)
				assert.Len(t, ids, 700)
				reqs := budgeted(f.Requests())
				_, refused := windowCounts(reqs, window)
				assert.Zero(t, refused, "requests refused")
				// Windows on GitHub's clock: each starts with the first request
				// after the previous one's end.
				start, windows, served := reqs[0].Time, 1, 0
				for _, r := range reqs {
					if end := start.Add(window); !r.Time.Before(end) {
						assert.Less(t, r.Time.Sub(end), time.Second, "window %d entered late", windows+1)
						start, windows, served = r.Time, windows+1, 0
					}
					served++
					assert.LessOrEqual(t, served, limit, "window %d over budget", windows)
				}
				assert.Equal(t, 4, windows)
			})
		})
		t.Run(fmt.Sprintf("refusal, GitHub %v", skew), func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				f := memFake(t, skewedClock(skew),
					auditlogtest.WithRateLimit(ResourceAuditLog, 1000, window),
					auditlogtest.WithGeneratedEvents(100, 2))
				c := memClient(t, f, nil, WithMaxWait(time.Hour))
				_, err := c.AuditLog(t.Context(), Enterprise(f.Enterprise()), nil)
				require.NoError(t, err)
				time.Sleep(10 * time.Second)
				f.Script(auditlogtest.Fault{Kind: auditlogtest.FaultPrimary403}, 1)
				_, err = c.AuditLog(t.Context(), Enterprise(f.Enterprise()), nil)
				require.NoError(t, err)
				reqs := budgeted(f.Requests())
				_, refused := windowCounts(reqs, window)
				assert.Equal(t, 1, refused, "refused again after the first refusal")
				require.Len(t, reqs, 3)
				reset := reqs[0].Time.Add(window) // on GitHub's clock
				late := reqs[2].Time.Sub(reset)
				assert.True(t, late >= 0 && late < time.Second, "retried %v after GitHub's reset", late)
			})
		})
	}
}

// TestClientRate: Client.Rate reports each resource's budget as GitHub
// last reported it, less what was sent since, without a request; nothing
// before the first response; "no limit" against a server without limits.
func TestClientRate(t *testing.T) {
	t.Parallel()
	t.Run("github", func(t *testing.T) {
		t.Parallel()
		synctest.Test(t, func(t *testing.T) {
			f := memFake(t, skewedClock(30*time.Second), auditlogtest.WithGeneratedEvents(10, 1))
			c := memClient(t, f, nil)
			key := BudgetKey(Enterprise(f.Enterprise()))
			for _, res := range []string{key, ResourceAuditLogStreaming} {
				_, ok := c.Rate(res)
				assert.False(t, ok, "%s known before any response", res)
			}
			_, err := c.AuditLog(t.Context(), Enterprise(f.Enterprise()), nil)
			require.NoError(t, err)
			_, err = c.ListStreams(t.Context(), Enterprise(f.Enterprise()))
			require.NoError(t, err)
			// The fake's clock is 30 s ahead: its reset, on ours, is an hour from now.
			reset := time.Now().Add(time.Hour)
			r, ok := c.Rate(key)
			require.True(t, ok)
			assert.Equal(t, Rate{Limit: 1750, Remaining: 1749, Used: 1, Reset: reset, Resource: key}, r)
			_, ok = c.Rate(ResourceAuditLog)
			assert.False(t, ok, "the call was charged to the bare resource, not to its scope's budget")
			r, ok = c.Rate(ResourceAuditLogStreaming)
			require.True(t, ok)
			assert.Equal(t, Rate{Limit: 15, Remaining: 14, Used: 1, Reset: reset, Resource: ResourceAuditLogStreaming}, r)
			reqs := f.Requests()
			assert.Len(t, budgeted(reqs), 2, "Rate sent a request")
			assert.Len(t, reqs, 4, "one GET /rate_limit before the first request on each resource")
		})
	})
	t.Run("no limits", func(t *testing.T) {
		t.Parallel()
		synctest.Test(t, func(t *testing.T) {
			f := memFake(t, auditlogtest.WithoutRateLimits(), auditlogtest.WithGeneratedEvents(10, 1))
			c := memClient(t, f, nil)
			_, err := c.AuditLog(t.Context(), Enterprise(f.Enterprise()), nil)
			require.NoError(t, err)
			r, ok := c.Rate(BudgetKey(Enterprise(f.Enterprise())))
			require.True(t, ok)
			assert.False(t, r.Known(), "no limit: %+v", r)
		})
	})
}
