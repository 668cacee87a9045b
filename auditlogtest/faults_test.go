package auditlogtest_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/ghaudit/auditlog/auditlogtest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// send returns the response (body read) or the transport/read error.
func send(s *auditlogtest.Server, ctx context.Context, path string) (*http.Response, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.URL()+path, nil)
	if err != nil {
		return nil, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+s.Token())
	resp, err := s.Client().Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp, b, err
}

func TestScriptedFaults(t *testing.T) {
	t.Parallel()
	const path = "/enterprises/avocado-corp/audit-log"
	t.Run("server error", func(t *testing.T) {
		t.Parallel()
		s := auditlogtest.NewServer(auditlogtest.WithGeneratedEvents(5, 1))
		t.Cleanup(s.Close)
		s.Script(auditlogtest.Fault{Kind: auditlogtest.FaultServerError}, 2)
		for range 2 {
			resp, body, err := send(s, context.Background(), path)
			require.NoError(t, err)
			assert.Contains(t, []int{500, 502, 503, 504}, resp.StatusCode)
			assert.True(t, strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html"))
			assert.Contains(t, string(body), "<html>")
			assert.NotEmpty(t, resp.Header.Get("X-GitHub-Request-Id"))
			assertRateHeaders(t, resp.Header, false)
		}
		resp, _, err := send(s, context.Background(), path)
		require.NoError(t, err)
		assert.Equal(t, 200, resp.StatusCode)
		assert.Equal(t, "1", resp.Header.Get("X-Ratelimit-Used"), "5xx faults use no budget")
	})
	t.Run("reset", func(t *testing.T) {
		t.Parallel()
		s := auditlogtest.NewServer(auditlogtest.WithGeneratedEvents(5, 1))
		t.Cleanup(s.Close)
		s.Script(auditlogtest.Fault{Kind: auditlogtest.FaultReset}, 1)
		_, _, err := send(s, context.Background(), path)
		require.Error(t, err)
		reqs := s.Requests()
		require.Len(t, reqs, 1)
		assert.Equal(t, 0, reqs[0].Status)
		assert.Equal(t, "reset", reqs[0].Fault)
		_, _, used, _ := s.Budget(s.Token(), "audit_log")
		assert.Equal(t, 0, used)
	})
	t.Run("truncate", func(t *testing.T) {
		t.Parallel()
		s := auditlogtest.NewServer(auditlogtest.WithGeneratedEvents(5, 1))
		t.Cleanup(s.Close)
		s.Script(auditlogtest.Fault{Kind: auditlogtest.FaultTruncate}, 1)
		resp, _, err := send(s, context.Background(), path)
		require.ErrorIs(t, err, io.ErrUnexpectedEOF)
		assert.Equal(t, 200, resp.StatusCode)
		assert.Equal(t, "1", resp.Header.Get("X-Ratelimit-Used"), "truncated responses were served")
		assert.NotEmpty(t, resp.Header.Get("Content-Length"))
		resp, body, err := send(s, context.Background(), path)
		require.NoError(t, err)
		assert.Equal(t, 200, resp.StatusCode)
		assert.Len(t, docIDs(t, body), 5)
	})
	t.Run("latency", func(t *testing.T) {
		t.Parallel()
		s := auditlogtest.NewServer(auditlogtest.WithGeneratedEvents(5, 1))
		t.Cleanup(s.Close)
		s.Script(auditlogtest.Fault{Kind: auditlogtest.FaultLatency, Latency: 150 * time.Millisecond}, 1)
		start := time.Now()
		resp, _, err := send(s, context.Background(), path)
		require.NoError(t, err)
		assert.Equal(t, 200, resp.StatusCode)
		assert.GreaterOrEqual(t, time.Since(start), 150*time.Millisecond)
		assert.Equal(t, "latency", s.Requests()[0].Fault)
	})
	t.Run("latency respects the context", func(t *testing.T) {
		t.Parallel()
		s := auditlogtest.NewServer(auditlogtest.WithFaults(auditlogtest.Faults{Latency: time.Minute}))
		t.Cleanup(s.Close)
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		start := time.Now()
		_, _, err := send(s, ctx, path)
		require.True(t, errors.Is(err, context.DeadlineExceeded), err)
		assert.Less(t, time.Since(start), 5*time.Second)
	})
	t.Run("faults come after auth", func(t *testing.T) {
		t.Parallel()
		s := auditlogtest.NewServer(auditlogtest.WithGeneratedEvents(5, 1))
		t.Cleanup(s.Close)
		s.Script(auditlogtest.Fault{Kind: auditlogtest.FaultServerError}, 1)
		resp, _ := get(t, s, path, "Authorization", "")
		assert.Equal(t, 401, resp.StatusCode)
		resp, _ = get(t, s, path)
		assert.GreaterOrEqual(t, resp.StatusCode, 500)
	})
}

// outcomes runs n sequential requests and summarises each as a status, "reset" or "eof".
func outcomes(t *testing.T, s *auditlogtest.Server, n int) []string {
	t.Helper()
	var out []string
	for range n {
		resp, _, err := send(s, context.Background(), "/enterprises/avocado-corp/audit-log")
		switch {
		case errors.Is(err, io.ErrUnexpectedEOF):
			out = append(out, "eof")
		case err != nil:
			out = append(out, "reset")
		default:
			out = append(out, http.StatusText(resp.StatusCode))
		}
	}
	return out
}

func TestProbabilisticFaultsAreDeterministic(t *testing.T) {
	t.Parallel()
	f := auditlogtest.Faults{ServerError: 0.2, Reset: 0.15, Truncate: 0.15, Jitter: time.Millisecond}
	run := func(seed int64) []string {
		s := auditlogtest.NewServer(auditlogtest.WithSeed(seed), auditlogtest.WithFaults(f), auditlogtest.WithGeneratedEvents(20, 1))
		defer s.Close()
		return outcomes(t, s, 60)
	}
	a, b, c := run(42), run(42), run(43)
	assert.Equal(t, a, b)
	assert.NotEqual(t, a, c)
	counts := map[string]int{}
	for _, o := range a {
		counts[o]++
	}
	assert.Greater(t, counts["OK"], 10, counts)
	assert.Positive(t, counts["reset"], counts)
	assert.Positive(t, counts["eof"], counts)
	assert.Positive(t, counts["Internal Server Error"]+counts["Bad Gateway"]+counts["Service Unavailable"]+counts["Gateway Timeout"], counts)
}

func TestCloseLeaksNoGoroutines(t *testing.T) {
	// Not parallel: it counts goroutines.
	before := runtime.NumGoroutine()
	s := auditlogtest.NewServer(auditlogtest.WithGeneratedEvents(20, 1), auditlogtest.WithFaults(auditlogtest.Faults{Latency: time.Hour}))
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, _, _ = send(s, context.Background(), "/enterprises/avocado-corp/audit-log")
	}()
	for deadline := time.Now().Add(2 * time.Second); len(s.Requests()) == 0 && runtime.NumGoroutine() <= before+2 && time.Now().Before(deadline); {
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(20 * time.Millisecond) // let the request reach the latency wait
	s.Close()                         // ends the pending latency, waits for the handler
	<-done
	s.Close() // idempotent
	// Poll by hand: assert.Eventually runs its condition in extra goroutines.
	n := runtime.NumGoroutine()
	for deadline := time.Now().Add(3 * time.Second); n > before && time.Now().Before(deadline); n = runtime.NumGoroutine() {
		time.Sleep(10 * time.Millisecond)
	}
	if n > before {
		buf := make([]byte, 1<<16)
		t.Fatalf("goroutines: before %d, after Close %d\n%s", before, n, buf[:runtime.Stack(buf, true)])
	}
}
