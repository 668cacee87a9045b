package auditlogtest_test

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/ghaudit/auditlog"
	"github.com/ghaudit/auditlog/auditlogtest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestCursorWalk(t *testing.T) {
	t.Parallel()
	s := auditlogtest.NewServer(auditlogtest.WithoutListener(), auditlogtest.WithGeneratedEvents(1000, 7), unlimited)
	t.Cleanup(s.Close)
	for _, include := range []auditlog.Include{auditlog.IncludeWeb, auditlog.IncludeGit, auditlog.IncludeAll} {
		for _, order := range []auditlog.Order{auditlog.OrderAsc, auditlog.OrderDesc} {
			want := rawIDs(t, s.Events(include, order))
			require.NotEmpty(t, want)
			for _, perPage := range []int{1, 7, 30, 100} {
				t.Run(fmt.Sprintf("%s/%s/%d", include, order, perPage), func(t *testing.T) {
					t.Parallel()
					next := fmt.Sprintf("/enterprises/%s/audit-log?include=%s&order=%s&per_page=%d", s.Enterprise(), include, order, perPage)
					var pages [][]string
					var got []string
					var last map[string]string
					for next != "" {
						resp, body := get(t, s, next)
						require.Equal(t, http.StatusOK, resp.StatusCode, string(body))
						ids := docIDs(t, body)
						require.LessOrEqual(t, len(ids), perPage)
						require.NotEmpty(t, ids)
						pages = append(pages, ids)
						got = append(got, ids...)
						last = links(resp.Header)
						if len(want) > perPage {
							require.Contains(t, last, "first")
							require.NotContains(t, last, "last")
						}
						if len(pages) > 1 {
							require.Contains(t, last, "prev")
						} else {
							require.NotContains(t, last, "prev")
						}
						next = last["next"]
						if next != "" {
							require.True(t, strings.HasPrefix(next, s.URL()+"/enterprises/13827/audit-log?"), next)
						}
					}
					require.Equal(t, want, got)

					// Walk back with rel="prev" from the last page.
					var back [][]string
					prev := last["prev"]
					for prev != "" {
						resp, body := get(t, s, prev)
						require.Equal(t, http.StatusOK, resp.StatusCode)
						back = append(back, docIDs(t, body))
						prev = links(resp.Header)["prev"]
					}
					require.Len(t, back, len(pages)-1)
					for i, p := range back {
						require.Equal(t, pages[len(pages)-2-i], p)
					}
				})
			}
		}
	}
}

func TestLinkHeaderShape(t *testing.T) {
	t.Parallel()
	s := auditlogtest.NewServer(auditlogtest.WithGeneratedEvents(50, 3))
	t.Cleanup(s.Close)

	// The whole result fits one page: no Link at all.
	resp, body := get(t, s, "/enterprises/avocado-corp/audit-log?per_page=100")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Empty(t, resp.Header.Get("Link"))
	assert.Len(t, docIDs(t, body), len(s.Events("web", "desc")))

	// Slug in, numeric id out; phrase/include/order carried; cursor percent-encoded.
	resp, body = get(t, s, "/enterprises/avocado-corp/audit-log?per_page=3&phrase=action:repo&order=asc")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	ids := docIDs(t, body)
	l := links(resp.Header)
	require.Contains(t, l, "next")
	require.Contains(t, l, "first")
	require.NotContains(t, l, "prev")
	u, err := url.Parse(l["next"])
	require.NoError(t, err)
	assert.Equal(t, "/enterprises/13827/audit-log", u.Path)
	assert.True(t, strings.HasPrefix(u.RawQuery, "after="), u.RawQuery)
	q := u.Query()
	assert.Equal(t, "action:repo", q.Get("phrase"))
	assert.Equal(t, "asc", q.Get("order"))
	assert.Equal(t, "3", q.Get("per_page"))
	assert.False(t, q.Has("include"))
	assert.True(t, q.Has("before"))
	assert.Empty(t, q.Get("before"))
	assert.NotContains(t, u.RawQuery, "=&before", "cursor must be percent-encoded") // "=" padding is %3D
	cur, err := base64.StdEncoding.DecodeString(q.Get("after"))
	require.NoError(t, err)
	ts, id, ok := strings.Cut(string(cur), "|")
	require.True(t, ok)
	assert.Equal(t, ids[2], id)
	assert.Contains(t, ts, "e+12")

	// first link has empty cursors.
	f, err := url.Parse(l["first"])
	require.NoError(t, err)
	assert.Equal(t, "", f.Query().Get("after"))
	assert.True(t, f.Query().Has("after"))
}

func TestCursorFormatAndStability(t *testing.T) {
	t.Parallel()
	ev := func(ts int64, id string) json.RawMessage {
		return json.RawMessage(fmt.Sprintf(`{"@timestamp":%d,"_document_id":%q,"action":"repo.create"}`, ts, id))
	}
	s := auditlogtest.NewServer(auditlogtest.WithEvents(
		ev(1664383359927, "9hC0quDshWUmYKZ91EOf5w"), ev(1664383359927, "AAAA"), ev(1664383350000, "b"),
	))
	t.Cleanup(s.Close)
	resp, body := get(t, s, "/enterprises/13827/audit-log?per_page=1")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	// desc: ties broken by _document_id desc ("9h..." > "AAAA" in byte order).
	assert.Equal(t, []string{"AAAA"}, docIDs(t, body))
	cursor := base64.StdEncoding.EncodeToString([]byte("1.664383359927e+12|9hC0quDshWUmYKZ91EOf5w"))
	resp, body = get(t, s, "/enterprises/13827/audit-log?after="+url.QueryEscape(cursor))
	require.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, []string{"b"}, docIDs(t, body))

	// A cursor is a position: events added later before/after it are found.
	require.NoError(t, s.AddEvents(ev(1664383355000, "mid"), ev(1700000000000, "new")))
	resp, body = get(t, s, "/enterprises/13827/audit-log?after="+url.QueryEscape(cursor))
	require.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, []string{"mid", "b"}, docIDs(t, body))
	resp, body = get(t, s, "/enterprises/13827/audit-log?before="+url.QueryEscape(cursor))
	require.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, []string{"new", "AAAA"}, docIDs(t, body))
	assert.Error(t, s.AddEvents(ev(1, "new")), "duplicate id")
	assert.Error(t, s.AddEvents(json.RawMessage(`{"_document_id":"x"}`)), "no @timestamp")
	assert.Error(t, s.AddEvents(json.RawMessage(`{"@timestamp":1.5,"_document_id":"x"}`)), "fractional")
	assert.Error(t, s.AddEvents(json.RawMessage(`{"@timestamp":1}`)), "no id")

	// Empty result is [].
	resp, body = get(t, s, "/enterprises/13827/audit-log?include=git")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, "[]", string(body))
}

func TestEventsServedByteForByte(t *testing.T) {
	t.Parallel()
	raw := `{"@timestamp":1700000000000,"_document_id":"q","action":"org.update_member_repository_creation_permission","permission":true,"org":["a","b"],"org_id":[1,2],"user_agent":"x \"y\" <z> & ü"}`
	s := auditlogtest.NewServer(auditlogtest.WithEvents(json.RawMessage(raw)))
	t.Cleanup(s.Close)
	_, body := get(t, s, "/enterprises/avocado-corp/audit-log")
	assert.Equal(t, "["+raw+"]", string(body))
}

func TestQueryParameters(t *testing.T) {
	t.Parallel()
	s := auditlogtest.NewServer(auditlogtest.WithGeneratedEvents(300, 5), unlimited)
	t.Cleanup(s.Close)
	web := rawIDs(t, s.Events("web", "desc"))
	tests := []struct {
		query  string
		status int
		want   []string
	}{
		{"", 200, web[:30]},
		{"per_page=0", 200, web[:30]},
		{"per_page=abc", 200, web[:30]},
		{"per_page=500", 200, web[:100]},
		{"per_page=10&page=3", 200, web[20:30]},
		{"order=asc&per_page=5", 200, rawIDs(t, s.Events("web", "asc"))[:5]},
		{"include=git&per_page=5", 200, rawIDs(t, s.Events("git", "desc"))[:5]},
		{"include=all&order=asc&per_page=5", 200, rawIDs(t, s.Events("all", "asc"))[:5]},
		{"order=up", 422, nil},
		{"include=everything", 422, nil},
		{"after=abc&before=def", 422, nil},
		{"after=%21%21notbase64", 422, nil},
		{"before=" + url.QueryEscape(base64.StdEncoding.EncodeToString([]byte("nopipe"))), 422, nil},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			t.Parallel()
			resp, body := get(t, s, "/enterprises/avocado-corp/audit-log?"+tt.query)
			require.Equal(t, tt.status, resp.StatusCode, string(body))
			if tt.status == 200 {
				assert.Equal(t, tt.want, docIDs(t, body))
				return
			}
			e := decodeErr(t, body)
			assert.NotEmpty(t, e.Message)
			assert.NotEmpty(t, e.DocumentationURL)
		})
	}
	_, body := get(t, s, "/enterprises/avocado-corp/audit-log?after=%21%21")
	assert.Equal(t, "Invalid cursor", decodeErr(t, body).Message)
}

func TestEnterpriseServerPagination(t *testing.T) {
	t.Parallel()
	s := auditlogtest.NewServer(auditlogtest.WithEnterpriseServer(), auditlogtest.WithGeneratedEvents(100, 2))
	t.Cleanup(s.Close)
	require.True(t, strings.HasSuffix(s.URL(), "/api/v3"))
	want := rawIDs(t, s.Events("web", "desc"))
	n := len(want)
	lastPage := (n + 9) / 10

	resp, body := get(t, s, "/enterprises/avocado-corp/audit-log?per_page=10&page=2&after=ignored")
	require.Equal(t, http.StatusOK, resp.StatusCode, string(body))
	assert.Equal(t, want[10:20], docIDs(t, body))
	l := links(resp.Header)
	for rel, page := range map[string]int{"next": 3, "prev": 1, "first": 1, "last": lastPage} {
		u, err := url.Parse(l[rel])
		require.NoError(t, err, rel)
		assert.Equal(t, "/api/v3/enterprises/13827/audit-log", u.Path)
		assert.Equal(t, strconv.Itoa(page), u.Query().Get("page"), rel)
		assert.Equal(t, "10", u.Query().Get("per_page"))
	}
	// Walk by next.
	var got []string
	next := s.URL() + "/enterprises/avocado-corp/audit-log?per_page=10"
	for next != "" {
		resp, body := get(t, s, next)
		require.Equal(t, http.StatusOK, resp.StatusCode)
		got = append(got, docIDs(t, body)...)
		next = links(resp.Header)["next"]
	}
	assert.Equal(t, want, got)

	// Without the prefix: 404. Streams are cloud-only.
	resp, _ = get(t, s, strings.TrimSuffix(s.URL(), "/api/v3")+"/enterprises/avocado-corp/audit-log")
	assert.Equal(t, http.StatusNotFound, resp.StatusCode)
	resp, _ = get(t, s, "/enterprises/avocado-corp/audit-log/streams")
	assert.Equal(t, http.StatusNotFound, resp.StatusCode)
}
