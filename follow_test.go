package auditlog

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/url"
	"runtime"
	"slices"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/ghaudit/auditlog/auditlogtest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// liveHeap returns the bytes of live heap objects after a full collection.
func liveHeap() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// TestCheckpointCopiesWhatItKeeps: a checkpoint holding the IDs of 1,000
// events taken from pages totalling more than 50 MiB keeps well under 1 MiB
// alive: what it keeps is copied out of the page bodies (issue 12.4). Not
// parallel: it measures the heap.
func TestCheckpointCopiesWhatItKeeps(t *testing.T) {
	const pages = 1000
	const pageSize = 53 << 10 // 1,000 pages: 51.8 MiB
	before := liveHeap()
	var cp Checkpoint
	base := time.Now().Add(-time.Hour)
	total := 0
	for i := range pages {
		// Each page is a fresh body; the one event the checkpoint keeps
		// has a small ID and a large field beside it.
		var b strings.Builder
		fmt.Fprintf(&b, `[{"@timestamp":%d,"_document_id":"id-%04d","action":"repo.create","data":{"blob":"`,
			base.Add(time.Duration(i)*time.Millisecond).UnixMilli(), i)
		b.WriteString(strings.Repeat("x", pageSize-b.Len()-4))
		b.WriteString(`"}}]`)
		body := b.String()
		total += len(body)
		evs, err := decodeEvents(body)
		require.NoError(t, err)
		require.Len(t, evs, 1)
		require.True(t, cp.Add(evs[0]))
	}
	after := liveHeap()
	require.GreaterOrEqual(t, total, 50<<20)
	require.Len(t, cp.Seen, pages)
	grown := int64(after) - int64(before)
	t.Logf("pages read: %.1f MiB; live heap grown by %d KiB for %d IDs", float64(total)/(1<<20), grown>>10, len(cp.Seen))
	assert.Less(t, grown, int64(1<<20), "the checkpoint pins page bodies")
	runtime.KeepAlive(&cp)
}

// arrival is an event and the moment it reaches the audit log.
type arrival struct {
	id string
	ts time.Time // its @timestamp
	at time.Time // when it becomes visible in the API
}

// tail runs one scenario inside a synctest bubble: a writer adds each
// arrival to the fake at its time (in batches every tick), a Follower tails
// until the context ends at until, and tail returns how many times each ID
// was delivered and the most IDs the Follower held at once (sampled every
// tick). arrivals must be sorted by at.
// In an organization's tail, one arrival in three comes with an event of
// another organization, which must not be delivered.
func tail(t *testing.T, sc scopeCase, fg *auditlogtest.Server, f *Follower, arrivals []arrival, tick time.Duration, until time.Time) (map[string]int, int) {
	t.Helper()
	ctx, cancel := context.WithDeadline(t.Context(), until)
	defer cancel()
	maxTracked := 0
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		for ctx.Err() == nil {
			maxTracked = max(maxTracked, f.Tracked())
			select {
			case <-ctx.Done():
			case <-time.After(tick):
			}
		}
	}()
	go func() {
		for i := 0; i < len(arrivals); {
			var batch []json.RawMessage
			now := time.Now()
			for ; i < len(arrivals) && !arrivals[i].at.After(now); i++ {
				batch = append(batch, sc.event(arrivals[i].id, arrivals[i].ts))
				if sc.org != "" && i%3 == 0 {
					batch = append(batch, noise("noise-"+arrivals[i].id, arrivals[i].ts))
				}
			}
			if len(batch) > 0 {
				if err := fg.AddEvents(batch...); err != nil {
					panic(err)
				}
			}
			if i < len(arrivals) {
				time.Sleep(min(tick, arrivals[i].at.Sub(now)))
			}
		}
	}()
	got := map[string]int{}
	for ev, err := range f.Events(ctx) {
		require.NoError(t, err)
		got[ev.DocumentID]++
	}
	<-sampled
	return got, maxTracked
}

// checkOnce asserts that every arrival was delivered exactly once and
// nothing else was.
func checkOnce(t *testing.T, arrivals []arrival, got map[string]int) (missed, dups int) {
	t.Helper()
	for _, a := range arrivals {
		switch n := got[a.id]; {
		case n == 0:
			missed++
			if missed <= 5 {
				t.Errorf("missed %s: @timestamp %s, visible %s later", a.id, a.ts.Format(time.TimeOnly), a.at.Sub(a.ts))
			}
		case n > 1:
			dups += n - 1
		}
	}
	assert.Zero(t, missed, "events missed")
	assert.Zero(t, dups, "events delivered twice")
	assert.Len(t, got, len(arrivals), "events that never arrived were delivered")
	return missed, dups
}

// TestFollowAtVolume: the tail of issue 12.5, on GitHub's own numbers in
// fake time: 1,000 events a minute, a 5-minute look-back, a poll a minute,
// 100 per page, one event in ten reaching the log late by up to half the
// look-back (events reach the fake in 30-second batches, which keeps the
// fake's own sorting affordable). Every event is delivered once, and in
// steady state (after the first sweeps) the tail costs at most 25
// requests per 1,000 events (about 21 by the formula in Follow's
// documentation). bench/ measures the same on a wall clock.
func TestFollowAtVolume(t *testing.T) {
	t.Parallel()
	inBubbleOnEach(t, handScopes(), testFollowAtVolume)
}

func testFollowAtVolume(t *testing.T, sc scopeCase) {
	fg := memFake(t, auditlogtest.WithEvents(), auditlogtest.WithoutRateLimits(), withTestOrg())
	c := memClient(t, fg, nil)
	start := time.Now()
	const rate = 1000 // events a minute
	const minutes = 25
	lookBack := DefaultFollowLookBack
	rng := rand.New(rand.NewPCG(12, 5))
	arrivals := make([]arrival, 0, rate*minutes)
	for i := range rate * minutes {
		ts := start.Add(time.Duration(i) * time.Minute / rate)
		at := ts
		if i%10 == 3 {
			at = ts.Add(time.Duration(rng.Int64N(int64(lookBack/2))) + time.Millisecond)
		}
		arrivals = append(arrivals, arrival{fmt.Sprintf("ev-%05d", i), ts, at})
	}
	slices.SortFunc(arrivals, func(a, b arrival) int { return a.at.Compare(b.at) })
	f := c.Follow(sc.scope, nil, FollowOptions{Since: start})
	end := start.Add(minutes * time.Minute)
	// After the last arrival, long enough for the last sweep.
	got, maxTracked := tail(t, sc, fg, f, arrivals, 30*time.Second, end.Add(lookBack+lookBack/2+3*DefaultFollowEvery))
	checkOnce(t, arrivals, got)

	// Steady state: from minute 10 (the first sweeps are at 7.5 and
	// 10) to the end of the arrivals.
	from := start.Add(10 * time.Minute)
	requests, events := 0, 0
	for _, r := range fg.Requests() {
		if !r.Time.Before(from) && r.Time.Before(end) {
			requests++
		}
	}
	for _, a := range arrivals {
		if !a.at.Before(from) && a.at.Before(end) {
			events++
		}
	}
	perThousand := float64(requests) * 1000 / float64(events)
	t.Logf("%d events, %d requests in all; steady state: %d requests for %d events = %.1f per 1,000; at most %d IDs held",
		len(arrivals), len(fg.Requests()), requests, events, perThousand, maxTracked)
	assert.LessOrEqual(t, perThousand, 25.0, "requests per 1,000 events")
	// A look-back and a rescan of events (7,500), plus a poll's and a
	// batch's worth.
	assert.LessOrEqual(t, maxTracked, 9000, "IDs held")
}

// TestFollowCatchesLatenessUpToLookBack: events late by anything up to the
// look-back, several sharing a millisecond, polled often; each is delivered
// once, and the IDs kept stay within a look-back and a rescan of events.
func TestFollowCatchesLatenessUpToLookBack(t *testing.T) {
	t.Parallel()
	inBubbleOnEach(t, handScopes(), testFollowCatchesLateness)
}

func testFollowCatchesLateness(t *testing.T, sc scopeCase) {
	{
		fg := memFake(t, auditlogtest.WithEvents(sc.event("old", synctestEpoch.Add(-time.Hour))), auditlogtest.WithoutRateLimits(), withTestOrg())
		c := memClient(t, fg, nil)
		start := time.Now()
		const lookBack = 2 * time.Minute
		const tick = time.Second
		rng := rand.New(rand.NewPCG(7, 7))
		var arrivals []arrival
		for i := range 600 {
			ts := start.Add(time.Duration(i) * 200 * time.Millisecond)
			at := ts
			switch i % 4 {
			case 1: // as late as the look-back allows (the writer adds on the tick)
				at = ts.Add(lookBack - tick)
			case 2:
				at = ts.Add(time.Duration(rng.Int64N(int64(lookBack - tick))))
			}
			id := fmt.Sprintf("ev-%03d", i)
			arrivals = append(arrivals, arrival{id, ts, at}, arrival{id + "-twin", ts, at})
		}
		slices.SortStableFunc(arrivals, func(a, b arrival) int { return a.at.Compare(b.at) })
		f := c.Follow(sc.scope, &Query{Include: IncludeAll}, FollowOptions{
			Every: 5 * time.Second, LookBack: lookBack, Since: start.Add(-10 * time.Minute)})
		last := arrivals[len(arrivals)-1].at
		got, maxTracked := tail(t, sc, fg, f, arrivals, tick, last.Add(2*lookBack))
		checkOnce(t, arrivals, got)
		// 200 ms apart, in twins: 10 events a second; a look-back and a
		// rescan (3 minutes) is 1,800 of them, plus a poll's worth.
		assert.LessOrEqual(t, maxTracked, 1900)
		cp := f.Checkpoint()
		for _, ts := range cp.Seen {
			assert.False(t, ts.Before(cp.Swept), "the ID set holds an event before Swept")
		}
	}
}

// TestWalkHandsOverToFollow: the README's hand-over. A walk builds a
// checkpoint with Add while events keep arriving, some of them late; a tail
// started from it delivers everything the walk did not, once (issue 12,
// acceptance).
func TestWalkHandsOverToFollow(t *testing.T) {
	t.Parallel()
	for i, order := range []Order{OrderDesc, OrderAsc, OrderDesc, OrderAsc} {
		sc := handScopes()[i/2]
		t.Run(sc.name+"/"+string(order), func(t *testing.T) {
			t.Parallel()
			var history []json.RawMessage
			for i := range 3000 {
				ts := synctestEpoch.Add(-3*time.Hour + time.Duration(i)*3*time.Second)
				history = append(history, sc.event(fmt.Sprintf("h-%04d", i), ts))
				if sc.org != "" && i%3 == 0 {
					history = append(history, noise(fmt.Sprintf("noise-h-%04d", i), ts))
				}
			}
			synctest.Test(t, func(t *testing.T) {
				fg := memFake(t, auditlogtest.WithEvents(history...), auditlogtest.WithoutRateLimits(), withTestOrg())
				c := memClient(t, fg, nil)
				start := time.Now()
				const lookBack = 5 * time.Minute
				// Events keep coming during the walk and after it: one a
				// second for half an hour, one in five late by up to 4m.
				var arrivals []arrival
				for i := range 1800 {
					ts := start.Add(-2*time.Minute + time.Duration(i)*time.Second)
					at := ts
					if i%5 == 0 {
						at = ts.Add(time.Duration(i%240) * time.Second)
					}
					arrivals = append(arrivals, arrival{fmt.Sprintf("a-%04d", i), ts, at})
				}
				slices.SortStableFunc(arrivals, func(a, b arrival) int { return a.at.Compare(b.at) })
				var before []json.RawMessage // visible when the walk starts
				for len(arrivals) > 0 && !arrivals[0].at.After(start) {
					before = append(before, sc.event(arrivals[0].id, arrivals[0].ts))
					arrivals = arrivals[1:]
				}
				require.NoError(t, fg.AddEvents(before...))

				delivered := map[string]int{}
				var cp Checkpoint
				q := &Query{Order: order, PerPage: 100}
				for page, err := range c.Pages(t.Context(), sc.scope, q) {
					require.NoError(t, err)
					for _, ev := range page.Events {
						delivered[ev.DocumentID]++
						cp.Add(ev)
					}
					cp.Prune(lookBack)
					time.Sleep(2 * time.Second) // a slow consumer: arrivals land during the walk
					if len(arrivals) > 0 && !arrivals[0].at.After(time.Now()) {
						var batch []json.RawMessage
						for len(arrivals) > 0 && !arrivals[0].at.After(time.Now()) {
							batch = append(batch, sc.event(arrivals[0].id, arrivals[0].ts))
							arrivals = arrivals[1:]
						}
						require.NoError(t, fg.AddEvents(batch...))
					}
				}
				walked := len(delivered)
				f := c.Follow(sc.scope, nil, FollowOptions{Every: 30 * time.Second, LookBack: lookBack, From: cp})
				last := start.Add(30 * time.Minute)
				tailed, _ := tail(t, sc, fg, f, arrivals, time.Second, last.Add(3*lookBack))
				for id, n := range tailed {
					delivered[id] += n
				}
				var all []arrival
				for i := range 3000 {
					all = append(all, arrival{id: fmt.Sprintf("h-%04d", i)})
				}
				for i := range 1800 {
					all = append(all, arrival{id: fmt.Sprintf("a-%04d", i)})
				}
				t.Logf("the walk delivered %d, the tail %d", walked, len(delivered)-walked)
				checkOnce(t, all, delivered)
			})
		})
	}
}

// TestFollowResumesFromCheckpoint: a tail stopped after four events and
// started again from its checkpoint, saved as JSON, delivers exactly the
// other six, and no repeat in ten polls.
func TestFollowResumesFromCheckpoint(t *testing.T) {
	t.Parallel()
	inBubbleOnEach(t, handScopes(), testFollowResumesFromCheckpoint)
}

func testFollowResumesFromCheckpoint(t *testing.T, sc scopeCase) {
	base := time.Now().Add(-time.Minute)
	srv, c := newFake(t, withTestOrg(), auditlogtest.WithEvents(sc.eventsEvery(10, base, time.Second)...))
	opts := FollowOptions{Every: time.Second, LookBack: time.Hour, Since: base.Add(-time.Second)}

	// First run: take 4 events, save the checkpoint as JSON, stop.
	f := c.Follow(sc.scope, nil, opts)
	var first []string
	var saved []byte
	for ev, err := range f.Events(t.Context()) {
		require.NoError(t, err)
		first = append(first, ev.DocumentID)
		if len(first) == 4 {
			var err error
			saved, err = json.Marshal(f.Checkpoint())
			require.NoError(t, err)
			break
		}
	}
	// Second run from the checkpoint: exactly the other 6, in ten polls
	// (enough to see any repeat).
	var cp Checkpoint
	require.NoError(t, json.Unmarshal(saved, &cp))
	opts.From = cp
	srv.ResetRequests()
	ctx, cancel := context.WithTimeout(t.Context(), 10*opts.Every-time.Millisecond)
	defer cancel()
	var second []string
	for ev, err := range c.Follow(sc.scope, nil, opts).Events(ctx) {
		require.NoError(t, err)
		second = append(second, ev.DocumentID)
	}
	assert.Equal(t, []string{"e0", "e1", "e2", "e3"}, first)
	assert.Equal(t, []string{"e4", "e5", "e6", "e7", "e8", "e9"}, second)
	assert.Equal(t, 10, auditLogRequests(srv), "polls")
}

// TestFollowContextPerCall: the Follower holds no context; each range takes
// its own, and a second range goes on where the first stopped (issue 12.6).
func TestFollowContextPerCall(t *testing.T) {
	t.Parallel()
	inBubbleOnEach(t, handScopes(), testFollowContextPerCall)
}

func testFollowContextPerCall(t *testing.T, sc scopeCase) {
	base := time.Now().Add(-time.Minute)
	srv, c := newFake(t, withTestOrg(), auditlogtest.WithEvents(sc.eventsEvery(6, base, time.Second)...))
	f := c.Follow(sc.scope, nil, FollowOptions{Every: time.Second, Since: base.Add(-time.Second)})
	assert.Empty(t, srv.Requests(), "Follow sent a request")

	ctx1, cancel1 := context.WithCancel(t.Context())
	defer cancel1()
	var got []string
	for ev, err := range f.Events(ctx1) {
		require.NoError(t, err)
		got = append(got, ev.DocumentID)
		if len(got) == 3 {
			cancel1() // the range ends with its context
		}
	}
	assert.Equal(t, []string{"e0", "e1", "e2"}, got)

	ctx2, cancel2 := context.WithCancel(t.Context())
	defer cancel2()
	require.NoError(t, srv.AddEvents(sc.event("e6", base.Add(10*time.Second))))
	for ev, err := range f.Events(ctx2) {
		require.NoError(t, err)
		got = append(got, ev.DocumentID)
		if len(got) == 7 {
			break
		}
	}
	assert.Equal(t, []string{"e0", "e1", "e2", "e3", "e4", "e5", "e6"}, got)
}

// TestFollowIgnoresSinceWhenResuming: with From set, Since cannot skip what
// the checkpoint has not delivered, and a log line says it was ignored
// (issue 12.6).
func TestFollowIgnoresSinceWhenResuming(t *testing.T) {
	t.Parallel()
	inBubbleOnEach(t, handScopes(), testFollowIgnoresSinceWhenResuming)
}

func testFollowIgnoresSinceWhenResuming(t *testing.T, sc scopeCase) {
	base := time.Now().Add(-time.Hour)
	evs := sc.eventsEvery(5, base, time.Minute)
	srv, _ := newFake(t, withTestOrg(), auditlogtest.WithEvents(evs...))
	logs := newCapture()
	c := memClient(t, srv, logs)
	var ev0 Event
	require.NoError(t, ev0.UnmarshalJSON(evs[0]))
	var cp Checkpoint
	cp.Add(ev0)

	f := c.Follow(sc.scope, nil, FollowOptions{
		Every: time.Second, LookBack: time.Minute, From: cp,
		Since: time.Now(), // a mistake: it would skip e1…e4
	})
	var got []string
	for ev, err := range f.Events(t.Context()) {
		require.NoError(t, err)
		got = append(got, ev.DocumentID)
		if len(got) == 4 {
			break
		}
	}
	assert.Equal(t, []string{"e1", "e2", "e3", "e4"}, got)
	assert.Contains(t, logs.text(), "FollowOptions.Since is ignored")
}

// TestFollowMergesCreated: a created: in the caller's phrase and the tail's
// own bound go out as one range; two in the phrase are refused (issue 12.3).
func TestFollowMergesCreated(t *testing.T) {
	t.Parallel()
	inBubbleOnEach(t, handScopes(), testFollowMergesCreated)
}

func testFollowMergesCreated(t *testing.T, sc scopeCase) {
	base := time.Now().Add(-time.Hour).Truncate(time.Second)
	srv, c := newFake(t, withTestOrg(), auditlogtest.WithEvents(sc.eventsEvery(6, base, 10*time.Minute)...))
	phrase := Phrase().Action("repo.create").CreatedBefore(base.Add(35 * time.Minute)).String()
	f := c.Follow(sc.scope, &Query{Phrase: phrase}, FollowOptions{Every: time.Second, Since: base.Add(15 * time.Minute)})
	// Once the tail is past the phrase's end there is nothing left to ask
	// for, and it sends nothing more.
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	var got []string
	for ev, err := range f.Events(ctx) {
		require.NoError(t, err)
		got = append(got, ev.DocumentID)
	}
	assert.Equal(t, []string{"e2", "e3"}, got, "since 15m, before 35m")
	require.NotZero(t, auditLogRequests(srv))
	for _, r := range srv.Requests() {
		if r.Path == auditlogtest.PathRateLimit {
			continue // the warm start
		}
		q, err := url.ParseQuery(r.RawQuery)
		require.NoError(t, err)
		assert.Equal(t, 1, strings.Count(q.Get("phrase"), "created:"), q.Get("phrase"))
	}

	two := &Query{Phrase: "created:>=2026-01-01 action:repo created:<2026-02-01"}
	for _, err := range c.Follow(sc.scope, two, FollowOptions{}).Events(t.Context()) {
		var ie *InputError
		require.ErrorAs(t, err, &ie)
		assert.Equal(t, "Query.Phrase", ie.Field)
		assert.Contains(t, ie.Reason, "alternatives")
	}
}

// TestFollowCancelDuringWait: cancelling the context of a tail waiting for
// its next poll ends the range at once, with no further request.
func TestFollowCancelDuringWait(t *testing.T) {
	t.Parallel()
	inBubbleOnEach(t, handScopes(), testFollowCancelDuringWait)
}

func testFollowCancelDuringWait(t *testing.T, sc scopeCase) {
	srv, c := newFake(t, withTestOrg(), auditlogtest.WithEvents(sc.event("a", time.Now())))
	ctx, cancel := context.WithCancel(t.Context())
	f := c.Follow(sc.scope, nil, FollowOptions{Every: time.Hour, Since: time.Now().Add(-time.Minute)})
	done := make(chan time.Time, 1)
	go func() {
		for range f.Events(ctx) {
			// first poll yields "a"; then the follower waits an hour
		}
		done <- time.Now()
	}()
	synctest.Wait() // the first poll is done and the follower waits
	require.Equal(t, 1, auditLogRequests(srv))
	time.Sleep(time.Minute) // into the hour-long wait
	cancelled := time.Now()
	cancel()
	synctest.Wait()
	select {
	case end := <-done:
		assert.Equal(t, cancelled, end, "returned after cancel")
	default:
		t.Fatal("Follow did not return after its context was cancelled")
	}
	assert.Equal(t, 1, auditLogRequests(srv), "no request after cancel")
}

func TestFollowRejectsBadOptions(t *testing.T) {
	t.Parallel()
	onEach(t, handScopes(), testFollowRejectsBadOptions)
}

func testFollowRejectsBadOptions(t *testing.T, sc scopeCase) {
	srv, c := newFake(t, withTestOrg())
	for _, tc := range []struct {
		q     *Query
		opts  FollowOptions
		field string
	}{
		{nil, FollowOptions{Every: -time.Second}, "FollowOptions.Every"},
		{nil, FollowOptions{LookBack: -time.Second}, "FollowOptions.LookBack"},
		{nil, FollowOptions{Rescan: -time.Second}, "FollowOptions.Rescan"},
		{nil, FollowOptions{From: Checkpoint{Seen: map[string]time.Time{"x": {}}}}, "FollowOptions.From"},
		{&Query{After: "abc"}, FollowOptions{}, "Query.After"},
		{&Query{Page: 2}, FollowOptions{}, "Query.After"},
		{(&Query{}).At(Cursor{done: true}), FollowOptions{}, "Query.After"},
		{&Query{PerPage: 1000}, FollowOptions{}, "Query.PerPage"},
		{&Query{Phrase: "created:yesterday"}, FollowOptions{}, "Query.Phrase"},
	} {
		n := 0
		for _, err := range c.Follow(sc.scope, tc.q, tc.opts).Events(context.Background()) {
			var ie *InputError
			require.ErrorAs(t, err, &ie)
			assert.Equal(t, tc.field, ie.Field)
			n++
		}
		assert.Equal(t, 1, n)
	}
	assert.Empty(t, srv.Requests())
}

func TestCheckpointAddAndPrune(t *testing.T) {
	t.Parallel()
	base := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	ev := func(id string, at time.Time) Event {
		var e Event
		require.NoError(t, e.UnmarshalJSON(rawEvent(id, at)))
		return e
	}
	var cp Checkpoint // the zero value is ready
	assert.True(t, cp.Add(ev("a", base)))
	assert.True(t, cp.Add(ev("b", base.Add(-3*time.Minute)))) // older: Newest stays
	assert.False(t, cp.Add(ev("a", base)), "the same ID twice")
	assert.True(t, cp.Add(ev("c", base.Add(time.Minute))))
	assert.Equal(t, base.Add(time.Minute), cp.Newest)
	assert.Len(t, cp.Seen, 3)

	cp.Prune(2 * time.Minute) // never swept: keeps IDs at or after Newest-2m = base-1m
	assert.Equal(t, map[string]time.Time{"a": base, "c": base.Add(time.Minute)}, cp.Seen)
	assert.True(t, cp.Add(ev("b", base.Add(-3*time.Minute))), "a pruned ID is new again")

	// Once swept, Swept is the line, whatever the look-back.
	cp.Swept = base.Add(30 * time.Second)
	cp.Prune(time.Hour)
	assert.Equal(t, map[string]time.Time{"c": base.Add(time.Minute)}, cp.Seen)

	// An event without an ID is keyed by its JSON.
	var e Event
	require.NoError(t, e.UnmarshalJSON([]byte(`{"@timestamp":1,"action":"x"}`)))
	assert.True(t, cp.Add(e))
	assert.False(t, cp.Add(e))

	// The JSON form round-trips, Swept included.
	b, err := json.Marshal(cp)
	require.NoError(t, err)
	var back Checkpoint
	require.NoError(t, json.Unmarshal(b, &back))
	assert.True(t, back.Swept.Equal(cp.Swept))
	assert.Len(t, back.Seen, len(cp.Seen))
}
