package auditlog

import (
	"net/http"
	"testing"

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

	for _, bad := range []string{
		`<http://ghe.acme.internal/api/v3/enterprises/1/audit-log?page=2>; rel="next"`,      // scheme downgrade
		`<https://ghe.acme.internal:444/api/v3/enterprises/1/audit-log?page=2>; rel="next"`, // other port
		`<https://evil.example/api/v3/enterprises/1/audit-log?after=x>; rel="prev"`,
		`<https://ghe.acme.internal/api/v3/enterprises/1/audit-log?after=&before=>; rel="next"`, // no cursor: would loop
		`<https://ghe.acme.internal/api/v3/enterprises/1/audit-log?page=0>; rel="next"`,
	} {
		h.Set("Link", bad)
		_, _, err := c.linkCursors(h)
		assert.Error(t, err, bad)
	}
	h.Set("Link", `<https://evil.example/x?page=2>; rel="first"`)
	_, _, err = c.linkCursors(h)
	assert.NoError(t, err, "links the SDK never follows are not checked")
}

func TestCursorText(t *testing.T) {
	t.Parallel()
	for _, c := range []Cursor{{}, {after: "MS42NjQz+/="}, {before: "abc"}, {page: 7}} {
		b, err := c.MarshalText()
		require.NoError(t, err)
		var back Cursor
		require.NoError(t, back.UnmarshalText(b), string(b))
		assert.Equal(t, c, back, string(b))
		assert.Equal(t, c.IsZero(), len(b) == 0)
	}
	for _, bad := range []string{"after", "after=", "page=0", "page=-1", "page=x", "sideways=1", "after=%zz", "after=a%20b", "before=%0A"} {
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
}
