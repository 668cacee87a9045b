package auditlog

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// hostileServer is what one case of TestHostileIteration talks to: a
// handler for the audit log, the requests it saw, and a client whose log
// records are kept.
type hostileServer struct {
	c    *Client
	logs *capture
	mu   sync.Mutex
	reqs []*http.Request
}

func (h *hostileServer) requests() []*http.Request {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]*http.Request(nil), h.reqs...)
}

// events ranges over the whole walk, stopping after limit yields so that a
// walk that would loop for ever ends the test, and returns the IDs and the
// first error.
func (h *hostileServer) events(limit int) (ids []string, err error) {
	for ev, e := range h.c.Events(context.Background(), "e", nil) {
		if e != nil {
			return ids, e
		}
		ids = append(ids, ev.DocumentID)
		if len(ids) == limit {
			break
		}
	}
	return ids, nil
}

// linkTo writes a Link header whose next link carries query.
func linkTo(w http.ResponseWriter, r *http.Request, query string) {
	w.Header().Set("Link", fmt.Sprintf(`<http://%s/enterprises/e/audit-log?%s>; rel="next"`, r.Host, query))
}

func tinyElements(n int) string { return "[" + strings.Repeat("{},", n-1) + "{}]" }

var createdFloor = regexp.MustCompile(`created:(?:>=)?(\d{4}-\d\d-\d\d(?:T\d\d:\d\d:\d\dZ)?)`)

// TestHostileIteration: a broken or hostile server (or anything between it
// and the client) cannot make a walk or a tail take unbounded memory, loop
// for ever, burn CPU on a Link header, or move a tail's position into the
// future (issue 22, items 1, 5, 6, 7). Each case is a small handler. Not
// parallel: one case measures allocation.
func TestHostileIteration(t *testing.T) {
	huge := strings.Repeat("A", 40<<10)
	for _, tc := range []struct {
		name    string
		handler func(w http.ResponseWriter, r *http.Request)
		check   func(t *testing.T, h *hostileServer)
	}{
		{
			name: "22.1 a page with more elements than the cap",
			handler: func(w http.ResponseWriter, r *http.Request) {
				fmt.Fprint(w, tinyElements(maxPageElements+1))
			},
			check: func(t *testing.T, h *hostileServer) {
				ids, err := h.events(1 << 20)
				require.Error(t, err)
				assert.Empty(t, ids)
				assert.Contains(t, err.Error(), fmt.Sprintf("more than %d", maxPageElements))
				assert.Len(t, h.requests(), 1, "refused, not retried")
				_, err = h.c.AuditLog(context.Background(), "e", nil)
				assert.Error(t, err)
			},
		},
		{
			name: "22.1 memory stays proportional to the cap",
			handler: func(w http.ResponseWriter, r *http.Request) {
				fmt.Fprint(w, tinyElements(300_000)) // 900 KB of {}
			},
			check: func(t *testing.T, h *hostileServer) {
				runtime.GC()
				var before, after runtime.MemStats
				runtime.ReadMemStats(&before)
				_, err := h.c.AuditLog(context.Background(), "e", nil)
				runtime.ReadMemStats(&after)
				require.Error(t, err)
				alloc := after.TotalAlloc - before.TotalAlloc
				t.Logf("allocated %d KiB for a 900 KB page of 300,000 empty entries", alloc>>10)
				assert.Less(t, alloc, uint64(8<<20), "events were materialised past the cap")
			},
		},
		{
			name: "22.6 a cursor handed back again",
			handler: func(w http.ResponseWriter, r *http.Request) {
				linkTo(w, r, "after=QUFB")
				fmt.Fprintf(w, `[{"_document_id":"%s","@timestamp":1}]`, r.URL.Query().Get("after"))
			},
			check: func(t *testing.T, h *hostileServer) {
				ids, err := h.events(100)
				require.Error(t, err, "the walk looped")
				assert.Contains(t, err.Error(), "already")
				assert.Equal(t, []string{"", "QUFB"}, ids, "each page once")
				assert.Len(t, h.requests(), 2)
			},
		},
		{
			name: "22.6 a cycle of cursors",
			handler: func(w http.ResponseWriter, r *http.Request) {
				next := map[string]string{"": "QQ==", "QQ==": "Qg==", "Qg==": "QQ=="}[r.URL.Query().Get("after")]
				linkTo(w, r, "after="+next)
				fmt.Fprintf(w, `[{"_document_id":"%s","@timestamp":1}]`, r.URL.Query().Get("after"))
			},
			check: func(t *testing.T, h *hostileServer) {
				ids, err := h.events(100)
				require.Error(t, err, "the walk looped")
				assert.Equal(t, []string{"", "QQ==", "Qg=="}, ids)
				assert.Len(t, h.requests(), 3)
			},
		},
		{
			name: "22.6 a page number handed back again",
			handler: func(w http.ResponseWriter, r *http.Request) {
				linkTo(w, r, "page=2")
				fmt.Fprintf(w, `[{"_document_id":"p%s","@timestamp":1}]`, r.URL.Query().Get("page"))
			},
			check: func(t *testing.T, h *hostileServer) {
				ids, err := h.events(100)
				require.Error(t, err, "the walk looped")
				assert.Equal(t, []string{"p", "p2"}, ids)
				assert.Len(t, h.requests(), 2)
			},
		},
		{
			name: "22.7 a Link header over the cap",
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Link", strings.Repeat(`<x>; rel="first", `, maxLinkHeaderBytes/18+1))
				fmt.Fprint(w, `[]`)
			},
			check: func(t *testing.T, h *hostileServer) {
				_, err := h.events(100)
				require.Error(t, err)
				assert.Contains(t, err.Error(), "Link header")
				assert.Len(t, h.requests(), 1)
			},
		},
		{
			name: "22.7 a Link URL over the cap",
			handler: func(w http.ResponseWriter, r *http.Request) {
				linkTo(w, r, "after=QQ==&pad="+huge)
				fmt.Fprint(w, `[{"_document_id":"a","@timestamp":1}]`)
			},
			check: func(t *testing.T, h *hostileServer) {
				_, err := h.events(100)
				require.Error(t, err)
				assert.Contains(t, err.Error(), "Link URL")
				assert.NotContains(t, err.Error(), huge[:100], "the URL is not echoed")
				assert.Len(t, h.requests(), 1)
			},
		},
		{
			name: "22.7 a Link cursor that is not a cursor",
			handler: func(w http.ResponseWriter, r *http.Request) {
				linkTo(w, r, "after="+strings.Repeat("Q", 2000))
				fmt.Fprint(w, `[{"_document_id":"a","@timestamp":1}]`)
			},
			check: func(t *testing.T, h *hostileServer) {
				_, err := h.events(100)
				require.Error(t, err)
				var ie *InputError
				assert.NotErrorAs(t, err, &ie, "the server's cursor is not the caller's input error")
				assert.Len(t, h.requests(), 1)
			},
		},
		{
			name: "22.7 thousands of rels on a long URL are parsed once",
			handler: func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Query().Get("after") == "" {
					w.Header().Set("Link", manyRels(r.Host))
				}
				fmt.Fprintf(w, `[{"_document_id":"%s","@timestamp":1}]`, r.URL.Query().Get("after"))
			},
			check: func(t *testing.T, h *hostileServer) {
				ids, err := h.events(100)
				require.NoError(t, err)
				assert.Equal(t, []string{"", "QQ=="}, ids)
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
		{
			name: "22.5 an event stamped in 2100 does not move the tail",
			handler: func(w http.ResponseWriter, r *http.Request) {
				now := time.Now()
				fmt.Fprintf(w, `[{"_document_id":"now","@timestamp":%d},{"_document_id":"future","@timestamp":%d}]`,
					now.Add(-time.Minute).UnixMilli(), time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC).UnixMilli())
			},
			check: func(t *testing.T, h *hostileServer) {
				ctx, cancel := context.WithCancel(context.Background())
				defer cancel()
				start := time.Now()
				f := h.c.Follow("e", nil, FollowOptions{Every: time.Millisecond, LookBack: time.Minute, Since: start.Add(-time.Hour)})
				got := map[string]int{}
				go func() {
					for len(h.requests()) < 5 {
						time.Sleep(time.Millisecond)
					}
					cancel()
				}()
				for ev, err := range f.Events(ctx) {
					require.NoError(t, err)
					got[ev.DocumentID]++
				}
				assert.Equal(t, map[string]int{"now": 1, "future": 1}, got, "delivered, once")
				bound := time.Now().Add(maxEventSkew)
				assert.False(t, f.Checkpoint().Newest.After(bound), "checkpoint newest %v", f.Checkpoint().Newest)
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
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := &hostileServer{logs: newCapture()}
			var calls atomic.Int32
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path == "/rate_limit" {
					// The warm start, answered as by a server with rate
					// limiting off (hostile_test.go aims cases at it).
					http.NotFound(w, r)
					return
				}
				h.mu.Lock()
				h.reqs = append(h.reqs, r)
				h.mu.Unlock()
				if calls.Add(1) > 1000 {
					http.Error(w, "test server: too many requests", http.StatusTeapot)
					return
				}
				tc.handler(w, r)
			}))
			t.Cleanup(srv.Close)
			var err error
			h.c, err = NewClient(WithBaseURL(srv.URL), WithToken(testToken), WithLogger(slog.New(h.logs)), WithMaxAttempts(1))
			require.NoError(t, err)
			tc.check(t, h)
		})
	}
}

// manyRels is a Link header with one 16 KiB URL carrying 4,000 rels.
func manyRels(host string) string {
	return fmt.Sprintf(`<http://%s/enterprises/e/audit-log?after=QQ==&pad=%s>; rel="%s"`,
		host, strings.Repeat("p", 16<<10), strings.TrimSpace(strings.Repeat("next ", 4000)))
}
