package auditlogtest_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/ghaudit/auditlog/auditlogtest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestRequestLogIsInArrivalOrder: a request delayed by an injected latency
// keeps its place before a later request that finished first, and
// WaitRequests waits for it.
func TestRequestLogIsInArrivalOrder(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		s := auditlogtest.New(t, auditlogtest.WithoutListener(), auditlogtest.WithGeneratedEvents(20, 1))
		slow := auditlogtest.Match{Query: url.Values{"per_page": {"7"}}}
		require.NoError(t, s.Inject(auditlogtest.Rule{Match: slow, Fault: auditlogtest.Fault{Kind: auditlogtest.FaultLatency, Latency: 10 * time.Second}}))
		go get(t, s, "/enterprises/avocado-corp/audit-log?per_page=7")
		synctest.Wait() // the slow one has arrived and waits
		get(t, s, "/enterprises/avocado-corp/audit-log?per_page=8")

		reqs := s.Requests()
		require.Len(t, reqs, 1, "only the finished request is logged")
		assert.Equal(t, 2, reqs[0].Seq)

		start := time.Now()
		reqs, err := s.WaitRequests(t.Context(), auditlogtest.Match{}, 2)
		require.NoError(t, err)
		assert.Equal(t, 10*time.Second, time.Since(start))
		require.Len(t, reqs, 2)
		assert.Equal(t, []int{1, 2}, []int{reqs[0].Seq, reqs[1].Seq})
		assert.Equal(t, "per_page=7", reqs[0].RawQuery, "arrival order, not completion order")
		assert.Equal(t, "7", reqs[0].Query().Get("per_page"))
		assert.True(t, reqs[0].Time.Before(reqs[1].Time) || reqs[0].Time.Equal(reqs[1].Time))
		assert.Equal(t, "latency", reqs[0].Fault)
	})
}

func TestWaitRequestsEnds(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		s := auditlogtest.New(t, auditlogtest.WithoutListener())
		get(t, s, "/enterprises/avocado-corp/audit-log")
		ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
		defer cancel()
		got, err := s.WaitRequests(ctx, auditlogtest.Match{}, 2)
		require.ErrorIs(t, err, context.DeadlineExceeded)
		assert.Len(t, got, 1, "what was logged so far")

		go func() {
			time.Sleep(time.Second)
			s.Close()
		}()
		_, err = s.WaitRequests(t.Context(), auditlogtest.Match{Method: http.MethodPost}, 1)
		require.ErrorContains(t, err, "server closed with 0 of the 1 requests")
	})
}

func TestRequestLogHeadersAndRequestIDs(t *testing.T) {
	t.Parallel()
	const secret = "ghp_thisIsTheSecretTokenValue000000000000"
	s := auditlogtest.New(t, auditlogtest.WithoutListener(), auditlogtest.WithToken(secret))
	resp, _ := get(t, s, "/enterprises/avocado-corp/audit-log?per_page=3", "X-GitHub-Api-Version", "2022-11-28", "User-Agent", "acme/1.0")
	get(t, s, "/enterprises/avocado-corp/audit-log", "Authorization", "token "+secret)
	get(t, s, "/enterprises/avocado-corp/audit-log", "Authorization", secret)
	s.Script(auditlogtest.Fault{Kind: auditlogtest.FaultReset}, 1)
	_, _, err := send(s, context.Background(), "/enterprises/avocado-corp/audit-log")
	require.Error(t, err)

	reqs := s.Requests()
	require.Len(t, reqs, 4)
	assert.Equal(t, "Bearer [redacted]", reqs[0].Header.Get("Authorization"))
	assert.Equal(t, "token [redacted]", reqs[1].Header.Get("Authorization"))
	assert.Equal(t, "[redacted]", reqs[2].Header.Get("Authorization"))
	assert.Equal(t, "2022-11-28", reqs[0].Header.Get("X-GitHub-Api-Version"))
	assert.Equal(t, "acme/1.0", reqs[0].Header.Get("User-Agent"))
	assert.NotContains(t, fmt.Sprintf("%v %+v %#v", reqs, reqs, reqs), secret[4:])

	assert.Equal(t, resp.Header.Get("X-GitHub-Request-Id"), reqs[0].RequestID)
	assert.Empty(t, reqs[3].RequestID, "a reset carries no response")
	assert.Equal(t, []int{1, 2, 3, 4}, []int{reqs[0].Seq, reqs[1].Seq, reqs[2].Seq, reqs[3].Seq})

	// The log is a copy.
	reqs[0].Header.Set("Authorization", "changed")
	assert.Equal(t, "Bearer [redacted]", s.Requests()[0].Header.Get("Authorization"))
}

func TestCount(t *testing.T) {
	t.Parallel()
	s := auditlogtest.New(t, auditlogtest.WithoutListener(), auditlogtest.WithGeneratedEvents(10, 1), unlimited)
	for _, p := range []string{
		"/enterprises/avocado-corp/audit-log?per_page=5",
		"/enterprises/13827/audit-log?per_page=5&after=x",
		"/enterprises/avocado-corp/audit-log/stream-key",
		"/enterprises/avocado-corp/audit-log/streams",
	} {
		get(t, s, p)
	}
	do(t, s, http.MethodPost, "/enterprises/avocado-corp/audit-log/streams", "{}")
	tests := []struct {
		m    auditlogtest.Match
		want int
	}{
		{auditlogtest.Match{}, 5},
		{auditlogtest.Match{Path: auditlogtest.PathAuditLog}, 2},
		{auditlogtest.Match{Path: auditlogtest.PathAuditLog, Query: url.Values{"after": nil}}, 1},
		{auditlogtest.Match{Path: auditlogtest.PathStreams}, 2},
		{auditlogtest.Match{Method: "POST", Path: auditlogtest.PathStreams}, 1},
		{auditlogtest.Match{Path: "/enterprises/{e}/audit-log/{rest...}"}, 3},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, s.Count(tt.m), "%+v", tt.m)
	}
	s.ResetRequests()
	assert.Zero(t, s.Count(auditlogtest.Match{}))
	get(t, s, "/enterprises/avocado-corp/audit-log")
	assert.Equal(t, 6, s.Requests()[0].Seq, "sequence numbers go on")
}

func TestGHESPathsMatchWithoutPrefix(t *testing.T) {
	t.Parallel()
	s := auditlogtest.New(t, auditlogtest.WithoutListener(), auditlogtest.WithEnterpriseServer())
	require.NoError(t, s.Inject(auditlogtest.Rule{Match: auditlogtest.Match{Path: auditlogtest.PathAuditLog}, Nth: 2,
		Fault: auditlogtest.Fault{Kind: auditlogtest.FaultServerError}}))
	resp, _ := get(t, s, "/enterprises/avocado-corp/audit-log")
	assert.Equal(t, 200, resp.StatusCode)
	resp, _ = get(t, s, "/enterprises/avocado-corp/audit-log?page=2")
	assert.Equal(t, 500, resp.StatusCode)
	assert.Equal(t, 2, s.Count(auditlogtest.Match{Path: auditlogtest.PathAuditLog}))
	assert.True(t, strings.HasPrefix(s.Requests()[0].Path, "/api/v3/"), "the log keeps the path as sent")
}
