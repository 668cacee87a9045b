package auditlog

import (
	"log/slog"
	"net/http"
	"testing"
	"time"

	"github.com/ghaudit/auditlog/auditlogtest"
	"github.com/stretchr/testify/require"
)

// The SDK's tests against auditlogtest run it in memory (WithoutListener,
// reached through srv.Client()): no socket, and inside a synctest bubble
// every wait of the client (backoff, retry-after, the budget, a tail's
// polls) and the fake's own clock are the bubble's fake time. The few tests
// about what happens on a real connection (resets and truncation over a
// socket, Link hosts, TLS, proxies, redirects) start a listener of their
// own.

// synctestEpoch is where time starts inside a synctest bubble, and so the
// clock of a fake made inside one.
var synctestEpoch = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

// memFake starts an in-memory fake that t closes. Made inside a synctest
// bubble, its clock is the bubble's.
func memFake(t *testing.T, opts ...auditlogtest.Option) *auditlogtest.Server {
	t.Helper()
	return auditlogtest.New(t, append([]auditlogtest.Option{auditlogtest.WithoutListener()}, opts...)...)
}

// newFake starts an in-memory fake and a client for it. Unless opts say
// otherwise the audit-log budget is large, so walks are not paced.
func newFake(t *testing.T, opts ...auditlogtest.Option) (*auditlogtest.Server, *Client) {
	t.Helper()
	srv := memFake(t, append([]auditlogtest.Option{auditlogtest.WithRateLimit(ResourceAuditLog, 1<<30, time.Hour)}, opts...)...)
	return srv, memClient(t, srv, nil)
}

// skewedClock is a fake's clock skew ahead of the caller's (behind when
// negative): GitHub's clock and the client's disagree.
func skewedClock(skew time.Duration) auditlogtest.Option {
	return auditlogtest.WithClock(func() time.Time { return time.Now().Add(skew) })
}

// memClient is a client of an in-memory fake, logging to logs when it is
// not nil and to the leak scan's testLogger otherwise.
func memClient(t *testing.T, srv *auditlogtest.Server, logs *capture, opts ...Option) *Client {
	t.Helper()
	logger := testLogger
	if logs != nil {
		logger = slog.New(logs)
	}
	c, err := NewClient(append([]Option{WithBaseURL(srv.URL()), WithToken(srv.Token()),
		WithHTTPClient(srv.Client()), WithLogger(logger)}, opts...)...)
	require.NoError(t, err)
	return c
}

// auditLogRequests counts the audit-log pages srv was asked for (not GET
// /rate_limit, which a warm start sends first).
func auditLogRequests(srv *auditlogtest.Server) int {
	return srv.Count(auditlogtest.Match{Method: "GET", Path: auditlogtest.PathAuditLog})
}

// budgeted returns the requests a budget counts: all but GET /rate_limit.
func budgeted(reqs []auditlogtest.Request) []auditlogtest.Request {
	var out []auditlogtest.Request
	for _, r := range reqs {
		if r.Resource != "" {
			out = append(out, r)
		}
	}
	return out
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
