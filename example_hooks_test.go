package auditlog_test

import (
	"context"
	"expvar"
	"fmt"
	"log"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/ghaudit/auditlog"
	"github.com/ghaudit/auditlog/auditlogtest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Metrics of waits, retries and the budget left, with nothing but the
// standard library: expvar values that a server publishes (expvar.Publish)
// at /debug/vars for a scraper. The hooks run in the calling goroutine, so
// each one only updates a counter.
func ExampleWithHooks() {
	var (
		waits     expvar.Map   // waits started, by reason
		waited    expvar.Float // seconds of waiting started
		retries   expvar.Map   // retries, by reason
		remaining expvar.Map   // budget left, by resource
	)
	// In a server: expvar.Publish("auditlog_waits", &waits), and so on.
	hooks := auditlog.Hooks{
		OnWait: func(w auditlog.WaitInfo) {
			waits.Add(string(w.Reason), 1)
			waited.Add(w.Wait.Seconds())
		},
		OnRetry: func(r auditlog.RetryInfo) { retries.Add(string(r.Reason), 1) },
		OnRate: func(resource string, r auditlog.Rate) {
			if r.Known() {
				left := new(expvar.Int)
				left.Set(int64(r.Remaining))
				remaining.Set(resource, left)
			}
		},
	}

	// A fake GitHub whose first page meets a secondary limit (retry after a
	// second), then a 502.
	srv := auditlogtest.NewServer(auditlogtest.WithGeneratedEvents(100, 1))
	defer srv.Close()
	pages := auditlogtest.Match{Path: auditlogtest.PathAuditLog}
	_ = srv.Inject(
		auditlogtest.Rule{Match: pages, Fault: auditlogtest.Fault{Kind: auditlogtest.FaultSecondary403, RetryAfter: time.Second}},
		auditlogtest.Rule{Match: pages, Nth: 2, Fault: auditlogtest.Fault{Kind: auditlogtest.FaultServerError, Status: 502}},
	)
	c, err := auditlog.NewClient(auditlog.WithBaseURL(srv.URL()), auditlog.WithToken(srv.Token()), auditlog.WithHooks(hooks))
	if err != nil {
		log.Fatal(err)
	}
	if _, err := c.AuditLog(context.Background(), auditlog.Enterprise(srv.Enterprise()), nil); err != nil {
		log.Fatal(err)
	}
	fmt.Println("waits:", waits.String())
	fmt.Println("retries:", retries.String())
	fmt.Println("remaining:", remaining.String())
	fmt.Println("waited at least a second:", waited.Value() >= 1)
	// Output:
	// waits: {"secondary rate limit": 1, "transient failure": 1}
	// retries: {"secondary rate limit": 1, "transient failure": 1}
	// remaining: {"audit_log:enterprises/avocado-corp": 1749}
	// waited at least a second: true
}

// TestReadmeHooks runs the README's hooks snippet: what a progress bar
// shows during a wait for the budget and before a retry after a secondary
// limit, and the counters, on a fake whose window runs out.
func TestReadmeHooks(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		var status atomic.Value // what a progress bar shows
		var retries expvar.Map  // retries by reason
		var remaining expvar.Int
		hooks := auditlog.Hooks{
			OnWait: func(w auditlog.WaitInfo) {
				if w.Reason == auditlog.ReasonBudget {
					status.Store(fmt.Sprintf("waiting for the %s budget until %s (%s)", w.Resource, w.Until.Format("15:04"), w.Wait))
				} else {
					status.Store(fmt.Sprintf("retrying after a %s (%s)", w.Reason, w.Wait))
				}
			},
			OnRetry: func(r auditlog.RetryInfo) { retries.Add(string(r.Reason), 1) },
			OnRate:  func(key string, r auditlog.Rate) { remaining.Set(int64(r.Remaining)) },
		}

		srv := auditlogtest.New(t, auditlogtest.WithoutListener(), auditlogtest.WithGeneratedEvents(20, 1),
			auditlogtest.WithRateLimit(auditlog.ResourceAuditLog, 3, time.Hour))
		c, err := auditlog.NewClient(auditlog.WithBaseURL(srv.URL()), auditlog.WithToken(srv.Token()),
			auditlog.WithHTTPClient(srv.Client()), auditlog.WithMaxWait(2*time.Hour), auditlog.WithHooks(hooks))
		require.NoError(t, err)
		start := time.Now()
		for range 3 { // the window's budget
			_, err = c.AuditLog(t.Context(), auditlog.Enterprise(srv.Enterprise()), nil)
			require.NoError(t, err)
		}
		assert.Nil(t, status.Load())
		assert.Equal(t, int64(0), remaining.Value())
		time.Sleep(time.Minute)
		_, err = c.AuditLog(t.Context(), auditlog.Enterprise(srv.Enterprise()), nil) // waits for the next window
		require.NoError(t, err)
		assert.Equal(t, fmt.Sprintf("waiting for the audit_log:enterprises/avocado-corp budget until %s (59m0s)", start.Add(time.Hour).Format("15:04")), status.Load())
		assert.Equal(t, int64(2), remaining.Value())

		require.NoError(t, srv.Inject(auditlogtest.Rule{Match: auditlogtest.Match{Path: auditlogtest.PathAuditLog},
			Fault: auditlogtest.Fault{Kind: auditlogtest.FaultSecondary429, RetryAfter: time.Minute}}))
		_, err = c.AuditLog(t.Context(), auditlog.Enterprise(srv.Enterprise()), nil)
		require.NoError(t, err)
		assert.Equal(t, "retrying after a secondary rate limit (1m0s)", status.Load())
		assert.Equal(t, `{"secondary rate limit": 1}`, retries.String())
		assert.Equal(t, int64(1), remaining.Value())
	})
}
