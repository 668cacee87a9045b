package auditlogtest_test

import (
	"net/http"
	"testing"
	"testing/synctest"
	"time"

	"github.com/ghaudit/auditlog"
	"github.com/ghaudit/auditlog/auditlogtest"
	"github.com/stretchr/testify/require"
)

// testRetriesInABubble is a test of code that walks the audit log, written
// with the recipe for deterministic tests of retries, budgets and tails:
//
//  1. run the test inside synctest.Test, so every wait of the client
//     (backoff, retry-after, the wait for a rate-limit reset, a tail's
//     poll interval) takes fake time and no real time;
//  2. create the server inside the bubble with WithoutListener, so no
//     socket or goroutine keeps the bubble from going idle; its clock is the
//     bubble's clock;
//  3. send through srv.Client() (or srv.Transport()) and aim faults at the
//     requests that matter.
//
// In this package it runs as TestRetriesInABubble. In a test of your own
// it is the body of func TestXxx(t *testing.T).
func testRetriesInABubble(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := auditlogtest.New(t, auditlogtest.WithoutListener(), auditlogtest.WithGeneratedEvents(450, 3))
		pages := auditlogtest.Match{Method: http.MethodGet, Path: auditlogtest.PathAuditLog}
		require.NoError(t, srv.Inject(
			// The third page answers 502 once...
			auditlogtest.Rule{Match: pages, Nth: 3, Fault: auditlogtest.Fault{Kind: auditlogtest.FaultServerError, Status: http.StatusBadGateway}},
			// ...and the fifth request is refused for a primary rate
			// limit that resets in ten minutes.
			auditlogtest.Rule{Match: pages, Nth: 5, Fault: auditlogtest.Fault{Kind: auditlogtest.FaultPrimary403Once, RetryAfter: 10 * time.Minute}},
		))
		c, err := auditlog.NewClient(auditlog.WithBaseURL(srv.URL()), auditlog.WithToken(srv.Token()),
			auditlog.WithHTTPClient(srv.Client()))
		require.NoError(t, err)

		start := time.Now()
		var got []string
		for ev, err := range c.Events(t.Context(), auditlog.Enterprise(srv.Enterprise()), &auditlog.Query{PerPage: 100, Include: auditlog.IncludeAll}) {
			require.NoError(t, err)
			got = append(got, ev.DocumentID)
		}
		elapsed := time.Since(start) // fake time: the real test takes milliseconds

		var want []string
		for _, raw := range srv.Events(auditlog.IncludeAll, auditlog.OrderDesc) {
			var e auditlog.Event
			require.NoError(t, e.UnmarshalJSON(raw))
			want = append(want, e.DocumentID)
		}
		require.Equal(t, want, got, "every event once, in order")
		require.Empty(t, srv.PendingFaults(), "both faults fired")
		var statuses []int
		for _, r := range srv.Requests() {
			statuses = append(statuses, r.Status)
		}
		// The SDK's warm start (GET /rate_limit) first, then the pages.
		require.Equal(t, []int{200, 200, 200, 502, 200, 403, 200, 200}, statuses)
		require.GreaterOrEqual(t, elapsed, 10*time.Minute, "waited for the announced reset")
		require.Less(t, elapsed, 12*time.Minute)
	})
}

// A deterministic test of retries in a synctest bubble: the whole file is
// the example (testRetriesInABubble is the test).
func Example_retriesInASynctestBubble() {}
