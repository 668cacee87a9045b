package auditlog

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/jarcoal/httpmock"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestQueryValidation(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		q     Query
		field string
	}{
		{Query{PerPage: 101}, "Query.PerPage"},
		{Query{PerPage: -1}, "Query.PerPage"},
		{Query{PerPage: 1 << 20}, "Query.PerPage"},
		{Query{Page: -1}, "Query.Page"},
		{Query{Include: "everything"}, "Query.Include"},
		{Query{Include: "Web"}, "Query.Include"},
		{Query{Order: "newest"}, "Query.Order"},
		{Query{Order: "ASC"}, "Query.Order"},
		{Query{After: "abc", Before: "def"}, "Query.After"},
		{Query{Page: 2, After: "abc"}, "Query.Page"},
		{Query{Page: 2, Before: "abc"}, "Query.Page"},
		{Query{After: "has space"}, "Query.After"},
		{Query{After: "new\nline"}, "Query.After"},
		{Query{Before: "ünïcode"}, "Query.Before"},
		{Query{Before: strings.Repeat("A", 1025)}, "Query.Before"},
		{Query{Phrase: "action:repo\x00"}, "Query.Phrase"},
		{Query{Phrase: "actor:\xff\xfe"}, "Query.Phrase"},
		{Query{Phrase: "action:repo\r\nX-Injected: 1"}, "Query.Phrase"},
		{Query{Phrase: strings.Repeat("action:x ", 1000)}, "Query.Phrase"},
	} {
		err := tc.q.Validate()
		var ie *InputError
		require.ErrorAs(t, err, &ie, "%+v", tc.q)
		assert.Equal(t, tc.field, ie.Field, "%+v", tc.q)
		assert.ErrorIs(t, err, ErrInvalidInput)
		assert.Contains(t, err.Error(), tc.field)
	}
	for _, ok := range []Query{
		{}, {PerPage: 1}, {PerPage: 100}, {Include: IncludeAll, Order: OrderAsc},
		{After: "MS42NjQzODMzNTk5MjdlKzEyfDloQzBxdURzaFdVbVlLWjkxRU9mNXc="}, {Page: 3, PerPage: 50},
		{Phrase: `action:repo.create actor:"octo cat" created:>=2024-01-01`},
	} {
		assert.NoError(t, ok.Validate(), "%+v", ok)
	}
}

func TestQueryEncoding(t *testing.T) {
	t.Parallel()
	mt := httpmock.NewMockTransport()
	var got url.Values
	mt.RegisterNoResponder(func(r *http.Request) (*http.Response, error) {
		got = r.URL.Query()
		return httpmock.NewStringResponse(200, "[]"), nil
	})
	c, err := NewClient(WithToken(testToken), WithHTTPClient(&http.Client{Transport: mt}))
	require.NoError(t, err)
	q := &Query{Phrase: "action:repo actor:octocat", Include: IncludeAll, Order: OrderAsc, After: "a/b+c=", PerPage: 100}
	before := *q
	_, err = c.AuditLog(context.Background(), Enterprise("avocado-corp"), q)
	require.NoError(t, err)
	assert.Equal(t, url.Values{
		"phrase": {"action:repo actor:octocat"}, "include": {"all"}, "order": {"asc"},
		"after": {"a/b+c="}, "per_page": {"100"},
	}, got)
	assert.Equal(t, before, *q, "the caller's Query was modified")

	_, err = c.AuditLog(context.Background(), Enterprise("13827"), nil)
	require.NoError(t, err)
	assert.Empty(t, got, "the zero Query sends no parameters")
}

// The Link header as GitHub sends it for the enterprise audit log: absolute
// URLs, the numeric enterprise ID, percent-encoded cursors, no rel="last".
const githubLink = `<%[1]s/enterprises/13827/audit-log?%%3A=&after=MS42NjQzODMzNTk5MjdlKzEyfDloQzBxdURzaFdVbVlLWjkxRU9mNXc%%3D&before=>; rel="next", ` +
	`<%[1]s/enterprises/13827/audit-log?%%3A=&after=&before=>; rel="first", ` +
	`<%[1]s/enterprises/13827/audit-log?%%3A=&after=&before=MS42Njc4NTQ5ODIzNDI4ZSsxMnxuVGhxbkd3LUdvRzNMQVhhZzFXVlNn>; rel="prev"`

func TestAuditLogPage(t *testing.T) {
	t.Parallel()
	body, raws := loadQuirks(t)
	c, mux, srv := setup(t)
	reset := time.Now().Add(time.Hour).Truncate(time.Second)
	mux.HandleFunc("GET /enterprises/avocado-corp/audit-log", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("link", fmt.Sprintf(githubLink, srv.URL+"/api-prefix")) // lower-case name, as HTTP/2 sends it
		w.Header().Set("x-ratelimit-limit", "1750")
		w.Header().Set("x-ratelimit-remaining", "1749")
		w.Header().Set("x-ratelimit-used", "1")
		w.Header().Set("x-ratelimit-reset", fmt.Sprint(reset.Unix()))
		w.Header().Set("x-ratelimit-resource", "audit_log")
		w.Header().Set("x-github-request-id", "C0DE:1")
		fmt.Fprint(w, body)
	})
	page, err := c.AuditLog(context.Background(), Enterprise("avocado-corp"), &Query{PerPage: 5})
	require.NoError(t, err)
	require.Len(t, page.Events, len(raws))
	fp := (&Query{PerPage: 5}).fingerprint(false)
	assert.Equal(t, "after=MS42NjQzODMzNTk5MjdlKzEyfDloQzBxdURzaFdVbVlLWjkxRU9mNXc%3D&q="+fp+"&scope=enterprises%2Favocado-corp", page.Next.String())
	assert.Equal(t, "before=MS42Njc4NTQ5ODIzNDI4ZSsxMnxuVGhxbkd3LUdvRzNMQVhhZzFXVlNn&q="+fp+"&scope=enterprises%2Favocado-corp", page.Prev.String())
	assert.Equal(t, "MS42NjQzODMzNTk5MjdlKzEyfDloQzBxdURzaFdVbVlLWjkxRU9mNXc=", (&Query{}).At(page.Next).After)
	assert.Equal(t, Rate{Limit: 1750, Remaining: 1749, Used: 1, Reset: reset, Resource: "audit_log"}, page.Rate)
	assert.Equal(t, "C0DE:1", page.RequestID)
}

func TestAuditLogLastPageIsTheEnd(t *testing.T) {
	t.Parallel()
	c, mux, srv := setup(t)
	calls := 0
	mux.HandleFunc("GET /enterprises/e/audit-log", func(w http.ResponseWriter, r *http.Request) {
		calls++
		w.Header().Set("Link", fmt.Sprintf(`<%s/enterprises/1/audit-log?after=&before=>; rel="first"`, srv.URL+"/api-prefix"))
		fmt.Fprint(w, `[]`)
	})
	page, err := c.AuditLog(context.Background(), Enterprise("e"), nil)
	require.NoError(t, err)
	assert.True(t, page.Next.Done(), "the last page's Next is the end")
	assert.False(t, page.Next.IsZero(), "and not the start")
	assert.True(t, page.Prev.IsZero())
	assert.Empty(t, page.Events)

	// A loop that asks for the page after the end is told so, and nothing
	// is sent: a loop written for the old zero cursor fails instead of
	// spinning.
	_, err = c.AuditLog(context.Background(), Enterprise("e"), (&Query{}).At(page.Next))
	var ie *InputError
	require.ErrorAs(t, err, &ie)
	assert.Equal(t, "Cursor", ie.Field)
	assert.Equal(t, 1, calls)
}

func TestAuditLogDecodeErrorIsReported(t *testing.T) {
	t.Parallel()
	c, mux, _ := setup(t)
	mux.HandleFunc("GET /enterprises/e/audit-log", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `{"message":"not a page"}`)
	})
	_, err := c.AuditLog(context.Background(), Enterprise("e"), nil)
	var se *SyntaxError
	require.ErrorAs(t, err, &se)
}
