package auditlogtest_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ghaudit/auditlog/auditlogtest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func fault(kind auditlogtest.FaultKind) auditlogtest.Fault { return auditlogtest.Fault{Kind: kind} }

// statuses sends GETs to paths in order and returns each status.
func statuses(t *testing.T, s *auditlogtest.Server, paths ...string) []int {
	t.Helper()
	out := make([]int, len(paths))
	for i, p := range paths {
		resp, _ := get(t, s, p)
		out[i] = resp.StatusCode
	}
	return out
}

func TestRuleMatching(t *testing.T) {
	t.Parallel()
	const (
		log     = "/enterprises/avocado-corp/audit-log"
		logByID = "/enterprises/13827/audit-log"
		key     = "/enterprises/avocado-corp/audit-log/stream-key"
		stream  = "/enterprises/avocado-corp/audit-log/streams/7"
	)
	boom := auditlogtest.Fault{Kind: auditlogtest.FaultServerError, Status: 503}
	tests := []struct {
		name  string
		rule  auditlogtest.Rule
		paths []string
		want  []int
	}{
		{"any request, once", auditlogtest.Rule{Fault: boom},
			[]string{key, log, log}, []int{503, 200, 200}},
		{"third audit-log page, slug or ID alike", auditlogtest.Rule{Match: auditlogtest.Match{Path: auditlogtest.PathAuditLog}, Nth: 3, Fault: boom},
			[]string{log, key, logByID, key, log + "?after=x", log}, []int{200, 200, 200, 200, 503, 200}},
		{"literal enterprise matches its ID too", auditlogtest.Rule{Match: auditlogtest.Match{Path: log}, Nth: 2, Fault: boom},
			[]string{log, logByID}, []int{200, 503}},
		{"another enterprise does not match", auditlogtest.Rule{Match: auditlogtest.Match{Path: "/enterprises/other/audit-log"}, Fault: boom},
			[]string{log, logByID}, []int{200, 200}},
		{"wildcard segment", auditlogtest.Rule{Match: auditlogtest.Match{Path: auditlogtest.PathStream}, Times: -1, Fault: boom},
			[]string{log, stream, key, stream}, []int{200, 503, 200, 503}},
		{"rest wildcard", auditlogtest.Rule{Match: auditlogtest.Match{Path: "/enterprises/{e}/{rest...}"}, Times: 2, Fault: boom},
			[]string{log, key, stream}, []int{503, 503, 404}},
		{"method", auditlogtest.Rule{Match: auditlogtest.Match{Method: "post"}, Fault: boom},
			[]string{log}, []int{200}},
		{"query value", auditlogtest.Rule{Match: auditlogtest.Match{Query: url.Values{"per_page": {"7", "8"}}}, Times: 2, Fault: boom},
			[]string{log, log + "?per_page=9", log + "?per_page=8", log + "?per_page=7", log + "?per_page=7"}, []int{200, 200, 503, 503, 200}},
		{"query present", auditlogtest.Rule{Match: auditlogtest.Match{Query: url.Values{"after": nil}}, Fault: boom},
			[]string{log, log + "?before=x", log + "?after=eA%3D%3D"}, []int{200, 422, 503}},
		{"query absent", auditlogtest.Rule{Match: auditlogtest.Match{Query: url.Values{"after": {""}}}, Nth: 2, Fault: boom},
			[]string{log + "?after=x", log, log + "?after=x", log}, []int{422, 200, 422, 503}},
		{"from the 2nd, three times", auditlogtest.Rule{Nth: 2, Times: 3, Fault: boom},
			[]string{log, log, log, log, log}, []int{200, 503, 503, 503, 200}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := auditlogtest.New(t, auditlogtest.WithoutListener(), auditlogtest.WithGeneratedEvents(10, 1), unlimited,
				auditlogtest.WithRateLimit(auditlogtest.ResourceAuditLogStreaming, 1000, time.Hour))
			require.NoError(t, s.Inject(tt.rule))
			assert.Equal(t, tt.want, statuses(t, s, tt.paths...))
		})
	}
}

func TestRulesQueueInInjectionOrder(t *testing.T) {
	t.Parallel()
	const log = "/enterprises/avocado-corp/audit-log"
	s := auditlogtest.New(t, auditlogtest.WithoutListener(), auditlogtest.WithGeneratedEvents(10, 1))
	pages := auditlogtest.Match{Path: auditlogtest.PathAuditLog}
	require.NoError(t, s.Inject(
		auditlogtest.Rule{Match: pages, Fault: auditlogtest.Fault{Kind: auditlogtest.FaultServerError, Status: 502}},
		auditlogtest.Rule{Match: pages, Fault: auditlogtest.Fault{Kind: auditlogtest.FaultServerError, Status: 504}},
		auditlogtest.Rule{Match: pages, Nth: 5, Times: -1, Fault: auditlogtest.Fault{Kind: auditlogtest.FaultResponse, Status: 418}},
	))
	pending := s.PendingFaults()
	require.Len(t, pending, 3)
	assert.Equal(t, []int{1, 1, 5}, []int{pending[0].Nth, pending[1].Nth, pending[2].Nth})
	assert.Equal(t, []int{1, 1, -1}, []int{pending[0].Times, pending[1].Times, pending[2].Times})

	// Both first rules are due on the first request: the older one fires,
	// the other on the next matching request.
	assert.Equal(t, []int{502, 504, 200}, statuses(t, s, log, log, log))
	pending = s.PendingFaults()
	require.Len(t, pending, 1)
	assert.Equal(t, 2, pending[0].Nth, "fires on the second matching request from now")
	assert.Equal(t, 418, pending[0].Fault.Status)

	cleared := s.ClearFaults()
	require.Len(t, cleared, 1)
	assert.Empty(t, s.PendingFaults())
	assert.Equal(t, []int{200, 200, 200}, statuses(t, s, log, log, log))

	// Script keeps its meaning: the next n requests, in order.
	s.Script(fault(auditlogtest.FaultServerError), 1)
	s.Script(fault(auditlogtest.FaultSecondary429), 1)
	assert.Equal(t, []int{500, 429, 200}, statuses(t, s, log, log, log))
}

func TestInjectRefusesBadRules(t *testing.T) {
	t.Parallel()
	s := auditlogtest.New(t, auditlogtest.WithoutListener())
	for _, tt := range []struct {
		rule auditlogtest.Rule
		want string
	}{
		{auditlogtest.Rule{}, "Fault.Kind 0"},
		{auditlogtest.Rule{Fault: auditlogtest.Fault{Kind: 99}}, "Fault.Kind 99"},
		{auditlogtest.Rule{Fault: auditlogtest.Fault{Kind: auditlogtest.FaultServerError, Status: 404}}, "Fault.Status 404"},
		{auditlogtest.Rule{Fault: auditlogtest.Fault{Kind: auditlogtest.FaultResponse}}, "Fault.Status 0"},
		{auditlogtest.Rule{Nth: -1, Fault: fault(auditlogtest.FaultReset)}, "Rule.Nth -1"},
		{auditlogtest.Rule{Match: auditlogtest.Match{Path: "enterprises/x"}, Fault: fault(auditlogtest.FaultReset)}, "Match.Path"},
		{auditlogtest.Rule{Match: auditlogtest.Match{Path: "/a/{x...}/b"}, Fault: fault(auditlogtest.FaultReset)}, "must come last"},
		{auditlogtest.Rule{Fault: auditlogtest.Fault{Kind: auditlogtest.FaultLatency, Latency: -time.Second}}, "negative"},
	} {
		err := s.Inject(auditlogtest.Rule{Fault: fault(auditlogtest.FaultReset)}, tt.rule)
		require.ErrorContains(t, err, tt.want)
		assert.Empty(t, s.PendingFaults(), "none of the rules is added")
	}
}

func TestServerErrorStatus(t *testing.T) {
	t.Parallel()
	const log = "/enterprises/avocado-corp/audit-log"
	t.Run("aimed", func(t *testing.T) {
		t.Parallel()
		s := auditlogtest.New(t, auditlogtest.WithoutListener())
		s.Script(fault(auditlogtest.FaultServerError), 3)
		assert.Equal(t, []int{500, 500, 500}, statuses(t, s, log, log, log), "no random pick")
		require.NoError(t, s.Inject(auditlogtest.Rule{Fault: auditlogtest.Fault{Kind: auditlogtest.FaultServerError, Status: 504}}))
		resp, body := get(t, s, log)
		assert.Equal(t, 504, resp.StatusCode)
		assert.Contains(t, string(body), "<title>504 Gateway Timeout &middot; GitHub</title>")
	})
	t.Run("probabilistic", func(t *testing.T) {
		t.Parallel()
		for _, tc := range []struct {
			f    auditlogtest.Faults
			want map[int]bool
		}{
			{auditlogtest.Faults{ServerError: 1}, map[int]bool{500: true}},
			{auditlogtest.Faults{ServerError: 1, ServerErrorStatuses: []int{502}}, map[int]bool{502: true}},
			{auditlogtest.Faults{ServerError: 1, ServerErrorStatuses: []int{502, 503}}, map[int]bool{502: true, 503: true}},
		} {
			s := auditlogtest.New(t, auditlogtest.WithoutListener(), auditlogtest.WithFaults(tc.f))
			seen := map[int]bool{}
			for range 40 {
				resp, _ := get(t, s, log)
				seen[resp.StatusCode] = true
			}
			assert.Equal(t, tc.want, seen)
		}
	})
}

func TestFaultResponse(t *testing.T) {
	t.Parallel()
	const log = "/enterprises/avocado-corp/audit-log"
	s := auditlogtest.New(t, auditlogtest.WithoutListener())
	require.NoError(t, s.Inject(
		auditlogtest.Rule{Fault: auditlogtest.Fault{Kind: auditlogtest.FaultResponse, Status: 451}},
		auditlogtest.Rule{Fault: auditlogtest.Fault{Kind: auditlogtest.FaultResponse, Status: 200,
			Header: http.Header{"link": {`<https://evil.example/x>; rel="next"`}}, Body: `[{"odd":true}]`}},
		auditlogtest.Rule{Fault: auditlogtest.Fault{Kind: auditlogtest.FaultResponse, Status: 502, Body: "upstream timeout"}},
	))
	resp, body := get(t, s, log)
	assert.Equal(t, 451, resp.StatusCode)
	assert.Equal(t, "Unavailable For Legal Reasons", decodeErr(t, body).Message)
	assertRateHeaders(t, resp.Header, false)

	resp, body = get(t, s, log)
	assert.Equal(t, 200, resp.StatusCode)
	assert.Equal(t, `[{"odd":true}]`, string(body))
	assert.Equal(t, `<https://evil.example/x>; rel="next"`, resp.Header.Get("Link"))
	assert.Equal(t, "application/json; charset=utf-8", resp.Header.Get("Content-Type"))
	assert.NotEmpty(t, resp.Header.Get("X-GitHub-Request-Id"))

	resp, body = get(t, s, log)
	assert.Equal(t, 502, resp.StatusCode)
	assert.Equal(t, "upstream timeout", string(body))
	assert.Equal(t, "text/plain; charset=utf-8", resp.Header.Get("Content-Type"))

	_, _, used, _ := s.Budget(s.Token(), auditlogtest.ResourceAuditLog)
	assert.Zero(t, used, "custom responses consume no budget")
	assert.Equal(t, []string{"response", "response", "response"}, faultNames(s))
}

func faultNames(s *auditlogtest.Server) []string {
	var out []string
	for _, r := range s.Requests() {
		out = append(out, r.Fault)
	}
	return out
}

func TestPrimary403Once(t *testing.T) {
	t.Parallel()
	clk := newClock()
	const log = "/enterprises/avocado-corp/audit-log"
	s := auditlogtest.New(t, auditlogtest.WithoutListener(), auditlogtest.WithClock(clk.Now),
		auditlogtest.WithRateLimit(auditlogtest.ResourceAuditLog, 10, time.Hour))
	get(t, s, log) // starts the window
	require.NoError(t, s.Inject(
		auditlogtest.Rule{Fault: fault(auditlogtest.FaultPrimary403Once)},
		auditlogtest.Rule{Fault: auditlogtest.Fault{Kind: auditlogtest.FaultPrimary429Once, RetryAfter: 90 * time.Second}},
	))
	resp, body := get(t, s, log)
	require.Equal(t, http.StatusForbidden, resp.StatusCode)
	assert.True(t, strings.HasPrefix(decodeErr(t, body).Message, "API rate limit exceeded"))
	assert.Equal(t, "0", resp.Header.Get("X-Ratelimit-Remaining"))
	assert.Equal(t, "10", resp.Header.Get("X-Ratelimit-Used"))
	assert.Equal(t, "1717664400", resp.Header.Get("X-Ratelimit-Reset"), "the window's end")

	resp, _ = get(t, s, log)
	require.Equal(t, http.StatusTooManyRequests, resp.StatusCode)
	assert.Equal(t, "1717660890", resp.Header.Get("X-Ratelimit-Reset"), "RetryAfter from now")

	resp, _ = get(t, s, log)
	require.Equal(t, http.StatusOK, resp.StatusCode, "the budget was never exhausted")
	assert.Equal(t, "8", resp.Header.Get("X-Ratelimit-Remaining"))
}

// TestSearchTimeout: a search that spans more than MaxSpan of time (or has
// no start; an open end stops at the server's now), or matches
// more than MaxEvents events, answers 504 (or the Status asked for) every
// time, counted against the budget; a narrower one is served.
func TestSearchTimeout(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2024, 6, 1, 0, 0, 0, 0, time.UTC)
	var evs []json.RawMessage
	for i := range 100 { // one event a minute from t0
		evs = append(evs, auditlogtest.Event{ID: fmt.Sprintf("ev-%03d", i), Time: t0.Add(time.Duration(i) * time.Minute), Action: "repo.create"}.JSON())
	}
	const log = "/enterprises/avocado-corp/audit-log?phrase="
	q := func(phrase string) string { return log + url.QueryEscape(phrase) }
	for _, tc := range []struct {
		name  string
		st    auditlogtest.SearchTimeout
		now   time.Time // the server's clock; zero is time.Now
		paths []string
		want  []int
	}{
		{"span", auditlogtest.SearchTimeout{MaxSpan: 30 * time.Minute}, time.Time{}, []string{
			log,                                 // no created: open
			q("created:>=2024-06-01T00:10:00Z"), // open end
			q("created:2024-06-01"),             // a whole day
			q("created:2024-06-01T00:00:00Z..2024-06-01T00:30:00Z"), // 30 min and a millisecond
			q("created:2024-06-01T00:00:00Z..2024-06-01T00:29:59Z"),
			q("action:repo created:2024-06-01T01:00:00Z..2024-06-01T01:10:00Z"),
		}, []int{504, 504, 504, 504, 200, 200}},
		{"span up to now", auditlogtest.SearchTimeout{MaxSpan: 30 * time.Minute}, t0.Add(100 * time.Minute), []string{
			q("created:>=2024-06-01T01:20:00Z"),                     // 20 min to now
			q("created:2024-06-01T01:15:00Z..*"),                    // 25 min to now
			q("created:2024-06-01T01:15:00Z..2099-01-01"),           // a closed end is taken as written
			q("created:>2024-06-01T01:09:00Z"),                      // 31 min to now
			q("created:<=2024-06-01T01:40:00Z"),                     // no start
			q("created:2024-06-01T00:00:00Z..2024-06-01T00:45:00Z"), // 45 min, all past
		}, []int{200, 200, 504, 504, 504, 504}},
		{"events, 502", auditlogtest.SearchTimeout{MaxEvents: 40, Status: 502}, time.Time{}, []string{
			log, // 100 events
			q("created:2024-06-01T00:00:00Z..2024-06-01T00:39:59Z"),          // 40
			q("created:2024-06-01T00:00:00Z..2024-06-01T00:40:00Z"),          // 41
			q("created:2024-06-01T00:00:00Z..2024-06-01T00:40:00Z -actor:x"), // 41
			q("created:>=2024-06-01T01:00:00Z"),                              // 40
		}, []int{502, 200, 502, 502, 200}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			opts := []auditlogtest.Option{auditlogtest.WithoutListener(), auditlogtest.WithEvents(evs...),
				auditlogtest.WithSearchTimeout(tc.st)}
			if !tc.now.IsZero() {
				opts = append(opts, auditlogtest.WithClock(auditlogtest.NewClock(tc.now).Now))
			}
			s := auditlogtest.New(t, opts...)
			assert.Equal(t, tc.want, statuses(t, s, tc.paths...))
			resp, body := get(t, s, log)
			assert.Contains(t, string(body), "couldn't respond to your request in time")
			assert.Equal(t, strconv.Itoa(len(tc.paths)+1), resp.Header.Get("X-RateLimit-Used"), "a search that ran out of time counts")
		})
	}
	require.Panics(t, func() {
		auditlogtest.NewServer(auditlogtest.WithoutListener(), auditlogtest.WithSearchTimeout(auditlogtest.SearchTimeout{Status: 500}))
	})
}
