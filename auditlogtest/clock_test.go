package auditlogtest_test

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/ghaudit/auditlog"
	"github.com/ghaudit/auditlog/auditlogtest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestClock(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2024, 6, 6, 8, 0, 0, 0, time.UTC)
	clk := auditlogtest.NewClock(t0)
	assert.Equal(t, t0, clk.Now())
	assert.Equal(t, t0.Add(time.Hour), clk.Advance(time.Hour))
	assert.Equal(t, t0.Add(time.Hour), clk.Now())
	assert.Equal(t, t0.Add(30*time.Minute), clk.Advance(-30*time.Minute))
	clk.Set(t0.Add(24 * time.Hour))
	assert.Equal(t, t0.Add(24*time.Hour), clk.Now())
}

// TestClockDrivesTheServer: the window resets, the Date header and the
// request log follow the clock the test sets, with no real waiting.
func TestClockDrivesTheServer(t *testing.T) {
	t.Parallel()
	clk := newClock()
	s := auditlogtest.New(t, auditlogtest.WithoutListener(), auditlogtest.WithClock(clk.Now),
		auditlogtest.WithRateLimit(auditlogtest.ResourceAuditLog, 2, time.Hour))
	const log = "/enterprises/avocado-corp/audit-log"
	assert.Equal(t, []int{200, 200, 403}, statuses(t, s, log, log, log))
	clk.Advance(59 * time.Minute)
	assert.Equal(t, []int{403}, statuses(t, s, log))
	clk.Advance(time.Minute)
	resp, _ := get(t, s, log)
	assert.Equal(t, http.StatusOK, resp.StatusCode, "a new window")
	assert.Equal(t, clk.Now().Format(http.TimeFormat), resp.Header.Get("Date"))
	assert.Equal(t, clk.Now(), s.Now())
	reqs := s.Requests()
	assert.Equal(t, clk.Now(), reqs[len(reqs)-1].Time)
}

func TestAddEventsAtListsLateEvents(t *testing.T) {
	t.Parallel()
	clk := newClock()
	t0 := clk.Now()
	ev := func(id string, at time.Time) auditlogtest.Event {
		return auditlogtest.Event{ID: id, Time: at, Action: "repo.create", Actor: "octocat"}
	}
	s := auditlogtest.New(t, auditlogtest.WithoutListener(), auditlogtest.WithClock(clk.Now),
		auditlogtest.WithEvents(ev("a", t0.Add(-3*time.Minute)).JSON(), ev("c", t0.Add(-time.Minute)).JSON()))
	require.NoError(t, s.AddEventsAt(t0.Add(5*time.Minute), ev("b", t0.Add(-2*time.Minute)).JSON()))
	require.NoError(t, s.AddEventsAt(time.Time{}, ev("d", t0.Add(-30*time.Second)).JSON()), "zero: at once")

	page := func() []string {
		resp, body := get(t, s, "/enterprises/avocado-corp/audit-log?order=asc&phrase=actor:octocat")
		require.Equal(t, http.StatusOK, resp.StatusCode)
		return docIDs(t, body)
	}
	assert.Equal(t, []string{"a", "c", "d"}, page())
	assert.Equal(t, []string{"a", "c", "d"}, rawIDs(t, s.Events(auditlog.IncludeWeb, auditlog.OrderAsc)))
	clk.Advance(5*time.Minute - time.Millisecond)
	assert.Equal(t, []string{"a", "c", "d"}, page())
	clk.Advance(time.Millisecond)
	assert.Equal(t, []string{"a", "b", "c", "d"}, page(), "listed from its time on, at its @timestamp's place")
	assert.Equal(t, []string{"a", "b", "c", "d"}, rawIDs(t, s.Events("", auditlog.OrderAsc)))

	// Its ID is taken even before it shows.
	require.ErrorContains(t, s.AddEventsAt(t0.Add(time.Hour), ev("b", t0).JSON()), `duplicate _document_id "b"`)
}

// TestLateEventBehindACursor: an event that shows up behind the cursor of
// a walk in progress is not in the walk's next pages, as on GitHub (a tail
// needs its look-back); a new walk sees it.
func TestLateEventBehindACursor(t *testing.T) {
	t.Parallel()
	clk := newClock()
	t0 := clk.Now()
	ev := func(id string, ago time.Duration) json.RawMessage {
		return auditlogtest.Event{ID: id, Time: t0.Add(-ago), Action: "team.add_member"}.JSON()
	}
	s := auditlogtest.New(t, auditlogtest.WithoutListener(), auditlogtest.WithClock(clk.Now),
		auditlogtest.WithEvents(ev("a", 60*time.Second), ev("b", 50*time.Second), ev("c", 40*time.Second), ev("d", 30*time.Second)))
	require.NoError(t, s.AddEventsAt(t0.Add(time.Minute), ev("x", 55*time.Second)))
	resp, body := get(t, s, "/enterprises/avocado-corp/audit-log?order=asc&per_page=2")
	assert.Equal(t, []string{"a", "b"}, docIDs(t, body))
	next := links(resp.Header)["next"]
	clk.Advance(time.Minute)
	_, body = get(t, s, next)
	assert.Equal(t, []string{"c", "d"}, docIDs(t, body), "x is behind the cursor")
	_, body = get(t, s, "/enterprises/avocado-corp/audit-log?order=asc")
	assert.Equal(t, []string{"a", "x", "b", "c", "d"}, docIDs(t, body))
}
