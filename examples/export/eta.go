package main

import (
	"math"
	"time"

	"github.com/ghaudit/auditlog"
)

// etaInput is what the time left of a backfill is estimated from: the work
// done and left, the budget as the client knows it, and the recent pace of
// requests. Everything is given, nothing is read from a clock, so that the
// estimate can be tested by value.
type etaInput struct {
	Now time.Time

	// The work. Pages and Events count what this run has fetched so far.
	Pages, Events int64
	// Left is how many events are still to fetch when that is known (the
	// demo's total less those written), else negative.
	Left int64
	// PerPage is what a full page holds, for Left before any page came.
	PerPage int
	// Otherwise the share of the range done tells how much is left: Share
	// now (negative: unknown), and ShareAt when BasePages of the Pages had
	// been fetched (the start of this run, or its first page).
	Share, ShareAt float64
	BasePages      int64

	// The budget: Client.Rate's answer (Limit is what GitHub reports,
	// 1,750 on GitHub), the length of a window (an hour on GitHub; the
	// export learns it from the resets it sees), and when requests may be
	// sent again (a wait in force; zero or past: now).
	Rate   auditlog.Rate
	RateOK bool
	Window time.Duration
	Hold   time.Time

	// PageRate is pages fetched a second recently while the budget let
	// requests through (waits for a window excluded); 0 when not measured.
	PageRate float64
}

// pagesLeft is how many requests the backfill still needs, and whether that
// can be told: from the events left and the events a page has held so far,
// else from the pages it took to cover the last share of the range. At
// least one while work remains.
func pagesLeft(in etaInput) (float64, bool) {
	switch {
	case in.Left == 0:
		return 0, true
	case in.Left > 0:
		per := float64(in.PerPage)
		if in.Pages > 0 && in.Events > 0 {
			per = float64(in.Events) / float64(in.Pages)
		}
		if per <= 0 {
			return 0, false
		}
		return ceil(float64(in.Left) / per), true
	case in.Share >= 1:
		return 0, true
	case in.Share >= 0 && in.Share > in.ShareAt && in.Pages > in.BasePages:
		covered := in.Share - in.ShareAt
		return ceil(float64(in.Pages-in.BasePages) * (1 - in.Share) / covered), true
	}
	return 0, false
}

// estimateETA is the time left of a backfill, and whether it can be told.
// Requests go at the recent pace while the budget lasts; when it runs out
// they wait for the reset, and every window after it gives the limit (or
// what the pace gets through in one, if less). Without a budget (a server
// that reports none) the pace alone decides. It is never zero while pages
// remain: when the pace is not known yet, no wait is in force and the
// budget does not bind, there is no estimate.
func estimateETA(in etaInput) (time.Duration, bool) {
	pages, ok := pagesLeft(in)
	if !ok || pages == 0 {
		return 0, ok
	}
	start := in.Now
	if in.Hold.After(start) {
		start = in.Hold
	}
	perPage := 0.0 // seconds a request takes when the budget allows it
	if in.PageRate > 0 {
		perPage = 1 / in.PageRate
	}
	paced := func(from time.Time, n float64) (time.Duration, bool) {
		if perPage == 0 && !from.After(in.Now) {
			return 0, false // nothing to go by
		}
		// Without a pace yet, a wait in force is the least it takes.
		return from.Sub(in.Now) + seconds(n*perPage), true
	}
	r := in.Rate
	if !in.RateOK || !r.Known() || r.Limit < 1 {
		return paced(start, pages)
	}
	window := in.Window
	if window <= 0 {
		window = time.Hour
	}
	left, reset := float64(r.Remaining), r.Reset
	if reset.IsZero() || !reset.After(start) {
		// No window running: the next request opens one, whole.
		left, reset = float64(r.Limit), start.Add(window)
	}
	// This window: what is left of it, as far as the pace gets before the
	// reset.
	now := left
	if perPage > 0 {
		now = min(left, math.Floor(reset.Sub(start).Seconds()/perPage))
	}
	if pages <= now {
		return paced(start, pages)
	}
	pages -= now
	// Each window after it: the limit, or what the pace gets through in one.
	per := float64(r.Limit)
	if perPage > 0 {
		per = min(per, window.Seconds()/perPage)
	}
	n := math.Ceil(pages / per)
	last := pages - (n-1)*per
	return reset.Sub(in.Now) + time.Duration(n-1)*window + seconds(last*perPage), true
}

// ceil rounds up, but not a float's error in the last digits (700.0000001).
func ceil(x float64) float64 { return math.Ceil(x - 1e-9) }

func seconds(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }

// meter measures recent throughput from what the export reports after each
// page or batch: events a second over the last span of wall-clock time (so
// it falls while nothing comes, and forgets the start), and pages a second
// over the last span of sending time, which leaves out the waits for a
// budget window (so the pace an ETA needs survives a wait).
type meter struct {
	span  time.Duration
	start time.Time
	marks []mark
}

// mark is one report: when it came, the sending time by then, and what it
// added.
type mark struct {
	at            time.Time
	busy          time.Duration
	events, pages int64
}

func newMeter(start time.Time, span time.Duration) meter {
	return meter{span: span, start: start}
}

// add records events and pages fetched by at, busy being the sending time
// since the start by then.
func (m *meter) add(at time.Time, busy time.Duration, events, pages int64) {
	m.marks = append(m.marks, mark{at: at, busy: busy, events: events, pages: pages})
	keep := 0
	for keep < len(m.marks) && m.marks[keep].at.Before(at.Add(-m.span)) && m.marks[keep].busy < busy-m.span {
		keep++
	}
	m.marks = m.marks[keep:]
}

// eventsPerSecond is the events of the last span (or since the start, if
// shorter) of wall-clock time, a second.
func (m *meter) eventsPerSecond(now time.Time) float64 {
	win := min(m.span, now.Sub(m.start))
	if win <= 0 {
		return 0
	}
	var n int64
	for _, k := range m.marks {
		if k.at.After(now.Add(-win)) && !k.at.After(now) {
			n += k.events
		}
	}
	return float64(n) / win.Seconds()
}

// pagesPerSecond is the pages of the last span (or since the start, if
// shorter) of sending time, a second; busy is the sending time by now.
func (m *meter) pagesPerSecond(busy time.Duration) float64 {
	win := min(m.span, busy)
	if win <= 0 {
		return 0
	}
	var n int64
	for _, k := range m.marks {
		if k.busy > busy-win && k.busy <= busy {
			n += k.pages
		}
	}
	return float64(n) / win.Seconds()
}
