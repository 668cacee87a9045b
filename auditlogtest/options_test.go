package auditlogtest_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ghaudit/auditlog"
	"github.com/ghaudit/auditlog/auditlogtest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestWithoutRateLimits(t *testing.T) {
	t.Parallel()
	s := auditlogtest.NewServer(auditlogtest.WithoutRateLimits(),
		auditlogtest.WithRateLimit(auditlogtest.ResourceAuditLog, 2, time.Hour))
	defer s.Close()
	for i := 0; i < 5; i++ {
		resp, _ := get(t, s, "/enterprises/avocado-corp/audit-log?per_page=1")
		require.Equal(t, http.StatusOK, resp.StatusCode, "request %d", i)
		for k := range resp.Header {
			require.False(t, strings.HasPrefix(strings.ToLower(k), "x-ratelimit-"), "header %s sent with rate limiting off", k)
		}
	}
}

func TestDateHeaderFollowsTheServerClock(t *testing.T) {
	t.Parallel()
	clk := newClock()
	s := auditlogtest.NewServer(auditlogtest.WithClock(clk.Now))
	defer s.Close()
	clk.Advance(90 * time.Minute)
	resp, _ := get(t, s, "/enterprises/avocado-corp/audit-log?per_page=1")
	require.Equal(t, clk.Now().UTC().Format(http.TimeFormat), resp.Header.Get("Date"))
	resp, _ = get(t, s, "/enterprises/nope/audit-log")
	require.Equal(t, http.StatusNotFound, resp.StatusCode)
	require.Equal(t, clk.Now().UTC().Format(http.TimeFormat), resp.Header.Get("Date"), "error responses are dated too")
}

func TestWithLinkBase(t *testing.T) {
	t.Parallel()
	s := auditlogtest.NewServer(auditlogtest.WithLinkBase("https://api.github.com/"))
	defer s.Close()
	resp, _ := get(t, s, "/enterprises/avocado-corp/audit-log?per_page=2")
	next := links(resp.Header)["next"]
	require.True(t, strings.HasPrefix(next, "https://api.github.com/enterprises/13827/audit-log?after="), next)
	// The cursor it carries works on the real server.
	resp, body := get(t, s, s.URL()+strings.TrimPrefix(next, "https://api.github.com"))
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.NotEqual(t, "[]", strings.TrimSpace(string(body)))
}

// fakeTB records what New reports instead of ending the test.
type fakeTB struct {
	testing.TB
	fatal    string
	cleanups int
}

func (f *fakeTB) Helper()                      {}
func (f *fakeTB) Fatal(args ...any)            { f.fatal = fmt.Sprint(args...) }
func (f *fakeTB) Cleanup(fn func())            { f.cleanups++; f.TB.Cleanup(fn) }
func (f *fakeTB) Fatalf(s string, args ...any) { f.fatal = fmt.Sprintf(s, args...) }

func TestNewFailsTheTestInsteadOfPanicking(t *testing.T) {
	t.Parallel()
	bad := []auditlogtest.Option{
		auditlogtest.WithEvents(json.RawMessage(`{"@timestamp":1717660800,"_document_id":"a"}`)),
		auditlogtest.WithFaults(auditlogtest.Faults{ServerError: 2}),
		auditlogtest.WithDataset(nil),
		auditlogtest.WithScopes(""),
	}
	for _, o := range bad {
		ft := &fakeTB{TB: t}
		require.Nil(t, auditlogtest.New(ft, o))
		require.NotEmpty(t, ft.fatal)
		require.Zero(t, ft.cleanups)
		require.Panics(t, func() { auditlogtest.NewServer(o) })
	}

	ft := &fakeTB{TB: t}
	s := auditlogtest.New(ft)
	require.NotNil(t, s)
	require.Equal(t, 1, ft.cleanups, "Close is registered")
	// A misuse later fails the test too.
	assert.Nil(t, s.Events("All", "asc"))
	assert.Equal(t, `auditlogtest: Events: include "All" is not web, git or all`, ft.fatal)
	assert.Nil(t, s.Events(auditlog.IncludeAll, "ASC"))
	assert.Equal(t, `auditlogtest: Events: order "ASC" is not asc or desc`, ft.fatal)
}

func TestEventsTakesTheSDKTypes(t *testing.T) {
	t.Parallel()
	s := auditlogtest.NewServer(auditlogtest.WithoutListener(), auditlogtest.WithGeneratedEvents(200, 2))
	defer s.Close()
	all := s.Events(auditlog.IncludeAll, auditlog.OrderAsc)
	web, git := s.Events(auditlog.IncludeWeb, auditlog.OrderAsc), s.Events(auditlog.IncludeGit, auditlog.OrderAsc)
	require.NotEmpty(t, git)
	assert.Len(t, all, len(web)+len(git))
	assert.Equal(t, web, s.Events("", auditlog.OrderAsc), `"" is web`)
	desc := s.Events(auditlog.IncludeAll, "")
	assert.Equal(t, all[0], desc[len(desc)-1], `"" is desc`)
	assert.PanicsWithValue(t, `auditlogtest: Events: include "All" is not web, git or all`, func() { s.Events("All", "asc") })
}

func TestWithFaultsRefusesBadValues(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		f    auditlogtest.Faults
		want string
	}{
		{auditlogtest.Faults{Reset: -0.1}, "Faults.Reset -0.1"},
		{auditlogtest.Faults{ServerError: 0.6, Truncate: 0.6}, "more than 1"},
		{auditlogtest.Faults{ServerErrorStatuses: []int{500, 404}}, "404 is not a 5xx"},
		{auditlogtest.Faults{Latency: -time.Second}, "must not be negative"},
	} {
		ft := &fakeTB{TB: t}
		require.Nil(t, auditlogtest.New(ft, auditlogtest.WithFaults(tt.f)))
		assert.Contains(t, ft.fatal, tt.want)
	}
}
