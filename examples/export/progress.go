package main

import (
	"fmt"
	"io"
	"os"
	"time"

	"github.com/ghaudit/auditlog"
	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"
)

// progress reports the backfill: a live bar on a terminal, a log line every
// -log-every pages (with -parallel, batches) otherwise. The budget it shows
// is the client's (Client.Rate): what GitHub last reported, less the
// requests sent since.
type progress interface {
	// update reports added events written, st being the checkpoint saved
	// with them; detail says more (with -parallel: the share of the range
	// done and the slices left), eta the time left (0 unknown).
	update(st state, added int, detail string, eta time.Duration)
	finish()
	started() time.Time
}

func newProgress(o options, stderr io.Writer, total int64, client *auditlog.Client) progress {
	rate := func() string { return budget(client.Rate(auditlog.ResourceAuditLog)) }
	mode := o.progress
	if mode == "auto" {
		mode = "log"
		if f, ok := stderr.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
			mode = "bar"
		}
	}
	start := time.Now()
	switch mode {
	case "bar":
		max := total
		if max <= 0 {
			max = -1 // unknown: a spinner with counts and rate
		}
		bar := progressbar.NewOptions64(max,
			progressbar.OptionSetWriter(stderr),
			progressbar.OptionSetDescription("export"),
			progressbar.OptionShowCount(),
			progressbar.OptionShowIts(),
			progressbar.OptionSetItsString("events"),
			progressbar.OptionSetPredictTime(total > 0),
			progressbar.OptionThrottle(100*time.Millisecond),
			progressbar.OptionSetWidth(30),
			progressbar.OptionSpinnerType(14),
			progressbar.OptionShowElapsedTimeOnFinish(),
			progressbar.OptionOnCompletion(func() { fmt.Fprintln(stderr) }),
		)
		return &barProgress{bar: bar, start: start, rate: rate}
	case "log":
		return &logProgress{w: stderr, every: o.logEvery, start: start, rate: rate}
	default:
		return &logProgress{start: start, rate: rate}
	}
}

// budget describes the audit-log budget as the client knows it.
func budget(r auditlog.Rate, ok bool) string {
	switch {
	case !ok:
		return "budget unknown"
	case !r.Known():
		return "no rate limit"
	}
	s := fmt.Sprintf("budget %d/%d", r.Remaining, r.Limit)
	if !r.Reset.IsZero() {
		s += fmt.Sprintf(" (resets %s)", r.Reset.Local().Format("15:04:05"))
	}
	return s
}

func etaString(eta time.Duration) string {
	if eta <= 0 {
		return ""
	}
	return ", ETA " + eta.Round(time.Second).String()
}

type barProgress struct {
	bar   *progressbar.ProgressBar
	start time.Time
	seen  int64
	rate  func() string
}

func (b *barProgress) started() time.Time { return b.start }

func (b *barProgress) update(st state, added int, detail string, eta time.Duration) {
	b.bar.Describe(fmt.Sprintf("%d pages, %s%s%s", st.Pages, withComma(detail), b.rate(), etaString(eta)))
	_ = b.bar.Add64(int64(added))
	b.seen += int64(added)
}

func withComma(detail string) string {
	if detail == "" {
		return ""
	}
	return detail + ", "
}

func (b *barProgress) finish() { _ = b.bar.Finish() }

type logProgress struct {
	w      io.Writer // nil: silent
	every  int
	start  time.Time
	last   state
	detail string
	rate   func() string
	base   int64 // events already in the output when this run started
	pages  int64 // updates this run
}

func (l *logProgress) started() time.Time { return l.start }

func (l *logProgress) update(st state, added int, detail string, eta time.Duration) {
	if l.pages == 0 {
		l.base = st.Events - int64(added)
	}
	l.pages++
	l.last, l.detail = st, detail
	if l.w == nil || l.pages%int64(l.every) != 0 {
		return
	}
	l.line(eta)
}

func (l *logProgress) line(eta time.Duration) {
	secs := time.Since(l.start).Seconds()
	perSec := 0.0
	if secs > 0 {
		perSec = float64(l.last.Events-l.base) / secs
	}
	fmt.Fprintf(l.w, "export: %d events, %d pages, %s%.0f events/s, %s%s\n",
		l.last.Events, l.last.Pages, withComma(l.detail), perSec, l.rate(), etaString(eta))
}

func (l *logProgress) finish() {}
