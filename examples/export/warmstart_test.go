package main

import (
	"bytes"
	"math/rand/v2"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/ghaudit/auditlog/auditlogtest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestKilledInASpentWindowResumesWithoutRefusal (issue 19): the export is
// killed with SIGKILL six times, each time just after it spent a window of
// the budget (while it waits for the reset), and resumed at once. Every
// resumed process learns the budget from GET /rate_limit before its first
// request, so the fake's request log shows no refusal at all; the output
// holds every event exactly once. Without the warm start, each resumed
// process sent its first request into the spent window and was refused.
func TestKilledInASpentWindowResumesWithoutRefusal(t *testing.T) {
	const (
		events  = 2400
		perPage = 40 // the job's -per-page
		limit   = 8  // pages per window: 60 pages make 7 full windows and a part
		window  = time.Second
	)
	srv := auditlogtest.NewServer(
		auditlogtest.WithGeneratedEvents(events, 42),
		auditlogtest.WithRateLimit(auditlogtest.ResourceAuditLog, limit, window),
		auditlogtest.WithFaults(auditlogtest.Faults{Latency: 8 * time.Millisecond}),
	)
	t.Cleanup(srv.Close)
	j := newJob(t, srv)
	wantOut := want(srv, "")
	require.Equal(t, events, bytes.Count(wantOut, []byte("\n")))

	// The output's size after each page.
	var pageEnds []int64
	for off, n := 0, 0; off < len(wantOut); n++ {
		off += bytes.IndexByte(wantOut[off:], '\n') + 1
		if (n+1)%perPage == 0 || off == len(wantOut) {
			pageEnds = append(pageEnds, int64(off))
		}
	}
	// Six of the seven windows, drawn from a seed: a kill lands when the
	// window's last page is written, and the export is waiting for its reset.
	rng := rand.New(rand.NewPCG(19, 6))
	windows := rng.Perm(7)[:6]
	slices.Sort(windows)
	for i, w := range windows {
		at := pageEnds[(w+1)*limit-1]
		st := j.killAt(t, i, at)
		t.Logf("kill %d after window %d (%d bytes): checkpoint at %d bytes", i, w+1, at, st.Bytes)
	}
	cmd, stderr := j.cmd()
	require.NoError(t, cmd.Run(), "final run: %s", stderr)
	assert.NotContains(t, stderr.String(), srv.Token())
	require.True(t, bytes.Equal(wantOut, mustRead(t, j.out)), "the output differs from the dataset")

	var refused []string
	warm := 0
	for _, r := range srv.Requests() {
		switch {
		case r.Status == http.StatusForbidden || r.Status == http.StatusTooManyRequests:
			refused = append(refused, r.Method+" "+r.Path+"?"+r.RawQuery+" at "+r.Time.Format("15:04:05.000"))
		case r.Path == auditlogtest.PathRateLimit:
			warm++
		}
	}
	assert.Empty(t, refused, "requests refused")
	assert.Equal(t, len(windows)+1, warm, "one GET /rate_limit per process")
}
