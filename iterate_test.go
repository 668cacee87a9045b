package auditlog

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/ghaudit/auditlog/auditlogtest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

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
	for _, sc := range scopes(srv) {
		for _, order := range []Order{OrderDesc, OrderAsc} {
			for _, include := range []Include{IncludeWeb, IncludeGit, IncludeAll} {
				want := sc.events(include, order)
				require.NotEmpty(t, want)
				for _, per := range []int{1, 7, 30, 100} {
					t.Run(fmt.Sprintf("%s/%s/%s/%d", sc.name, order, include, per), func(t *testing.T) {
						t.Parallel()
						q := &Query{Order: order, Include: include, PerPage: per}
						i := 0
						for ev, err := range c.Events(context.Background(), sc.scope, q) {
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
}

func TestPagesResumeFromEveryBoundary(t *testing.T) {
	t.Parallel()
	srv, c := newFake(t, auditlogtest.WithGeneratedEvents(2_000, 11))
	for _, sc := range scopes(srv) {
		t.Run(sc.name, func(t *testing.T) {
			t.Parallel()
			testResumeFromEveryBoundary(t, c, sc)
		})
	}
}

func testResumeFromEveryBoundary(t *testing.T, c *Client, sc scopeCase) {
	want := ids(t, sc.events("all", "desc"))
	q := &Query{Include: IncludeAll, PerPage: 30}

	var boundaries [][]byte // saved cursor text after each page
	var seen []string       // events read before each boundary, cumulative
	var prefix []int
	for page, err := range c.Pages(context.Background(), sc.scope, q) {
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
	var end Cursor
	require.NoError(t, end.UnmarshalText(boundaries[len(boundaries)-1]))
	require.True(t, end.Done(), "the last page's cursor is the end")

	for k, text := range boundaries {
		var saved Cursor
		require.NoError(t, saved.UnmarshalText(text))
		got := append([]string(nil), seen[:prefix[k]]...)
		for ev, err := range c.Events(context.Background(), sc.scope, q.At(saved)) {
			require.NoError(t, err)
			got = append(got, ev.DocumentID)
		}
		require.Equal(t, want, got, "resumed after page %d", k)
	}
}

func TestPagesBreakStopsRequests(t *testing.T) {
	t.Parallel()
	onEachScope(t, []auditlogtest.Option{auditlogtest.WithGeneratedEvents(500, 3)}, testBreakStopsRequests)
}

func testBreakStopsRequests(t *testing.T, srv *auditlogtest.Server, c *Client, sc scopeCase) {
	q := &Query{PerPage: 10}
	seq := c.Pages(context.Background(), sc.scope, q)
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
	for _, err := range c.Events(context.Background(), sc.scope, q) {
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
	for _, unknown := range []Scope{Enterprise("no-such-enterprise"), Organization("no-such-org"), OrganizationID(4242)} {
		errs := 0
		for _, err := range c.Events(context.Background(), unknown, nil) {
			require.ErrorIs(t, err, ErrNotFound)
			errs++
		}
		assert.Equal(t, 1, errs)
	}
	for _, sc := range scopes(srv) {
		errs := 0
		for _, err := range c.Pages(context.Background(), sc.scope, &Query{PerPage: 500}) {
			require.ErrorIs(t, err, ErrInvalidInput)
			errs++
		}
		assert.Equal(t, 1, errs)
	}
}

func TestPagesEnterpriseServerPageNumbers(t *testing.T) {
	t.Parallel()
	onEachScope(t, []auditlogtest.Option{auditlogtest.WithEnterpriseServer(), auditlogtest.WithGeneratedEvents(250, 5)}, func(t *testing.T, srv *auditlogtest.Server, c *Client, sc scopeCase) {
		require.True(t, strings.HasSuffix(srv.URL(), "/api/v3"))
		want := ids(t, sc.events("web", "desc"))
		var got []string
		pages := 0
		for page, err := range c.Pages(context.Background(), sc.scope, &Query{PerPage: 40}) {
			require.NoError(t, err)
			pages++
			for _, ev := range page.Events {
				got = append(got, ev.DocumentID)
			}
		}
		assert.Equal(t, want, got)
		assert.Equal(t, (len(want)+39)/40, pages)
		require.Greater(t, pages, 1)
		for _, r := range srv.Requests()[1:] {
			assert.Contains(t, r.RawQuery, "page=", "GHES walk must follow page numbers")
		}
	})
}

func TestPagesDropRepeatsWhenPageNumbersShift(t *testing.T) {
	t.Parallel()
	onEachScope(t, []auditlogtest.Option{auditlogtest.WithEnterpriseServer(), auditlogtest.WithGeneratedEvents(300, 5)}, func(t *testing.T, srv *auditlogtest.Server, c *Client, sc scopeCase) {
		newest := time.Now().UnixMilli()
		want := ids(t, sc.events("web", "desc"))
		var got []string
		for page, err := range c.Pages(context.Background(), sc.scope, &Query{PerPage: 10}) {
			require.NoError(t, err)
			for _, ev := range page.Events {
				got = append(got, ev.DocumentID)
			}
			if len(got) == 10 {
				// Three newer events arrive: page 2 now starts with the
				// last three of page 1.
				for i := range 3 {
					require.NoError(t, srv.AddEvents(sc.inOrg(json.RawMessage(fmt.Sprintf(
						`{"@timestamp":%d,"_document_id":"new-%d","action":"repo.create"}`, newest+int64(i)+1000, i)))))
				}
			}
		}
		assert.Equal(t, want, got, "every original event, once, in order")
	})
}

// eventsEvery makes n minimal events, e0, e1, …, step apart from base.
func eventsEvery(n int, base time.Time, step time.Duration) []json.RawMessage {
	evs := make([]json.RawMessage, n)
	for i := range evs {
		evs[i] = rawEvent(fmt.Sprintf("e%d", i), base.Add(time.Duration(i)*step))
	}
	return evs
}

// rawEvent makes a minimal event at ts.
func rawEvent(id string, ts time.Time) json.RawMessage {
	return json.RawMessage(fmt.Sprintf(`{"@timestamp":%d,"created_at":%d,"_document_id":%q,"action":"repo.create","actor":"octocat"}`,
		ts.UnixMilli(), ts.UnixMilli(), id))
}

// TestEventsExactlyOnceUnderFaults walks 10,000 events over TCP while the
// server answers 5% of requests with a 5xx, resets 2% of connections and
// cuts 2% of bodies short on the socket: the pipeline retries each failure
// on the same cursor, so the walk still yields the dataset exactly, in
// order. It stays on a real connection because what a reset or a truncated
// body looks like there is what it checks; backoff is turned off instead
// of run on a fake clock.
func TestEventsExactlyOnceUnderFaults(t *testing.T) {
	t.Parallel()
	for i, order := range []Order{OrderDesc, OrderAsc, OrderDesc, OrderAsc} {
		t.Run(fmt.Sprintf("%s/%d", order, i/2), func(t *testing.T) {
			t.Parallel()
			srv := auditlogtest.New(t,
				auditlogtest.WithGeneratedEvents(10_000, 21),
				auditlogtest.WithRateLimit(ResourceAuditLog, 1<<30, time.Hour),
				auditlogtest.WithSeed(int64(len(order)+i)),
				auditlogtest.WithFaults(auditlogtest.Faults{ServerError: 0.05, Reset: 0.02, Truncate: 0.02}))
			sc := scopes(srv)[i/2]
			t.Log(sc.name)
			want := ids(t, sc.events(IncludeAll, order))
			c, err := NewClient(WithBaseURL(srv.URL()), WithToken(srv.Token()), WithLogger(testLogger), WithMaxAttempts(20))
			require.NoError(t, err)
			c.backoff.jitter = func(time.Duration) time.Duration { return 0 }
			var got []string
			for ev, err := range c.Events(t.Context(), sc.scope, &Query{Order: order, Include: IncludeAll, PerPage: 30}) {
				require.NoError(t, err)
				got = append(got, ev.DocumentID)
			}
			require.Equal(t, want, got)
			faults := map[string]int{}
			for _, r := range srv.Requests() {
				if r.Fault != "" {
					faults[r.Fault]++
				}
			}
			t.Logf("%d requests, faults %v", len(srv.Requests()), faults)
			assert.NotZero(t, faults["server_error"])
			assert.NotZero(t, faults["reset"])
			assert.NotZero(t, faults["truncate"])
		})
	}
}
