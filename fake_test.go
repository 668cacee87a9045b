package auditlog

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"testing"
	"testing/synctest"
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

// auditLogRequests counts the audit-log pages srv was asked for, of the
// enterprise and of its organizations (not GET /rate_limit, which a warm
// start sends first).
func auditLogRequests(srv *auditlogtest.Server) int {
	return srv.Count(auditlogtest.Match{Method: "GET", Path: auditlogtest.PathAuditLog}) +
		srv.Count(auditlogtest.Match{Method: "GET", Path: auditlogtest.PathOrgAuditLog})
}

// scopeCase is a kind of audit log a walk reads: the tests of iteration
// run over both.
type scopeCase struct {
	name  string
	scope Scope
	// org is the login of the organization, "" for the enterprise.
	org string
	// events is what the scope's log lists now, with no phrase (set by on).
	events func(Include, Order) []json.RawMessage
}

// on binds sc to the fake srv: its scope names srv's enterprise, or the
// organization, and events lists what srv serves for it.
func (sc scopeCase) on(srv *auditlogtest.Server) scopeCase {
	if sc.org == "" {
		sc.scope, sc.events = Enterprise(srv.Enterprise()), srv.Events
		return sc
	}
	org := sc.org
	sc.scope = Organization(org)
	sc.events = func(i Include, o Order) []json.RawMessage { return srv.OrgEvents(org, i, o) }
	return sc
}

// path is the Match.Path pattern of the scope's audit log.
func (sc scopeCase) path() string {
	if sc.org == "" {
		return auditlogtest.PathAuditLog
	}
	return auditlogtest.PathOrgAuditLog
}

// genOrg is an organization of every generated log.
const genOrg = "avocado-org"

// genScopes are the scopes of tests on a generated log: the fake's
// enterprise, and genOrg.
func genScopes() []scopeCase {
	return []scopeCase{
		{name: "enterprise", scope: Enterprise(auditlogtest.DefaultEnterprise)},
		{name: "organization", scope: Organization(genOrg), org: genOrg},
	}
}

// onEach runs test once for each of scs (genScopes or handScopes), as
// parallel subtests named after the scope.
func onEach(t *testing.T, scs []scopeCase, test func(*testing.T, scopeCase)) {
	for _, sc := range scs {
		t.Run(sc.name, func(t *testing.T) {
			t.Parallel()
			test(t, sc)
		})
	}
}

// inBubbleOnEach is onEach with each subtest in a synctest bubble.
func inBubbleOnEach(t *testing.T, scs []scopeCase, test func(*testing.T, scopeCase)) {
	onEach(t, scs, func(t *testing.T, sc scopeCase) {
		synctest.Test(t, func(t *testing.T) { test(t, sc) })
	})
}

// onEachScope runs test once for each of genScopes, as parallel subtests
// named after the scope, each with a fake of its own made with opts, a
// client for it (newFake), and the scope bound to that fake.
func onEachScope(t *testing.T, opts []auditlogtest.Option, test func(t *testing.T, srv *auditlogtest.Server, c *Client, sc scopeCase)) {
	for _, sc := range genScopes() {
		t.Run(sc.name, func(t *testing.T) {
			t.Parallel()
			srv, c := newFake(t, opts...)
			test(t, srv, c, sc.on(srv))
		})
	}
}

// scopes returns genScopes bound to srv.
func scopes(srv *auditlogtest.Server) []scopeCase {
	var out []scopeCase
	for _, sc := range genScopes() {
		out = append(out, sc.on(srv))
	}
	return out
}

// inOrg gives an event made for the enterprise's log the org of sc (when it
// is an organization), so that the event is in sc's log too.
func (sc scopeCase) inOrg(ev json.RawMessage) json.RawMessage {
	if sc.org == "" {
		return ev
	}
	return json.RawMessage(fmt.Sprintf(`{"org":%q,%s`, sc.org, ev[1:]))
}

// testOrg is the organization of the tests' hand-made events: a fake made
// with withTestOrg serves it, and sc.event puts events in it.
var testOrg = auditlogtest.Org{Login: "octo-org", ID: 9001}

func withTestOrg() auditlogtest.Option {
	return auditlogtest.WithOrganizations(testOrg, auditlogtest.Org{Login: "other-org", ID: 9002})
}

// handScopes are the scopes of tests on hand-made events: the fake's
// enterprise, and testOrg (bind them to a fake with on).
func handScopes() []scopeCase {
	return []scopeCase{
		{name: "enterprise", scope: Enterprise(auditlogtest.DefaultEnterprise)},
		{name: "organization", scope: Organization(testOrg.Login), org: testOrg.Login},
	}
}

// event is rawEvent in sc's log.
func (sc scopeCase) event(id string, ts time.Time) json.RawMessage { return sc.inOrg(rawEvent(id, ts)) }

// eventsEvery is eventsEvery in sc's log.
func (sc scopeCase) eventsEvery(n int, base time.Time, step time.Duration) []json.RawMessage {
	evs := eventsEvery(n, base, step)
	for i := range evs {
		evs[i] = sc.inOrg(evs[i])
	}
	return evs
}

// noise is an event of another organization: in the enterprise's log, never
// in testOrg's. A test of an organization adds some, which its tail must
// not deliver.
func noise(id string, ts time.Time) json.RawMessage {
	return json.RawMessage(fmt.Sprintf(`{"org":"other-org",%s`, rawEvent(id, ts)[1:]))
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
