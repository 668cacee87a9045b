package auditlog

import (
	"flag"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/ghaudit/auditlog/auditlogtest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// soakEvents sizes TestSoakExportExactlyOnce. CI runs the default; the full
// soak is: go test -race -run TestSoakExportExactlyOnce -soak-events=50000 .
var soakEvents = flag.Int("soak-events", 5000, "events exported by TestSoakExportExactlyOnce")

// TestSoakExportExactlyOnce exports the whole log through the fake with
// every fault on (5% 5xx, 2% connection resets, 2% truncated bodies, a
// secondary rate limit every 50th request, latency jitter) and, every few
// pages, "crashes": it abandons the iterator and resumes from the last
// cursor it saved, as an exporter restarting from its checkpoint would.
// Every event must arrive exactly once, in order. Retry-after and backoff
// waits and the latency jitter run on the synctest clock, the fake in memory.
func TestSoakExportExactlyOnce(t *testing.T) {
	t.Parallel()
	onEach(t, genScopes(), testSoakExportExactlyOnce)
}

func testSoakExportExactlyOnce(t *testing.T, sc scopeCase) {
	wall := time.Now()
	n := *soakEvents
	generated := n
	if sc.org != "" {
		generated = 4 * n // about n of them the organization's
	}
	// 200 pages at the CI size, so that every fault kind shows up; full
	// pages of 100 at the full size.
	perPage := min(100, max(10, n/200))
	synctest.Test(t, func(t *testing.T) {
		f := memFake(t,
			auditlogtest.WithGeneratedEvents(generated, 50),
			auditlogtest.WithRateLimit(ResourceAuditLog, 1<<30, time.Hour),
			auditlogtest.WithSeed(50),
			auditlogtest.WithFaults(auditlogtest.Faults{
				ServerError: 0.05, Reset: 0.02, Truncate: 0.02,
				SecondaryEvery: 50, RetryAfter: 2 * time.Second,
				Jitter: 200 * time.Microsecond,
			}))
		sc := sc.on(f)
		want := ids(t, sc.events("all", "asc"))
		if sc.org == "" {
			require.Len(t, want, n)
		} else {
			require.InDelta(t, n, len(want), float64(n)/5)
		}
		c := memClient(t, f, nil, WithMaxAttempts(20))
		q := &Query{Order: OrderAsc, Include: IncludeAll, PerPage: perPage}
		var (
			got      = make([]string, 0, n)
			saved    Cursor // the exporter's checkpoint
			restarts int
			pages    int
		)
		fakeStart := time.Now()
		for done := false; !done; {
			done = true
			for page, err := range c.Pages(t.Context(), sc.scope, q.At(saved)) {
				require.NoError(t, err)
				for _, ev := range page.Events {
					got = append(got, ev.DocumentID)
				}
				pages++
				if page.Next.Done() {
					break
				}
				// Checkpoint through the text form, as a file would hold it.
				text, err := page.Next.MarshalText()
				require.NoError(t, err)
				require.NoError(t, saved.UnmarshalText(text))
				if pages%7 == 0 {
					restarts++
					done = false
					break // crash; resume from the checkpoint
				}
			}
		}
		require.Equal(t, len(want), len(got), "events delivered")
		require.Equal(t, want, got, "every event exactly once, in order")

		reqs := f.Requests()
		faults := map[string]int{}
		secondary := 0
		for _, r := range reqs {
			if r.Fault != "" {
				faults[r.Fault]++
			}
			if strings.Contains(r.Fault, "secondary") {
				secondary++
			}
		}
		t.Logf("soak: %d events, %d pages of %d, %d restarts, %d requests, faults %v, fake time waited %v",
			len(got), pages, perPage, restarts, len(reqs), faults, time.Since(fakeStart).Round(time.Second))
		assert.NotZero(t, faults["server_error"], "5xx injected")
		assert.NotZero(t, faults["reset"], "resets injected")
		assert.NotZero(t, faults["truncate"], "truncations injected")
		assert.NotZero(t, secondary, "secondary limits injected")
		assert.NotZero(t, restarts)
	})
	t.Logf("soak: wall time %v (with generating the dataset)", time.Since(wall).Round(time.Millisecond))
}
