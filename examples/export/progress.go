package main

import (
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/ghaudit/auditlog"
	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"
)

// Settings of the display.
const (
	// recentSpan is the stretch of time the events/s figure and the pace
	// behind the ETA are measured over.
	recentSpan = 30 * time.Second
	// logWaitAtLeast is the shortest wait that gets a line of its own in
	// log mode.
	logWaitAtLeast = 5 * time.Second
	// barWidth is the bar's width when the terminal is wide enough; it
	// shrinks to fit, down to barMinWidth, before the text is cut.
	barWidth, barMinWidth = 24, 8
)

// step is what the export reports after each page (with -parallel, each
// batch of events).
type step struct {
	st    state // the checkpoint saved with them
	added int   // events written
	pages int64 // pages this run has fetched so far
	// share is how much of the -since/-until range is done (0 to 1), or
	// negative when there is no range to tell.
	share  float64
	detail string // more to say (-parallel: the share done and the slices left)
}

// progress reports the backfill: a live bar on a terminal, a log line every
// -log-every pages (with -parallel, batches) otherwise, or nothing. Both
// say when the export waits, and for what: the bar counts down to the end
// of the wait; a log line says when a wait of logWaitAtLeast or more starts
// and when it ends. The events/s figure is over the last recentSpan; the
// ETA is estimateETA's, from the work left, the client's budget (its
// Client.Rate, and the windows the waits tracker has seen) and the pace.
type progress struct {
	w       io.Writer // nil: silent
	every   int
	total   int64 // events the backfill will write, when known, else -1
	perPage int
	rate    func() (auditlog.Rate, bool)
	waits   *waits

	mu        sync.Mutex
	m         meter
	last      step
	base      int64 // events in the output before this run
	events    int64 // written by this run
	updates   int64
	shareAt   float64 // the share of the range done when basePages were fetched
	basePages int64
	hasBase   bool
	announced time.Time // the end of the last wait given a log line
	bar       *progressbar.ProgressBar
	width     func() int // the terminal's columns, 0 when unknown

	stop, done chan struct{}
}

// newProgress starts the display of a backfill that will write total events
// (-1: unknown) after the written ones already in the output.
func newProgress(o options, stderr io.Writer, total, written int64, client *auditlog.Client, w *waits) *progress {
	mode := o.progress
	if mode == "auto" {
		mode = "log"
		if f, ok := stderr.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
			mode = "bar"
		}
	}
	p := &progress{
		w: stderr, every: o.logEvery, total: total, perPage: o.perPage, base: written,
		rate:  func() (auditlog.Rate, bool) { return client.Rate(w.resource) },
		waits: w, m: newMeter(time.Now(), recentSpan),
		last: step{share: -1}, width: func() int { return 0 },
		stop: make(chan struct{}), done: make(chan struct{}),
	}
	if f, ok := stderr.(*os.File); ok {
		p.width = func() int {
			cols, _, err := term.GetSize(int(f.Fd()))
			if err != nil {
				return 0
			}
			return cols
		}
	}
	switch mode {
	case "bar":
		max := total
		if max <= 0 {
			max = -1 // unknown: a spinner with counts
		}
		p.bar = progressbar.NewOptions64(max,
			progressbar.OptionSetWriter(stderr),
			progressbar.OptionShowCount(),
			progressbar.OptionSetPredictTime(false), // the ETA is ours, budget-aware
			progressbar.OptionShowDescriptionAtLineEnd(),
			progressbar.OptionUseANSICodes(true),
			progressbar.OptionThrottle(100*time.Millisecond),
			progressbar.OptionSetWidth(barWidth),
			progressbar.OptionSpinnerType(14),
			progressbar.OptionShowElapsedTimeOnFinish(),
			progressbar.OptionOnCompletion(func() { fmt.Fprintln(stderr) }),
		)
		if written > 0 { // a resumed export counts from where it stopped
			_ = p.bar.Set64(written)
		}
	case "log":
	default:
		p.w = nil
	}
	if p.w == nil {
		close(p.done)
	} else {
		go p.loop()
	}
	return p
}

// loop redraws the bar every second (the countdown of a wait, the events/s
// of the last recentSpan) and as soon as a wait starts; in log mode it
// writes the line of a wait as it starts.
func (p *progress) loop() {
	defer close(p.done)
	var tick <-chan time.Time
	if p.bar != nil {
		t := time.NewTicker(time.Second)
		defer t.Stop()
		tick = t.C
	}
	for {
		select {
		case <-p.stop:
			return
		case <-p.waits.wake:
		case <-tick:
		}
		p.mu.Lock()
		p.refreshLocked(time.Now())
		p.mu.Unlock()
	}
}

func (p *progress) refreshLocked(now time.Time) {
	if p.bar != nil {
		p.bar.Describe(p.barTextLocked(now))
		return
	}
	if w, ok := p.waits.current(now); ok && w.Until.Sub(now) >= logWaitAtLeast && w.Until.After(p.announced.Add(time.Second)) {
		// Workers of a -parallel export wait for the same reset: one line.
		p.announced = w.Until
		fmt.Fprintf(p.w, "export: %s; %d events, %d pages so far%s\n",
			waitText(w, now), p.last.st.Events, p.last.st.Pages, comma(etaText(p.etaLocked(now))))
	}
}

// setBase says how much of the range was done when this run started (a
// -parallel backfill knows before its first page).
func (p *progress) setBase(share float64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.shareAt, p.basePages, p.hasBase = share, 0, true
}

func (p *progress) update(s step) {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := time.Now()
	p.updates++
	newPages := s.pages - p.last.pages
	p.events += int64(s.added)
	p.m.add(now, p.busyLocked(now), int64(s.added), newPages)
	if !p.hasBase && s.share >= 0 {
		p.shareAt, p.basePages, p.hasBase = s.share, s.pages, true
	}
	p.last = s
	switch {
	case p.bar != nil:
		p.bar.Describe(p.barTextLocked(now))
		_ = p.bar.Add64(int64(s.added))
	case p.w != nil && p.updates%int64(p.every) == 0:
		fmt.Fprintf(p.w, "export: %d events, %d pages%s, %.0f events/s, %s%s\n",
			s.st.Events, s.st.Pages, comma(s.detail), p.m.eventsPerSecond(now), budget(p.rate()), comma(etaText(p.etaLocked(now))))
	}
}

func (p *progress) busyLocked(now time.Time) time.Duration {
	return now.Sub(p.m.start) - p.waits.idleBy(now)
}

// etaLocked estimates the time left at now.
func (p *progress) etaLocked(now time.Time) (time.Duration, bool) {
	in := etaInput{
		Now: now, Pages: p.last.pages, Events: p.events, Left: -1, PerPage: p.perPage,
		Share: p.last.share, ShareAt: p.shareAt, BasePages: p.basePages,
		Window:   p.waits.window(),
		PageRate: p.m.pagesPerSecond(p.busyLocked(now)),
	}
	if !p.hasBase {
		in.Share = -1
	}
	if p.total >= 0 {
		in.Left = max(p.total-p.base-p.events, 0)
	}
	in.Rate, in.RateOK = p.rate()
	if w, ok := p.waits.current(now); ok {
		in.Hold = w.Until
	}
	return estimateETA(in)
}

// barTextLocked is what the bar says after the count: what the export is
// doing (fetching, at what pace and budget; or waiting, for what and until
// when) and the ETA, cut to the terminal's width, least useful part first.
func (p *progress) barTextLocked(now time.Time) string {
	eta := part{text: etaText(p.etaLocked(now)), prio: 5}
	var parts []part
	if w, ok := p.waits.current(now); ok && w.Until.Sub(now) >= 500*time.Millisecond {
		parts = []part{{text: waitText(w, now), short: waitShort(w, now), prio: 6}, eta}
	} else {
		r, ok := p.rate()
		parts = []part{
			{text: fmt.Sprintf("%d pages", p.last.st.Pages), prio: 1},
			{text: p.last.detail, prio: 2},
			{text: fmt.Sprintf("%.0f events/s", p.m.eventsPerSecond(now)), prio: 4},
			{text: budget(r, ok), short: budgetShort(r, ok), prio: 3},
			eta,
		}
	}
	room := 0
	if cols := p.width(); cols > 0 {
		// " 63% |" + bar + "| (count) " before the text, one column spare.
		room = cols - 7 - barMinWidth - len(p.countText()) - 2
		if p.total <= 0 {
			room = cols - 2 - len(p.countText()) - 2 // "⠋ (count) "
		}
	}
	return fit(parts, room)
}

// countText is the bar's "(written/total)", for its width.
func (p *progress) countText() string {
	n := strconv.FormatInt(p.last.st.Events, 10)
	if p.total > 0 {
		n = strconv.FormatInt(max(p.total, p.last.st.Events), 10)
	}
	return "(" + n + "/" + n + ")"
}

// part is a piece of the bar's text, with a shorter form (or none) for a
// narrow terminal; the lowest prio gives way first when the text is too
// long.
type part struct {
	text, short string
	prio        int
}

// fit joins the parts with ", " in room columns (0: any length): while the
// text is too long, the least useful part that has a short form takes it,
// else the least useful part goes; the one part left is cut.
func fit(parts []part, room int) string {
	parts = slices.DeleteFunc(slices.Clone(parts), func(pt part) bool { return pt.text == "" })
	for {
		texts := make([]string, len(parts))
		for i, pt := range parts {
			texts[i] = pt.text
		}
		s := strings.Join(texts, ", ")
		if room <= 0 || utf8.RuneCountInString(s) <= room {
			return s
		}
		if len(parts) == 0 {
			return ""
		}
		low, lowShort := 0, -1
		for i, pt := range parts {
			if pt.prio < parts[low].prio {
				low = i
			}
			if pt.short != "" && (lowShort < 0 || pt.prio < parts[lowShort].prio) {
				lowShort = i
			}
		}
		switch {
		case lowShort >= 0:
			parts[lowShort].text, parts[lowShort].short = parts[lowShort].short, ""
		case len(parts) > 1:
			parts = slices.Delete(parts, low, low+1)
		default:
			if room <= 1 {
				return ""
			}
			return string([]rune(s)[:room-1]) + "…"
		}
	}
}

func (p *progress) finish() {
	close(p.stop)
	<-p.done
	if p.bar != nil {
		p.mu.Lock()
		p.bar.Describe(p.barTextLocked(time.Now()))
		p.mu.Unlock()
		_ = p.bar.Finish()
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

// budgetShort is budget without the reset.
func budgetShort(r auditlog.Rate, ok bool) string {
	if !ok || !r.Known() {
		return budget(r, ok)
	}
	return fmt.Sprintf("budget %d/%d", r.Remaining, r.Limit)
}

// etaText is "ETA 1h02m", or "" when there is nothing to say: no estimate,
// or the work is done.
func etaText(eta time.Duration, ok bool) string {
	if !ok || eta <= 0 {
		return ""
	}
	return "ETA " + short(eta)
}

// comma is ", s", or "" for an empty s.
func comma(s string) string {
	if s == "" {
		return ""
	}
	return ", " + s
}
