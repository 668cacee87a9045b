package auditlogtest_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/ghaudit/auditlog"
	"github.com/ghaudit/auditlog/auditlogtest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestTransportAnswersLikeTCP sends the same requests over TCP and through
// the in-memory transport of one server: same status, body and headers.
func TestTransportAnswersLikeTCP(t *testing.T) {
	t.Parallel()
	s := auditlogtest.New(t, auditlogtest.WithGeneratedEvents(300, 4))
	mem := &http.Client{Transport: s.Transport()}
	for _, path := range []string{
		"/enterprises/avocado-corp/audit-log?per_page=50&include=all",
		"/enterprises/13827/audit-log?phrase=action:repo&order=asc",
		"/enterprises/avocado-corp/audit-log?include=bogus",
		"/enterprises/avocado-corp/audit-log/stream-key",
		"/enterprises/nope/audit-log",
	} {
		t.Run(path, func(t *testing.T) {
			tcpResp, tcpBody := get(t, s, path)
			req, err := http.NewRequest(http.MethodGet, s.URL()+path, nil)
			require.NoError(t, err)
			req.Header.Set("Authorization", "Bearer "+s.Token())
			resp, err := mem.Do(req)
			require.NoError(t, err)
			body, err := io.ReadAll(resp.Body)
			require.NoError(t, err)
			require.NoError(t, resp.Body.Close())

			assert.Equal(t, tcpResp.StatusCode, resp.StatusCode)
			assert.Equal(t, string(tcpBody), string(body))
			assert.Equal(t, int64(len(body)), resp.ContentLength)
			for _, k := range []string{"Content-Type", "Link", "X-Ratelimit-Limit", "X-Ratelimit-Resource", "X-Oauth-Scopes", "X-Github-Api-Version-Selected"} {
				assert.Equal(t, tcpResp.Header.Get(k), resp.Header.Get(k), k)
			}
			assert.NotEqual(t, tcpResp.Header.Get("X-Github-Request-Id"), resp.Header.Get("X-Github-Request-Id"), "two requests, two IDs")
		})
	}
}

func TestWithoutListener(t *testing.T) {
	t.Parallel()
	s := auditlogtest.New(t, auditlogtest.WithoutListener(), auditlogtest.WithGeneratedEvents(10, 1))
	require.Equal(t, "http://127.0.0.1:0", s.URL())
	// Nothing listens there: a client that bypasses the transport fails.
	_, err := http.Get(s.URL() + "/enterprises/avocado-corp/audit-log")
	require.Error(t, err)
	// The server's own client reaches it, and so does the SDK, which
	// accepts plain http to a loopback host.
	resp, body := get(t, s, "/enterprises/avocado-corp/audit-log")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Len(t, docIDs(t, body), len(s.Events(auditlog.IncludeWeb, auditlog.OrderDesc)))
	page, err := sdk(t, s).AuditLog(t.Context(), auditlog.Enterprise(s.Enterprise()), &auditlog.Query{Include: auditlog.IncludeAll})
	require.NoError(t, err)
	assert.Len(t, page.Events, 10)
	// Links name the same origin, so a walk stays in memory.
	resp, _ = get(t, s, "/enterprises/avocado-corp/audit-log?per_page=2")
	assert.True(t, strings.HasPrefix(links(resp.Header)["next"], "http://127.0.0.1:0/enterprises/13827/audit-log?"), resp.Header.Get("Link"))

	ghes := auditlogtest.New(t, auditlogtest.WithoutListener(), auditlogtest.WithEnterpriseServer(), auditlogtest.WithTLS())
	assert.Equal(t, "https://127.0.0.1:0/api/v3", ghes.URL())
	resp, _ = get(t, ghes, "/enterprises/avocado-corp/audit-log")
	assert.Equal(t, http.StatusOK, resp.StatusCode)
}

func TestTransportRefusesOtherHosts(t *testing.T) {
	t.Parallel()
	s := auditlogtest.New(t, auditlogtest.WithoutListener())
	for _, u := range []string{"https://api.github.com/enterprises/avocado-corp/audit-log", "https://127.0.0.1:0/enterprises/avocado-corp/audit-log", "http://127.0.0.1:1/"} {
		_, err := s.Client().Get(u)
		require.ErrorContains(t, err, "serves http://127.0.0.1:0 only", u)
	}
	assert.Zero(t, s.Count(auditlogtest.Match{}), "refused before reaching the server")
}

func TestTransportConnectionFaults(t *testing.T) {
	t.Parallel()
	const path = "/enterprises/avocado-corp/audit-log"
	s := auditlogtest.New(t, auditlogtest.WithoutListener(), auditlogtest.WithGeneratedEvents(50, 1))

	s.Script(auditlogtest.Fault{Kind: auditlogtest.FaultReset}, 1)
	_, _, err := send(s, context.Background(), path)
	require.ErrorIs(t, err, syscall.ECONNRESET)

	s.Script(auditlogtest.Fault{Kind: auditlogtest.FaultTruncate}, 1)
	resp, body, err := send(s, context.Background(), path)
	require.ErrorIs(t, err, io.ErrUnexpectedEOF)
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Less(t, int64(len(body)), resp.ContentLength)
	assert.NotEmpty(t, body)

	resp, body, err = send(s, context.Background(), path)
	require.NoError(t, err)
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Len(t, docIDs(t, body), 30)

	statuses := []int{}
	for _, r := range s.Requests() {
		statuses = append(statuses, r.Status)
	}
	assert.Equal(t, []int{0, 200, 200}, statuses)

	s.Close()
	_, _, err = send(s, context.Background(), path)
	require.ErrorIs(t, err, syscall.ECONNREFUSED, "a closed server refuses")
}

// TestCloseDuringLatencyAbortsTheConnection: a request waiting in an
// injected latency when the server closes gets a connection error, over
// TCP and in memory, never a 200 with an empty body.
func TestCloseDuringLatencyAbortsTheConnection(t *testing.T) {
	t.Parallel()
	const path = "/enterprises/avocado-corp/audit-log"
	t.Run("tcp", func(t *testing.T) {
		t.Parallel()
		s := auditlogtest.NewServer(auditlogtest.WithGeneratedEvents(5, 1))
		defer s.Close()
		s.Script(auditlogtest.Fault{Kind: auditlogtest.FaultLatency, Latency: time.Hour}, 1)
		type result struct {
			resp *http.Response
			err  error
		}
		done := make(chan result, 1)
		go func() {
			resp, _, err := send(s, context.Background(), path)
			done <- result{resp, err}
		}()
		// The fault is taken when the request is about to wait.
		for deadline := time.Now().Add(10 * time.Second); len(s.PendingFaults()) > 0 && time.Now().Before(deadline); {
			time.Sleep(time.Millisecond)
		}
		require.Empty(t, s.PendingFaults())
		s.Close()
		r := <-done
		require.Error(t, r.err, "got a response instead of an aborted connection: %v", r.resp)
		reqs := s.Requests()
		require.Len(t, reqs, 1)
		assert.Zero(t, reqs[0].Status)
		assert.Equal(t, "latency", reqs[0].Fault)
	})
	t.Run("memory", func(t *testing.T) {
		t.Parallel()
		synctest.Test(t, func(t *testing.T) {
			s := auditlogtest.New(t, auditlogtest.WithoutListener(), auditlogtest.WithFaults(auditlogtest.Faults{Latency: time.Hour}))
			done := make(chan error, 1)
			go func() {
				_, _, err := send(s, context.Background(), path)
				done <- err
			}()
			synctest.Wait() // the request waits in the latency
			s.Close()
			require.ErrorIs(t, <-done, syscall.ECONNRESET)
			require.Equal(t, 0, s.Requests()[0].Status)
		})
	})
}

// TestRetriesInABubble runs the package's recipe example
// (example_recipe_test.go): an aimed 502 and a one-shot primary 403 make
// the SDK back off and retry, in fake time.
func TestRetriesInABubble(t *testing.T) {
	t.Parallel()
	testRetriesInABubble(t)
}

// TestServerMadeOutsideABubble: a server made outside the bubble (to share
// it, or to compute expectations first) serves a client inside it, latency
// faults included, without keeping the bubble from going idle. Its clock
// is then what the test gives it.
func TestServerMadeOutsideABubble(t *testing.T) {
	t.Parallel()
	srv := auditlogtest.New(t, auditlogtest.WithoutListener(), auditlogtest.WithGeneratedEvents(300, 6),
		auditlogtest.WithFaults(auditlogtest.Faults{Latency: time.Second, Jitter: time.Second}))
	require.NoError(t, srv.Inject(auditlogtest.Rule{Nth: 2, Fault: auditlogtest.Fault{Kind: auditlogtest.FaultLatency, Latency: 40 * time.Second}}))
	want := rawIDs(t, srv.Events(auditlog.IncludeAll, auditlog.OrderAsc))
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		var got []string
		for ev, err := range sdk(t, srv).Events(t.Context(), auditlog.Enterprise(srv.Enterprise()), &auditlog.Query{PerPage: 100, Include: auditlog.IncludeAll, Order: auditlog.OrderAsc}) {
			require.NoError(t, err)
			got = append(got, ev.DocumentID)
		}
		require.Equal(t, want, got)
		assert.GreaterOrEqual(t, time.Since(start), 43*time.Second, "the latencies passed in fake time")
	})
}

// TestFakeClockIsTheBubbles: created in a bubble with the default clock,
// the server's time is the bubble's fake time.
func TestFakeClockIsTheBubbles(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		srv := auditlogtest.New(t, auditlogtest.WithoutListener())
		time.Sleep(90 * time.Minute)
		assert.Equal(t, time.Now(), srv.Now())
		resp, _ := get(t, srv, "/enterprises/avocado-corp/audit-log")
		assert.Equal(t, time.Now().UTC().Format(http.TimeFormat), resp.Header.Get("Date"))
		assert.Equal(t, time.Date(2000, 1, 1, 1, 30, 0, 0, time.UTC), srv.Now().UTC())
	})
}

// TestRecipeTailCatchesLateEvent: an event that reaches the log two
// minutes after newer ones (AddEventsAt) is caught by the SDK's tail: by
// the sweep that re-reads, every Rescan, what its look-back has just closed.
func TestRecipeTailCatchesLateEvent(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		now := time.Now()
		ev := func(id string, ago time.Duration) auditlogtest.Event {
			return auditlogtest.Event{ID: id, Time: now.Add(-ago), Action: "repo.create", Actor: "octocat"}
		}
		srv := auditlogtest.New(t, auditlogtest.WithoutListener(),
			auditlogtest.WithEvents(ev("early", 3*time.Minute).JSON(), ev("newer", time.Minute).JSON()))
		require.NoError(t, srv.AddEventsAt(now.Add(2*time.Minute), ev("late", 2*time.Minute).JSON()))

		ctx, cancel := context.WithTimeout(t.Context(), time.Hour)
		defer cancel()
		c := sdk(t, srv)
		f := c.Follow(auditlog.Enterprise(srv.Enterprise()), &auditlog.Query{}, auditlog.FollowOptions{
			Every: time.Minute, LookBack: 5 * time.Minute, Since: now.Add(-10 * time.Minute)})
		var got []string
		var at []time.Duration
		for e, err := range f.Events(ctx) {
			require.NoError(t, err)
			got = append(got, e.DocumentID)
			at = append(at, time.Since(now))
			if len(got) == 3 {
				break
			}
		}
		require.Equal(t, []string{"early", "newer", "late"}, got)
		// Polls at 0, 1, 2 and 3 minutes; sweeps at 0 (up to -5m) and at 3,
		// once a Rescan (2.5m) more of the log is LookBack old: it reads the
		// late event, which arrived 4 minutes after its time.
		assert.Equal(t, []time.Duration{0, 0, 3 * time.Minute}, at, "the late event came with the second sweep")
		assert.Equal(t, 6, srv.Count(auditlogtest.Match{Path: auditlogtest.PathAuditLog}))
	})
}

// TestManyFakesWithFaultsInBubbles: fifty fakes with 5% faults, each walked
// by the SDK in its own bubble: every backoff is fake time, so the whole
// run takes a fraction of a second of real time.
func TestManyFakesWithFaultsInBubbles(t *testing.T) {
	t.Parallel()
	ds, err := auditlogtest.NewGenerator(500, 9).Dataset()
	require.NoError(t, err)
	for i := range 50 {
		t.Run("", func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				srv := auditlogtest.New(t, auditlogtest.WithoutListener(), auditlogtest.WithDataset(ds),
					auditlogtest.WithSeed(int64(i)),
					auditlogtest.WithFaults(auditlogtest.Faults{ServerError: 0.05, Reset: 0.02, Truncate: 0.02}))
				n := 0
				for _, err := range sdk(t, srv, auditlog.WithMaxAttempts(20)).Events(t.Context(), auditlog.Enterprise(srv.Enterprise()),
					&auditlog.Query{PerPage: 25, Include: auditlog.IncludeAll}) {
					require.NoError(t, err)
					n++
				}
				require.Equal(t, 500, n)
			})
		})
	}
}

func TestSDKErrorCarriesTheLoggedRequestID(t *testing.T) {
	t.Parallel()
	srv := auditlogtest.New(t, auditlogtest.WithoutListener())
	pages := auditlogtest.Match{Path: auditlogtest.PathAuditLog}
	require.NoError(t, srv.Inject(auditlogtest.Rule{Match: pages, Fault: auditlogtest.Fault{Kind: auditlogtest.FaultResponse,
		Status: http.StatusUnprocessableEntity, Body: `{"message":"Validation Failed","documentation_url":"https://docs.github.com/rest"}`}}))
	_, err := sdk(t, srv, auditlog.WithMaxAttempts(1)).AuditLog(t.Context(), auditlog.Enterprise(srv.Enterprise()), nil)
	var apiErr *auditlog.APIError
	require.True(t, errors.As(err, &apiErr), "%v", err)
	reqs, err := srv.WaitRequests(t.Context(), pages, 1)
	require.NoError(t, err)
	require.Len(t, reqs, 1)
	assert.Equal(t, reqs[0].RequestID, apiErr.RequestID)
	assert.NotEmpty(t, apiErr.RequestID)
	assert.Equal(t, http.StatusUnprocessableEntity, reqs[0].Status)
}
