package auditlog

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/ghaudit/auditlog/auditlogtest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// newFake starts an auditlogtest server and a client for it. Unless opts
// say otherwise the audit-log budget is large, so walks are not paced.
func newFake(t *testing.T, opts ...auditlogtest.Option) (*auditlogtest.Server, *Client) {
	t.Helper()
	opts = append([]auditlogtest.Option{auditlogtest.WithRateLimit("audit_log", 1<<30, time.Hour)}, opts...)
	srv := auditlogtest.NewServer(opts...)
	t.Cleanup(srv.Close)
	c, err := NewClient(WithBaseURL(srv.URL()), WithToken(srv.Token()), WithLogger(testLogger))
	require.NoError(t, err)
	return srv, c
}

// ids extracts _document_id from raw events.
func ids(t *testing.T, raws []json.RawMessage) []string {
	t.Helper()
	out := make([]string, len(raws))
	for i, r := range raws {
		var v struct {
			ID string `json:"_document_id"`
		}
		require.NoError(t, json.Unmarshal(r, &v))
		out[i] = v.ID
	}
	return out
}

func TestEventsWalkEqualsDataset(t *testing.T) {
	t.Parallel()
	srv, c := newFake(t, auditlogtest.WithGeneratedEvents(10_000, 7))
	for _, order := range []Order{OrderDesc, OrderAsc} {
		for _, include := range []Include{IncludeWeb, IncludeGit, IncludeAll} {
			want := srv.Events(include, order)
			require.NotEmpty(t, want)
			for _, per := range []int{1, 7, 30, 100} {
				t.Run(fmt.Sprintf("%s/%s/%d", order, include, per), func(t *testing.T) {
					t.Parallel()
					q := &Query{Order: order, Include: include, PerPage: per}
					i := 0
					for ev, err := range c.Events(context.Background(), srv.Enterprise(), q) {
						require.NoError(t, err)
						require.Less(t, i, len(want), "more events than the dataset")
						// Same event, same place, byte for byte.
						require.Equal(t, string(want[i]), string(ev.Raw()), "event %d", i)
						i++
					}
					require.Equal(t, len(want), i)
				})
			}
		}
	}
}

func TestPagesResumeFromEveryBoundary(t *testing.T) {
	t.Parallel()
	srv, c := newFake(t, auditlogtest.WithGeneratedEvents(2_000, 11))
	want := ids(t, srv.Events("all", "desc"))
	q := &Query{Include: IncludeAll, PerPage: 30}

	var boundaries [][]byte // saved cursor text after each page
	var seen []string       // events read before each boundary, cumulative
	var prefix []int
	for page, err := range c.Pages(context.Background(), srv.Enterprise(), q) {
		require.NoError(t, err)
		for _, ev := range page.Events {
			seen = append(seen, ev.DocumentID)
		}
		text, err := page.Next.MarshalText()
		require.NoError(t, err)
		boundaries = append(boundaries, text)
		prefix = append(prefix, len(seen))
	}
	require.Equal(t, want, seen)
	require.Len(t, boundaries, (len(want)+29)/30)
	require.Empty(t, boundaries[len(boundaries)-1], "the last page has no next cursor")

	for k, text := range boundaries[:len(boundaries)-1] {
		var saved Cursor
		require.NoError(t, saved.UnmarshalText(text))
		got := append([]string(nil), seen[:prefix[k]]...)
		for ev, err := range c.Events(context.Background(), srv.Enterprise(), q.At(saved)) {
			require.NoError(t, err)
			got = append(got, ev.DocumentID)
		}
		require.Equal(t, want, got, "resumed after page %d", k)
	}
}

func TestPagesBreakStopsRequests(t *testing.T) {
	t.Parallel()
	srv, c := newFake(t, auditlogtest.WithGeneratedEvents(500, 3))
	q := &Query{PerPage: 10}
	seq := c.Pages(context.Background(), srv.Enterprise(), q)
	assert.Empty(t, srv.Requests(), "creating the iterator sent a request")
	n := 0
	for _, err := range seq {
		require.NoError(t, err)
		if n++; n == 3 {
			break
		}
	}
	assert.Equal(t, 3, auditLogRequests(srv))

	// Events: break in the middle of a page, no further request.
	srv.ResetRequests()
	n = 0
	for _, err := range c.Events(context.Background(), srv.Enterprise(), q) {
		require.NoError(t, err)
		if n++; n == 15 {
			break
		}
	}
	assert.Equal(t, 2, auditLogRequests(srv))
	assert.Equal(t, &Query{PerPage: 10}, q, "the caller's query was modified")
}

func TestPagesYieldOneErrorAndStop(t *testing.T) {
	t.Parallel()
	srv, c := newFake(t, auditlogtest.WithGeneratedEvents(100, 3))
	var errs int
	for _, err := range c.Events(context.Background(), "no-such-enterprise", nil) {
		require.ErrorIs(t, err, ErrNotFound)
		errs++
	}
	assert.Equal(t, 1, errs)
	errs = 0
	for _, err := range c.Pages(context.Background(), srv.Enterprise(), &Query{PerPage: 500}) {
		require.ErrorIs(t, err, ErrInvalidInput)
		errs++
	}
	assert.Equal(t, 1, errs)
}

func TestPagesEnterpriseServerPageNumbers(t *testing.T) {
	t.Parallel()
	srv := auditlogtest.NewServer(auditlogtest.WithEnterpriseServer(), auditlogtest.WithGeneratedEvents(250, 5),
		auditlogtest.WithRateLimit("audit_log", 1<<30, time.Hour))
	t.Cleanup(srv.Close)
	require.True(t, strings.HasSuffix(srv.URL(), "/api/v3"))
	c, err := NewClient(WithBaseURL(srv.URL()), WithToken(srv.Token()))
	require.NoError(t, err)
	want := ids(t, srv.Events("web", "desc"))
	var got []string
	pages := 0
	for page, err := range c.Pages(context.Background(), srv.Enterprise(), &Query{PerPage: 40}) {
		require.NoError(t, err)
		pages++
		for _, ev := range page.Events {
			got = append(got, ev.DocumentID)
		}
	}
	assert.Equal(t, want, got)
	assert.Equal(t, (len(want)+39)/40, pages)
	for _, r := range srv.Requests()[1:] {
		assert.Contains(t, r.RawQuery, "page=", "GHES walk must follow page numbers")
	}
}

func TestPagesDropRepeatsWhenPageNumbersShift(t *testing.T) {
	t.Parallel()
	srv := auditlogtest.NewServer(auditlogtest.WithEnterpriseServer(), auditlogtest.WithGeneratedEvents(100, 5),
		auditlogtest.WithRateLimit("audit_log", 1<<30, time.Hour))
	t.Cleanup(srv.Close)
	c, err := NewClient(WithBaseURL(srv.URL()), WithToken(srv.Token()))
	require.NoError(t, err)
	newest := time.Now().UnixMilli()
	want := ids(t, srv.Events("web", "desc"))
	var got []string
	for page, err := range c.Pages(context.Background(), srv.Enterprise(), &Query{PerPage: 10}) {
		require.NoError(t, err)
		for _, ev := range page.Events {
			got = append(got, ev.DocumentID)
		}
		if len(got) == 10 {
			// Three newer events arrive: page 2 now starts with the last
			// three of page 1.
			for i := range 3 {
				require.NoError(t, srv.AddEvents(json.RawMessage(fmt.Sprintf(
					`{"@timestamp":%d,"_document_id":"new-%d","action":"repo.create"}`, newest+int64(i)+1000, i))))
			}
		}
	}
	assert.Equal(t, want, got, "every original event, once, in order")
}

// rawEvent makes a minimal event at ts.
func rawEvent(id string, ts time.Time) json.RawMessage {
	return json.RawMessage(fmt.Sprintf(`{"@timestamp":%d,"created_at":%d,"_document_id":%q,"action":"repo.create","actor":"octocat"}`,
		ts.UnixMilli(), ts.UnixMilli(), id))
}

func TestFollowYieldsEachEventOnce(t *testing.T) {
	t.Parallel()
	start := time.Now()
	old := rawEvent("old-before-since", start.Add(-time.Hour))
	srv, c := newFake(t, auditlogtest.WithEvents(old))
	const lookBack = 2 * time.Minute

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	f := c.Follow(ctx, srv.Enterprise(), &Query{Include: IncludeAll}, FollowOptions{
		Every: time.Millisecond, LookBack: lookBack, Since: start.Add(-10 * time.Minute),
	})

	// A writer adds events while the follower polls: current ones, late
	// ones stamped up to the look-back in the past, and several sharing a
	// millisecond.
	var want []string
	var mu sync.Mutex
	added := make(chan struct{})
	go func() {
		defer close(added)
		for i := range 60 {
			now := time.Now()
			ts := now
			switch i % 4 {
			case 1:
				ts = now.Add(-lookBack + 5*time.Second) // late, inside the look-back
			case 2:
				ts = now.Add(-lookBack / 2)
			}
			id := fmt.Sprintf("ev-%03d", i)
			if err := srv.AddEvents(rawEvent(id, ts), rawEvent(id+"-twin", ts)); err != nil {
				panic(err)
			}
			mu.Lock()
			want = append(want, id, id+"-twin")
			mu.Unlock()
			time.Sleep(2 * time.Millisecond)
		}
	}()

	// A watcher ends the tail once 100 polls have passed after the last
	// event was added: by then every event must have been yielded.
	go func() {
		<-added
		n := len(srv.Requests())
		for len(srv.Requests()) < n+100 {
			time.Sleep(time.Millisecond)
		}
		cancel()
	}()
	got := map[string]int{}
	maxTracked := 0
	for ev, err := range f.Events() {
		require.NoError(t, err)
		got[ev.DocumentID]++
		maxTracked = max(maxTracked, f.Tracked())
	}
	<-added
	mu.Lock()
	defer mu.Unlock()
	for _, id := range want {
		assert.Equal(t, 1, got[id], "event %s", id)
	}
	assert.Len(t, got, len(want), "nothing else, and not the event before Since")
	assert.LessOrEqual(t, maxTracked, len(want))

	cp := f.Checkpoint()
	assert.False(t, cp.IsZero())
	for _, ts := range cp.Seen {
		assert.False(t, ts.Before(cp.Newest.Add(-lookBack)), "the ID set holds an event outside the look-back window")
	}
}

func TestFollowResumesFromCheckpoint(t *testing.T) {
	t.Parallel()
	base := time.Now().Add(-time.Minute)
	var evs []json.RawMessage
	for i := range 10 {
		evs = append(evs, rawEvent(fmt.Sprintf("e%d", i), base.Add(time.Duration(i)*time.Second)))
	}
	srv, c := newFake(t, auditlogtest.WithEvents(evs...))
	opts := FollowOptions{Every: time.Millisecond, LookBack: time.Hour, Since: base.Add(-time.Second)}

	// First run: take 4 events, save the checkpoint as JSON, stop.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	f := c.Follow(ctx, srv.Enterprise(), nil, opts)
	var first []string
	var saved []byte
	for ev, err := range f.Events() {
		require.NoError(t, err)
		first = append(first, ev.DocumentID)
		if len(first) == 4 {
			var err error
			saved, err = json.Marshal(f.Checkpoint())
			require.NoError(t, err)
			break
		}
	}
	// Second run from the checkpoint: exactly the other 6.
	var cp Checkpoint
	require.NoError(t, json.Unmarshal(saved, &cp))
	opts.From = cp
	ctx2, cancel2 := context.WithCancel(context.Background())
	defer cancel2()
	srv.ResetRequests()
	go func() {
		for len(srv.Requests()) < 10 { // ten polls: enough to see any repeat
			time.Sleep(time.Millisecond)
		}
		cancel2()
	}()
	var second []string
	for ev, err := range c.Follow(ctx2, srv.Enterprise(), nil, opts).Events() {
		require.NoError(t, err)
		second = append(second, ev.DocumentID)
	}
	assert.Equal(t, []string{"e0", "e1", "e2", "e3"}, first)
	assert.Equal(t, []string{"e4", "e5", "e6", "e7", "e8", "e9"}, second)
}

func TestFollowCancelDuringWait(t *testing.T) {
	t.Parallel()
	srv, c := newFake(t, auditlogtest.WithEvents(rawEvent("a", time.Now())))
	ctx, cancel := context.WithCancel(context.Background())
	f := c.Follow(ctx, srv.Enterprise(), nil, FollowOptions{Every: time.Hour, Since: time.Now().Add(-time.Minute)})
	done := make(chan time.Time)
	go func() {
		for range f.Events() {
			// first poll yields "a"; then the follower waits an hour
		}
		done <- time.Now()
	}()
	require.Eventually(t, func() bool { return auditLogRequests(srv) == 1 }, 5*time.Second, time.Millisecond)
	time.Sleep(5 * time.Millisecond) // into the hour-long wait
	cancelled := time.Now()
	cancel()
	select {
	case end := <-done:
		t.Logf("returned %s after cancel", end.Sub(cancelled))
	case <-time.After(10 * time.Second):
		t.Fatal("Follow did not return after its context was cancelled")
	}
	assert.Equal(t, 1, auditLogRequests(srv), "no request after cancel")
}

func TestFollowRejectsBadOptions(t *testing.T) {
	t.Parallel()
	srv, c := newFake(t)
	for _, tc := range []struct {
		q     *Query
		opts  FollowOptions
		field string
	}{
		{nil, FollowOptions{Every: -time.Second}, "FollowOptions.Every"},
		{nil, FollowOptions{LookBack: -time.Second}, "FollowOptions.LookBack"},
		{&Query{After: "abc"}, FollowOptions{}, "Query.After"},
		{&Query{Page: 2}, FollowOptions{}, "Query.After"},
		{&Query{PerPage: 1000}, FollowOptions{}, "Query.PerPage"},
	} {
		n := 0
		for _, err := range c.Follow(context.Background(), srv.Enterprise(), tc.q, tc.opts).Events() {
			var ie *InputError
			require.ErrorAs(t, err, &ie)
			assert.Equal(t, tc.field, ie.Field)
			n++
		}
		assert.Equal(t, 1, n)
	}
	assert.Empty(t, srv.Requests())
}

// TestEventsExactlyOnceUnderFaults walks 10,000 events while the server
// answers 5% of requests with a 5xx, resets 2% of connections and cuts 2% of
// bodies short: the pipeline retries each failure on the same cursor, so the
// walk still yields the dataset exactly, in order. Backoff runs on the
// synctest clock.
func TestEventsExactlyOnceUnderFaults(t *testing.T) {
	t.Parallel()
	for _, order := range []Order{OrderDesc, OrderAsc} {
		t.Run(string(order), func(t *testing.T) {
			t.Parallel()
			f := newFakeGitHub(t,
				auditlogtest.WithGeneratedEvents(10_000, 21),
				auditlogtest.WithRateLimit(ResourceAuditLog, 1<<30, time.Hour),
				auditlogtest.WithSeed(int64(len(order))),
				auditlogtest.WithFaults(auditlogtest.Faults{ServerError: 0.05, Reset: 0.02, Truncate: 0.02}))
			want := ids(t, f.Events(IncludeAll, order))
			synctest.Test(t, func(t *testing.T) {
				c := f.client(t, WithMaxAttempts(20))
				var got []string
				for ev, err := range c.Events(t.Context(), f.Enterprise(), &Query{Order: order, Include: IncludeAll, PerPage: 30}) {
					require.NoError(t, err)
					got = append(got, ev.DocumentID)
				}
				require.Equal(t, want, got)
				faults := map[string]int{}
				for _, r := range f.Requests() {
					if r.Fault != "" {
						faults[r.Fault]++
					}
				}
				t.Logf("%d requests, faults %v", len(f.Requests()), faults)
				assert.NotZero(t, faults["server_error"])
				assert.NotZero(t, faults["reset"])
				assert.NotZero(t, faults["truncate"])
			})
		})
	}
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

	cp.Prune(2 * time.Minute) // keeps IDs at or after Newest-2m = base-1m
	assert.Equal(t, map[string]time.Time{"a": base, "c": base.Add(time.Minute)}, cp.Seen)
	assert.True(t, cp.Add(ev("b", base.Add(-3*time.Minute))), "a pruned ID is new again")

	// An event without an ID is keyed by its JSON.
	var e Event
	require.NoError(t, e.UnmarshalJSON([]byte(`{"@timestamp":1,"action":"x"}`)))
	assert.True(t, cp.Add(e))
	assert.False(t, cp.Add(e))
}
