package auditlog

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/nacl/box"
)

// The hostile-server suite (issue 22): each case is a small handler playing
// a broken, hostile or compromised server (or something between it and the
// client), the call the client makes against it, and the promise that must
// still hold. Every case also gets the promises that hold for all of them,
// asserted by the runner: no token or secret in any error, log record or
// hook payload, and an Error() that is one line of bounded length.
//
// Each item of issue 22 that a server drives has rows here: 22.1 (pages and
// stream lists past the element cap), 22.2, 22.3, 22.4, 22.5 (resets,
// retry-afters and event times in the future), 22.6, 22.7, 22.8 and the
// server half of 22.11; so does the warm start (19). The rest is not about
// what a server sends, and is tested where it lives:
//   - 22.9, a Secret under %p, in unexported fields and in encoding/xml:
//     TestSecretsNeverPrinted and TestRedactedFormsAreReadable
//     (streams_input_test.go);
//   - 22.10, the export's output file (0600, no symlink followed, no file
//     clobbered that is not its own): TestOutputFileIsSafe (examples/export);
//   - 22.11's command-line half (server text escaped on the terminal, a
//     stray argument never echoed): TestServerTextIsEscaped and
//     TestStrayArgumentsAreNeverEchoed (examples/streams).

// hostile is the world of one case.
type hostile struct {
	c     *Client
	api   *httptest.Server // the server the client's base URL names; serves the case's handler
	other *httptest.Server // a server on another host ("localhost" rather than 127.0.0.1)
	// otherURL is other's URL under the name "localhost".
	otherURL string
	// otherHits counts the requests other received; otherAuth is the last
	// Authorization header it saw.
	otherHits atomic.Int64
	otherAuth atomic.Value
	logs      *capture

	mu   sync.Mutex
	reqs []*http.Request // what api received but the warm start's GET /rate_limit, in order

	// What a case's call leaves for its check.
	ids   []string   // the events a walk or a tail delivered, in order
	cp    Checkpoint // a tail's checkpoint when it stopped
	alloc uint64     // the bytes the call allocated (serial cases only)
	extra []error    // more errors for the suite-wide checks (also)
}

// requests returns what the API server received, but GET /rate_limit.
func (h *hostile) requests() []*http.Request {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]*http.Request(nil), h.reqs...)
}

// walk ranges over the whole audit log of enterprise "e", stopping after
// limit events so that a walk that would loop for ever ends, keeps the
// IDs in h.ids and returns the first error.
func (h *hostile) walk(ctx context.Context, limit int) error {
	for ev, err := range h.c.Events(ctx, Enterprise("e"), nil) {
		if err != nil {
			return err
		}
		h.ids = append(h.ids, ev.DocumentID)
		if len(h.ids) == limit {
			break
		}
	}
	return nil
}

// also puts an error a check provoked under the suite-wide checks, and
// returns it.
func (h *hostile) also(err error) error {
	h.extra = append(h.extra, err)
	return err
}

// hostileCase is one row of the suite.
type hostileCase struct {
	name string
	item string // the item of issue 22 the case covers, e.g. "22.3"
	// serve returns the handler of the API server.
	serve func(h *hostile) http.HandlerFunc
	// options are added to the client's (the runner's come first: base URL,
	// token, logger; a later WithBaseURL or WithHTTPClient wins).
	options func(h *hostile) []Option
	// call is what the client does; nil means one AuditLog call.
	call func(ctx context.Context, h *hostile) error
	// check asserts the case's own promise about the outcome.
	check func(t *testing.T, h *hostile, err error)
	// serial cases measure allocation (h.alloc, or in check), so they run
	// alone, before the others.
	serial bool
}

// maxHostileRequests is how many requests a case's server answers before
// it refuses every other with 418: a client that loops ends the case.
const maxHostileRequests = 1000

// oneAttempt is the options of a case about what one response does.
func oneAttempt(*hostile) []Option { return []Option{WithMaxAttempts(1)} }

// limitsOff answers the warm start's GET /rate_limit as a server with rate
// limiting off does (404), and gives every other request to next: the
// cases that use it are about the audit log's own responses.
func limitsOff(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/rate_limit" {
			http.NotFound(w, r)
			return
		}
		next(w, r)
	}
}

// linkTo writes a Link header whose next link carries query.
func linkTo(w http.ResponseWriter, r *http.Request, query string) {
	w.Header().Set("Link", fmt.Sprintf(`<http://%s/enterprises/e/audit-log?%s>; rel="next"`, r.Host, query))
}

// withStreamKey answers GET .../stream-key with a fresh public key, and
// every other request with next.
func withStreamKey(next http.HandlerFunc) http.HandlerFunc {
	pub, _, err := box.GenerateKey(rand.Reader)
	if err != nil {
		panic(err)
	}
	return func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/stream-key") {
			fmt.Fprintf(w, `{"key_id":"1","key":%q}`, base64.StdEncoding.EncodeToString(pub[:]))
			return
		}
		next(w, r)
	}
}

// createSecretStream creates a stream whose vendor token is hostileSecret.
func createSecretStream(ctx context.Context, h *hostile) error {
	_, err := h.c.CreateStream(ctx, "e", StreamConfig{Enabled: true,
		Vendor: Splunk{Domain: "http-inputs-acme.splunkcloud.com", Port: 443, Token: NewSecret(hostileSecret), SSLVerify: true}})
	return err
}

// loopingLinks is a case of item 22.6: the server's Link header leads the
// walk back to a position it already read. next gives, for the query of a
// request, the query of its page's next link and the ID of the page's one
// event. The walk reads each page once, ids in order, and stops with
// errLoop.
func loopingLinks(name string, next func(url.Values) (link, id string), ids ...string) hostileCase {
	return hostileCase{
		name: name, item: "22.6",
		serve: func(*hostile) http.HandlerFunc {
			return limitsOff(func(w http.ResponseWriter, r *http.Request) {
				link, id := next(r.URL.Query())
				linkTo(w, r, link)
				fmt.Fprintf(w, `[{"_document_id":"%s","@timestamp":1}]`, id)
			})
		},
		options: oneAttempt,
		call:    func(ctx context.Context, h *hostile) error { return h.walk(ctx, 100) },
		check: func(t *testing.T, h *hostile, err error) {
			require.ErrorIs(t, err, errLoop, "the walk looped")
			assert.Contains(t, err.Error(), "already")
			assert.Equal(t, ids, h.ids, "each page once")
			assert.Len(t, h.requests(), len(ids))
		},
	}
}

// tinyElements is a JSON array of n empty objects.
func tinyElements(n int) string { return "[" + strings.Repeat("{},", n-1) + "{}]" }

// manyRels is a Link header with one 16 KiB URL carrying 4,000 rels.
func manyRels(host string) string {
	return fmt.Sprintf(`<http://%s/enterprises/e/audit-log?after=QQ==&pad=%s>; rel="%s"`,
		host, strings.Repeat("p", 16<<10), strings.TrimSpace(strings.Repeat("next ", 4000)))
}

// hugeLinkPad makes a link URL longer than maxLinkURLBytes.
var hugeLinkPad = strings.Repeat("A", 40<<10)

var createdFloor = regexp.MustCompile(`created:(?:>=)?(\d{4}-\d\d-\d\d(?:T\d\d:\d\d:\d\dZ)?)`)

// hostileSecret is the plaintext vendor secret of the stream cases; the
// SECRET marker puts it under the suite-wide leak scan too.
const hostileSecret = "SECRET-hostile-splunk-9f8e7d6c5b4a"

// hostileSecrets are the strings no error or log record of the suite may
// hold.
var hostileSecrets = []string{testToken, hostileSecret}

// maxErrorLen bounds the Error() of every error the suite sees.
const maxErrorLen = 4096

var hostileCases = []hostileCase{
	// 22.1: what one response makes the client allocate follows a cap on
	// its elements, not the size of its body.
	{
		name: "a page with more elements than the cap", item: "22.1",
		serve: func(*hostile) http.HandlerFunc {
			return limitsOff(func(w http.ResponseWriter, _ *http.Request) {
				fmt.Fprint(w, tinyElements(maxPageElements+1))
			})
		},
		options: oneAttempt,
		call:    func(ctx context.Context, h *hostile) error { return h.walk(ctx, 1<<20) },
		check: func(t *testing.T, h *hostile, err error) {
			require.Error(t, err)
			assert.Empty(t, h.ids)
			assert.Contains(t, err.Error(), fmt.Sprintf("more than %d", maxPageElements))
			assert.Len(t, h.requests(), 1, "refused, not retried")
			_, err = h.c.AuditLog(context.Background(), Enterprise("e"), nil)
			assert.Error(t, h.also(err))
		},
	},
	{
		name: "memory stays proportional to the cap", item: "22.1", serial: true,
		serve: func(*hostile) http.HandlerFunc {
			return limitsOff(func(w http.ResponseWriter, _ *http.Request) {
				fmt.Fprint(w, tinyElements(300_000)) // 900 KB of {}
			})
		},
		options: oneAttempt,
		check: func(t *testing.T, h *hostile, err error) {
			require.Error(t, err)
			t.Logf("allocated %d KiB for a 900 KB page of 300,000 empty entries", h.alloc>>10)
			assert.Less(t, h.alloc, uint64(8<<20), "events were materialised past the cap")
		},
	},
	{
		name: "a stream list with more elements than the cap", item: "22.1",
		serve: func(*hostile) http.HandlerFunc {
			return limitsOff(func(w http.ResponseWriter, _ *http.Request) {
				// What follows the cap is not even JSON: it is never read.
				fmt.Fprint(w, strings.TrimSuffix(tinyElements(maxStreams+1), "]")+`,{{{{`)
			})
		},
		options: oneAttempt,
		call: func(ctx context.Context, h *hostile) error {
			_, err := h.c.ListStreams(ctx, "e")
			return err
		},
		check: func(t *testing.T, h *hostile, err error) {
			require.Error(t, err)
			assert.Contains(t, err.Error(), fmt.Sprintf("more than %d streams", maxStreams))
			assert.Len(t, h.requests(), 1)
		},
	},
	// 22.2: secrets a server echoes never reach an error or a log record.
	{
		name: "422 echoes the token in errors[].code", item: "22.2",
		serve: func(*hostile) http.HandlerFunc {
			return func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(http.StatusUnprocessableEntity)
				fmt.Fprintf(w, `{"message":"Validation Failed","errors":[{"resource":"Query","field":"phrase","code":%q}]}`, bearer(r))
			}
		},
		check: func(t *testing.T, _ *hostile, err error) {
			var ae *APIError
			require.ErrorAs(t, err, &ae)
			assert.Contains(t, err.Error(), redacted)
		},
	},
	{
		name: "502 body echoes the token, and the retry is logged", item: "22.2",
		serve: func(*hostile) http.HandlerFunc {
			return func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(http.StatusBadGateway)
				fmt.Fprintf(w, `<html><body>upstream said: Authorization: Bearer %s</body></html>`, bearer(r))
			}
		},
		options: func(*hostile) []Option { return []Option{WithMaxAttempts(2)} },
		check: func(t *testing.T, h *hostile, err error) {
			var ae *APIError
			require.ErrorAs(t, err, &ae)
			assert.Equal(t, http.StatusBadGateway, ae.StatusCode)
			assert.Contains(t, ae.Body, redacted)
			assert.Contains(t, h.logs.text(), "auditlog: retrying")
		},
	},
	{
		name: "JSON-escaped echoes of the token", item: "22.2",
		serve: func(*hostile) http.HandlerFunc {
			return func(w http.ResponseWriter, r *http.Request) {
				tok := bearer(r)
				w.WriteHeader(http.StatusBadRequest)
				fmt.Fprintf(w, `{"message":"every char %s; first char %s; solidus %s","documentation_url":"https://docs.example/%s"}`,
					jsonEscapeAll(tok), `\u0067`+tok[1:], strings.Replace(tok, "_", `\u005F`, 1), jsonEscapeAll(tok))
			}
		},
		check: func(t *testing.T, _ *hostile, err error) {
			var ae *APIError
			require.ErrorAs(t, err, &ae)
			assert.Equal(t, 3, strings.Count(ae.Message, redacted), "message %q", ae.Message)
			assert.Contains(t, ae.DocumentationURL, redacted)
		},
	},
	{
		name: "token reflected into X-GitHub-Request-Id", item: "22.2",
		serve: func(*hostile) http.HandlerFunc {
			return func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("X-GitHub-Request-Id", "REQ:"+bearer(r))
				w.WriteHeader(http.StatusNotFound)
				fmt.Fprint(w, `{"message":"Not Found"}`)
			}
		},
		check: func(t *testing.T, _ *hostile, err error) {
			var ae *APIError
			require.ErrorAs(t, err, &ae)
			assert.Equal(t, "REQ:"+redacted, ae.RequestID)
		},
	},
	{
		name: "token in a rate-limit refusal's resource, message and request ID", item: "22.2",
		serve: func(*hostile) http.HandlerFunc {
			return func(w http.ResponseWriter, r *http.Request) {
				tok := bearer(r)
				w.Header().Set("X-RateLimit-Limit", "1750")
				w.Header().Set("X-RateLimit-Remaining", "0")
				w.Header().Set("X-RateLimit-Reset", fmt.Sprint(time.Now().Add(10*time.Minute).Unix()))
				w.Header().Set("X-RateLimit-Resource", tok)
				w.Header().Set("X-GitHub-Request-Id", tok)
				w.WriteHeader(http.StatusForbidden)
				fmt.Fprintf(w, `{"message":"API rate limit exceeded for %s."}`, jsonEscapeAll(tok))
			}
		},
		// The refusal must reach the call itself, not GET /rate_limit (whose
		// refusal would hold the call back before it is sent).
		options: func(*hostile) []Option { return []Option{WithMaxWait(0), WithoutWarmStart()} },
		check: func(t *testing.T, _ *hostile, err error) {
			var rl *RateLimitError
			require.ErrorAs(t, err, &rl)
			assert.Equal(t, redacted, rl.Resource)
			assert.Equal(t, redacted, rl.RequestID)
			assert.Contains(t, rl.Message, redacted)
		},
	},
	{
		name: "percent-encoded token in an HTML error page", item: "22.2",
		serve: func(*hostile) http.HandlerFunc {
			return func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "text/html")
				w.WriteHeader(http.StatusInternalServerError)
				fmt.Fprintf(w, `<a href="/login?t=%s">retry</a>`, percentEncodeAll(bearer(r)))
			}
		},
		options: func(*hostile) []Option { return []Option{WithMaxAttempts(1)} },
		check: func(t *testing.T, _ *hostile, err error) {
			var ae *APIError
			require.ErrorAs(t, err, &ae)
			assert.Contains(t, ae.Body, redacted)
		},
	},
	{
		name: "token in a Link URL", item: "22.2",
		serve: func(h *hostile) http.HandlerFunc {
			return func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Link", fmt.Sprintf(`<%s/?%s>; rel="next"`, h.api.URL, bearer(r)))
				fmt.Fprint(w, `[]`)
			}
		},
		check: func(t *testing.T, _ *hostile, err error) {
			require.Error(t, err)
			assert.Contains(t, err.Error(), "no cursor")
		},
	},
	{
		name: "a stream's 422 echoes the vendor secret in errors[].code", item: "22.2",
		serve: func(*hostile) http.HandlerFunc {
			return withStreamKey(func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(http.StatusUnprocessableEntity)
				fmt.Fprintf(w, `{"message":"Validation Failed","errors":[{"resource":"AuditLogStream","field":"vendor_specific","code":%q},{"code":"%s"}]}`,
					hostileSecret, jsonEscapeAll(hostileSecret))
			})
		},
		call: createSecretStream,
		check: func(t *testing.T, _ *hostile, err error) {
			var ae *APIError
			require.ErrorAs(t, err, &ae)
			assert.Equal(t, http.StatusUnprocessableEntity, ae.StatusCode)
			assert.Equal(t, 2, strings.Count(err.Error(), redacted), "%v", err)
		},
	},

	// 22.3: redirects go nowhere but the API's own scheme and host.
	{
		name: "307 to another host", item: "22.3",
		serve: func(h *hostile) http.HandlerFunc {
			return func(w http.ResponseWriter, r *http.Request) {
				http.Redirect(w, r, h.otherURL+"/enterprises/e/audit-log", http.StatusTemporaryRedirect)
			}
		},
		check: func(t *testing.T, h *hostile, err error) {
			var ae *APIError
			require.ErrorAs(t, err, &ae)
			assert.Equal(t, http.StatusTemporaryRedirect, ae.StatusCode)
			assert.Contains(t, err.Error(), "refused")
			assert.Contains(t, err.Error(), strings.TrimPrefix(h.otherURL, "http://"))
			assert.Zero(t, h.otherHits.Load(), "the redirect was followed")
		},
	},
	{
		name: "a sealed stream body 307'd to another host", item: "22.3",
		serve: func(h *hostile) http.HandlerFunc {
			return withStreamKey(func(w http.ResponseWriter, r *http.Request) {
				http.Redirect(w, r, h.otherURL+"/steal", http.StatusTemporaryRedirect)
			})
		},
		call: createSecretStream,
		check: func(t *testing.T, h *hostile, err error) {
			require.Error(t, err)
			assert.Zero(t, h.otherHits.Load(), "the sealed body went to another host")
		},
	},
	{
		name: "redirect to https on the same host", item: "22.3",
		serve: func(h *hostile) http.HandlerFunc {
			return func(w http.ResponseWriter, r *http.Request) {
				http.Redirect(w, r, "https://"+h.api.Listener.Addr().String()+r.URL.Path, http.StatusFound)
			}
		},
		check: func(t *testing.T, _ *hostile, err error) {
			var ae *APIError
			require.ErrorAs(t, err, &ae)
			assert.Equal(t, http.StatusFound, ae.StatusCode)
			assert.Contains(t, err.Error(), "refused")
		},
	},
	{
		name: "a redirect within the API host is followed", item: "22.3",
		serve: func(*hostile) http.HandlerFunc {
			return func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path != "/moved" {
					http.Redirect(w, r, "/moved", http.StatusMovedPermanently)
					return
				}
				if r.Header.Get("Authorization") == "" {
					w.WriteHeader(http.StatusUnauthorized)
				}
				fmt.Fprint(w, `[]`)
			}
		},
		check: func(t *testing.T, _ *hostile, err error) { require.NoError(t, err) },
	},

	{
		name: "a redirect loop within the API host", item: "22.3",
		serve: func(*hostile) http.HandlerFunc {
			var hops atomic.Int64
			return func(w http.ResponseWriter, r *http.Request) {
				http.Redirect(w, r, fmt.Sprintf("/loop/%d", hops.Add(1)), http.StatusFound)
			}
		},
		check: func(t *testing.T, h *hostile, err error) {
			var ae *APIError
			require.ErrorAs(t, err, &ae, "a redirect loop is an answer, not a network failure")
			assert.Equal(t, http.StatusFound, ae.StatusCode)
			assert.Contains(t, err.Error(), "redirects")
			assert.NotContains(t, h.logs.text(), "auditlog: retrying", "a redirect loop was retried")
		},
	},

	// 22.4: a loopback base URL never goes through a proxy, whatever its case.
	{
		name: "http://LOCALHOST with a proxy configured", item: "22.4",
		serve: func(*hostile) http.HandlerFunc {
			return func(w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, `[]`) }
		},
		options: func(h *hostile) []Option {
			proxy, err := url.Parse(h.other.URL)
			if err != nil {
				panic(err)
			}
			return []Option{
				WithBaseURL(strings.Replace(h.api.URL, "127.0.0.1", "LOCALHOST", 1)),
				WithHTTPClient(&http.Client{Transport: &http.Transport{Proxy: http.ProxyURL(proxy)}}),
			}
		},
		check: func(t *testing.T, h *hostile, err error) {
			require.NoError(t, err)
			assert.Zero(t, h.otherHits.Load(), "the request went through the proxy")
			assert.True(t, strings.HasPrefix(h.c.BaseURL(), "http://localhost:"), h.c.BaseURL())
		},
	},

	// 22.5 (first half): a response cannot hold the budget beyond a window.
	{
		name: "x-ratelimit-reset in 2100", item: "22.5",
		serve: func(*hostile) http.HandlerFunc {
			return func(w http.ResponseWriter, _ *http.Request) {
				w.Header().Set("X-RateLimit-Limit", "1750")
				w.Header().Set("X-RateLimit-Remaining", "0")
				w.Header().Set("X-RateLimit-Reset", "4102444800") // 2100-01-01
				fmt.Fprint(w, `[]`)
			}
		},
		options: func(*hostile) []Option { return []Option{WithMaxWait(0)} },
		call: func(ctx context.Context, h *hostile) error {
			if _, err := h.c.AuditLog(ctx, Enterprise("e"), nil); err != nil {
				return err
			}
			_, err := h.c.AuditLog(ctx, Enterprise("e"), nil)
			return err
		},
		check: func(t *testing.T, h *hostile, err error) {
			var rl *RateLimitError
			require.ErrorAs(t, err, &rl)
			assert.Zero(t, rl.StatusCode, "refused locally")
			bound := time.Now().Add(time.Hour + 2*time.Minute)
			assert.True(t, rl.RetryAt().Before(bound), "held until %v", rl.RetryAt())
			assert.Contains(t, h.logs.text(), "clamped")
		},
	},
	{
		name: "retry-after of a billion seconds", item: "22.5",
		serve: func(*hostile) http.HandlerFunc {
			return func(w http.ResponseWriter, _ *http.Request) {
				w.Header().Set("Retry-After", "1000000000")
				w.WriteHeader(http.StatusTooManyRequests)
				fmt.Fprint(w, `{"message":"You have exceeded a secondary rate limit."}`)
			}
		},
		options: func(*hostile) []Option { return []Option{WithMaxWait(0)} },
		check: func(t *testing.T, h *hostile, err error) {
			var rl *RateLimitError
			require.ErrorAs(t, err, &rl)
			bound := time.Now().Add(time.Hour + 2*time.Minute)
			assert.True(t, rl.RetryAt().Before(bound), "held until %v", rl.RetryAt())
			assert.Contains(t, h.logs.text(), "clamped")
		},
	},

	// 22.5 (second half): an event's time cannot move a tail's position
	// into the future.
	{
		name: "an event stamped in 2100 does not move the tail", item: "22.5",
		serve: func(*hostile) http.HandlerFunc {
			return limitsOff(func(w http.ResponseWriter, _ *http.Request) {
				now := time.Now()
				fmt.Fprintf(w, `[{"_document_id":"now","@timestamp":%d},{"_document_id":"future","@timestamp":%d}]`,
					now.Add(-time.Minute).UnixMilli(), time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC).UnixMilli())
			})
		},
		options: oneAttempt,
		call: func(ctx context.Context, h *hostile) error {
			ctx, cancel := context.WithCancel(ctx)
			defer cancel()
			f := h.c.Follow(Enterprise("e"), nil, FollowOptions{Every: time.Millisecond, LookBack: time.Minute, Since: time.Now().Add(-time.Hour)})
			go func() { // five polls, then stop
				for ctx.Err() == nil && len(h.requests()) < 5 {
					time.Sleep(time.Millisecond)
				}
				cancel()
			}()
			for ev, err := range f.Events(ctx) {
				if err != nil {
					return err
				}
				h.ids = append(h.ids, ev.DocumentID)
			}
			h.cp = f.Checkpoint()
			return nil
		},
		check: func(t *testing.T, h *hostile, err error) {
			require.NoError(t, err)
			got := map[string]int{}
			for _, id := range h.ids {
				got[id]++
			}
			assert.Equal(t, map[string]int{"now": 1, "future": 1}, got, "delivered, once")
			bound := time.Now().Add(maxEventSkew)
			assert.False(t, h.cp.Newest.After(bound), "checkpoint newest %v", h.cp.Newest)
			for _, r := range h.requests() {
				m := createdFloor.FindStringSubmatch(r.URL.Query().Get("phrase"))
				require.NotNil(t, m, r.URL.RawQuery)
				floor, err := time.Parse(time.RFC3339, m[1])
				if err != nil {
					floor, err = time.Parse(time.DateOnly, m[1])
				}
				require.NoError(t, err)
				assert.False(t, floor.After(bound), "a poll asked for events from %s", m[1])
			}
			assert.Contains(t, h.logs.text(), "future", "the clamp is logged")

			// A checkpoint built by Add (a backfill's) is bounded too.
			var cp Checkpoint
			var ev Event
			require.NoError(t, ev.UnmarshalJSON([]byte(`{"_document_id":"x","@timestamp":4102444800000}`)))
			assert.True(t, cp.Add(ev))
			assert.False(t, cp.Newest.After(time.Now().Add(maxEventSkew)))
		},
	},

	// 22.6: a walk handed a position it already followed stops.
	loopingLinks("a cursor handed back again", func(q url.Values) (string, string) {
		return "after=QUFB", q.Get("after")
	}, "", "QUFB"),
	loopingLinks("a cycle of cursors", func(q url.Values) (string, string) {
		next := map[string]string{"": "QQ==", "QQ==": "Qg==", "Qg==": "QQ=="}[q.Get("after")]
		return "after=" + next, q.Get("after")
	}, "", "QQ==", "Qg=="),
	loopingLinks("a page number handed back again", func(q url.Values) (string, string) {
		return "page=2", "p" + q.Get("page")
	}, "p", "p2"),

	// 22.7: a Link header costs one bounded pass.
	{
		name: "a Link header over the cap", item: "22.7",
		serve: func(*hostile) http.HandlerFunc {
			return limitsOff(func(w http.ResponseWriter, _ *http.Request) {
				w.Header().Set("Link", strings.Repeat(`<x>; rel="first", `, maxLinkHeaderBytes/18+1))
				fmt.Fprint(w, `[]`)
			})
		},
		options: oneAttempt,
		call:    func(ctx context.Context, h *hostile) error { return h.walk(ctx, 100) },
		check: func(t *testing.T, h *hostile, err error) {
			require.Error(t, err)
			assert.Contains(t, err.Error(), "Link header")
			assert.Len(t, h.requests(), 1)
		},
	},
	{
		name: "a Link URL over the cap", item: "22.7",
		serve: func(*hostile) http.HandlerFunc {
			return limitsOff(func(w http.ResponseWriter, r *http.Request) {
				linkTo(w, r, "after=QQ==&pad="+hugeLinkPad)
				fmt.Fprint(w, `[{"_document_id":"a","@timestamp":1}]`)
			})
		},
		options: oneAttempt,
		call:    func(ctx context.Context, h *hostile) error { return h.walk(ctx, 100) },
		check: func(t *testing.T, h *hostile, err error) {
			require.Error(t, err)
			assert.Contains(t, err.Error(), "Link URL")
			assert.NotContains(t, err.Error(), hugeLinkPad[:100], "the URL is not echoed")
			assert.Len(t, h.requests(), 1)
		},
	},
	{
		name: "a Link cursor that is not a cursor", item: "22.7",
		serve: func(*hostile) http.HandlerFunc {
			return limitsOff(func(w http.ResponseWriter, r *http.Request) {
				linkTo(w, r, "after="+strings.Repeat("Q", 2000))
				fmt.Fprint(w, `[{"_document_id":"a","@timestamp":1}]`)
			})
		},
		options: oneAttempt,
		call:    func(ctx context.Context, h *hostile) error { return h.walk(ctx, 100) },
		check: func(t *testing.T, h *hostile, err error) {
			require.Error(t, err)
			var ie *InputError
			assert.NotErrorAs(t, err, &ie, "the server's cursor is not the caller's input error")
			assert.Len(t, h.requests(), 1)
		},
	},
	{
		name: "thousands of rels on a long URL are parsed once", item: "22.7", serial: true,
		serve: func(*hostile) http.HandlerFunc {
			return limitsOff(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Query().Get("after") == "" {
					w.Header().Set("Link", manyRels(r.Host))
				}
				fmt.Fprintf(w, `[{"_document_id":"%s","@timestamp":1}]`, r.URL.Query().Get("after"))
			})
		},
		options: oneAttempt,
		call:    func(ctx context.Context, h *hostile) error { return h.walk(ctx, 100) },
		check: func(t *testing.T, h *hostile, err error) {
			require.NoError(t, err)
			assert.Equal(t, []string{"", "QQ=="}, h.ids)
			hdr := http.Header{"Link": {manyRels("api.example")}}
			allocs := testing.AllocsPerRun(5, func() {
				next, _, err := h.c.linkCursors(hdr)
				if err != nil || next.after != "QQ==" {
					t.Fatalf("next %v, err %v", next, err)
				}
			})
			assert.Less(t, allocs, float64(64), "allocations grow with the number of rels")
		},
	},

	// 22.8: no attempt lasts longer than the attempt timeout.
	{
		name: "a body trickled a byte at a time", item: "22.8",
		serve: func(*hostile) http.HandlerFunc {
			return func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Length", "1000000")
				w.WriteHeader(http.StatusOK)
				for {
					if _, err := w.Write([]byte(" ")); err != nil {
						return
					}
					w.(http.Flusher).Flush()
					select {
					case <-r.Context().Done():
						return
					case <-time.After(20 * time.Millisecond):
					}
				}
			}
		},
		options: func(*hostile) []Option {
			return []Option{WithAttemptTimeout(300 * time.Millisecond), WithMaxAttempts(2), WithMaxWait(time.Second)}
		},
		check: func(t *testing.T, _ *hostile, err error) {
			var ne *NetworkError
			require.ErrorAs(t, err, &ne)
			assert.Contains(t, err.Error(), "attempt timeout")
		},
	},
	{
		name: "headers that never come", item: "22.8",
		serve: func(*hostile) http.HandlerFunc {
			return func(_ http.ResponseWriter, r *http.Request) { <-r.Context().Done() }
		},
		options: func(*hostile) []Option {
			return []Option{WithAttemptTimeout(300 * time.Millisecond), WithMaxAttempts(1)}
		},
		check: func(t *testing.T, _ *hostile, err error) {
			var ne *NetworkError
			require.ErrorAs(t, err, &ne)
			assert.ErrorIs(t, err, context.DeadlineExceeded)
		},
	},

	// 22.11: server text in an error is escaped and bounded.
	{
		name: "request ID that forges log lines", item: "22.11",
		serve: func(*hostile) http.HandlerFunc {
			return func(w http.ResponseWriter, _ *http.Request) {
				// net/http refuses control bytes in a header, not U+2028 or NEL.
				w.Header().Set("X-GitHub-Request-Id", "A\u2028time=now level=ERROR msg=\"admin logged in\"\u0085x")
				// A broken page: the decoding error names the request.
				fmt.Fprint(w, `[{"action":`)
			}
		},
		check: func(t *testing.T, _ *hostile, err error) {
			require.Error(t, err)
			assert.Contains(t, err.Error(), `\u2028`)
		},
	},
	{
		name: "a message of almost 1 MiB", item: "22.11",
		serve: func(*hostile) http.HandlerFunc {
			return func(w http.ResponseWriter, _ *http.Request) {
				w.WriteHeader(http.StatusServiceUnavailable)
				fmt.Fprintf(w, `{"message":"%s"}`, strings.Repeat("A", 1<<20-100)) // within the error body's bound
			}
		},
		options: func(*hostile) []Option { return []Option{WithMaxAttempts(2)} },
		check: func(t *testing.T, h *hostile, err error) {
			var ae *APIError
			require.ErrorAs(t, err, &ae)
			for _, line := range strings.Split(h.logs.text(), "\n") {
				assert.Less(t, len(line), 2*maxErrorLen, "a log record of %d bytes", len(line))
			}
		},
	},
	{
		name: "a thousand field errors", item: "22.11",
		serve: func(*hostile) http.HandlerFunc {
			return func(w http.ResponseWriter, _ *http.Request) {
				w.WriteHeader(http.StatusUnprocessableEntity)
				fmt.Fprintf(w, `{"message":"Validation Failed","errors":[%s"last"]}`, strings.Repeat(`"bad",`, 1000))
			}
		},
		check: func(t *testing.T, _ *hostile, err error) {
			var ae *APIError
			require.ErrorAs(t, err, &ae)
			assert.Len(t, ae.Errors, 1001, "the errors are all kept in the value")
			assert.Contains(t, err.Error(), "more")
		},
	},
	{
		name: "Link to a host that forges log lines", item: "22.11",
		serve: func(*hostile) http.HandlerFunc {
			return func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Query().Get("after") == "" {
					w.Header().Set("Link", "<https://evil.example\u2028level=ERROR\u0085msg=forged/x?after=abc>; rel=\"next\"")
				}
				fmt.Fprint(w, `[]`)
			}
		},
		call: func(ctx context.Context, h *hostile) error {
			for _, err := range h.c.Events(ctx, Enterprise("e"), nil) {
				if err != nil {
					return err
				}
			}
			return nil
		},
		check: func(t *testing.T, h *hostile, err error) {
			// Only the cursor is taken from a Link (issue 12.2): the walk
			// goes on at the API host, and the host text is never used.
			require.NoError(t, err)
			assert.NotContains(t, h.logs.text(), "forged")
		},
	},
	// 19: the warm start's GET /rate_limit is answered by the same hostile
	// server; it can delay the first call by its bound at most, and hold
	// the resource no longer than any response can.
	{
		name: "GET /rate_limit echoes the token and claims nothing is left until 2100", item: "19",
		serve: func(*hostile) http.HandlerFunc {
			return func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path != "/rate_limit" {
					fmt.Fprint(w, `[]`)
					return
				}
				w.Header().Set("X-GitHub-Request-Id", bearer(r))
				fmt.Fprintf(w, `{"resources":{"audit_log":{"limit":1750,"used":1750,"remaining":0,"reset":4102444800,"resource":%q}},"message":%q}`,
					bearer(r), bearer(r))
			}
		},
		options: func(*hostile) []Option { return []Option{WithMaxWait(0)} },
		check: func(t *testing.T, h *hostile, err error) {
			var rl *RateLimitError
			require.ErrorAs(t, err, &rl)
			assert.Zero(t, rl.StatusCode, "sent")
			assert.WithinDuration(t, time.Now().Add(maxHold), rl.RetryAt(), 5*time.Second, "the reset was not bounded")
			assert.Contains(t, h.logs.text(), "clamped")
		},
	},
	{
		name: "GET /rate_limit never answers", item: "19",
		serve: func(*hostile) http.HandlerFunc {
			return func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path == "/rate_limit" {
					<-r.Context().Done()
					return
				}
				fmt.Fprint(w, `[]`)
			}
		},
		options: func(*hostile) []Option { return []Option{WithAttemptTimeout(time.Second)} },
		call: func(ctx context.Context, h *hostile) error {
			start := time.Now()
			_, err := h.c.AuditLog(ctx, Enterprise("e"), nil)
			if d := time.Since(start); d > 5*time.Second {
				return fmt.Errorf("the first call took %v", d)
			}
			return err
		},
		check: func(t *testing.T, h *hostile, err error) {
			require.NoError(t, err)
			assert.Contains(t, h.logs.text(), "starting cold resource=audit_log:enterprises/e why=out of time")
		},
	},
}

// TestHostileServer runs every case of the suite: the serial ones first,
// one at a time, then the others in parallel.
func TestHostileServer(t *testing.T) { //nolint:paralleltest // the serial cases measure allocation
	for _, tc := range hostileCases {
		t.Run(tc.item+" "+tc.name, func(t *testing.T) {
			if !tc.serial {
				t.Parallel()
			}
			h := &hostile{logs: newCapture()}
			serve := tc.serve(h)
			var served atomic.Int64
			h.api = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if served.Add(1) > maxHostileRequests {
					http.Error(w, "test server: too many requests", http.StatusTeapot)
					return
				}
				if r.URL.Path != "/rate_limit" {
					h.mu.Lock()
					h.reqs = append(h.reqs, r)
					h.mu.Unlock()
				}
				serve(w, r)
			}))
			t.Cleanup(h.api.Close)
			h.other = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				h.otherHits.Add(1)
				h.otherAuth.Store(r.Header.Get("Authorization"))
				fmt.Fprint(w, `[]`)
			}))
			t.Cleanup(h.other.Close)
			h.otherURL = strings.Replace(h.other.URL, "127.0.0.1", "localhost", 1)

			// What the hooks are handed is checked for leaks with the logs.
			hooks := Hooks{
				OnWait:  func(w WaitInfo) { h.logs.record(fmt.Sprintf("hook wait %+v", w)) },
				OnRetry: func(r RetryInfo) { h.logs.record(fmt.Sprintf("hook retry %+v: %v", r, r.Err)) },
				OnRate:  func(res string, r Rate) { h.logs.record(fmt.Sprintf("hook rate %s %+v", res, r)) },
			}
			opts := []Option{WithBaseURL(h.api.URL), WithToken(testToken), WithLogger(slog.New(h.logs)), WithHooks(hooks)}
			if tc.options != nil {
				opts = append(opts, tc.options(h)...)
			}
			c, err := NewClient(opts...)
			require.NoError(t, err)
			c.backoff.jitter = func(time.Duration) time.Duration { return 0 }
			h.c = c

			ctx, cancel := context.WithTimeout(t.Context(), time.Minute) // a hang fails the case, not the suite
			defer cancel()
			call := tc.call
			if call == nil {
				call = func(ctx context.Context, h *hostile) error {
					_, err := h.c.AuditLog(ctx, Enterprise("e"), nil)
					return err
				}
			}
			var before runtime.MemStats
			if tc.serial {
				runtime.GC()
				runtime.ReadMemStats(&before)
			}
			err = call(ctx, h)
			if tc.serial {
				var after runtime.MemStats
				runtime.ReadMemStats(&after)
				h.alloc = after.TotalAlloc - before.TotalAlloc
			}
			require.NoError(t, ctx.Err(), "the call did not return in time")
			t.Cleanup(func() { // for the suite-wide leak scan, whatever check says
				recordErr(append([]error{err}, h.extra...)...)
				suiteCapture.record(h.logs.text())
			})
			tc.check(t, h, err)

			// The promises every case keeps, for every error it met.
			errs := append([]error{err}, h.extra...)
			var texts []string
			for _, err := range errs {
				if err == nil {
					continue
				}
				texts = append(texts, err.Error(), fmt.Sprintf("%+v", err), fmt.Sprintf("%#v", err))
				msg := err.Error()
				assert.LessOrEqual(t, len(msg), maxErrorLen, "Error() is %d bytes", len(msg))
				assert.False(t, strings.ContainsAny(msg, "\n\r\u2028\u2029\u0085\x1b"), "Error() is not one line: %q", msg)
			}
			texts = append(texts, h.logs.text())
			for _, text := range texts {
				for _, secret := range hostileSecrets {
					if strings.Contains(text, secret) {
						t.Errorf("a secret (%.6s…) leaked into %.300q", secret, text)
					}
				}
			}
			if auth, _ := h.otherAuth.Load().(string); auth != "" {
				t.Errorf("the token reached another host")
			}
		})
	}
}

// bearer is the token a request carried.
func bearer(r *http.Request) string {
	return strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
}

// jsonEscapeAll writes every character of s as a JSON \u escape.
func jsonEscapeAll(s string) string {
	var b strings.Builder
	for _, r := range s {
		fmt.Fprintf(&b, `\u%04x`, r)
	}
	return b.String()
}

// percentEncodeAll writes every byte of s as a %XX escape.
func percentEncodeAll(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		fmt.Fprintf(&b, "%%%02X", s[i])
	}
	return b.String()
}
