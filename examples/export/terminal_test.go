//go:build linux || darwin

package main

import (
	"io"
	"path/filepath"
	"regexp"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/creack/pty"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestTerminalShowsWaitsAndETA runs the export's demo on a pseudo-terminal,
// with its bar, against a fake whose budget of 30 requests a second runs
// out five times over 150 pages. While it waits, the screen says for what
// and until when, counting down, and the wait ends then; once a window has
// been seen, the ETA on the screen is within 20% of the time the export
// actually takes from there.
func TestTerminalShowsWaitsAndETA(t *testing.T) {
	t.Parallel()
	ptmx, tty, err := pty.Open()
	require.NoError(t, err)
	t.Cleanup(func() { ptmx.Close(); tty.Close() })
	require.NoError(t, pty.Setsize(ptmx, &pty.Winsize{Rows: 24, Cols: 120}))

	var mu sync.Mutex
	var written []byte
	go func() {
		b := make([]byte, 4096)
		for {
			n, err := ptmx.Read(b)
			mu.Lock()
			written = append(written, b[:n]...)
			mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	bar := func() string {
		mu.Lock()
		defer mu.Unlock()
		return lastLine(screen(written))
	}

	args := []string{"-demo-events", "1500", "-include", "all", "-per-page", "10", "-demo-rate-limit", "30/1s",
		"-out", filepath.Join(t.TempDir(), "events.ndjson")}
	exited := make(chan int, 1)
	go func() { exited <- run(args, func(string) string { return "" }, io.Discard, tty) }()

	waitRE := regexp.MustCompile(`waiting for the audit-log budget until (\d\d:\d\d:\d\d) \((\d+)s\)`)
	etaRE := regexp.MustCompile(`ETA (\d+)s$`) // under a minute
	type seen struct {
		at        time.Time
		line, end string
		left      int
	}
	var waits [][]seen // the screens of each wait, in turn
	var after []seen   // the first screen after each wait
	var finished time.Time
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(time.Minute)
poll:
	for {
		select {
		case code := <-exited:
			finished = time.Now()
			require.Equal(t, exitOK, code, "screen: %q", bar())
			break poll
		case <-deadline:
			t.Fatalf("the export did not finish in a minute; screen: %q", bar())
		case now := <-tick.C:
			line := bar()
			m := waitRE.FindStringSubmatch(line)
			if m == nil {
				if len(after) < len(waits) {
					after = append(after, seen{at: now, line: line})
				}
				continue
			}
			left, _ := strconv.Atoi(m[2])
			s := seen{at: now, line: line, end: m[1], left: left}
			if len(waits) == 0 || waits[len(waits)-1][0].end != s.end {
				if len(after) < len(waits) { // a wait followed by another without a screen between
					after = append(after, s)
				}
				waits = append(waits, nil)
			}
			waits[len(waits)-1] = append(waits[len(waits)-1], s)
		}
	}
	require.GreaterOrEqual(t, len(waits), 3, "screen: %q", bar())
	for i, w := range waits {
		t.Logf("wait %d: %q", i+1, w[0].line)
		// It ends when it says: the screen moves on at the time shown (to
		// the second), not before.
		end, err := time.ParseInLocation("15:04:05", w[0].end, time.Local)
		require.NoError(t, err)
		y, mo, d := w[0].at.Date()
		end = time.Date(y, mo, d, end.Hour(), end.Minute(), end.Second(), 0, time.Local)
		if i < len(after) {
			assert.WithinRange(t, after[i].at, end.Add(-time.Second), end.Add(time.Second), "wait %d: %q, then at %s %q", i+1, w[0].line, after[i].at.Format("15:04:05.000"), after[i].line)
		}
		// The countdown counts down.
		last := w[len(w)-1]
		assert.GreaterOrEqual(t, w[0].left, last.left, "wait %d", i+1)
	}

	// The ETA on the first screen after the first wait, when a window has
	// been seen, against the time the export took from then.
	first := after[0]
	m := etaRE.FindStringSubmatch(first.line)
	require.NotNil(t, m, "no ETA in %q", first.line)
	eta, _ := strconv.Atoi(m[1])
	actual := finished.Sub(first.at)
	t.Logf("ETA shown %ds at %s, the export took %s more", eta, first.at.Format("15:04:05.000"), actual.Round(time.Millisecond))
	assert.InDelta(t, actual.Seconds(), float64(eta), 0.2*actual.Seconds(), "ETA %ds, took %s: %q", eta, actual, first.line)
}
