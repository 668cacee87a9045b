package main

import (
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/ghaudit/auditlog"
)

// waits collects what the client's hooks (auditlog.WithHooks) report, for
// the progress display: the wait in force, the length of the budget's
// windows as the resets show it, and how much time went to waiting for a
// window (which the pace of requests leaves out). The hooks return at once:
// they update fields under a mutex and wake the display without blocking.
type waits struct {
	resource string        // the key of the budget the export spends (auditlog.BudgetKey)
	guess    time.Duration // a window's length until one has been seen
	wake     chan struct{} // one pending wake-up for the display

	mu  sync.Mutex
	cur auditlog.WaitInfo // of the waits started, the one that ends last
	// The windows seen: the last reset GitHub reported, and the time from
	// one reset to the next, summed over the windows seen.
	reset  time.Time
	cycles time.Duration
	nCycle int
	// Time spent waiting for a window: the closed intervals summed, and the
	// latest, which waits that overlap extend.
	idle            time.Duration
	idleFrom, until time.Time
}

func newWaits(resource string, window time.Duration) *waits {
	return &waits{resource: resource, guess: window, wake: make(chan struct{}, 1)}
}

// hooks are the functions the client calls.
func (w *waits) hooks() auditlog.Hooks {
	return auditlog.Hooks{OnWait: w.onWait, OnRate: w.onRate}
}

func (w *waits) notify() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

func (w *waits) onWait(info auditlog.WaitInfo) {
	w.mu.Lock()
	if info.Until.After(w.cur.Until) {
		w.cur = info
	}
	if w.idleLocked(info) {
		start := info.Until.Add(-info.Wait)
		if start.After(w.until) {
			w.idle += w.until.Sub(w.idleFrom)
			w.idleFrom, w.until = start, info.Until
		} else if info.Until.After(w.until) {
			w.until = info.Until
		}
	}
	w.mu.Unlock()
	w.notify()
}

// idleLocked reports whether nothing is sent during the wait: a refusal
// holds the resource, or the window is spent until its reset. A wait that
// ends well before the reset is the limiter spreading requests over the
// window (a fleet's shared budget, say): part of the pace, not a pause in
// it. A backoff after a transient failure stops one request, not the
// export.
func (w *waits) idleLocked(info auditlog.WaitInfo) bool {
	switch info.Reason {
	case auditlog.ReasonPrimaryLimit, auditlog.ReasonSecondaryLimit:
		return true
	case auditlog.ReasonBudget:
		return w.reset.IsZero() || !info.Until.Before(w.reset.Add(-time.Second))
	}
	return false
}

func (w *waits) onRate(resource string, r auditlog.Rate) {
	if resource != w.resource || !r.Known() || r.Reset.IsZero() {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	switch {
	case w.reset.IsZero():
		w.reset = r.Reset
	case r.Reset.Sub(w.reset) >= w.windowLocked()/2:
		// A new window: its reset is one window, and whatever it took to
		// send its first request, after the last.
		w.cycles += r.Reset.Sub(w.reset)
		w.nCycle++
		w.reset = r.Reset
	case r.Reset.After(w.reset):
		// The same window, more precisely: the warm start's answer names
		// the window the first request opens, to the second.
		w.reset = r.Reset
	}
}

// window is the length of the budget's window: the mean time from one reset
// to the next, once seen, else the guess.
func (w *waits) window() time.Duration {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.windowLocked()
}

func (w *waits) windowLocked() time.Duration {
	if w.nCycle == 0 {
		return w.guess
	}
	return w.cycles / time.Duration(w.nCycle)
}

// current is the wait in force at now, if any: of those started, the one
// that ends last.
func (w *waits) current(now time.Time) (auditlog.WaitInfo, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.cur, w.cur.Until.After(now)
}

// idleBy is how much time went to waiting for a window by now.
func (w *waits) idleBy(now time.Time) time.Duration {
	w.mu.Lock()
	defer w.mu.Unlock()
	d := w.idle
	end := w.until
	if now.Before(end) {
		end = now
	}
	if end.After(w.idleFrom) {
		d += end.Sub(w.idleFrom)
	}
	return d
}

// waitText says what a wait is for and when it ends, counting down to it
// from now: "waiting for the audit-log budget until 06:47:12 (59m12s)",
// "retrying after a secondary limit at 06:47:12 (in 42s)".
func waitText(info auditlog.WaitInfo, now time.Time) string {
	end := info.Until.Local().Format("15:04:05")
	left := short(info.Until.Sub(now))
	// The resource, not its scope's path: the export reads one scope.
	budget := strings.ReplaceAll(auditlog.KeyResource(info.Resource), "_", "-") + " budget"
	switch info.Reason {
	case auditlog.ReasonBudget:
		return fmt.Sprintf("waiting for the %s until %s (%s)", budget, end, left)
	case auditlog.ReasonPrimaryLimit:
		return fmt.Sprintf("GitHub refused: waiting for the %s until %s (%s)", budget, end, left)
	case auditlog.ReasonSecondaryLimit:
		return fmt.Sprintf("retrying after a secondary limit at %s (in %s)", end, left)
	case auditlog.ReasonTransient:
		return fmt.Sprintf("retrying after a failure at %s (in %s)", end, left)
	}
	return fmt.Sprintf("waiting (%s) until %s (%s)", info.Reason, end, left)
}

// waitShort is waitText for a narrow terminal: "waiting until 06:47:12
// (59m12s)".
func waitShort(info auditlog.WaitInfo, now time.Time) string {
	return fmt.Sprintf("waiting until %s (%s)", info.Until.Local().Format("15:04:05"), short(info.Until.Sub(now)))
}

// short writes a duration rounded to the second (past an hour, to the
// minute), and never as 0, since it is a time left: 2h05m, 59m12s, 42s, 1s.
func short(d time.Duration) string {
	s := int64(d.Round(time.Second) / time.Second)
	switch {
	case s < 1:
		s = 1
	case s >= 3600:
		m := int64(d.Round(time.Minute) / time.Minute)
		return fmt.Sprintf("%dh%02dm", m/60, m%60)
	case s >= 60:
		return fmt.Sprintf("%dm%02ds", s/60, s%60)
	}
	return fmt.Sprintf("%ds", s)
}
