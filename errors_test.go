package auditlog

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const secondaryMsg = "You have exceeded a secondary rate limit. Please wait a few minutes before you try again."

func TestErrorClassification(t *testing.T) {
	t.Parallel()
	reset := time.Now().Add(30 * time.Minute).Truncate(time.Second)
	rateHeaders := func(remaining string) map[string]string {
		return map[string]string{
			"X-Ratelimit-Limit": "1750", "X-Ratelimit-Remaining": remaining, "X-Ratelimit-Used": "1750",
			"X-Ratelimit-Reset": fmt.Sprint(reset.Unix()), "X-Ratelimit-Resource": "audit_log",
		}
	}
	type want struct {
		sentinel   error
		rate       bool
		secondary  bool
		retryAfter time.Duration
		fields     []FieldError
	}
	for _, tc := range []struct {
		name    string
		status  int
		headers map[string]string
		body    string
		want    want
	}{
		{"401", 401, nil, `{"message":"Bad credentials","documentation_url":"https://docs.github.com/rest"}`, want{sentinel: ErrUnauthorized}},
		{"403 permissions", 403, rateHeaders("1200"), `{"message":"Must have admin rights to Enterprise."}`, want{sentinel: ErrForbidden}},
		{"404", 404, nil, `{"message":"Not Found"}`, want{sentinel: ErrNotFound}},
		{"422 object errors", 422, nil, `{"message":"Validation Failed","errors":[{"resource":"AuditLogStream","field":"encrypted_token","code":"invalid"}]}`,
			want{sentinel: ErrValidation, fields: []FieldError{{Resource: "AuditLogStream", Field: "encrypted_token", Code: "invalid"}}}},
		{"422 bare strings", 422, nil, `{"errors":["Key id is stale","Port must be an integer"]}`,
			want{sentinel: ErrValidation, fields: []FieldError{{Message: "Key id is stale"}, {Message: "Port must be an integer"}}}},
		{"500 html", 502, nil, `<html><body>Bad gateway</body></html>`, want{}},
		{"403 primary", 403, rateHeaders("0"), `{"message":"API rate limit exceeded for user ID 1."}`, want{sentinel: ErrRateLimited, rate: true}},
		{"429 primary", 429, rateHeaders("0"), `{"message":"API rate limit exceeded for user ID 1."}`, want{sentinel: ErrRateLimited, rate: true}},
		{"403 primary message only", 403, nil, `{"message":"API rate limit exceeded for user ID 1."}`, want{sentinel: ErrRateLimited, rate: true}},
		{"403 secondary retry-after", 403, merge(rateHeaders("1500"), map[string]string{"Retry-After": "42"}), `{"message":"` + secondaryMsg + `"}`,
			want{sentinel: ErrRateLimited, rate: true, secondary: true, retryAfter: 42 * time.Second}},
		{"429 retry-after", 429, map[string]string{"Retry-After": "7"}, `{"message":"` + secondaryMsg + `"}`,
			want{sentinel: ErrRateLimited, rate: true, secondary: true, retryAfter: 7 * time.Second}},
		{"403 secondary bare", 403, nil, `{"message":"` + secondaryMsg + `"}`, want{sentinel: ErrRateLimited, rate: true, secondary: true}},
		{"403 abuse wording", 403, nil, `{"message":"You have triggered an abuse detection mechanism."}`, want{sentinel: ErrRateLimited, rate: true, secondary: true}},
		{"429 no detail", 429, nil, ``, want{sentinel: ErrRateLimited, rate: true, secondary: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, mux, _ := setup(t, WithMaxAttempts(1)) // classification only; retries: retry_test.go
			mux.HandleFunc("GET /enterprises/e/audit-log", func(w http.ResponseWriter, r *http.Request) {
				for k, v := range tc.headers {
					w.Header().Set(k, v)
				}
				w.Header().Set("X-GitHub-Request-Id", "ABCD:1234")
				w.WriteHeader(tc.status)
				fmt.Fprint(w, tc.body)
			})
			_, err := c.AuditLog(context.Background(), Enterprise("e"), nil)
			require.Error(t, err)
			assert.NotContains(t, err.Error(), "\n", "Error() must be one line")
			assert.Contains(t, err.Error(), "ABCD:1234")
			for _, s := range []error{ErrNotFound, ErrUnauthorized, ErrForbidden, ErrValidation, ErrRateLimited} {
				assert.Equal(t, s == tc.want.sentinel, errors.Is(err, s), "errors.Is(err, %v)", s)
			}
			var rl *RateLimitError
			var ae *APIError
			if tc.want.rate {
				require.ErrorAs(t, err, &rl)
				assert.False(t, errors.As(err, &ae))
				assert.Equal(t, tc.want.secondary, rl.Secondary)
				assert.Equal(t, tc.want.retryAfter, rl.RetryAfter)
				assert.Equal(t, tc.status, rl.StatusCode)
				if tc.headers["X-Ratelimit-Remaining"] == "0" {
					assert.Equal(t, 0, rl.Remaining)
					assert.Equal(t, 1750, rl.Limit)
					assert.Equal(t, "audit_log", rl.Resource)
					assert.True(t, rl.Reset.Equal(reset))
					assert.True(t, rl.RetryAt().Equal(reset))
				}
				if tc.want.retryAfter > 0 {
					assert.WithinDuration(t, time.Now().Add(tc.want.retryAfter), rl.RetryAt(), 2*time.Second)
				}
				return
			}
			require.ErrorAs(t, err, &ae)
			assert.Equal(t, tc.status, ae.StatusCode)
			assert.Equal(t, "ABCD:1234", ae.RequestID)
			assert.Equal(t, tc.want.fields, ae.Errors)
			if tc.status == 502 {
				assert.Contains(t, ae.Body, "Bad gateway")
			}
		})
	}
}

func merge(a, b map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range a {
		out[k] = v
	}
	for k, v := range b {
		out[k] = v
	}
	return out
}

func TestParseRetryAfter(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"", 0, false},
		{"0", 0, true},
		{"60", time.Minute, true},
		{" 5 ", 5 * time.Second, true},
		{"-3", 0, false},
		{"soon", 0, false},
		{"Sat, 21 Nov 2026 12:01:30 GMT", 90 * time.Second, true},
		{"Sat, 21 Nov 2026 11:00:00 GMT", 0, true}, // in the past: retry now
		{"99999999999999999999", 0, false},
	} {
		got, ok := parseRetryAfter(tc.in, now)
		assert.Equal(t, tc.ok, ok, tc.in)
		assert.Equal(t, tc.want, got, tc.in)
	}
}

func TestErrorBodyBounded(t *testing.T) {
	t.Parallel()
	c, mux, _ := setup(t, WithMaxAttempts(1))
	mux.HandleFunc("GET /enterprises/e/audit-log", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(500)
		chunk := make([]byte, 64<<10)
		for i := 0; i < (8<<20)/len(chunk); i++ { // 8 MiB of error page
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
	})
	_, err := c.AuditLog(context.Background(), Enterprise("e"), nil)
	var ae *APIError
	require.ErrorAs(t, err, &ae)
	assert.LessOrEqual(t, len(ae.Body), 512)
}

func TestNetworkErrorAndTruncation(t *testing.T) {
	t.Parallel()
	c, mux, _ := setup(t, WithMaxAttempts(1))
	mux.HandleFunc("GET /enterprises/e/audit-log", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "1000")
		fmt.Fprint(w, `[{"_document_id":"a"`)
		// the handler returns: the body is cut short of its Content-Length
	})
	_, err := c.AuditLog(context.Background(), Enterprise("e"), nil)
	var ne *NetworkError
	require.ErrorAs(t, err, &ne)
	assert.Equal(t, 200, ne.Status)

	dead, err := NewClient(WithBaseURL("http://127.0.0.1:1"), WithToken(testToken), WithMaxAttempts(1))
	require.NoError(t, err)
	_, err = dead.AuditLog(context.Background(), Enterprise("e"), nil)
	require.ErrorAs(t, err, &ne)
	assert.Equal(t, 0, ne.Status)
	assert.NotContains(t, err.Error(), testToken)
}

// TestScrubber: a secret is found however a server wrote it (plainly, with
// any mix of JSON and percent escapes, a surrogate pair, a secret that
// itself holds an escape-like sequence) and nothing else is touched.
func TestScrubber(t *testing.T) {
	t.Parallel()
	const tok = "ghp_Ab/c\"d%41\\e"
	sc := scrubber{secrets: []string{tok, "SECRET-é😀"}}
	for _, tc := range []struct{ in, want string }{
		{"x " + tok + " y", "x [REDACTED] y"},
		{`{"m":"ghp_Ab\/c\"d%41\\e"}`, `{"m":"[REDACTED]"}`},
		{`\u0067hp_Ab/c\u0022d%41\u005ce`, `[REDACTED]`},
		{`%67%68%70%5FAb%2Fc%22d%2541%5Ce`, `[REDACTED]`},
		{`%67h\u0070_Ab/c"d%41\e`, `[REDACTED]`},
		{tok + tok, "[REDACTED][REDACTED]"},
		{`SECRET-\u00e9\ud83d\ude00!`, `[REDACTED]!`},
		{`SECRET-%C3%A9%F0%9F%98%80`, `[REDACTED]`},
		{"ghp_Ab/c\"d%41\\", "ghp_Ab/c\"d%41\\"}, // a prefix is not the secret
		{`\u006`, `\u006`},                       // a broken escape
		{"no secret here: %zz \\q \\u12", "no secret here: %zz \\q \\u12"},
	} {
		assert.Equal(t, tc.want, sc.clean(tc.in), "%q", tc.in)
	}
	// Backtracking is bounded: a secret of escape-like bytes against many
	// ways to write it.
	many := scrubber{secrets: []string{strings.Repeat("%", 40)}}
	assert.Equal(t, "[REDACTED]", many.clean(strings.Repeat("%25", 40)))
	assert.Equal(t, strings.Repeat("%25", 39), many.clean(strings.Repeat("%25", 39)))
}

// TestServerText: server text in an error keeps printable characters
// (accents included), escapes the rest, and is cut at a character boundary.
func TestServerText(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in    string
		limit int
		want  string
	}{
		{"Not Found", 100, "Not Found"},
		{"Dépôt introuvable", 100, "Dépôt introuvable"},
		{"a\nb\rc\x1b[2J", 100, `a\u000ab\u000dc\u001b[2J`},
		{"a\u2028b\u2029c\u0085d\u202ee", 100, `a\u2028b\u2029c\u0085d\u202ee`},
		{"bad \xff byte", 100, `bad \xff byte`},
		{"tag \U000E0041", 100, `tag \U000e0041`},
		{strings.Repeat("é", 10), 5, "ééé…"},
		{strings.Repeat("a", 10), 4, "aaaa…"},
	} {
		assert.Equal(t, tc.want, serverText(tc.in, tc.limit), "%q", tc.in)
	}
}
