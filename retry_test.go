package auditlog

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// scripted returns a client whose transport answers with the given
// responses in turn (the last one repeats) and records when each request
// was sent. It must be called inside a synctest bubble when waits matter.
func scripted(t *testing.T, answers []func() (*http.Response, error), opts ...Option) (*Client, *[]time.Time) {
	t.Helper()
	var sent []time.Time
	var n atomic.Int64
	rt := roundTripFunc(func(r *http.Request) (*http.Response, error) {
		sent = append(sent, time.Now())
		i := int(n.Add(1)) - 1
		a := answers[min(i, len(answers)-1)]
		resp, err := a()
		if resp != nil {
			resp.Request = r
		}
		return resp, err
	})
	// The answers are the call's attempts: no GET /rate_limit before them
	// (the warm start has tests of its own).
	c, err := NewClient(append([]Option{WithBaseURL("https://api.github.com"), WithToken(testToken),
		WithHTTPClient(&http.Client{Transport: rt}), WithoutWarmStart()}, opts...)...)
	require.NoError(t, err)
	return c, &sent
}

func answer(status int, header map[string]string, body string) func() (*http.Response, error) {
	return func() (*http.Response, error) {
		h := http.Header{}
		for k, v := range header {
			h.Set(k, v)
		}
		return &http.Response{StatusCode: status, Header: h, Body: io.NopCloser(strings.NewReader(body))}, nil
	}
}

func fail(err error) func() (*http.Response, error) {
	return func() (*http.Response, error) { return nil, err }
}

var ok200 = answer(200, nil, `[]`)

func rateHdr(remaining string, reset time.Time) map[string]string {
	return map[string]string{"X-RateLimit-Limit": "1750", "X-RateLimit-Remaining": remaining,
		"X-RateLimit-Reset": fmt.Sprint(reset.Unix()), "X-RateLimit-Resource": "audit_log"}
}

const secondaryBody = `{"message":"You have exceeded a secondary rate limit. Please wait a few minutes before you try again."}`

// TestRefusalWaits checks the wait before each retry for every refusal
// shape, on the fake clock: GitHub's documented order is retry-after, then
// remaining 0 until reset, then at least a minute doubling each time; a 403
// that is not a rate limit is never retried.
func TestRefusalWaits(t *testing.T) {
	t.Parallel()
	reset := synctestEpoch.Add(25 * time.Minute / 2) // 12m30s after the start
	httpDate := synctestEpoch.Add(90 * time.Second).Format(http.TimeFormat)
	for _, tc := range []struct {
		name    string
		answers []func() (*http.Response, error)
		waits   []time.Duration // between consecutive sends
		err     error           // nil: the call succeeds
	}{
		{"403 remaining 0 waits for reset", []func() (*http.Response, error){
			answer(403, rateHdr("0", reset), `{"message":"API rate limit exceeded for user ID 1."}`), ok200},
			[]time.Duration{25 * time.Minute / 2}, nil},
		{"429 remaining 0 waits for reset", []func() (*http.Response, error){
			answer(429, rateHdr("0", reset), `{"message":"API rate limit exceeded for user ID 1."}`), ok200},
			[]time.Duration{25 * time.Minute / 2}, nil},
		// Both: the budget is spent until reset whatever retry-after says, so
		// the later of the two is kept (retrying at 30 s would be refused).
		{"retry-after and remaining 0: the later", []func() (*http.Response, error){
			answer(403, merge(rateHdr("0", reset), map[string]string{"Retry-After": "30"}), secondaryBody), ok200},
			[]time.Duration{25 * time.Minute / 2}, nil},
		{"retry-after later than reset", []func() (*http.Response, error){
			answer(403, merge(rateHdr("0", synctestEpoch.Add(10*time.Second)), map[string]string{"Retry-After": "30"}), secondaryBody), ok200},
			[]time.Duration{30 * time.Second}, nil},
		{"429 retry-after seconds", []func() (*http.Response, error){
			answer(429, map[string]string{"Retry-After": "7"}, secondaryBody), ok200},
			[]time.Duration{7 * time.Second}, nil},
		{"403 retry-after HTTP date", []func() (*http.Response, error){
			answer(403, map[string]string{"Retry-After": httpDate}, secondaryBody), ok200},
			[]time.Duration{90 * time.Second}, nil},
		{"secondary bare: 1, 2, 4 minutes", []func() (*http.Response, error){
			answer(403, nil, secondaryBody), answer(403, nil, secondaryBody), answer(403, nil, secondaryBody), ok200},
			[]time.Duration{time.Minute, 2 * time.Minute, 4 * time.Minute}, nil},
		{"secondary with budget left: bare rule", []func() (*http.Response, error){
			answer(403, rateHdr("1200", reset), secondaryBody), ok200},
			[]time.Duration{time.Minute}, nil},
		{"primary message, no headers: at least a minute", []func() (*http.Response, error){
			answer(403, nil, `{"message":"API rate limit exceeded for user ID 1."}`), ok200},
			[]time.Duration{time.Minute}, nil},
		{"403 permissions is never retried", []func() (*http.Response, error){
			answer(403, rateHdr("1200", reset), `{"message":"Must have admin rights to Enterprise."}`), ok200},
			nil, ErrForbidden},
		{"bare secondary past MaxWait: returned at once", []func() (*http.Response, error){
			answer(403, nil, secondaryBody)},
			// 1+2+4+8 = 15 min fits; the next, 16 min, would not.
			[]time.Duration{time.Minute, 2 * time.Minute, 4 * time.Minute, 8 * time.Minute}, ErrRateLimited},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				c, sent := scripted(t, tc.answers, WithMaxWait(15*time.Minute), WithMaxAttempts(10))
				start := time.Now()
				_, err := c.AuditLog(t.Context(), Enterprise("e"), nil)
				if tc.err == nil {
					require.NoError(t, err)
				} else {
					require.ErrorIs(t, err, tc.err)
				}
				var got []time.Duration
				for i := 1; i < len(*sent); i++ {
					got = append(got, (*sent)[i].Sub((*sent)[i-1]))
				}
				assert.Equal(t, tc.waits, got)
				assert.Equal(t, (*sent)[len(*sent)-1], time.Now(), "slept after the last send")
				assert.Equal(t, start, (*sent)[0])
			})
		})
	}
}

// TestRetryClassification: which failures are retried, for which methods.
func TestRetryClassification(t *testing.T) {
	t.Parallel()
	dialRefused := &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}
	readReset := &net.OpError{Op: "read", Net: "tcp", Err: syscall.ECONNRESET}
	for _, tc := range []struct {
		name    string
		answer  func() (*http.Response, error)
		retried map[string]bool // method → retried
	}{
		{"500", answer(500, nil, `<html>`), map[string]bool{"GET": true, "PUT": true, "DELETE": true, "POST": false}},
		{"502", answer(502, nil, `<html>`), map[string]bool{"GET": true, "PUT": true, "DELETE": true, "POST": false}},
		{"503", answer(503, nil, `<html>`), map[string]bool{"GET": true, "PUT": true, "DELETE": true, "POST": false}},
		{"504", answer(504, nil, `<html>`), map[string]bool{"GET": true, "PUT": true, "DELETE": true, "POST": false}},
		{"501", answer(501, nil, `<html>`), map[string]bool{"GET": false, "PUT": false, "DELETE": false, "POST": false}},
		{"400", answer(400, nil, `{"message":"bad"}`), map[string]bool{"GET": false, "POST": false}},
		{"401", answer(401, nil, `{"message":"Bad credentials"}`), map[string]bool{"GET": false, "POST": false}},
		{"404", answer(404, nil, `{"message":"Not Found"}`), map[string]bool{"GET": false, "DELETE": false}},
		{"422", answer(422, nil, `{"errors":["bad"]}`), map[string]bool{"PUT": false, "POST": false}},
		{"403 permissions", answer(403, nil, `{"message":"Must have admin rights"}`), map[string]bool{"GET": false, "POST": false}},
		{"429 rate limit (any method)", answer(429, map[string]string{"Retry-After": "1"}, secondaryBody),
			map[string]bool{"GET": true, "PUT": true, "DELETE": true, "POST": true}},
		{"connection reset", fail(readReset), map[string]bool{"GET": true, "PUT": true, "DELETE": true, "POST": false}},
		{"dial refused: never sent", fail(dialRefused), map[string]bool{"GET": true, "POST": true}},
		{"truncated body", func() (*http.Response, error) {
			return &http.Response{StatusCode: 200, Header: http.Header{}, ContentLength: 100,
				Body: io.NopCloser(io.MultiReader(strings.NewReader(`[{"a"`), errReader{io.ErrUnexpectedEOF}))}, nil
		}, map[string]bool{"GET": true, "PUT": true, "POST": false}},
	} {
		for method, want := range tc.retried {
			t.Run(tc.name+" "+method, func(t *testing.T) {
				t.Parallel()
				synctest.Test(t, func(t *testing.T) {
					c, sent := scripted(t, []func() (*http.Response, error){tc.answer, ok200})
					_, err := c.do(t.Context(), &call{method: method, path: "enterprises/e/audit-log/streams", resource: ResourceAuditLogStreaming})
					if want {
						require.NoError(t, err)
						assert.Len(t, *sent, 2)
					} else {
						require.Error(t, err)
						assert.Len(t, *sent, 1)
					}
				})
			})
		}
	}
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

// TestTransientBackoff: capped exponential backoff with full jitter, up to
// MaxAttempts sends, then the last error.
func TestTransientBackoff(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		c, sent := scripted(t, []func() (*http.Response, error){answer(502, nil, `<html>`)}, WithMaxAttempts(8))
		var asked []time.Duration
		c.backoff.jitter = func(d time.Duration) time.Duration { asked = append(asked, d); return d }
		_, err := c.AuditLog(t.Context(), Enterprise("e"), nil)
		var ae *APIError
		require.ErrorAs(t, err, &ae)
		assert.Equal(t, 502, ae.StatusCode)
		assert.Len(t, *sent, 8)
		want := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 16 * time.Second, 30 * time.Second, 30 * time.Second}
		assert.Equal(t, want, asked, "ceilings")
		for i := 1; i < len(*sent); i++ {
			assert.Equal(t, want[i-1], (*sent)[i].Sub((*sent)[i-1]))
		}
	})
	// Full jitter: the default draws in [0, d].
	for range 1000 {
		d := defaultBackoff.jitter(time.Second)
		require.GreaterOrEqual(t, d, time.Duration(0))
		require.LessOrEqual(t, d, time.Second)
	}
}

// TestWaitBounds: a wait longer than MaxWait or than the context's deadline
// is not started; the call returns at once with a RateLimitError saying when
// to come back.
func TestWaitBounds(t *testing.T) {
	t.Parallel()
	reset := synctestEpoch.Add(40 * time.Minute)
	refusal := answer(403, rateHdr("0", reset), `{"message":"API rate limit exceeded for user ID 1."}`)
	for _, tc := range []struct {
		name     string
		maxWait  time.Duration
		deadline time.Duration // 0: none
	}{
		{"MaxWait", 15 * time.Minute, 0},
		{"MaxWait 0", 0, 0},
		{"ctx deadline", time.Hour, 10 * time.Minute},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				c, sent := scripted(t, []func() (*http.Response, error){refusal, ok200}, WithMaxWait(tc.maxWait))
				ctx := t.Context()
				if tc.deadline > 0 {
					var cancel context.CancelFunc
					ctx, cancel = context.WithTimeout(ctx, tc.deadline)
					defer cancel()
				}
				start := time.Now()
				_, err := c.AuditLog(ctx, Enterprise("e"), nil)
				var rl *RateLimitError
				require.ErrorAs(t, err, &rl)
				assert.ErrorIs(t, err, ErrRateLimited)
				assert.Equal(t, 403, rl.StatusCode)
				assert.False(t, rl.Secondary)
				assert.Equal(t, 0, rl.Remaining)
				assert.True(t, reset.Equal(rl.RetryAt()))
				assert.Equal(t, start, time.Now(), "slept")
				assert.Len(t, *sent, 1)

				// The next call knows the budget is spent: it fails before sending.
				_, err = c.AuditLog(ctx, Enterprise("e"), nil)
				require.ErrorAs(t, err, &rl)
				assert.Equal(t, 0, rl.StatusCode, "refused locally")
				assert.Equal(t, reset.Sub(start), rl.RetryAfter)
				assert.True(t, reset.Equal(rl.RetryAt()))
				assert.Contains(t, rl.Error(), "GET /enterprises/e/audit-log")
				assert.Len(t, *sent, 1)
			})
		})
	}
}

// TestRetryLogs: each wait and retry is logged with its reason, and no
// record holds the token.
func TestRetryLogs(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		var buf bytes.Buffer
		logger := slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
		c, _ := scripted(t, []func() (*http.Response, error){
			answer(429, map[string]string{"Retry-After": "3"}, `{"message":"secondary rate limit `+testToken+`"}`),
			answer(503, nil, "<html>"), ok200}, WithLogger(logger))
		c.backoff.jitter = func(d time.Duration) time.Duration { return d }
		_, err := c.AuditLog(t.Context(), Enterprise("e"), nil)
		require.NoError(t, err)
		logs := buf.String()
		assert.NotContains(t, logs, testToken)
		assert.Contains(t, logs, `"msg":"auditlog: retrying"`)
		assert.Contains(t, logs, `"reason":"`+string(ReasonSecondaryLimit)+`"`)
		assert.Contains(t, logs, `"reason":"`+string(ReasonTransient)+`"`)
		assert.Contains(t, logs, `"msg":"auditlog: waiting for budget"`)
		assert.Contains(t, logs, `"wait":3000000000`)
		assert.Contains(t, logs, `"attempt":2`)
	})
}

// TestTokenSourceErrorNotRetried: a failing token source is final.
// With the warm start, the source is asked once for GET /rate_limit and once
// for the call: neither is retried.
func TestTokenSourceErrorNotRetried(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		opts  []Option
		calls int64
	}{{"cold", []Option{WithoutWarmStart()}, 1}, {"warm", nil, 2}} {
		t.Run(tc.name, func(t *testing.T) {
			var calls atomic.Int64
			c, err := NewClient(append([]Option{WithTokenSource(TokenFunc(func(context.Context) (string, error) {
				calls.Add(1)
				return "", errors.New("vault down")
			})), WithHTTPClient(&http.Client{Transport: roundTripFunc(func(*http.Request) (*http.Response, error) {
				return ok200()
			})})}, tc.opts...)...)
			require.NoError(t, err)
			_, err = c.AuditLog(t.Context(), Enterprise("e"), nil)
			require.ErrorContains(t, err, "vault down")
			assert.Equal(t, tc.calls, calls.Load())
		})
	}
}

// TestRetryAtWhenGitHubSaysNothing: a secondary limit without retry-after
// or rate headers still tells the caller when the SDK would send again (a
// minute later), and its Limit is 0, as documented, not -1.
func TestRetryAtWhenGitHubSaysNothing(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		c, sent := scripted(t, []func() (*http.Response, error){answer(403, nil, secondaryBody)}, WithMaxWait(0))
		start := time.Now()
		_, err := c.AuditLog(t.Context(), Enterprise("e"), nil)
		var rl *RateLimitError
		require.ErrorAs(t, err, &rl)
		assert.True(t, rl.Secondary)
		assert.True(t, start.Add(time.Minute).Equal(rl.RetryAt()), "RetryAt %v", rl.RetryAt())
		assert.Contains(t, rl.Error(), "retry at "+start.Add(time.Minute).UTC().Format(time.RFC3339))
		assert.Equal(t, 0, rl.Limit)
		assert.Equal(t, -1, rl.Remaining)
		assert.Len(t, *sent, 1)
	})
}

// TestStreamCallsHaveTheirOwnAttempts: the stream endpoints share a budget
// of 15 requests an hour, so a failing stream call is sent at most twice by
// default, while an audit-log call keeps its five attempts.
func TestStreamCallsHaveTheirOwnAttempts(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		opts     []Option
		resource string
		want     int
	}{
		{"stream default", nil, ResourceAuditLogStreaming, 2},
		{"audit log default", nil, ResourceAuditLog, 5},
		{"stream set", []Option{WithStreamMaxAttempts(3)}, ResourceAuditLogStreaming, 3},
		{"WithMaxAttempts leaves streams alone", []Option{WithMaxAttempts(1)}, ResourceAuditLogStreaming, 2},
		{"WithStreamMaxAttempts leaves the audit log alone", []Option{WithStreamMaxAttempts(1)}, ResourceAuditLog, 5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				c, sent := scripted(t, []func() (*http.Response, error){answer(502, nil, `<html>`)}, tc.opts...)
				c.backoff.jitter = func(time.Duration) time.Duration { return 0 }
				path := "enterprises/e/audit-log"
				if tc.resource == ResourceAuditLogStreaming {
					path += "/streams"
				}
				_, err := c.do(t.Context(), &call{method: http.MethodGet, path: path, resource: tc.resource})
				var ae *APIError
				require.ErrorAs(t, err, &ae)
				assert.Len(t, *sent, tc.want)
			})
		})
	}
}

// TestProxyErrorIsNotNoLimit: only a success without rate headers says the
// server enforces no limit. A 502 from a proxy without headers says
// nothing, and a limit the caller configured stays, so both keep pacing:
// the 1,751st request of the hour waits.
func TestProxyErrorIsNotNoLimit(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		answer func() (*http.Response, error)
		opts   []Option
		paced  bool
	}{
		{"200 without rate headers: no limit", ok200, nil, false},
		{"502 without rate headers: nothing known", answer(502, nil, `<html>Bad gateway</html>`), nil, true},
		{"200 without rate headers, limit configured", ok200,
			[]Option{WithRateLimits(map[string]RateLimit{ResourceAuditLog: {Requests: 1750, Per: time.Hour}})}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				c, sent := scripted(t, []func() (*http.Response, error){tc.answer},
					append([]Option{WithMaxAttempts(1)}, tc.opts...)...)
				for range 1751 {
					_, err := c.AuditLog(t.Context(), Enterprise("e"), nil)
					_ = err // a 502 is expected in one case
				}
				require.Len(t, *sent, 1751)
				waited := (*sent)[1750].Sub((*sent)[0])
				if tc.paced {
					assert.InDelta(t, (time.Hour / 1750).Seconds(), waited.Seconds(), 0.001, "the 1,751st request of the hour")
				} else {
					assert.Zero(t, waited)
				}
			})
		})
	}
}

// blockedBody is a response body that yields what it has, then blocks
// until the request's context ends: a server trickling its body.
type blockedBody struct {
	ctx  context.Context
	head string
}

func (b *blockedBody) Read(p []byte) (int, error) {
	if b.head != "" {
		n := copy(p, b.head)
		b.head = b.head[n:]
		return n, nil
	}
	<-b.ctx.Done()
	return 0, b.ctx.Err()
}

func (b *blockedBody) Close() error { return nil }

// TestAttemptTimeout: each attempt is bounded, by default too, so a server
// that never answers or never finishes its body cannot hold a call for
// ever: the attempt fails as a network error after the attempt timeout,
// and is retried as one.
func TestAttemptTimeout(t *testing.T) {
	t.Parallel()
	silent := func(r *http.Request) (*http.Response, error) {
		<-r.Context().Done()
		return nil, r.Context().Err()
	}
	trickle := func(r *http.Request) (*http.Response, error) {
		return &http.Response{StatusCode: 200, Header: http.Header{}, Request: r,
			Body: &blockedBody{ctx: r.Context(), head: `[{"_document_id":"a"`}}, nil
	}
	for _, tc := range []struct {
		name     string
		rt       func(*http.Request) (*http.Response, error)
		opts     []Option
		attempts int
		want     time.Duration // elapsed
	}{
		{"no answer, default timeout", silent, nil, 1, DefaultAttemptTimeout},
		{"trickled body, default timeout", trickle, nil, 1, DefaultAttemptTimeout},
		{"trickled body, 5 s", trickle, []Option{WithAttemptTimeout(5 * time.Second)}, 1, 5 * time.Second},
		{"no answer, retried", silent, []Option{WithAttemptTimeout(5 * time.Second)}, 2, 10 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				var sent atomic.Int64
				// The call's attempts alone (TestWarmStartSilentServer bounds
				// the warm start's).
				c, err := NewClient(append([]Option{WithToken(testToken), WithMaxWait(time.Second), WithoutWarmStart(),
					WithMaxAttempts(tc.attempts), WithHTTPClient(&http.Client{Transport: roundTripFunc(
						func(r *http.Request) (*http.Response, error) { sent.Add(1); return tc.rt(r) })})}, tc.opts...)...)
				require.NoError(t, err)
				c.backoff.jitter = func(time.Duration) time.Duration { return 0 }
				start := time.Now()
				_, err = c.AuditLog(t.Context(), Enterprise("e"), nil)
				recordErr(err)
				var ne *NetworkError
				require.ErrorAs(t, err, &ne)
				assert.ErrorIs(t, err, context.DeadlineExceeded)
				assert.Contains(t, err.Error(), "attempt timeout")
				assert.Equal(t, tc.want, time.Since(start))
				assert.EqualValues(t, tc.attempts, sent.Load())
			})
		})
	}
}
