package auditlog

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"runtime"
	"runtime/debug"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/jarcoal/httpmock"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const testToken = "ghp_TESTtoken0123456789abcdefABCDEF0123"

// setup starts a server whose API lives under /api-prefix/, so a request
// built from an absolute path instead of the base URL fails loudly, and a
// client pointed at it.
func setup(t *testing.T, opts ...Option) (*Client, *http.ServeMux, *httptest.Server) {
	t.Helper()
	mux := http.NewServeMux()
	api := http.NewServeMux()
	api.Handle("/api-prefix/", http.StripPrefix("/api-prefix", mux))
	api.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		t.Errorf("request outside the base URL: %s %s", r.Method, r.URL)
		http.Error(w, "outside base URL", http.StatusTeapot)
	})
	srv := httptest.NewServer(api)
	t.Cleanup(srv.Close)
	c, err := NewClient(append([]Option{WithBaseURL(srv.URL + "/api-prefix"), WithToken(testToken), WithLogger(testLogger)}, opts...)...)
	require.NoError(t, err)
	return c, mux, srv
}

func TestHeadersSent(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name        string
		opts        []Option
		wantVersion string
		wantUA      string
	}{
		{"defaults", nil, "2022-11-28", defaultUserAgent},
		{"chosen", []Option{WithAPIVersion("2026-03-10"), WithUserAgent("acme-siem/1.2")}, "2026-03-10", "acme-siem/1.2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, mux, _ := setup(t, tc.opts...)
			var got http.Header
			mux.HandleFunc("GET /enterprises/avocado-corp/audit-log", func(w http.ResponseWriter, r *http.Request) {
				got = r.Header.Clone()
				fmt.Fprint(w, `[]`)
			})
			_, err := c.AuditLog(context.Background(), Enterprise("avocado-corp"), nil)
			require.NoError(t, err)
			assert.Equal(t, "application/vnd.github+json", got.Get("Accept"))
			assert.Equal(t, "Bearer "+testToken, got.Get("Authorization"))
			assert.Equal(t, tc.wantVersion, got.Get("X-GitHub-Api-Version"))
			assert.Equal(t, tc.wantUA, got.Get("User-Agent"))
			assert.Contains(t, defaultUserAgent, Version)
		})
	}
}

// TestVersionIsTheChangelogsLatestRelease: Version, and with it the
// User-Agent, says the newest release CHANGELOG.md describes, so that a
// release cannot bump one and forget the other.
func TestVersionIsTheChangelogsLatestRelease(t *testing.T) {
	t.Parallel()
	log, err := os.ReadFile("CHANGELOG.md")
	require.NoError(t, err)
	latest := regexp.MustCompile(`(?m)^## \[(\d+\.\d+\.\d+)\] - \d{4}-\d{2}-\d{2}$`).FindSubmatch(log)
	require.NotNil(t, latest, "CHANGELOG.md has no release heading such as \"## [0.2.0] - 2026-11-30\"")
	assert.Equal(t, string(latest[1]), Version)
	assert.True(t, strings.HasPrefix(defaultUserAgent, "ghaudit-go/"+Version+" "), defaultUserAgent)
}

func TestBaseURLs(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		opts []Option
		want string
	}{
		{"github.com", nil, "https://api.github.com/enterprises/avocado-corp/audit-log"},
		{"ghe.com", []Option{WithBaseURL("https://api.octocorp.ghe.com")}, "https://api.octocorp.ghe.com/enterprises/avocado-corp/audit-log"},
		{"ghe.com trailing slash", []Option{WithBaseURL("https://api.octocorp.ghe.com/")}, "https://api.octocorp.ghe.com/enterprises/avocado-corp/audit-log"},
		{"ghes host", []Option{WithEnterpriseServer("github.acme.internal")}, "https://github.acme.internal/api/v3/enterprises/avocado-corp/audit-log"},
		{"ghes url with port", []Option{WithEnterpriseServer("https://github.acme.internal:8443")}, "https://github.acme.internal:8443/api/v3/enterprises/avocado-corp/audit-log"},
		{"loopback http", []Option{WithBaseURL("http://127.0.0.1:9999")}, "http://127.0.0.1:9999/enterprises/avocado-corp/audit-log"},
		{"insecure opt-in", []Option{WithBaseURL("http://proxy.internal"), WithInsecureHTTP()}, "http://proxy.internal/enterprises/avocado-corp/audit-log"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			mt := httpmock.NewMockTransport()
			var gotURL, gotAuth string
			mt.RegisterNoResponder(func(r *http.Request) (*http.Response, error) {
				gotURL, gotAuth = r.URL.String(), r.Header.Get("Authorization")
				return httpmock.NewStringResponse(200, "[]"), nil
			})
			opts := append([]Option{WithToken(testToken), WithHTTPClient(&http.Client{Transport: mt})}, tc.opts...)
			c, err := NewClient(opts...)
			require.NoError(t, err)
			_, err = c.AuditLog(context.Background(), Enterprise("avocado-corp"), nil)
			require.NoError(t, err)
			assert.Equal(t, tc.want, gotURL)
			assert.Equal(t, "Bearer "+testToken, gotAuth)
		})
	}
}

func TestOptionErrorsNameTheOption(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		opt  Option
		name string
	}{
		{WithToken(""), "WithToken"},
		{WithToken("ghp_abc\ndef"), "WithToken"},
		{WithToken("two words"), "WithToken"},
		{WithTokenSource(nil), "WithTokenSource"},
		{WithBaseURL(""), "WithBaseURL"},
		{WithBaseURL("ftp://api.github.com"), "WithBaseURL"},
		{WithBaseURL("api.github.com"), "WithBaseURL"},
		{WithBaseURL("https://user:pass@api.github.com"), "WithBaseURL"},
		{WithBaseURL("https://api.github.com/?x=1"), "WithBaseURL"},
		{WithBaseURL("https://api.github.com/#frag"), "WithBaseURL"},
		{WithBaseURL("http://api.github.com"), "WithBaseURL"},
		{WithBaseURL("https://"), "WithBaseURL"},
		{WithEnterpriseServer(""), "WithEnterpriseServer"},
		{WithEnterpriseServer("ghe.acme.com/api/v3"), "WithEnterpriseServer"},
		{WithHTTPClient(nil), "WithHTTPClient"},
		{WithAPIVersion("2023-01-01"), "WithAPIVersion"},
		{WithAPIVersion(""), "WithAPIVersion"},
		{WithUserAgent(""), "WithUserAgent"},
		{WithUserAgent("bad\r\nX-Injected: 1"), "WithUserAgent"},
		{WithLogger(nil), "WithLogger"},
		{nil, "NewClient"},
	} {
		_, err := NewClient(tc.opt)
		var ie *InputError
		require.ErrorAs(t, err, &ie, tc.name)
		assert.Equal(t, tc.name, ie.Field)
		assert.ErrorIs(t, err, ErrInvalidInput)
		assert.Contains(t, err.Error(), tc.name)
		assert.NotContains(t, err.Error(), "pass", "credentials echoed")
	}
}

func TestWithHTTPClientIsCopied(t *testing.T) {
	t.Parallel()
	orig := &http.Transport{}
	hc := &http.Client{Transport: orig}
	_, err := NewClient(WithHTTPClient(hc), WithToken(testToken))
	require.NoError(t, err)
	assert.Same(t, orig, hc.Transport, "the caller's client was modified")
}

func TestTokenOnlyToBaseHost(t *testing.T) {
	t.Parallel()
	var leaked atomic.Value
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		leaked.Store(r.Header.Get("Authorization"))
		fmt.Fprint(w, `[]`)
	}))
	t.Cleanup(other.Close)

	// A redirect to another host (here another port) is not followed.
	c, mux, _ := setup(t)
	mux.HandleFunc("GET /enterprises/avocado-corp/audit-log", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, other.URL+"/elsewhere", http.StatusFound)
	})
	_, err := c.AuditLog(context.Background(), Enterprise("avocado-corp"), nil)
	recordErr(err)
	require.ErrorContains(t, err, "refused")
	assert.Nil(t, leaked.Load(), "the redirect to another host was followed")
}

func TestLinkToAnotherHostGivesOnlyItsCursor(t *testing.T) {
	t.Parallel()
	c, mux, _ := setup(t)
	mux.HandleFunc("GET /enterprises/avocado-corp/audit-log", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Link", `<https://evil.example.com/enterprises/13827/audit-log?after=abc&before=>; rel="next"`)
		fmt.Fprint(w, `[]`)
	})
	page, err := c.AuditLog(context.Background(), Enterprise("avocado-corp"), nil)
	require.NoError(t, err)
	assert.Equal(t, "abc", (&Query{}).At(page.Next).After)
	assert.NotContains(t, page.Next.String(), "evil.example.com")
}

func TestTokenSource(t *testing.T) {
	t.Parallel()
	var n atomic.Int32
	src := TokenFunc(func(ctx context.Context) (string, error) {
		return fmt.Sprintf("ghp_rotating%d", n.Add(1)), nil
	})
	c, mux, _ := setup(t, WithTokenSource(src))
	var seen []string
	mux.HandleFunc("GET /enterprises/e/audit-log", func(w http.ResponseWriter, r *http.Request) {
		seen = append(seen, r.Header.Get("Authorization"))
		fmt.Fprint(w, `[]`)
	})
	mux.HandleFunc("GET /rate_limit", func(w http.ResponseWriter, r *http.Request) {
		seen = append(seen, "warm start: "+r.Header.Get("Authorization"))
		http.NotFound(w, r)
	})
	for range 2 {
		_, err := c.AuditLog(context.Background(), Enterprise("e"), nil)
		require.NoError(t, err)
	}
	assert.Equal(t, []string{"warm start: Bearer ghp_rotating1", "Bearer ghp_rotating2", "Bearer ghp_rotating3"}, seen)

	boom := errors.New("vault sealed")
	c2, _, _ := setup(t, WithTokenSource(TokenFunc(func(context.Context) (string, error) { return "", boom })))
	_, err := c2.AuditLog(context.Background(), Enterprise("e"), nil)
	assert.ErrorIs(t, err, boom)
	c3, _, _ := setup(t, WithTokenSource(TokenFunc(func(context.Context) (string, error) { return "bad token\n", nil })))
	_, err = c3.AuditLog(context.Background(), Enterprise("e"), nil)
	require.Error(t, err)
	assert.NotContains(t, err.Error(), "bad token")
}

// TestTokenNeverLogged runs every error class with a debug logger and checks
// that neither the records nor the errors hold the token.
func TestTokenNeverLogged(t *testing.T) {
	t.Parallel()
	var logs bytes.Buffer
	logger := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	// One attempt: this test is about classification; retries are covered in retry_test.go.
	c, mux, _ := setup(t, WithLogger(logger), WithMaxAttempts(1))
	// 429 goes last: a refusal without timing headers holds the client's
	// budget for a minute (issue 13), which would stall the calls after it.
	status := []int{200, 401, 403, 404, 422, 500, 429}
	for _, st := range status {
		mux.HandleFunc(fmt.Sprintf("GET /enterprises/e%d/audit-log", st), func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("X-GitHub-Request-Id", "REQ-1")
			w.WriteHeader(st)
			if st == 200 {
				fmt.Fprint(w, `[]`)
				return
			}
			// A server echoing the Authorization header must not make the SDK leak it.
			fmt.Fprintf(w, `{"message":"echo %s"}`, strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer "))
		})
	}
	var errs []string
	for _, st := range status {
		_, err := c.AuditLog(context.Background(), Enterprise(fmt.Sprintf("e%d", st)), nil)
		if err != nil {
			errs = append(errs, err.Error(), fmt.Sprintf("%+v", err), fmt.Sprintf("%#v", err))
		}
	}
	require.NotEmpty(t, logs.String())
	assert.NotContains(t, logs.String(), testToken)
	require.Len(t, errs, 3*(len(status)-1))
	for _, e := range errs {
		assert.NotContains(t, e, testToken)
	}
	assert.Contains(t, errs[0], "[REDACTED]", "the echoed token was not replaced")
	assert.NotContains(t, fmt.Sprintf("%v %+v %#v", c, c, c), testToken)
	assert.NotContains(t, fmt.Sprintf("%v %#v", staticToken(testToken), staticToken(testToken)), testToken)
}

func TestBadInputNeverReachesNetwork(t *testing.T) {
	t.Parallel()
	mt := httpmock.NewMockTransport()
	c, err := NewClient(WithToken(testToken), WithHTTPClient(&http.Client{Transport: mt}))
	require.NoError(t, err)
	var nilCtx context.Context
	for _, tc := range []struct {
		ctx   context.Context
		ent   string
		q     *Query
		field string
	}{
		{context.Background(), "", nil, "enterprise"},
		{context.Background(), "a/b", nil, "enterprise"},
		{context.Background(), "..", nil, "enterprise"},
		{context.Background(), ".", nil, "enterprise"},
		{context.Background(), "avocado corp", nil, "enterprise"},
		{context.Background(), "avo\x00cado", nil, "enterprise"},
		{context.Background(), "avo\ncado", nil, "enterprise"},
		{context.Background(), "a%2Fb", nil, "enterprise"},
		{context.Background(), "a?b", nil, "enterprise"},
		{context.Background(), strings.Repeat("a", 101), nil, "enterprise"},
		{nilCtx, "avocado-corp", nil, "ctx"},
		{context.Background(), "avocado-corp", &Query{PerPage: 101}, "Query.PerPage"},
	} {
		var page *Page
		require.NotPanics(t, func() { page, err = c.AuditLog(tc.ctx, Enterprise(tc.ent), tc.q) })
		var ie *InputError
		require.ErrorAs(t, err, &ie, "%q", tc.ent)
		assert.Equal(t, tc.field, ie.Field)
		assert.Nil(t, page)
	}
	assert.Zero(t, mt.GetTotalCallCount(), "bad input reached the network")
}

// TestBaseURLPathRefused: a base URL whose path cannot be an API root
// (spaces, escapes, empty or dot segments) is refused before any request.
func TestBaseURLPathRefused(t *testing.T) {
	t.Parallel()
	for _, raw := range []string{
		"https://api.github.com/ enterprises",
		"https://api.github.com/api%20v3",
		"https://api.github.com/api/%2e%2e/v3",
		"https://ghe.example/api//v3",
		"https://ghe.example/api/../v3",
		"https://ghe.example/./api/v3",
		"https://ghe.example/api/v3\u00a0",
		"https://ghe.example/api/v3/\"x\"",
	} {
		_, err := NewClient(WithBaseURL(raw))
		var ie *InputError
		require.ErrorAs(t, err, &ie, raw)
		assert.Equal(t, "WithBaseURL", ie.Field)
	}
	for raw, want := range map[string]string{
		"https://ghe.example/api/v3":     "https://ghe.example/api/v3",
		"https://ghe.example/api/v3/":    "https://ghe.example/api/v3",
		"https://api.github.com//":       "https://api.github.com",
		"https://ghe.example/gh-proxy~1": "https://ghe.example/gh-proxy~1",
	} {
		c, err := NewClient(WithBaseURL(raw))
		require.NoError(t, err, raw)
		assert.Equal(t, want, c.BaseURL())
	}
}

// TestFirst404HintsAtBaseURL: a 404 on a client's first request, when the
// base URL's path cannot be right for its host, says to check the base URL;
// once a request has succeeded, or when the base URL looks right, a 404 is
// only a 404.
func TestFirst404HintsAtBaseURL(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		opt  Option
		hint string // "" for none
	}{
		{"/api/v3 on api.github.com", WithEnterpriseServer("api.github.com"), "without a path"},
		{"/api/v3 on GHE.com", WithBaseURL("https://api.octocorp.ghe.com/api/v3"), "without a path"},
		{"web host of GitHub.com", WithBaseURL("https://github.com"), "https://api.github.com"},
		{"web host of GHE.com", WithBaseURL("https://octocorp.ghe.com"), "https://api.octocorp.ghe.com"},
		{"GHES host without /api/v3", WithBaseURL("https://github.acme.internal"), "WithEnterpriseServer"},
		{"api.github.com", nil, ""},
		{"GHES", WithEnterpriseServer("github.acme.internal"), ""},
		{"GHE.com", WithBaseURL("https://api.octocorp.ghe.com"), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			mt := httpmock.NewMockTransport()
			status := 404
			mt.RegisterNoResponder(func(*http.Request) (*http.Response, error) {
				if status == 200 {
					return httpmock.NewStringResponse(status, `[]`), nil
				}
				return httpmock.NewStringResponse(status, `{"message":"Not Found"}`), nil
			})
			opts := []Option{WithToken(testToken), WithHTTPClient(&http.Client{Transport: mt}), WithMaxAttempts(1)}
			if tc.opt != nil {
				opts = append(opts, tc.opt)
			}
			c, err := NewClient(opts...)
			require.NoError(t, err)
			_, err = c.AuditLog(context.Background(), Enterprise("avocado-corp"), nil)
			require.ErrorIs(t, err, ErrNotFound)
			if tc.hint == "" {
				assert.NotContains(t, err.Error(), "base URL")
				return
			}
			assert.Contains(t, err.Error(), "check the base URL")
			assert.Contains(t, err.Error(), tc.hint)

			status = 200
			_, err = c.AuditLog(context.Background(), Enterprise("avocado-corp"), nil)
			require.NoError(t, err)
			status = 404
			_, err = c.AuditLog(context.Background(), Enterprise("avocado-corp"), nil)
			require.ErrorIs(t, err, ErrNotFound)
			assert.NotContains(t, err.Error(), "base URL", "the base URL has answered: a 404 is only a 404")
		})
	}
}

// TestPageCostsItsOwnBytes: reading a page allocates the page, whether its
// length is announced or not (GitHub sends gzip, so it mostly is not), and
// not a copy buffer or pieces to join on top, on every page.
func TestPageCostsItsOwnBytes(t *testing.T) {
	const size = 256 << 10 // a multiple of the runtime's page size: the string is exactly this
	page := "[" + strings.Repeat(" ", size-2) + "]"
	for _, tc := range []struct {
		name   string
		length int64
	}{{"length announced", size}, {"length unknown", -1}} {
		t.Run(tc.name, func(t *testing.T) {
			hc := &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
				return &http.Response{StatusCode: http.StatusOK, Header: http.Header{},
					Body: io.NopCloser(strings.NewReader(page)), ContentLength: tc.length, Request: r}, nil
			})}
			c, err := NewClient(WithToken(testToken), WithBaseURL("http://127.0.0.1:1"), WithHTTPClient(hc), WithoutWarmStart())
			require.NoError(t, err)
			get := func() {
				resp, err := c.do(t.Context(), &call{method: http.MethodGet, path: "page", resource: ResourceAuditLog})
				require.NoError(t, err)
				require.Len(t, resp.body, size)
			}
			get()
			const runs = 20
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			for range runs {
				get()
			}
			runtime.ReadMemStats(&after)
			perPage := (after.TotalAlloc - before.TotalAlloc) / runs
			bound := uint64(size + 16<<10) // less than the body and one 32 KiB copy buffer
			if raceDetector() {
				// The race detector drops a quarter of what goes back to a
				// sync.Pool: still well under the body and its pieces.
				bound = size + size/2
			}
			assert.Less(t, perPage, bound, "a %d-byte page cost %d bytes", size, perPage)
		})
	}
}

// raceDetector reports whether the test binary was built with -race.
func raceDetector() bool {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return false
	}
	for _, s := range bi.Settings {
		if s.Key == "-race" {
			return s.Value == "true"
		}
	}
	return false
}
