package auditlog

import (
	"fmt"
	"net/http"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/ghaudit/auditlog/auditlogtest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// hookLog records what the hooks were told, each line stamped with the fake
// clock's time since start.
type hookLog struct {
	mu    sync.Mutex
	start time.Time
	lines []string
	rates []Rate
}

func (h *hookLog) hooks() Hooks {
	return Hooks{
		OnWait: func(w WaitInfo) {
			h.add(fmt.Sprintf("wait %s %s %s: %v %v until +%v", w.Resource, w.Method, w.Path, w.Reason, w.Wait, w.Until.Sub(h.start)),
				w.Until.Sub(h.start)-w.Wait)
		},
		OnRetry: func(r RetryInfo) {
			h.add(fmt.Sprintf("retry %s %s %s: attempt %d/%d failed, %v after %v (%v)",
				r.Resource, r.Method, r.Path, r.Attempt, r.MaxAttempts, r.Reason, r.After, r.Err != nil), -1)
		},
		OnRate: func(_ string, r Rate) {
			h.mu.Lock()
			defer h.mu.Unlock()
			h.rates = append(h.rates, r)
		},
	}
}

// add records a line; for a wait, that it starts when the hook is called
// (from, since start) is checked against the fake clock.
func (h *hookLog) add(line string, from time.Duration) {
	h.mu.Lock()
	defer h.mu.Unlock()
	now := time.Since(h.start)
	if from >= 0 && from != now {
		line += fmt.Sprintf(" [reported at +%v, called at +%v]", from, now)
	}
	h.lines = append(h.lines, fmt.Sprintf("+%v %s", now, line))
}

// TestHooksReportEveryWaitAndRetry: each wait and retry the pipeline makes
// calls the hooks once, as it starts, with the reason and the time, on the
// fake clock; a wait or a retry that does not happen calls nothing.
func TestHooksReportEveryWaitAndRetry(t *testing.T) {
	t.Parallel()
	const page = "GET /enterprises/avocado-corp/audit-log"
	pages := auditlogtest.Match{Method: "GET", Path: auditlogtest.PathAuditLog}
	fault := func(nth int, f auditlogtest.Fault) auditlogtest.Rule {
		return auditlogtest.Rule{Match: pages, Nth: nth, Fault: f}
	}
	for _, tc := range []struct {
		name  string
		opts  []auditlogtest.Option
		rules []auditlogtest.Rule
		copts []Option
		calls int
		fails bool
		want  []string
	}{
		{name: "no wait, no retry", calls: 2},
		{
			name: "secondary limit with retry-after", calls: 1,
			rules: []auditlogtest.Rule{fault(1, auditlogtest.Fault{Kind: auditlogtest.FaultSecondary403, RetryAfter: time.Minute})},
			want: []string{
				"+0s retry audit_log:enterprises/avocado-corp " + page + ": attempt 1/5 failed, secondary rate limit after 1m0s (true)",
				"+0s wait audit_log:enterprises/avocado-corp " + page + ": secondary rate limit 1m0s until +1m0s",
			},
		},
		{
			name: "secondary limit without retry-after: a minute, then two", calls: 1,
			rules: []auditlogtest.Rule{{Match: pages, Times: 2, Fault: auditlogtest.Fault{Kind: auditlogtest.FaultSecondaryBare}}},
			want: []string{
				"+0s retry audit_log:enterprises/avocado-corp " + page + ": attempt 1/5 failed, secondary rate limit after 1m0s (true)",
				"+0s wait audit_log:enterprises/avocado-corp " + page + ": secondary rate limit 1m0s until +1m0s",
				"+1m0s retry audit_log:enterprises/avocado-corp " + page + ": attempt 2/5 failed, secondary rate limit after 2m0s (true)",
				"+1m0s wait audit_log:enterprises/avocado-corp " + page + ": secondary rate limit 2m0s until +3m0s",
			},
		},
		{
			name: "primary limit: until the reset", calls: 1,
			rules: []auditlogtest.Rule{fault(1, auditlogtest.Fault{Kind: auditlogtest.FaultPrimary429Once, RetryAfter: 10 * time.Minute})},
			want: []string{
				"+0s retry audit_log:enterprises/avocado-corp " + page + ": attempt 1/5 failed, primary rate limit after 10m0s (true)",
				"+0s wait audit_log:enterprises/avocado-corp " + page + ": primary rate limit 10m0s until +10m0s",
			},
		},
		{
			name: "transient failures: backoff", calls: 1,
			rules: []auditlogtest.Rule{
				fault(1, auditlogtest.Fault{Kind: auditlogtest.FaultServerError, Status: 502}),
				fault(1, auditlogtest.Fault{Kind: auditlogtest.FaultReset}),
			},
			want: []string{
				"+0s retry audit_log:enterprises/avocado-corp " + page + ": attempt 1/5 failed, transient failure after 1s (true)",
				"+0s wait audit_log:enterprises/avocado-corp " + page + ": transient failure 1s until +1s",
				"+1s retry audit_log:enterprises/avocado-corp " + page + ": attempt 2/5 failed, transient failure after 2s (true)",
				"+1s wait audit_log:enterprises/avocado-corp " + page + ": transient failure 2s until +3s",
			},
		},
		{
			name: "the budget: a spent window waits for its reset", calls: 3,
			opts:  []auditlogtest.Option{auditlogtest.WithRateLimit(ResourceAuditLog, 2, time.Hour)},
			copts: []Option{WithMaxWait(2 * time.Hour)},
			want:  []string{"+0s wait audit_log:enterprises/avocado-corp " + page + ": budget 1h0m0s until +1h0m0s"},
		},
		{
			name: "a refusal met by the last attempt: no retry, no wait", calls: 1, fails: true,
			rules: []auditlogtest.Rule{fault(1, auditlogtest.Fault{Kind: auditlogtest.FaultSecondary403, RetryAfter: time.Minute})},
			copts: []Option{WithMaxAttempts(1)},
		},
		{
			name: "a wait past MaxWait is not started", calls: 1, fails: true,
			rules: []auditlogtest.Rule{fault(1, auditlogtest.Fault{Kind: auditlogtest.FaultSecondary403, RetryAfter: time.Hour})},
		},
		{
			name: "not retried: 404", calls: 1, fails: true,
			rules: []auditlogtest.Rule{fault(1, auditlogtest.Fault{Kind: auditlogtest.FaultResponse, Status: 404})},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				srv := memFake(t, append([]auditlogtest.Option{auditlogtest.WithGeneratedEvents(20, 1)}, tc.opts...)...)
				require.NoError(t, srv.Inject(tc.rules...))
				h := &hookLog{start: time.Now()}
				c := memClient(t, srv, nil, append([]Option{WithHooks(h.hooks())}, tc.copts...)...)
				c.backoff.jitter = func(d time.Duration) time.Duration { return d }
				var err error
				for range tc.calls {
					if _, err = c.AuditLog(t.Context(), Enterprise(srv.Enterprise()), nil); err != nil {
						break
					}
				}
				recordErr(err)
				if tc.fails {
					require.Error(t, err)
				} else {
					require.NoError(t, err)
				}
				assert.Equal(t, tc.want, h.lines)
				assert.Empty(t, srv.PendingFaults())

				// OnRate: the warm start, then every response that reported
				// the budget, as GitHub reported it.
				var reported int
				for _, r := range srv.Requests() {
					if r.Resource != "" && r.Status != http.StatusBadGateway && r.Status != 0 && r.Fault != "secondary_bare" &&
						r.Fault != "response" {
						reported++
					}
				}
				require.Len(t, h.rates, reported+1)
				if !tc.fails {
					last := h.rates[len(h.rates)-1]
					_, remaining, _, _ := srv.Budget(srv.Token(), ResourceAuditLog)
					assert.Equal(t, remaining, last.Remaining)
				}
			})
		})
	}
}

// TestHooksSeeAnotherCallsHold: a call held back by another call's refusal
// (the Limiter they share holds the resource) waits for the budget.
func TestHooksSeeAnotherCallsHold(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		srv := memFake(t, auditlogtest.WithGeneratedEvents(20, 1))
		require.NoError(t, srv.Inject(auditlogtest.Rule{Match: auditlogtest.Match{Path: auditlogtest.PathAuditLog},
			Fault: auditlogtest.Fault{Kind: auditlogtest.FaultSecondary403, RetryAfter: 30 * time.Second}}))
		b, err := NewBudget(nil)
		require.NoError(t, err)
		first := memClient(t, srv, nil, WithLimiter(b), WithMaxWait(0))
		_, err = first.AuditLog(t.Context(), Enterprise(srv.Enterprise()), nil)
		recordErr(err)
		require.ErrorIs(t, err, ErrRateLimited)
		time.Sleep(10 * time.Second)
		h := &hookLog{start: time.Now()}
		other := memClient(t, srv, nil, WithLimiter(b), WithHooks(h.hooks()))
		_, err = other.AuditLog(t.Context(), Enterprise(srv.Enterprise()), nil)
		require.NoError(t, err)
		assert.Equal(t, []string{"+0s wait audit_log:enterprises/avocado-corp GET /enterprises/avocado-corp/audit-log: budget 20s until +20s"}, h.lines)
	})
}

// TestHooksWaitOutlastingTheRefusal: a retry whose wait outlasts what its
// refusal asked for (another call's refusal holds the resource longer) is
// reported as a wait for the budget, until the longer hold ends.
func TestHooksWaitOutlastingTheRefusal(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		srv := memFake(t, auditlogtest.WithGeneratedEvents(20, 1))
		require.NoError(t, srv.Inject(auditlogtest.Rule{Match: auditlogtest.Match{Path: auditlogtest.PathAuditLog},
			Fault: auditlogtest.Fault{Kind: auditlogtest.FaultSecondary403, RetryAfter: time.Minute}}))
		b, err := NewBudget(nil)
		require.NoError(t, err)
		h := &hookLog{start: time.Now()}
		hooks := h.hooks()
		onRetry := hooks.OnRetry
		hooks.OnRetry = func(r RetryInfo) {
			onRetry(r)
			b.Pause(BudgetKey(Enterprise(srv.Enterprise())), time.Now().Add(5*time.Minute)) // another call was refused meanwhile
		}
		c := memClient(t, srv, nil, WithLimiter(b), WithHooks(hooks))
		_, err = c.AuditLog(t.Context(), Enterprise(srv.Enterprise()), nil)
		require.NoError(t, err)
		const page = "GET /enterprises/avocado-corp/audit-log"
		assert.Equal(t, []string{
			"+0s retry audit_log:enterprises/avocado-corp " + page + ": attempt 1/5 failed, secondary rate limit after 1m0s (true)",
			"+0s wait audit_log:enterprises/avocado-corp " + page + ": budget 5m0s until +5m0s",
		}, h.lines)
	})
}
