package auditlog

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ghaudit/auditlog/auditlogtest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseLinkHeader(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		in   []string
		want []link
	}{
		{"empty", nil, nil},
		{"one", []string{`<https://x/a?page=2>; rel="next"`}, []link{{"https://x/a?page=2", []string{"next"}}}},
		{"several and spacing", []string{` <https://x/1> ;rel="next" ,<https://x/2>;   rel="last"`},
			[]link{{"https://x/1", []string{"next"}}, {"https://x/2", []string{"last"}}}},
		{"unquoted and upper case", []string{`<https://x/1>; REL=Next`}, []link{{"https://x/1", []string{"next"}}}},
		{"several rels", []string{`<https://x/1>; rel="next last"`}, []link{{"https://x/1", []string{"next", "last"}}}},
		{"other params and commas in quotes", []string{`<https://x/1>; title="a, b"; rel="prev", <https://x/2>; rel="next"`},
			[]link{{"https://x/1", []string{"prev"}}, {"https://x/2", []string{"next"}}}},
		{"two header lines", []string{`<https://x/1>; rel="prev"`, `<https://x/2>; rel="next"`},
			[]link{{"https://x/1", []string{"prev"}}, {"https://x/2", []string{"next"}}}},
		{"garbage", []string{`no links here`, `<unterminated`}, nil},
		{"no rel", []string{`<https://x/1>`}, []link{{url: "https://x/1"}}},
	} {
		assert.Equal(t, tc.want, parseLinkHeader(tc.in), tc.name)
	}
}

func TestLinkCursors(t *testing.T) {
	t.Parallel()
	c, err := NewClient(WithBaseURL("https://ghe.acme.internal/api/v3"), WithToken(testToken))
	require.NoError(t, err)
	h := http.Header{}
	h.Set("Link", `<https://ghe.acme.internal/api/v3/enterprises/1/audit-log?page=3&per_page=50>; rel="next", `+
		`<https://ghe.acme.internal/api/v3/enterprises/1/audit-log?page=9&per_page=50>; rel="last", `+
		`</api/v3/enterprises/1/audit-log?page=1&per_page=50>; rel="prev"`)
	next, prev, err := c.linkCursors(h)
	require.NoError(t, err)
	assert.Equal(t, Cursor{page: 3}, next, "page-number fallback")
	assert.Equal(t, Cursor{page: 1}, prev, "relative link resolved against the base URL")

	// Only the cursor is taken from a link: the host it names does not
	// matter, since the next request is built on the base URL.
	for _, other := range []string{
		`<http://ghe.acme.internal/api/v3/enterprises/1/audit-log?page=2>; rel="next"`,
		`<https://ghe.acme.internal:444/api/v3/enterprises/1/audit-log?page=2>; rel="next"`,
		`<https://proxy.acme.internal/api/v3/enterprises/1/audit-log?page=2>; rel="next"`,
		`<//cdn.example/x?page=2>; rel="next"`,
	} {
		h.Set("Link", other)
		next, _, err := c.linkCursors(h)
		require.NoError(t, err, other)
		assert.Equal(t, Cursor{page: 2}, next, other)
	}
	for _, bad := range []string{
		`<https://ghe.acme.internal/api/v3/enterprises/1/audit-log?after=&before=>; rel="next"`, // no cursor: would loop
		`<https://ghe.acme.internal/api/v3/enterprises/1/audit-log?page=0>; rel="next"`,
		`<https://ghe.acme.internal/x?after=a%0Ab>; rel="next"`, // not a cursor
		`<https://ghe.acme.internal/%zz?after=x>; rel="next"`,   // not a URL
	} {
		h.Set("Link", bad)
		_, _, err := c.linkCursors(h)
		assert.Error(t, err, bad)
	}
	h.Set("Link", `<https://evil.example/x>; rel="first"`)
	_, _, err = c.linkCursors(h)
	assert.NoError(t, err, "links the SDK never follows are not read")
}

func TestCursorText(t *testing.T) {
	t.Parallel()
	fp := (&Query{Phrase: "action:repo"}).fingerprint(false)
	for _, c := range []Cursor{{}, {after: "MS42NjQz+/="}, {before: "abc"}, {page: 7},
		{after: "MS42NjQz+/=", query: fp}, {page: 7, pin: 1767225600, query: fp}, {done: true, query: fp}, {done: true},
		{after: "MS42NjQz+/=", query: fp, scope: "orgs/octo-org"}, {done: true, query: fp, scope: "enterprises/avocado_corp.eu"},
		{page: 3, pin: 1767225600, query: fp, scope: "organizations/62012"}, {before: "abc", scope: "enterprises/13827"}} {
		b, err := c.MarshalText()
		require.NoError(t, err)
		var back Cursor
		require.NoError(t, back.UnmarshalText(b), string(b))
		assert.Equal(t, c, back, string(b))
		assert.Equal(t, c.IsZero(), len(b) == 0)
	}
	for _, bad := range []string{"after", "after=", "page=0", "page=-1", "page=x", "sideways=1", "after=%zz", "after=a%20b", "before=%0A",
		"done=1", "after=x&q=123", "after=x&q=zzzzzzzzzzzzzzzz", "after=x&pin=5", "page=2&pin=0", "page=2&q=" + fp + "&q=" + fp,
		"q=" + fp, "after=x&sideways=1", "&done", "after=x&scope=orgs%2F-x", "after=x&scope=orgs%2FOcto", "after=x&scope=teams%2Fx",
		"after=x&scope=organizations%2F0", "after=x&scope=organizations%2F012", "after=x&scope=orgs", "after=x&scope=orgs%2Fa&scope=orgs%2Fa",
		"scope=orgs%2Fa"} {
		var c Cursor
		err := c.UnmarshalText([]byte(bad))
		var ie *InputError
		require.ErrorAs(t, err, &ie, bad)
		assert.Equal(t, "Cursor", ie.Field)
	}
	q := &Query{Phrase: "action:repo", After: "old", Page: 0, PerPage: 10}
	at := q.At(Cursor{page: 4})
	assert.Equal(t, &Query{Phrase: "action:repo", Page: 4, PerPage: 10}, at)
	assert.Equal(t, "old", q.After, "At modified its receiver")

	// The finished walk's cursor and the start are different things.
	end := Cursor{done: true, query: fp}
	assert.True(t, end.Done())
	assert.False(t, end.IsZero())
	assert.False(t, Cursor{}.Done())
	assert.Equal(t, "done&q="+fp, end.String())
}

// TestResumeFinishedWalkSendsNothing: the position saved after the last page
// says the walk is finished; resuming from it, once or twice, sends no
// request and yields nothing (issue 12.1).
func TestResumeFinishedWalkSendsNothing(t *testing.T) {
	t.Parallel()
	onEachScope(t, []auditlogtest.Option{auditlogtest.WithGeneratedEvents(250, 3)}, func(t *testing.T, srv *auditlogtest.Server, c *Client, sc scopeCase) {
		ctx := context.Background()
		q := &Query{Include: IncludeAll, PerPage: 100}
		var saved []byte
		n := 0
		for page, err := range c.Pages(ctx, sc.scope, q) {
			require.NoError(t, err)
			n += len(page.Events)
			saved, err = page.Next.MarshalText()
			require.NoError(t, err)
		}
		require.Equal(t, len(sc.events("all", "desc")), n)
		require.NotEmpty(t, saved, "a finished walk's position is not the zero cursor")

		for run := range 2 {
			srv.ResetRequests()
			var cur Cursor
			require.NoError(t, cur.UnmarshalText(saved))
			pages := 0
			for page, err := range c.Pages(ctx, sc.scope, q.At(cur)) {
				require.NoError(t, err)
				pages++
				saved, err = page.Next.MarshalText()
				require.NoError(t, err)
			}
			assert.Zero(t, pages, "run %d: pages yielded after the end", run)
			assert.Empty(t, srv.Requests(), "run %d: requests sent after the end", run)
		}
		// The zero cursor still means "from the start".
		srv.ResetRequests()
		n = 0
		for ev, err := range c.Events(ctx, sc.scope, q.At(Cursor{})) {
			require.NoError(t, err)
			_ = ev
			n++
		}
		assert.Equal(t, len(sc.events("all", "desc")), n)
	})
}

// TestCursorTiedToQuery: a saved position resumed with another phrase,
// include or order is refused before anything is sent; per_page may change
// in cursor mode (issue 12.1).
func TestCursorTiedToQuery(t *testing.T) {
	t.Parallel()
	onEachScope(t, []auditlogtest.Option{auditlogtest.WithGeneratedEvents(1200, 4)}, testCursorTiedToQuery)
}

func testCursorTiedToQuery(t *testing.T, srv *auditlogtest.Server, c *Client, sc scopeCase) {
	ctx := context.Background()
	q := Query{Phrase: "action:repo", Include: IncludeAll, PerPage: 10}
	page, err := c.AuditLog(ctx, sc.scope, &q)
	require.NoError(t, err)
	text, err := page.Next.MarshalText()
	require.NoError(t, err)
	var next Cursor
	require.NoError(t, next.UnmarshalText(text))

	for _, tc := range []struct {
		name   string
		change func(q *Query)
		ok     bool
	}{
		{"same query", func(*Query) {}, true},
		{"other page size", func(q *Query) { q.PerPage = 50 }, true},
		{"other phrase", func(q *Query) { q.Phrase = "action:team" }, false},
		{"other include", func(q *Query) { q.Include = IncludeWeb }, false},
		{"other order", func(q *Query) { q.Order = OrderAsc }, false},
	} {
		srv.ResetRequests()
		other := q
		tc.change(&other)
		_, err := c.AuditLog(ctx, sc.scope, other.At(next))
		if tc.ok {
			assert.NoError(t, err, tc.name)
			continue
		}
		var ie *InputError
		require.ErrorAs(t, err, &ie, tc.name)
		assert.Equal(t, "Cursor", ie.Field, tc.name)
		assert.Empty(t, srv.Requests(), tc.name)
		// The walk refuses it the same way, as its first and only yield.
		errs := 0
		for _, err := range c.Pages(ctx, sc.scope, other.At(next)) {
			require.ErrorAs(t, err, &ie, tc.name)
			errs++
		}
		assert.Equal(t, 1, errs, tc.name)
	}
	// Include "" and "web" are the same query, as are Order "" and "desc".
	web := Query{Phrase: "action:repo", Include: IncludeWeb, Order: OrderDesc}
	p, err := c.AuditLog(ctx, sc.scope, &web)
	require.NoError(t, err)
	_, err = c.AuditLog(ctx, sc.scope, (&Query{Phrase: "action:repo"}).At(p.Next))
	assert.NoError(t, err, "defaults spelled out or left empty are one query")
}

// TestLinkOnAnotherHost: GitHub behind a proxy, a gateway or an alias names
// another host in its Link header; the walk takes the cursor and sends every
// request to the base URL, with the token (issue 12.2).
func TestLinkOnAnotherHost(t *testing.T) {
	t.Parallel()
	for i, tc := range []struct {
		name     string
		linkBase string
		baseURL  func(srvURL string) string
	}{
		{"links name api.github.com", "https://api.github.com", func(u string) string { return u }},
		{"links name another port", "http://127.0.0.1:1", func(u string) string { return u }},
		{"base URL is localhost, links 127.0.0.1", "", func(u string) string { return strings.Replace(u, "127.0.0.1", "localhost", 1) }},
		{"an organization's links name api.github.com", "https://api.github.com", func(u string) string { return u }},
		{"an organization's links name another port", "http://127.0.0.1:1", func(u string) string { return u }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			opts := []auditlogtest.Option{auditlogtest.WithGeneratedEvents(400, 9), auditlogtest.WithRateLimit("audit_log", 1<<30, time.Hour)}
			if tc.linkBase != "" {
				opts = append(opts, auditlogtest.WithLinkBase(tc.linkBase))
			}
			srv := auditlogtest.NewServer(opts...)
			t.Cleanup(srv.Close)
			c, err := NewClient(WithBaseURL(tc.baseURL(srv.URL())), WithToken(srv.Token()), WithLogger(testLogger))
			require.NoError(t, err)
			sc := scopes(srv)[i/3]
			var got []string
			for ev, err := range c.Events(context.Background(), sc.scope, &Query{PerPage: 25}) {
				require.NoError(t, err)
				got = append(got, ev.DocumentID)
			}
			assert.Equal(t, ids(t, sc.events("web", "desc")), got)
			require.Greater(t, len(got), 25)
			reqs := srv.Requests()
			assert.Equal(t, (len(got)+24)/25, auditLogRequests(srv), "every page requested from the base URL, once")
			for _, r := range reqs {
				assert.Equal(t, http.StatusOK, r.Status, "authorised: the token went with every request")
			}
		})
	}
}

// TestPagesEnterpriseServerArrivalsDuringWalk: in page-number mode a
// newest-first walk is pinned to the events that existed when it started,
// so events arriving during the walk (more than a page of them) shift no
// page, and late events landing behind the walk are neither repeated nor
// allowed to push an event past it (issue 12.7).
func TestPagesEnterpriseServerArrivalsDuringWalk(t *testing.T) {
	t.Parallel()
	onEachScope(t, []auditlogtest.Option{auditlogtest.WithEnterpriseServer(), auditlogtest.WithGeneratedEvents(1000, 8)}, testArrivalsDuringWalk)
}

func testArrivalsDuringWalk(t *testing.T, srv *auditlogtest.Server, c *Client, sc scopeCase) {
	want := ids(t, sc.events("web", "desc"))
	newest := time.Now().Add(time.Minute)
	var got []string
	pages, added := 0, 0
	for page, err := range c.Pages(context.Background(), sc.scope, &Query{PerPage: 100}) {
		require.NoError(t, err)
		pages++
		for _, ev := range page.Events {
			got = append(got, ev.DocumentID)
		}
		if pages > 3 {
			continue
		}
		// 150 newer events arrive (more than a page), and 5 late ones land
		// among the events this walk has already passed.
		var evs []json.RawMessage
		for range 150 {
			added++
			evs = append(evs, sc.inOrg(rawEvent(fmt.Sprintf("arrival-%03d", added), newest.Add(time.Duration(added)*time.Millisecond))))
		}
		last := page.Events[len(page.Events)-1].Timestamp
		for i := range 5 {
			evs = append(evs, sc.inOrg(rawEvent(fmt.Sprintf("late-%d-%d", pages, i), last.Add(time.Duration(i+1)*time.Millisecond))))
		}
		require.NoError(t, srv.AddEvents(evs...))
	}
	count := map[string]int{}
	var originals []string
	for _, id := range got {
		count[id]++
		switch {
		case strings.HasPrefix(id, "arrival-"):
			t.Errorf("%s arrived after the walk started, above its pin", id)
		case !strings.HasPrefix(id, "late-"):
			originals = append(originals, id) // late ones landed behind the walk and may show: they exist
		}
	}
	dups, missing := 0, 0
	for _, n := range count {
		dups += n - 1
	}
	for _, id := range want {
		if count[id] == 0 {
			missing++
		}
	}
	assert.Zero(t, dups, "events yielded twice")
	assert.Zero(t, missing, "events skipped")
	assert.True(t, slices.Equal(want, originals), "every event that existed at the start, once, in order")
}

// TestDropRepeatsInPlace: a page-number walk drops what the previous page
// yielded from the page where it lies, without copying the page; events
// without an ID are never taken for repeats, and the IDs it returns are the
// page's as yielded.
func TestDropRepeatsInPlace(t *testing.T) {
	t.Parallel()
	page := &Page{Events: []Event{{DocumentID: "a"}, {DocumentID: "b"}, {}, {DocumentID: "c"}, {DocumentID: "d"}}}
	backing := &page.Events[0]
	ids := dropRepeats(page, map[string]struct{}{"b": {}, "d": {}, "": {}})
	var got []string
	for _, ev := range page.Events {
		got = append(got, ev.DocumentID)
	}
	assert.Equal(t, []string{"a", "", "c"}, got)
	assert.Equal(t, map[string]struct{}{"a": {}, "": {}, "c": {}}, ids)
	assert.Same(t, backing, &page.Events[0], "the page was copied")

	first := &Page{Events: []Event{{DocumentID: "x"}, {DocumentID: "y"}}}
	assert.Equal(t, map[string]struct{}{"x": {}, "y": {}}, dropRepeats(first, nil))
	assert.Len(t, first.Events, 2, "the first page has nothing to drop")
}
