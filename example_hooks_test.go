package auditlog_test

import (
	"context"
	"expvar"
	"fmt"
	"log"
	"time"

	"github.com/ghaudit/auditlog"
	"github.com/ghaudit/auditlog/auditlogtest"
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
	if _, err := c.AuditLog(context.Background(), srv.Enterprise(), nil); err != nil {
		log.Fatal(err)
	}
	fmt.Println("waits:", waits.String())
	fmt.Println("retries:", retries.String())
	fmt.Println("remaining:", remaining.String())
	fmt.Println("waited at least a second:", waited.Value() >= 1)
	// Output:
	// waits: {"secondary rate limit": 1, "transient failure": 1}
	// retries: {"secondary rate limit": 1, "transient failure": 1}
	// remaining: {"audit_log": 1749}
	// waited at least a second: true
}
