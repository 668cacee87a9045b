package main

import (
	"testing"
	"time"

	"github.com/ghaudit/auditlog"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestEstimateETA: the time left from the work left, the budget and the
// pace, by value.
func TestEstimateETA(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 5, 1, 5, 47, 0, 0, time.UTC)
	github := func(remaining int, reset time.Duration) auditlog.Rate {
		return auditlog.Rate{Limit: 1750, Remaining: remaining, Used: 1750 - remaining, Reset: now.Add(reset), Resource: auditlog.ResourceAuditLog}
	}
	tests := []struct {
		name string
		in   etaInput
		want time.Duration // 0 with ok false: no estimate
		ok   bool
	}{
		{
			name: "nothing to go by: no total, no range",
			in:   etaInput{Pages: 10, Events: 1000, Left: -1, Share: -1, Rate: github(1000, time.Hour), RateOK: true, PageRate: 5},
		},
		{
			name: "done",
			in:   etaInput{Pages: 10, Events: 1000, Left: 0, Rate: github(1000, time.Hour), RateOK: true, PageRate: 5},
			ok:   true,
		},
		{
			name: "the budget covers it: the pace alone",
			in:   etaInput{Pages: 10, Events: 1000, Left: 10000, Rate: github(500, 30*time.Minute), RateOK: true, PageRate: 2},
			want: 50 * time.Second, ok: true,
		},
		{
			// The run: 17,500 of 25,493 events at 10 a page, the
			// budget spent until the reset 59m47s away.
			name: "spent: the reset, then the rest at the pace",
			in: etaInput{Pages: 1750, Events: 17500, Left: 25493 - 17500, Rate: github(0, 59*time.Minute+47*time.Second), RateOK: true,
				PageRate: 100, Hold: now.Add(59*time.Minute + 47*time.Second)},
			want: 59*time.Minute + 47*time.Second + 8*time.Second, ok: true,
		},
		{
			name: "several windows: what is left of this one, two whole ones, the rest",
			in:   etaInput{Pages: 1, Events: 100, Left: 500000, Rate: github(250, 20*time.Minute), RateOK: true, PageRate: 10},
			// 5000 pages: 250 now, 1750 and 1750 in the next two windows,
			// 1250 at 10 a second in the last.
			want: 20*time.Minute + 2*time.Hour + 125*time.Second, ok: true,
		},
		{
			name: "slow requests: the pace binds, not the budget",
			in:   etaInput{Pages: 1, Events: 100, Left: 300000, Rate: github(1750, time.Hour), RateOK: true, PageRate: 0.25},
			want: 3000 * 4 * time.Second, ok: true,
		},
		{
			name: "the limit GitHub reports, not 1,750",
			in: etaInput{Pages: 1, Events: 100, Left: 100000, Rate: auditlog.Rate{Limit: 500, Remaining: 0, Reset: now.Add(10 * time.Minute)}, RateOK: true,
				PageRate: 100},
			// 1000 pages: the reset, one window, 500 pages at 100 a second.
			want: 10*time.Minute + time.Hour + 5*time.Second, ok: true,
		},
		{
			name: "from the share of the range: 200 pages covered 20%",
			in:   etaInput{Pages: 250, Events: 25000, Left: -1, BasePages: 50, ShareAt: 0.1, Share: 0.3, Rate: github(1000, time.Hour), RateOK: true, PageRate: 5},
			want: 140 * time.Second, ok: true, // 700 pages
		},
		{
			name: "a finished range",
			in:   etaInput{Pages: 250, Events: 25000, Left: -1, BasePages: 50, ShareAt: 0.1, Share: 1, Rate: github(1000, time.Hour), RateOK: true, PageRate: 5},
			ok:   true,
		},
		{
			name: "the share has not moved since the base: no estimate",
			in:   etaInput{Pages: 1, Events: 100, Left: -1, BasePages: 1, ShareAt: 0.3, Share: 0.3, Rate: github(1000, time.Hour), RateOK: true, PageRate: 5},
		},
		{
			name: "a server that reports no limit: the pace alone",
			in:   etaInput{Pages: 10, Events: 1000, Left: 70000, Rate: auditlog.Rate{Limit: -1, Remaining: -1, Used: -1}, RateOK: true, PageRate: 5},
			want: 140 * time.Second, ok: true,
		},
		{
			name: "no budget known yet: the pace alone",
			in:   etaInput{Left: 70000, PerPage: 100, Rate: auditlog.Rate{Limit: -1, Remaining: -1, Used: -1}, PageRate: 5},
			want: 140 * time.Second, ok: true,
		},
		{
			name: "no pace yet, and the budget covers it: no estimate",
			in:   etaInput{Left: 70000, PerPage: 100, Rate: github(1750, time.Hour), RateOK: true},
		},
		{
			name: "no pace yet, the budget spent: at least the reset and the windows after it",
			in:   etaInput{Pages: 1, Events: 100, Left: 300000, Rate: github(0, 10*time.Minute), RateOK: true},
			want: 10*time.Minute + time.Hour, ok: true, // 3000 pages: 1750, then 1250
		},
		{
			name: "no pace yet, a wait in force: at least the wait",
			in: etaInput{Pages: 1, Events: 100, Left: 500, Rate: github(1000, 10*time.Minute), RateOK: true,
				Hold: now.Add(time.Minute)},
			want: time.Minute, ok: true,
		},
		{
			name: "the window is over: the next request opens a whole one",
			in: etaInput{Pages: 1, Events: 100, Left: 200000, Rate: auditlog.Rate{Limit: 1750, Remaining: 1750}, RateOK: true,
				PageRate: 10},
			// 2000 pages: 1750 in the window the next request opens, 250
			// at 10 a second after it.
			want: time.Hour + 25*time.Second, ok: true,
		},
		{
			name: "a hold after a secondary limit comes first",
			in: etaInput{Pages: 1, Events: 100, Left: 1000, Rate: github(100, 30*time.Minute), RateOK: true,
				PageRate: 1, Hold: now.Add(time.Minute)},
			want: time.Minute + 10*time.Second, ok: true,
		},
		{
			name: "a scaled window, as learned from the resets",
			in: etaInput{Pages: 50, Events: 500, Left: 1000, Rate: auditlog.Rate{Limit: 30, Remaining: 0, Reset: now.Add(2 * time.Second)}, RateOK: true,
				Window: 3 * time.Second, PageRate: 1000},
			// 100 pages: the reset, three windows of 30, 10 more.
			want: 2*time.Second + 3*3*time.Second + 10*time.Millisecond, ok: true,
		},
		{
			name: "one event left: one request, never zero",
			in:   etaInput{Pages: 10, Events: 1000, Left: 1, Rate: github(1000, time.Hour), RateOK: true, PageRate: 1000},
			want: time.Millisecond, ok: true,
		},
		{
			name: "before any page: a full page at a time",
			in:   etaInput{Left: 250, PerPage: 100, Rate: github(1000, time.Hour), RateOK: true, PageRate: 1},
			want: 3 * time.Second, ok: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			in := tt.in
			in.Now = now
			got, ok := estimateETA(in)
			assert.Equal(t, tt.ok, ok)
			assert.InDelta(t, tt.want.Seconds(), got.Seconds(), 1e-6, "got %s, want %s", got, tt.want)
		})
	}
}

// TestETATextNeverZero: a time left is rounded, to the second or past an
// hour to the minute, and never shown as 0; no estimate, or none needed,
// shows nothing.
func TestETATextNeverZero(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		d    time.Duration
		ok   bool
		want string
	}{
		{time.Millisecond, true, "ETA 1s"},
		{1400 * time.Millisecond, true, "ETA 1s"},
		{42 * time.Second, true, "ETA 42s"},
		{59*time.Minute + 47*time.Second + 300*time.Millisecond, true, "ETA 59m47s"},
		{time.Hour + 25*time.Second, true, "ETA 1h00m"},
		{2*time.Hour + 20*time.Minute + 125*time.Second, true, "ETA 2h22m"},
		{0, true, ""},
		{time.Hour, false, ""},
	} {
		assert.Equal(t, tt.want, etaText(tt.d, tt.ok), "%s", tt.d)
	}
}

// TestMeter: events a second over the last 30 s of wall-clock time, which
// falls to nothing while nothing comes; pages a second over the last 30 s
// of sending time, which a wait for the budget leaves as it was.
func TestMeter(t *testing.T) {
	t.Parallel()
	start := time.Date(2026, 5, 1, 5, 0, 0, 0, time.UTC)
	m := newMeter(start, 30*time.Second)
	assert.Zero(t, m.eventsPerSecond(start))
	assert.Zero(t, m.pagesPerSecond(0))

	// A minute at 1 page of 100 events a second, 10 pages a second in the
	// last 10 s.
	for s := 1; s <= 60; s++ {
		pages := int64(1)
		if s > 50 {
			pages = 10
		}
		at := start.Add(time.Duration(s) * time.Second)
		m.add(at, at.Sub(start), pages*100, pages)
	}
	at := start.Add(time.Minute)
	assert.InDelta(t, (20*100+10*1000)/30.0, m.eventsPerSecond(at), 1e-9, "the last 30 s, not since the start")
	assert.InDelta(t, (20+10*10)/30.0, m.pagesPerSecond(time.Minute), 1e-9)
	assert.LessOrEqual(t, len(m.marks), 31, "older marks are dropped")

	// Then an hour's wait for the budget: events/s falls to 0, the pace of
	// requests stays as it was.
	assert.InDelta(t, (10*1000)/30.0, m.eventsPerSecond(at.Add(20*time.Second)), 1e-9)
	assert.Zero(t, m.eventsPerSecond(at.Add(time.Hour)))
	assert.InDelta(t, (20+10*10)/30.0, m.pagesPerSecond(time.Minute), 1e-9)

	// Early on, the rate is over the time since the start.
	m = newMeter(start, 30*time.Second)
	m.add(start.Add(2*time.Second), 2*time.Second, 400, 4)
	assert.InDelta(t, 200.0, m.eventsPerSecond(start.Add(2*time.Second)), 1e-9)
	assert.InDelta(t, 2.0, m.pagesPerSecond(2*time.Second), 1e-9)
}

// TestShareOfTheRange: how much of the -since/-until range a one-walk export
// has covered, from the last event of a page, newest first or oldest first.
func TestShareOfTheRange(t *testing.T) {
	t.Parallel()
	since := time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC)
	upper := since.Add(100 * time.Hour)
	page := func(at ...time.Duration) *auditlog.Page {
		p := &auditlog.Page{}
		for _, d := range at {
			p.Events = append(p.Events, auditlog.Event{Timestamp: since.Add(d)})
		}
		return p
	}
	var done auditlog.Cursor
	require.NoError(t, done.UnmarshalText([]byte("done")))
	for _, tt := range []struct {
		name  string
		since time.Time
		order string
		page  *auditlog.Page
		want  float64
	}{
		{"newest first", since, "", page(90*time.Hour, 75*time.Hour), 0.25},
		{"oldest first", since, "asc", page(10*time.Hour, 25*time.Hour), 0.25},
		{"an event past the range counts as none of it", since, "asc", page(-time.Hour), 0},
		{"no -since: no range", time.Time{}, "", page(90 * time.Hour), -1},
		{"an empty page says nothing", since, "", page(), -1},
		{"the last page: all of it", since, "", &auditlog.Page{Next: done}, 1},
	} {
		ex := &exporter{since: tt.since, upper: upper, state: state{Order: tt.order}}
		assert.InDelta(t, tt.want, ex.share(tt.page), 1e-9, tt.name)
	}
}
