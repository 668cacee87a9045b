package auditlogtest_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ghaudit/auditlog/auditlogtest"
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
