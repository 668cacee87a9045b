package auditlogtest_test

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/ghaudit/auditlog/auditlogtest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var rateHeaders = []string{"X-Ratelimit-Limit", "X-Ratelimit-Remaining", "X-Ratelimit-Used", "X-Ratelimit-Reset", "X-Ratelimit-Resource"}

func assertRateHeaders(t *testing.T, h http.Header, present bool) {
	t.Helper()
	for _, k := range rateHeaders {
		if present {
			assert.NotEmpty(t, h.Get(k), k)
		} else {
			assert.Empty(t, h.Get(k), k)
		}
	}
}

func TestCommonRefusals(t *testing.T) {
	t.Parallel()
	s := auditlogtest.NewServer(auditlogtest.WithGeneratedEvents(5, 1))
	t.Cleanup(s.Close)
	const path = "/enterprises/avocado-corp/audit-log"
	tests := []struct {
		name    string
		path    string
		hdr     []string
		status  int
		message string
		rate    bool
	}{
		{"no auth", path, []string{"Authorization", ""}, 401, "Requires authentication", false},
		{"bad token", path, []string{"Authorization", "Bearer nope"}, 401, "Bad credentials", false},
		{"bad scheme", path, []string{"Authorization", "Basic " + s.Token()}, 401, "Bad credentials", false},
		{"token scheme", path, []string{"Authorization", "token " + s.Token()}, 200, "", true},
		{"version 2022", path, []string{"X-GitHub-Api-Version", "2022-11-28"}, 200, "", true},
		{"version 2026", path, []string{"X-GitHub-Api-Version", "2026-03-10"}, 200, "", true},
		{"bad version", path, []string{"X-GitHub-Api-Version", "2023-01-01"}, 400, "Unsupported 'X-GitHub-Api-Version' header: 2023-01-01.", false},
		{"numeric id", "/enterprises/13827/audit-log", nil, 200, "", true},
		{"unknown enterprise", "/enterprises/other/audit-log", nil, 404, "Not Found", false},
		{"unknown path", "/enterprises/avocado-corp/audit", nil, 404, "Not Found", false},
		{"non-integer stream id", "/enterprises/avocado-corp/audit-log/streams/x", nil, 404, "Not Found", false},
		{"unknown stream id", "/enterprises/avocado-corp/audit-log/streams/99", nil, 404, "Not Found", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			resp, body := get(t, s, tt.path, tt.hdr...)
			require.Equal(t, tt.status, resp.StatusCode, string(body))
			assert.Regexp(t, `^C0DE:[0-9A-F:]+$`, resp.Header.Get("X-GitHub-Request-Id"))
			assert.Equal(t, "application/json; charset=utf-8", resp.Header.Get("Content-Type"))
			assertRateHeaders(t, resp.Header, tt.rate)
			if tt.message != "" {
				e := decodeErr(t, body)
				assert.True(t, strings.HasPrefix(e.Message, tt.message), e.Message)
				assert.NotEmpty(t, e.DocumentationURL)
			}
		})
	}
}

func TestPrimaryBudget(t *testing.T) {
	t.Parallel()
	clk := newClock()
	clk.Advance(300 * time.Millisecond) // reset must round up
	s := auditlogtest.NewServer(
		auditlogtest.WithClock(clk.Now),
		auditlogtest.WithToken("tok-a", "tok-b"),
		auditlogtest.WithRateLimit(auditlogtest.ResourceAuditLog, 3, time.Minute),
		auditlogtest.WithGeneratedEvents(10, 1),
	)
	t.Cleanup(s.Close)
	const path = "/enterprises/avocado-corp/audit-log"
	wantReset := strconv.FormatInt(clk.Now().Add(time.Minute).Unix()+1, 10)
	for i := 1; i <= 3; i++ {
		resp, _ := get(t, s, path, "Authorization", "Bearer tok-a")
		require.Equal(t, 200, resp.StatusCode)
		assert.Equal(t, "3", resp.Header.Get("X-Ratelimit-Limit"))
		assert.Equal(t, strconv.Itoa(3-i), resp.Header.Get("X-Ratelimit-Remaining"))
		assert.Equal(t, strconv.Itoa(i), resp.Header.Get("X-Ratelimit-Used"))
		assert.Equal(t, wantReset, resp.Header.Get("X-Ratelimit-Reset"))
		assert.Equal(t, "audit_log", resp.Header.Get("X-Ratelimit-Resource"))
		clk.Advance(time.Second)
	}
	for range 2 {
		resp, body := get(t, s, path, "Authorization", "Bearer tok-a")
		require.Equal(t, http.StatusForbidden, resp.StatusCode)
		assert.Equal(t, "0", resp.Header.Get("X-Ratelimit-Remaining"))
		assert.Equal(t, "3", resp.Header.Get("X-Ratelimit-Used"), "refusals do not count")
		assert.Equal(t, wantReset, resp.Header.Get("X-Ratelimit-Reset"))
		assert.Empty(t, resp.Header.Get("Retry-After"))
		e := decodeErr(t, body)
		assert.Equal(t, "API rate limit exceeded for user ID 1. If you reach out to GitHub Support for help, please include the request ID "+resp.Header.Get("X-GitHub-Request-Id")+".", e.Message)
		assert.Equal(t, "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api", e.DocumentationURL)
	}
	limit, remaining, used, reset := s.Budget("tok-a", "audit_log")
	assert.Equal(t, []int{3, 0, 3}, []int{limit, remaining, used})
	assert.Equal(t, clk.Now().Add(-3*time.Second).Add(time.Minute), reset)

	// Another token has its own budget; streams do not charge audit_log.
	resp, _ := get(t, s, path, "Authorization", "Bearer tok-b")
	assert.Equal(t, 200, resp.StatusCode)
	assert.Equal(t, "2", resp.Header.Get("X-Ratelimit-Remaining"))
	resp, _ = get(t, s, path+"/streams", "Authorization", "Bearer tok-b")
	assert.Equal(t, 200, resp.StatusCode)
	assert.Equal(t, "audit_log_streaming", resp.Header.Get("X-Ratelimit-Resource"))
	assert.Equal(t, "15", resp.Header.Get("X-Ratelimit-Limit"))
	assert.Equal(t, "14", resp.Header.Get("X-Ratelimit-Remaining"))
	_, remaining, used, _ = s.Budget("tok-b", "audit_log")
	assert.Equal(t, []int{2, 1}, []int{remaining, used})

	// After the reset the window starts again.
	clk.Advance(time.Minute)
	resp, _ = get(t, s, path, "Authorization", "Bearer tok-a")
	require.Equal(t, 200, resp.StatusCode)
	assert.Equal(t, "2", resp.Header.Get("X-Ratelimit-Remaining"))
	assert.Equal(t, strconv.FormatInt(clk.Now().Add(time.Minute).Unix()+1, 10), resp.Header.Get("X-Ratelimit-Reset"))
}

func TestStreamingBudget(t *testing.T) {
	t.Parallel()
	s := auditlogtest.NewServer(auditlogtest.WithGeneratedEvents(0, 1))
	t.Cleanup(s.Close)
	for i := 0; i < 15; i++ {
		resp, _ := get(t, s, "/enterprises/avocado-corp/audit-log/stream-key")
		require.Equal(t, 200, resp.StatusCode)
	}
	resp, body := get(t, s, "/enterprises/avocado-corp/audit-log/streams")
	require.Equal(t, http.StatusForbidden, resp.StatusCode)
	assert.Contains(t, decodeErr(t, body).Message, "API rate limit exceeded")
	assert.Equal(t, "audit_log_streaming", resp.Header.Get("X-Ratelimit-Resource"))
	resp, _ = get(t, s, "/enterprises/avocado-corp/audit-log")
	assert.Equal(t, 200, resp.StatusCode)
	assert.Equal(t, "1749", resp.Header.Get("X-Ratelimit-Remaining"))
}

func TestRateLimitFaults(t *testing.T) {
	t.Parallel()
	const secondaryMsg = "You have exceeded a secondary rate limit. Please wait a few minutes before you try again."
	tests := []struct {
		fault      auditlogtest.Fault
		status     int
		retryAfter string
		rate       bool
		primary    bool
	}{
		{auditlogtest.Fault{Kind: auditlogtest.FaultPrimary403}, 403, "", true, true},
		{auditlogtest.Fault{Kind: auditlogtest.FaultPrimary429}, 429, "", true, true},
		{auditlogtest.Fault{Kind: auditlogtest.FaultSecondary403, RetryAfter: 1500 * time.Millisecond}, 403, "2", true, false},
		{auditlogtest.Fault{Kind: auditlogtest.FaultSecondary429}, 429, "1", true, false},
		{auditlogtest.Fault{Kind: auditlogtest.FaultSecondaryBare, RetryAfter: time.Minute}, 403, "", false, false},
	}
	for _, tt := range tests {
		t.Run(tt.fault.Kind.String(), func(t *testing.T) {
			t.Parallel()
			clk := newClock()
			s := auditlogtest.NewServer(auditlogtest.WithClock(clk.Now), auditlogtest.WithGeneratedEvents(3, 1))
			t.Cleanup(s.Close)
			const path = "/enterprises/avocado-corp/audit-log"
			resp, _ := get(t, s, path)
			require.Equal(t, 200, resp.StatusCode)
			s.Script(tt.fault, 1)
			resp, body := get(t, s, path)
			require.Equal(t, tt.status, resp.StatusCode)
			assert.Equal(t, tt.retryAfter, resp.Header.Get("Retry-After"))
			assertRateHeaders(t, resp.Header, tt.rate)
			e := decodeErr(t, body)
			reqs := s.Requests()
			require.Len(t, reqs, 2)
			assert.Equal(t, tt.fault.Kind.String(), reqs[1].Fault)
			assert.Equal(t, tt.status, reqs[1].Status)
			if tt.primary {
				assert.Contains(t, e.Message, "API rate limit exceeded for user ID 1.")
				assert.Equal(t, "0", resp.Header.Get("X-Ratelimit-Remaining"))
				// Real state: refused until the window resets.
				resp, _ = get(t, s, path)
				assert.Equal(t, 403, resp.StatusCode)
				clk.Advance(time.Hour)
				resp, _ = get(t, s, path)
				assert.Equal(t, 200, resp.StatusCode)
				return
			}
			assert.True(t, strings.HasPrefix(e.Message, secondaryMsg), e.Message)
			assert.Contains(t, e.Message, resp.Header.Get("X-GitHub-Request-Id"))
			assert.Equal(t, "https://docs.github.com/free-pro-team@latest/rest/overview/rate-limits-for-the-rest-api#about-secondary-rate-limits", e.DocumentationURL)
			if tt.rate {
				assert.Equal(t, "1", resp.Header.Get("X-Ratelimit-Used"), "secondary refusals use no primary budget")
			}
			resp, _ = get(t, s, path)
			assert.Equal(t, 200, resp.StatusCode)
			assert.Equal(t, "2", resp.Header.Get("X-Ratelimit-Used"))
		})
	}
}

func TestSecondaryEvery(t *testing.T) {
	t.Parallel()
	s := auditlogtest.NewServer(auditlogtest.WithFaults(auditlogtest.Faults{SecondaryEvery: 3, RetryAfter: 3 * time.Second}), auditlogtest.WithGeneratedEvents(3, 1))
	t.Cleanup(s.Close)
	var statuses []int
	for range 6 {
		resp, _ := get(t, s, "/enterprises/avocado-corp/audit-log")
		statuses = append(statuses, resp.StatusCode)
		if resp.StatusCode == 403 {
			assert.Equal(t, "3", resp.Header.Get("Retry-After"))
		}
	}
	assert.Equal(t, []int{200, 200, 403, 200, 200, 403}, statuses)
	_, _, used, _ := s.Budget(s.Token(), "audit_log")
	assert.Equal(t, 4, used)
}

// TestLatencyDelaysTheAnswerNotTheCount: GitHub counts a request when it
// arrives, before it runs it; an injected latency delays the answer only.
// So a window opens when its first request arrives (not a latency later),
// and a request that arrives before the reset counts in that window even
// when its answer comes after it.
func TestLatencyDelaysTheAnswerNotTheCount(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		s := auditlogtest.New(t, auditlogtest.WithoutListener(), auditlogtest.WithGeneratedEvents(5, 1),
			auditlogtest.WithRateLimit(auditlogtest.ResourceAuditLog, 3, 10*time.Second),
			auditlogtest.WithFaults(auditlogtest.Faults{Latency: 3 * time.Second}))
		const path = "/enterprises/avocado-corp/audit-log"
		start := time.Now()
		resp, _ := get(t, s, path)
		assert.Equal(t, 3*time.Second, time.Since(start), "the answer waited the latency")
		assert.Equal(t, strconv.FormatInt(start.Add(10*time.Second).Unix(), 10), resp.Header.Get("X-Ratelimit-Reset"), "the window opened on arrival")
		time.Sleep(5 * time.Second) // t = 8 s: arrives before the reset, answered after it
		resp, _ = get(t, s, path)
		assert.Equal(t, "2", resp.Header.Get("X-Ratelimit-Used"), "counted in the window it arrived in")
		resp, _ = get(t, s, path) // t = 11 s: a new window
		assert.Equal(t, "1", resp.Header.Get("X-Ratelimit-Used"))
		assert.Equal(t, strconv.FormatInt(start.Add(21*time.Second).Unix(), 10), resp.Header.Get("X-Ratelimit-Reset"))
	})
}

// rateLimitBody is GET /rate_limit's answer.
type rateLimitBody struct {
	Resources map[string]map[string]any `json:"resources"`
	Rate      map[string]any            `json:"rate"`
}

// TestRateLimitEndpoint: GET /rate_limit reports each resource's window as
// its requests are counted in it, per token, and is counted against none.
func TestRateLimitEndpoint(t *testing.T) {
	t.Parallel()
	clk := newClock()
	clk.Advance(300 * time.Millisecond) // reset rounds up, as in the headers
	s := auditlogtest.NewServer(auditlogtest.WithClock(clk.Now), auditlogtest.WithToken("tok-a", "tok-b"),
		auditlogtest.WithRateLimit(auditlogtest.ResourceAuditLog, 3, time.Minute), auditlogtest.WithGeneratedEvents(3, 1))
	t.Cleanup(s.Close)
	status := func(token, version string) (*http.Response, rateLimitBody) {
		t.Helper()
		resp, raw := get(t, s, "/rate_limit", "Authorization", "Bearer "+token, "X-GitHub-Api-Version", version)
		require.Equal(t, http.StatusOK, resp.StatusCode, string(raw))
		var b rateLimitBody
		require.NoError(t, json.Unmarshal(raw, &b))
		return resp, b
	}
	entry := func(limit, used int, reset time.Time, resource string) map[string]any {
		sec := reset.Unix()
		if reset.Nanosecond() > 0 {
			sec++
		}
		return map[string]any{"limit": float64(limit), "used": float64(used), "remaining": float64(limit - used),
			"reset": float64(sec), "resource": resource}
	}

	// No window running: the whole limit, a reset one window from now.
	resp, b := status("tok-a", "2022-11-28")
	now := clk.Now()
	assert.Equal(t, entry(3, 0, now.Add(time.Minute), "audit_log"), b.Resources["audit_log"])
	assert.Equal(t, entry(15, 0, now.Add(time.Hour), "audit_log_streaming"), b.Resources["audit_log_streaming"])
	assert.Equal(t, entry(5000, 0, now.Add(time.Hour), "core"), b.Resources["core"])
	assert.Equal(t, b.Resources["core"], b.Rate, "2022-11-28 keeps the deprecated rate object")
	assert.Equal(t, "core", resp.Header.Get("X-Ratelimit-Resource"), "its headers are core's")
	_, _, _, reset := s.Budget("tok-a", "audit_log")
	assert.True(t, reset.IsZero(), "reading the budget opens no window")

	// Two requests: the window the requests opened, as the headers say it.
	for range 2 {
		r, _ := get(t, s, "/enterprises/avocado-corp/audit-log", "Authorization", "Bearer tok-a")
		require.Equal(t, http.StatusOK, r.StatusCode)
	}
	opened := clk.Now()
	clk.Advance(10 * time.Second)
	for range 3 {
		_, b = status("tok-a", "2026-03-10")
		assert.Equal(t, entry(3, 2, opened.Add(time.Minute), "audit_log"), b.Resources["audit_log"], "counted against nothing")
		assert.Nil(t, b.Rate, "2026-03-10 drops the rate object")
	}
	r, _ := get(t, s, "/enterprises/avocado-corp/audit-log", "Authorization", "Bearer tok-a")
	assert.Equal(t, "0", r.Header.Get("X-Ratelimit-Remaining"), "the third request is the last of the window")
	_, b = status("tok-b", "2026-03-10")
	assert.Equal(t, float64(3), b.Resources["audit_log"]["remaining"], "another token, another budget")

	// In the request log, under no resource.
	reqs := s.Requests()
	n := 0
	for _, rq := range reqs {
		if rq.Path == "/rate_limit" {
			n++
			assert.Empty(t, rq.Resource)
			assert.Equal(t, http.StatusOK, rq.Status)
		}
	}
	assert.Equal(t, 5, n)
	assert.Equal(t, 5, s.Count(auditlogtest.Match{Method: "GET", Path: auditlogtest.PathRateLimit}))

	// It needs a token, like every endpoint of the fake.
	r, _ = get(t, s, "/rate_limit", "Authorization", "")
	assert.Equal(t, http.StatusUnauthorized, r.StatusCode)
	r, _ = do(t, s, http.MethodPost, "/rate_limit", "{}")
	assert.Equal(t, http.StatusNotFound, r.StatusCode)
}

// TestRateLimitEndpointOff: with rate limiting off (GitHub Enterprise Server
// as shipped) GET /rate_limit is 404; under /api/v3 when it is on.
func TestRateLimitEndpointOff(t *testing.T) {
	t.Parallel()
	ghes := auditlogtest.NewServer(auditlogtest.WithEnterpriseServer(), auditlogtest.WithGeneratedEvents(3, 1))
	t.Cleanup(ghes.Close)
	resp, body := get(t, ghes, "/rate_limit")
	require.Equal(t, http.StatusNotFound, resp.StatusCode)
	assert.Equal(t, "Rate limiting is not enabled.", decodeErr(t, body).Message)
	assertRateHeaders(t, resp.Header, false)

	on := auditlogtest.NewServer(auditlogtest.WithEnterpriseServer(), auditlogtest.WithGeneratedEvents(3, 1),
		auditlogtest.WithRateLimit(auditlogtest.ResourceAuditLog, 100, time.Hour))
	t.Cleanup(on.Close)
	resp, body = get(t, on, "/rate_limit")
	require.Equal(t, http.StatusOK, resp.StatusCode, string(body))
	var b rateLimitBody
	require.NoError(t, json.Unmarshal(body, &b))
	assert.Equal(t, float64(100), b.Resources["audit_log"]["limit"])
	assert.Equal(t, auditlogtest.EnterpriseServerVersion, resp.Header.Get("X-GitHub-Enterprise-Version"))
}

// TestRateLimitEndpointFaults: a secondary limit refuses GET /rate_limit;
// the primary kinds do not apply to it.
func TestRateLimitEndpointFaults(t *testing.T) {
	t.Parallel()
	s := auditlogtest.NewServer(auditlogtest.WithGeneratedEvents(3, 1))
	t.Cleanup(s.Close)
	m := auditlogtest.Match{Path: auditlogtest.PathRateLimit}
	require.NoError(t, s.Inject(
		auditlogtest.Rule{Match: m, Fault: auditlogtest.Fault{Kind: auditlogtest.FaultSecondary429, RetryAfter: time.Minute}},
		auditlogtest.Rule{Match: m, Nth: 2, Fault: auditlogtest.Fault{Kind: auditlogtest.FaultPrimary403}},
	))
	resp, body := get(t, s, "/rate_limit")
	require.Equal(t, http.StatusTooManyRequests, resp.StatusCode)
	assert.Equal(t, "60", resp.Header.Get("Retry-After"))
	assert.Contains(t, decodeErr(t, body).Message, "secondary rate limit")
	resp, _ = get(t, s, "/rate_limit")
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Empty(t, s.PendingFaults())
	resp, _ = get(t, s, "/enterprises/avocado-corp/audit-log")
	assert.Equal(t, http.StatusOK, resp.StatusCode, "the primary fault aimed at /rate_limit spent nothing")
}
