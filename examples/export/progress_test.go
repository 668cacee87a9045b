package main

import (
	"bytes"
	"context"
	"io"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/ghaudit/auditlog"
	"github.com/ghaudit/auditlog/auditlogtest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestBudgetText: the progress output shows the budget as the client knows
// it, and says so when it knows none or the server reports no limit.
func TestBudgetText(t *testing.T) {
	t.Parallel()
	reset := time.Date(2026, 5, 1, 12, 30, 0, 0, time.Local)
	assert.Equal(t, "budget unknown", budget(auditlog.Rate{Limit: -1, Remaining: -1, Used: -1}, false))
	assert.Equal(t, "no rate limit", budget(auditlog.Rate{Limit: -1, Remaining: -1, Used: -1}, true))
	assert.Equal(t, "budget 1200/1750 (resets 12:30:00)", budget(auditlog.Rate{Limit: 1750, Remaining: 1200, Used: 550, Reset: reset}, true))
	assert.Equal(t, "budget 1750/1750", budget(auditlog.Rate{Limit: 1750, Remaining: 1750}, true))
}

// TestWaitText: what the bar and the log say of each kind of wait, with its
// end and the time left.
func TestWaitText(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 5, 1, 5, 47, 13, 0, time.Local)
	wait := func(r auditlog.Reason, d time.Duration) auditlog.WaitInfo {
		return auditlog.WaitInfo{Method: "GET", Path: "/enterprises/e/audit-log", Resource: auditlog.BudgetKey(auditlog.Enterprise("e")), Reason: r, Wait: d, Until: now.Add(d)}
	}
	for _, tt := range []struct {
		w          auditlog.WaitInfo
		text, tiny string
	}{
		{wait(auditlog.ReasonBudget, 59*time.Minute+47*time.Second),
			"waiting for the audit-log budget until 06:47:00 (59m47s)", "waiting until 06:47:00 (59m47s)"},
		{wait(auditlog.ReasonPrimaryLimit, time.Hour+5*time.Minute),
			"GitHub refused: waiting for the audit-log budget until 06:52:13 (1h05m)", "waiting until 06:52:13 (1h05m)"},
		{wait(auditlog.ReasonSecondaryLimit, time.Minute),
			"retrying after a secondary limit at 05:48:13 (in 1m00s)", "waiting until 05:48:13 (1m00s)"},
		{wait(auditlog.ReasonTransient, 1500*time.Millisecond),
			"retrying after a failure at 05:47:14 (in 2s)", "waiting until 05:47:14 (2s)"},
	} {
		assert.Equal(t, tt.text, waitText(tt.w, now))
		assert.Equal(t, tt.tiny, waitShort(tt.w, now))
	}
	// The countdown: the same wait, later.
	w := wait(auditlog.ReasonBudget, time.Hour)
	assert.Equal(t, "waiting for the audit-log budget until 06:47:13 (42m00s)", waitText(w, now.Add(18*time.Minute)))
	assert.Equal(t, "waiting for the audit-log budget until 06:47:13 (1s)", waitText(w, now.Add(time.Hour-100*time.Millisecond)))
}

// TestFitBarText: on a narrow terminal the bar's text gives up its least
// useful parts first, the wait and the ETA last.
func TestFitBarText(t *testing.T) {
	t.Parallel()
	waiting := []part{{text: "waiting for the audit-log budget until 06:47:00 (59m47s)", short: "waiting until 06:47:00 (59m47s)", prio: 6}, {text: "ETA 1h00m", prio: 5}}
	working := []part{{text: "1614 pages", prio: 1}, {text: "", prio: 2}, {text: "412 events/s", prio: 4},
		{text: "budget 136/1750 (resets 06:47:00)", short: "budget 136/1750", prio: 3}, {text: "ETA 1h02m", prio: 5}}
	for _, tt := range []struct {
		parts []part
		room  int
		want  string
	}{
		{waiting, 0, "waiting for the audit-log budget until 06:47:00 (59m47s), ETA 1h00m"},
		{waiting, 80, "waiting for the audit-log budget until 06:47:00 (59m47s), ETA 1h00m"},
		{waiting, 60, "waiting until 06:47:00 (59m47s), ETA 1h00m"},
		{waiting, 35, "waiting until 06:47:00 (59m47s)"},
		{waiting, 20, "waiting until 06:47…"},
		{working, 0, "1614 pages, 412 events/s, budget 136/1750 (resets 06:47:00), ETA 1h02m"},
		{working, 60, "1614 pages, 412 events/s, budget 136/1750, ETA 1h02m"},
		{working, 40, "412 events/s, budget 136/1750, ETA 1h02m"},
		{working, 30, "412 events/s, ETA 1h02m"},
	} {
		got := fit(tt.parts, tt.room)
		assert.Equal(t, tt.want, got, "room %d", tt.room)
		if tt.room > 0 {
			assert.LessOrEqual(t, len([]rune(got)), tt.room)
		}
	}
	assert.Equal(t, "budget 136/1750 (resets 06:47:00)", working[3].text, "the caller's parts are left alone")
}

// TestWaitsFromHooks: the tracker behind the display keeps the wait that
// ends last, counts the time waited for a window once however many
// workers wait for it (not a pacing wait, not a backoff), and learns a
// window's length from the resets GitHub reports.
func TestWaitsFromHooks(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 5, 1, 5, 0, 0, 0, time.UTC)
	w := newWaits(auditlog.ResourceAuditLog, time.Hour)
	h := w.hooks()
	rate := func(reset time.Time) auditlog.Rate {
		return auditlog.Rate{Limit: 1750, Remaining: 100, Used: 1650, Reset: reset, Resource: auditlog.ResourceAuditLog}
	}
	wait := func(r auditlog.Reason, from time.Time, d time.Duration) auditlog.WaitInfo {
		return auditlog.WaitInfo{Resource: auditlog.ResourceAuditLog, Reason: r, Wait: d, Until: from.Add(d)}
	}

	// The warm start names the window the first request opens; the first
	// response, the same window to the second.
	h.OnRate(auditlog.ResourceAuditLog, rate(t0.Add(time.Hour)))
	h.OnRate(auditlog.ResourceAuditLog, rate(t0.Add(time.Hour+time.Second)))
	h.OnRate("core", rate(t0.Add(3*time.Hour)))                                            // another budget
	h.OnRate(auditlog.ResourceAuditLog, auditlog.Rate{Limit: -1, Remaining: -1, Used: -1}) // none reported
	assert.Equal(t, time.Hour, w.window(), "no window seen yet: the guess")
	_, waiting := w.current(t0)
	assert.False(t, waiting)

	// A pacing wait that ends well before the reset is part of the pace; a
	// backoff after a failure too.
	h.OnWait(wait(auditlog.ReasonBudget, t0.Add(time.Minute), 2*time.Second))
	h.OnWait(wait(auditlog.ReasonTransient, t0.Add(2*time.Minute), 4*time.Second))
	assert.Zero(t, w.idleBy(t0.Add(3*time.Minute)))
	cur, waiting := w.current(t0.Add(2*time.Minute + time.Second))
	assert.True(t, waiting)
	assert.Equal(t, auditlog.ReasonTransient, cur.Reason)

	// The window spent at 05:20: three workers wait for its reset, one of
	// them after a refusal a little later.
	spent := t0.Add(20 * time.Minute)
	reset := t0.Add(time.Hour + time.Second)
	h.OnWait(wait(auditlog.ReasonBudget, spent, reset.Sub(spent)))
	h.OnWait(wait(auditlog.ReasonBudget, spent.Add(time.Second), reset.Sub(spent.Add(time.Second))))
	h.OnWait(wait(auditlog.ReasonPrimaryLimit, spent.Add(2*time.Second), reset.Add(time.Second).Sub(spent.Add(2*time.Second))))
	cur, waiting = w.current(spent.Add(10 * time.Minute))
	assert.True(t, waiting)
	assert.Equal(t, auditlog.ReasonPrimaryLimit, cur.Reason, "the wait that ends last")
	assert.Equal(t, 10*time.Minute, w.idleBy(spent.Add(10*time.Minute)))
	assert.Equal(t, reset.Add(time.Second).Sub(spent), w.idleBy(reset.Add(time.Hour)))

	// The next window, and the one after: a window is the time from one
	// reset to the next.
	h.OnRate(auditlog.ResourceAuditLog, rate(reset.Add(time.Hour+2*time.Second)))
	assert.Equal(t, time.Hour+2*time.Second, w.window())
	h.OnRate(auditlog.ResourceAuditLog, rate(reset.Add(2*time.Hour+2*time.Second)))
	assert.Equal(t, time.Hour+time.Second, w.window())

	// A secondary limit's hold later on counts again.
	later := reset.Add(90 * time.Minute)
	h.OnWait(wait(auditlog.ReasonSecondaryLimit, later, time.Minute))
	assert.Equal(t, reset.Add(time.Second).Sub(spent)+30*time.Second, w.idleBy(later.Add(30*time.Second)))
}

// syncBuffer is a bytes.Buffer for writers in several goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) Bytes() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return bytes.Clone(s.b.Bytes())
}

// fakeExport is an export of 60 events, 10 a page, against a fake GitHub
// allowing 4 requests an hour whose second page request meets a secondary
// limit (retry after a minute): the hooks → display path, on the fake
// clock of a synctest bubble. Neither the fake nor the client counts the
// refused request against the window, so the fourth page goes out in it at
// the pace of four an hour (15 minutes after the first) and the last two
// after the reset.
func fakeExport(t *testing.T, mode string, stderr io.Writer) (*exporter, *auditlog.Query, *auditlogtest.Server) {
	t.Helper()
	srv := auditlogtest.New(t, auditlogtest.WithoutListener(), auditlogtest.WithGeneratedEvents(60, 1),
		auditlogtest.WithRateLimit(auditlog.ResourceAuditLog, 4, time.Hour))
	require.NoError(t, srv.Inject(auditlogtest.Rule{Match: auditlogtest.Match{Path: auditlogtest.PathAuditLog}, Nth: 2,
		Fault: auditlogtest.Fault{Kind: auditlogtest.FaultSecondary429, RetryAfter: time.Minute}}))
	o, err := parseFlags([]string{"-enterprise", srv.Enterprise(), "-include", "all", "-per-page", "10", "-progress", mode, "-max-wait", "2h"}, io.Discard)
	require.NoError(t, err)
	q, _, err := buildQuery(o, time.Now())
	require.NoError(t, err)
	w := newWaits(auditlog.BudgetKey(o.scope()), time.Hour)
	c, err := auditlog.NewClient(auditlog.WithBaseURL(srv.URL()), auditlog.WithToken(srv.Token()), auditlog.WithHTTPClient(srv.Client()),
		auditlog.WithMaxWait(o.maxWait), auditlog.WithHooks(w.hooks()))
	require.NoError(t, err)
	return &exporter{o: o, client: c, stderr: stderr, demo: srv, waits: w, upper: time.Now()}, q, srv
}

// TestBarShowsWaitsAndCountsDown: while the export waits, the bar says for
// what and until when, and counts down; the ETA counts down with it.
func TestBarShowsWaitsAndCountsDown(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		var out syncBuffer
		ex, q, srv := fakeExport(t, "bar", &out)
		start := time.Now()
		done := make(chan error, 1)
		go func() { done <- ex.run(context.Background(), q, io.Discard) }()
		bar := func() string { return lastLine(screen(out.Bytes())) }

		// The second page request is refused: a minute's hold. The bar
		// shows it from its next redraw, a second later at most.
		time.Sleep(time.Second)
		synctest.Wait()
		assert.Equal(t, "  16% |███                     | (10/60) retrying after a secondary limit at "+
			clock(start.Add(time.Minute))+" (in 59s), ETA 59m59s", bar())

		// Three pages in, the last request of the window waits for its
		// place in the pace; the ETA is the reset, where the last page
		// can go.
		time.Sleep(time.Minute)
		synctest.Wait()
		_, _, _, reset := srv.Budget(srv.Token(), auditlog.ResourceAuditLog)
		assert.Equal(t, "  50% |████████████            | (30/60) waiting for the audit-log budget until "+
			clock(start.Add(15*time.Minute))+" (13m59s), ETA 58m59s", bar())
		// Four pages in, the window is spent: the wait for the reset,
		// where the fake puts it, counting down.
		time.Sleep(20 * time.Minute)
		synctest.Wait()
		assert.Equal(t, "  66% |███████████████         | (40/60) waiting for the audit-log budget until "+
			clock(reset)+" (38m59s), ETA 39m59s", bar())

		time.Sleep(time.Hour)
		require.NoError(t, <-done)
		end := screen(out.Bytes())
		require.GreaterOrEqual(t, len(end), 3)
		assert.True(t, strings.HasPrefix(end[len(end)-3], " 100% |████████████████████████| (60/60) [1h0m0s] 6 pages, "), end[len(end)-3])
		assert.Equal(t, "export: backfill done: 60 events, 6 pages, written to stdout", end[len(end)-2])
	})
}

// TestLogSaysWhenAWaitStarts: not on a terminal, a wait of a few seconds or
// more gets a line as it starts, with its end; one line for every worker
// waiting for the same reset.
func TestLogSaysWhenAWaitStarts(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		var out syncBuffer
		ex, q, srv := fakeExport(t, "log", &out)
		start := time.Now()
		require.NoError(t, ex.run(context.Background(), q, io.Discard))
		_, _, _, reset := srv.Budget(srv.Token(), auditlog.ResourceAuditLog)
		firstReset := start.Add(time.Hour)
		assert.Equal(t, firstReset.Add(time.Hour), reset, "the last three pages opened a window at the first's reset")
		assert.Equal(t, []string{
			"export: retrying after a secondary limit at " + clock(start.Add(time.Minute)) + " (in 1m00s); 10 events, 1 pages so far, ETA 1h00m",
			"export: waiting for the audit-log budget until " + clock(start.Add(15*time.Minute)) + " (14m00s); 30 events, 3 pages so far, ETA 59m00s",
			"export: waiting for the audit-log budget until " + clock(firstReset) + " (45m00s); 40 events, 4 pages so far, ETA 46m00s",
			"export: backfill done: 60 events, 6 pages, written to stdout",
		}, strings.Split(strings.TrimSuffix(string(out.Bytes()), "\n"), "\n"))
	})
}

// clock is how the display writes a time of day.
func clock(t time.Time) string { return t.Local().Format("15:04:05") }

// screen replays what was written to a terminal, line by line: text at the
// cursor, \r back to the line's start, \n to the next line, and the
// erase-in-line sequences the bar uses (ESC[K, ESC[0K, ESC[2K); other
// escape sequences are skipped. Lines do not wrap: the tests give the bar
// room.
func screen(b []byte) []string {
	lines := [][]rune{nil}
	row, col := 0, 0
	rs := []rune(string(b))
	for i := 0; i < len(rs); i++ {
		switch c := rs[i]; {
		case c == '\r':
			col = 0
		case c == '\n':
			row++
			col = 0
			if row == len(lines) {
				lines = append(lines, nil)
			}
		case c == 0x1b && i+1 < len(rs) && rs[i+1] == '[':
			j := i + 2
			for j < len(rs) && (rs[j] < 0x40 || rs[j] > 0x7e) {
				j++
			}
			if j < len(rs) && rs[j] == 'K' {
				switch string(rs[i+2 : j]) {
				case "", "0":
					lines[row] = lines[row][:min(col, len(lines[row]))]
				case "2":
					lines[row] = nil
				}
			}
			i = j
		case c < ' ':
		default:
			for len(lines[row]) <= col {
				lines[row] = append(lines[row], ' ')
			}
			lines[row][col] = c
			col++
		}
	}
	out := make([]string, len(lines))
	for i, l := range lines {
		out[i] = strings.TrimRight(string(l), " ")
	}
	return out
}

// lastLine is the last line of a screen with something on it.
func lastLine(lines []string) string {
	for i := len(lines) - 1; i >= 0; i-- {
		if lines[i] != "" {
			return lines[i]
		}
	}
	return ""
}

// TestResumedBarStartsFromTheCheckpoint: a resumed export's bar counts the
// events already written, and its ETA the events left after them.
func TestResumedBarStartsFromTheCheckpoint(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		var out syncBuffer
		c, err := auditlog.NewClient(auditlog.WithBaseURL("http://127.0.0.1:1"))
		require.NoError(t, err)
		o, err := parseFlags([]string{"-progress", "bar", "-per-page", "10"}, io.Discard)
		require.NoError(t, err)
		p := newProgress(o, &out, 100, 40, c, newWaits(auditlog.ResourceAuditLog, time.Hour))
		defer p.finish()
		time.Sleep(2 * time.Second)
		p.update(step{st: state{Events: 50, Pages: 5}, added: 10, pages: 1, share: -1})
		time.Sleep(time.Second)
		synctest.Wait()
		// 50 events left: 5 pages, at the pace of 1 page in 3 s.
		assert.Equal(t, "  50% |████████████            | (50/100) 5 pages, 3 events/s, budget unknown, ETA 15s", lastLine(screen(out.Bytes())))
	})
}
