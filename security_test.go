package auditlog

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// otherHost starts a server and returns its URL under the name "localhost",
// a different host from the 127.0.0.1 of the client's base URL, and a
// function returning the Authorization headers it received.
func otherHost(t *testing.T) (string, func() []string) {
	t.Helper()
	var mu sync.Mutex
	var auths []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		auths = append(auths, r.Header.Get("Authorization"))
		mu.Unlock()
		fmt.Fprint(w, `[]`)
	}))
	t.Cleanup(srv.Close)
	u := strings.Replace(srv.URL, "127.0.0.1", "localhost", 1)
	require.NotEqual(t, srv.URL, u)
	return u, func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), auths...)
	}
}

// TestTokenNotSentOnRedirectToAnotherHost: a redirect to another host is
// not followed at all (so neither the token nor a body goes there); one
// within the API host is, and keeps the token.
func TestTokenNotSentOnRedirectToAnotherHost(t *testing.T) {
	t.Parallel()
	other, otherAuths := otherHost(t)
	c, mux, srv := setup(t)
	var sameHostAuth atomic.Value
	mux.HandleFunc("GET /enterprises/away/audit-log", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, other+"/stolen", http.StatusFound)
	})
	mux.HandleFunc("GET /enterprises/home/audit-log", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, srv.URL+"/api-prefix/moved", http.StatusFound)
	})
	mux.HandleFunc("GET /moved", func(w http.ResponseWriter, r *http.Request) {
		sameHostAuth.Store(r.Header.Get("Authorization"))
		fmt.Fprint(w, `[]`)
	})

	_, err := c.AuditLog(context.Background(), Enterprise("away"), nil)
	recordErr(err)
	var ae *APIError
	require.ErrorAs(t, err, &ae)
	assert.Equal(t, http.StatusFound, ae.StatusCode)
	assert.Contains(t, err.Error(), "refused")
	assert.Empty(t, otherAuths(), "the redirect to another host was followed")

	_, err = c.AuditLog(context.Background(), Enterprise("home"), nil)
	recordErr(err)
	require.NoError(t, err)
	assert.Equal(t, "Bearer "+testToken, sameHostAuth.Load(), "same-host redirect keeps the token")
}

// TestLinkToAnotherHostNeverRequested: a Link header naming another host (or
// scheme) gives the walk its cursor and nothing else: the next request goes
// to the base URL, and the other host never sees a request, let alone the
// token.
func TestLinkToAnotherHostNeverRequested(t *testing.T) {
	t.Parallel()
	other, otherAuths := otherHost(t)
	for _, target := range []string{
		other + "/enterprises/e/audit-log?after=abc",
		"https://" + strings.TrimPrefix(other, "http://") + "/x?after=abc", // same name, other scheme
		"//evil.example/x?after=abc",                                       // scheme-relative
	} {
		c, mux, _ := setup(t)
		var calls atomic.Int32
		mux.HandleFunc("GET /enterprises/e/audit-log", func(w http.ResponseWriter, r *http.Request) {
			calls.Add(1)
			if r.URL.Query().Get("after") == "" {
				w.Header().Set("Link", `<`+target+`>; rel="next"`)
			}
			fmt.Fprintf(w, `[{"_document_id":"%s","@timestamp":1}]`, r.URL.Query().Get("after"))
		})
		var got []string
		for ev, err := range c.Events(context.Background(), Enterprise("e"), nil) {
			recordErr(err)
			require.NoError(t, err, target)
			got = append(got, ev.DocumentID)
		}
		assert.Equal(t, []string{"", "abc"}, got, "the cursor was followed on the base URL")
		assert.EqualValues(t, 2, calls.Load())
	}
	assert.Empty(t, otherAuths(), "no request reached the other host")
}

// TestPlainHTTPNeedsOptIn: http:// to a non-loopback host is refused unless
// WithInsecureHTTP; loopback is allowed for tests and local proxies.
func TestPlainHTTPNeedsOptIn(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		opts []Option
		ok   bool
	}{
		{[]Option{WithBaseURL("http://api.octocorp.example")}, false},
		{[]Option{WithBaseURL("http://10.0.0.7:8080/api")}, false},
		{[]Option{WithBaseURL("http://localhost.evil.example")}, false},
		{[]Option{WithBaseURL("http://127.0.0.1.nip.io")}, false},
		{[]Option{WithEnterpriseServer("http://ghe.example")}, false},
		{[]Option{WithBaseURL("http://api.octocorp.example"), WithInsecureHTTP()}, true},
		{[]Option{WithInsecureHTTP(), WithEnterpriseServer("http://ghe.example")}, true},
		{[]Option{WithBaseURL("http://127.0.0.1:9")}, true},
		{[]Option{WithBaseURL("http://localhost:9")}, true},
		{[]Option{WithBaseURL("http://[::1]:9")}, true},
		{[]Option{WithBaseURL("https://api.octocorp.example")}, true},
	} {
		c, err := NewClient(tc.opts...)
		recordErr(err)
		if tc.ok {
			require.NoError(t, err)
			require.NotNil(t, c)
			continue
		}
		var ie *InputError
		require.ErrorAs(t, err, &ie)
		assert.Equal(t, "WithBaseURL", ie.Field)
		assert.Contains(t, ie.Reason, "WithInsecureHTTP")
		assert.Nil(t, c)
	}
}

// hugeBody writes up to size bytes of a JSON array, stopping when the client
// hangs up; it reports how much it wrote.
func hugeBody(status int, size int64, written *atomic.Int64) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(status)
		chunk := []byte(strings.Repeat(`{"_document_id":"x","a":1},`, 2400)) // ~64 KB
		w.Write([]byte("["))
		for written.Load() < size {
			n, err := w.Write(chunk)
			written.Add(int64(n))
			if err != nil {
				return
			}
		}
	}
}

// peakHeap runs f while sampling the heap and returns how far it grew above
// where it started.
func peakHeap(f func()) uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base := ms.HeapAlloc
	var peak atomic.Uint64
	done := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			if ms.HeapAlloc > peak.Load() {
				peak.Store(ms.HeapAlloc)
			}
			select {
			case <-done:
				return
			case <-time.After(2 * time.Millisecond):
			}
		}
	}()
	f()
	close(done)
	<-stopped
	runtime.ReadMemStats(&ms)
	if ms.HeapAlloc > peak.Load() {
		peak.Store(ms.HeapAlloc)
	}
	if peak.Load() < base {
		return 0
	}
	return peak.Load() - base
}

// TestHugeBodiesAreBounded: a server streaming a 1 GiB body (success or
// error status) gets an error back, the client stops reading at its bound,
// and the heap grows by a small fraction of the body. Not parallel, so that
// other tests do not move the heap while it is measured.
func TestHugeBodiesAreBounded(t *testing.T) { //nolint:paralleltest // measures the heap
	const size = 1 << 30
	for _, tc := range []struct {
		status    int
		maxRead   int64  // bytes the client may make the server write (plus buffers)
		maxGrowth uint64 // heap growth allowed
	}{
		// The success bound is 32 MiB; growing a buffer to it, with the
		// garbage GC has not collected yet, costs a few times that.
		{http.StatusOK, maxBodyBytes + 8<<20, 6 * maxBodyBytes},
		{http.StatusInternalServerError, maxErrorBodyBytes + 8<<20, 16 << 20},
	} {
		t.Run(http.StatusText(tc.status), func(t *testing.T) {
			var written atomic.Int64
			c, mux, _ := setup(t, WithMaxAttempts(1))
			mux.HandleFunc("GET /enterprises/e/audit-log", hugeBody(tc.status, size, &written))
			var err error
			start := time.Now()
			grew := peakHeap(func() { _, err = c.AuditLog(context.Background(), Enterprise("e"), nil) })
			recordErr(err)
			t.Logf("status %d: server wrote %d MiB of %d MiB, heap grew %d MiB, %v",
				tc.status, written.Load()>>20, size>>20, grew>>20, time.Since(start).Round(time.Millisecond))
			require.Error(t, err)
			if tc.status == http.StatusOK {
				assert.Contains(t, err.Error(), "response body larger than")
			} else {
				var ae *APIError
				require.True(t, errors.As(err, &ae), "%v", err)
				assert.Equal(t, http.StatusInternalServerError, ae.StatusCode)
				assert.LessOrEqual(t, len(ae.Body), 512)
			}
			assert.Less(t, grew, tc.maxGrowth, "heap growth")
			assert.Less(t, grew, uint64(size/4), "heap growth against the body size")
			time.Sleep(10 * time.Millisecond) // let the handler see the hang-up
			assert.Less(t, written.Load(), tc.maxRead, "the client kept reading past its bound")
		})
	}
}

// TestLoopbackNeverProxied: a loopback base URL, whatever the case of its
// name, is reached without the proxy of the default transport or of a
// caller's *http.Transport (net/http's environment proxy skips only a
// lower-case "localhost"); other hosts keep the proxy.
func TestLoopbackNeverProxied(t *testing.T) {
	t.Parallel()
	proxied := &http.Transport{Proxy: http.ProxyFromEnvironment}
	for _, tc := range []struct {
		base  string
		hc    *http.Client
		proxy bool
	}{
		{"http://LOCALHOST:9", nil, false},
		{"http://LocalHost:9", &http.Client{Transport: proxied}, false},
		{"http://127.0.0.1:9", nil, false},
		{"http://[::1]:9", &http.Client{Transport: proxied}, false},
		{"https://api.github.com", nil, true},
		{"https://api.github.com", &http.Client{Transport: proxied}, true},
	} {
		opts := []Option{WithBaseURL(tc.base), WithToken(testToken)}
		if tc.hc != nil {
			opts = append(opts, WithHTTPClient(tc.hc))
		}
		c, err := NewClient(opts...)
		require.NoError(t, err, tc.base)
		assert.Equal(t, strings.ToLower(tc.base), c.BaseURL())
		at, ok := c.hc.Transport.(*authTransport)
		require.True(t, ok)
		tr, ok := at.base.(*http.Transport)
		require.True(t, ok, tc.base)
		assert.Equal(t, tc.proxy, tr.Proxy != nil, "%s: proxy", tc.base)
	}
	assert.NotNil(t, proxied.Proxy, "the caller's transport was modified")
}
