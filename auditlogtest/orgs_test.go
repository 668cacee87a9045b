package auditlogtest_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ghaudit/auditlog"
	"github.com/ghaudit/auditlog/auditlogtest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestOrgViewIsTheEnterprisesFilteredByOrg: each organization's audit log
// lists, in every include and order and through every cursor, exactly the
// enterprise's events whose org names it (case aside), which are also what
// the enterprise lists for the phrase org:LOGIN; an event of two
// organizations is in both logs.
func TestOrgViewIsTheEnterprisesFilteredByOrg(t *testing.T) {
	t.Parallel()
	s := auditlogtest.New(t, auditlogtest.WithoutListener(), auditlogtest.WithGeneratedEvents(3000, 4), unlimited)
	orgs := s.Organizations()
	require.ElementsMatch(t, []auditlogtest.Org{{Login: "avocado-org", ID: 62012}, {Login: "guacamole-inc", ID: 71733},
		{Login: "pit-labs", ID: 80233}, {Login: "octo-demo", ID: 90451}}, orgs)
	inTwo := 0
	for _, raw := range s.Events(auditlog.IncludeAll, auditlog.OrderAsc) {
		var ev struct {
			Org any `json:"org"`
		}
		require.NoError(t, json.Unmarshal(raw, &ev))
		if arr, ok := ev.Org.([]any); ok && len(arr) == 2 {
			inTwo++
		}
	}
	require.Positive(t, inTwo, "the generated log has events of two organizations")

	for _, o := range orgs {
		for _, include := range []auditlog.Include{auditlog.IncludeWeb, auditlog.IncludeGit, auditlog.IncludeAll} {
			for _, order := range []auditlog.Order{auditlog.OrderAsc, auditlog.OrderDesc} {
				var want []string
				for _, raw := range s.Events(include, order) {
					if names(t, raw, o.Login) {
						want = append(want, rawIDs(t, []json.RawMessage{raw})[0])
					}
				}
				require.NotEmpty(t, want)
				assert.Equal(t, want, rawIDs(t, s.OrgEvents(o.Login, include, order)))
				assert.Equal(t, want, rawIDs(t, s.OrgEvents(fmt.Sprint(o.ID), include, order)), "by ID")

				// Over HTTP, page by page, by login in any case and by ID;
				// and the enterprise's log searched with org:.
				for _, first := range []string{
					fmt.Sprintf("/orgs/%s/audit-log?include=%s&order=%s&per_page=37", strings.ToUpper(o.Login), include, order),
					fmt.Sprintf("/organizations/%d/audit-log?include=%s&order=%s&per_page=37", o.ID, include, order),
					fmt.Sprintf("/enterprises/%s/audit-log?include=%s&order=%s&per_page=37&phrase=org:%s", s.Enterprise(), include, order, o.Login),
				} {
					assert.Equal(t, want, walk(t, s, first), first)
				}
			}
		}
	}
}

// names reports whether the event's org holds login.
func names(t *testing.T, raw json.RawMessage, login string) bool {
	t.Helper()
	var ev struct {
		Org json.RawMessage `json:"org"`
	}
	require.NoError(t, json.Unmarshal(raw, &ev))
	var one string
	var many []string
	if json.Unmarshal(ev.Org, &one) == nil {
		many = []string{one}
	} else {
		_ = json.Unmarshal(ev.Org, &many)
	}
	return slices.ContainsFunc(many, func(o string) bool { return strings.EqualFold(o, login) })
}

// walk follows rel="next" from first and returns the IDs of every page. An
// organization's links name it by ID.
func walk(t *testing.T, s *auditlogtest.Server, first string) []string {
	t.Helper()
	var got []string
	for next := first; next != ""; {
		resp, body := get(t, s, next)
		require.Equal(t, http.StatusOK, resp.StatusCode, string(body))
		got = append(got, docIDs(t, body)...)
		next = links(resp.Header)["next"]
		if next != "" && strings.Contains(first, "/org") {
			require.Contains(t, next, s.URL()+"/organizations/")
		}
	}
	return got
}

// TestOrgRoutes: what is served for organizations, and what is 404.
func TestOrgRoutes(t *testing.T) {
	t.Parallel()
	s := auditlogtest.New(t, auditlogtest.WithoutListener(), auditlogtest.WithGeneratedEvents(200, 4))
	for _, tc := range []struct {
		method, path string
		status       int
	}{
		{"GET", "/orgs/avocado-org/audit-log", 200},
		{"GET", "/orgs/AVOCADO-ORG/audit-log", 200},
		{"GET", "/organizations/62012/audit-log", 200},
		{"GET", "/orgs/no-such-org/audit-log", 404},
		{"GET", "/organizations/1/audit-log", 404},
		{"GET", "/orgs/62012/audit-log", 404}, // /orgs/ takes a login, as on GitHub
		{"POST", "/orgs/avocado-org/audit-log", 404},
		{"GET", "/orgs/avocado-org/audit-log/streams", 404}, // streams are the enterprise's
		{"GET", "/orgs/avocado-org/audit-log/stream-key", 404},
		{"GET", "/orgs/avocado-org", 404},
	} {
		resp, body := do(t, s, tc.method, tc.path, "")
		assert.Equal(t, tc.status, resp.StatusCode, "%s %s: %s", tc.method, tc.path, body)
		if tc.status == 404 {
			assert.Equal(t, "Not Found", decodeErr(t, body).Message)
		}
	}

	// GHES serves organizations' logs too, by page number.
	ghes := auditlogtest.New(t, auditlogtest.WithoutListener(), auditlogtest.WithEnterpriseServer(), auditlogtest.WithGeneratedEvents(400, 4))
	resp, body := get(t, ghes, "/orgs/pit-labs/audit-log?per_page=10")
	require.Equal(t, http.StatusOK, resp.StatusCode, string(body))
	next := links(resp.Header)["next"]
	assert.Contains(t, next, ghes.URL()+"/organizations/80233/audit-log?")
	assert.Contains(t, next, "page=2")
	assert.Equal(t, rawIDs(t, ghes.OrgEvents("pit-labs", "", "")), walk(t, ghes, "/orgs/pit-labs/audit-log?per_page=10"))
}

// TestOrgBudgets: GitHub counts the audit-log budget per token and audit
// log; the fake keeps one window per token for the enterprise and one per
// organization (however the request names it), the stream endpoints one per
// token; GET /rate_limit reports the audit-log window with the least left.
func TestOrgBudgets(t *testing.T) {
	t.Parallel()
	clk := newClock()
	s := auditlogtest.New(t, auditlogtest.WithoutListener(), auditlogtest.WithClock(clk.Now), auditlogtest.WithGeneratedEvents(200, 4),
		auditlogtest.WithRateLimit(auditlogtest.ResourceAuditLog, 3, time.Minute), auditlogtest.WithToken("tok-a", "tok-b"))
	tok := func(tk string) []string { return []string{"Authorization", "Bearer " + tk} }
	remaining := func(resp *http.Response) string { return resp.Header.Get("X-RateLimit-Remaining") }

	// Three on the enterprise's log spend it; an organization's is whole.
	for i := range 3 {
		resp, _ := get(t, s, "/enterprises/avocado-corp/audit-log", tok("tok-a")...)
		require.Equal(t, http.StatusOK, resp.StatusCode)
		assert.Equal(t, fmt.Sprint(2-i), remaining(resp))
	}
	resp, _ := get(t, s, "/enterprises/13827/audit-log", tok("tok-a")...)
	assert.Equal(t, http.StatusForbidden, resp.StatusCode, "the same enterprise by ID: the same budget")
	resp, _ = get(t, s, "/orgs/avocado-org/audit-log", tok("tok-a")...)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, "2", remaining(resp))
	assert.Equal(t, "audit_log", resp.Header.Get("X-RateLimit-Resource"))
	resp, _ = get(t, s, "/organizations/62012/audit-log", tok("tok-a")...)
	assert.Equal(t, "1", remaining(resp), "the same organization by ID: the same budget")
	resp, _ = get(t, s, "/orgs/pit-labs/audit-log", tok("tok-a")...)
	assert.Equal(t, "2", remaining(resp), "another organization: its own budget")
	resp, _ = get(t, s, "/orgs/avocado-org/audit-log", tok("tok-b")...)
	assert.Equal(t, "2", remaining(resp), "another token: its own budget")
	resp, _ = get(t, s, "/enterprises/avocado-corp/audit-log/streams", tok("tok-a")...)
	assert.Equal(t, "14", remaining(resp), "the stream endpoints: the token's own budget")

	_, r, used, _ := s.Budget("tok-a", auditlogtest.ResourceAuditLog)
	assert.Equal(t, []int{0, 3}, []int{r, used}, "Budget is the enterprise's")
	_, r, used, _ = s.OrgBudget("tok-a", "avocado-org")
	assert.Equal(t, []int{1, 2}, []int{r, used})
	_, r, used, _ = s.OrgBudget("tok-a", "80233")
	assert.Equal(t, []int{2, 1}, []int{r, used})

	// GET /rate_limit names no path: it reports the window with the least
	// left (tok-a's enterprise, spent), tok-b's organization otherwise.
	for _, tc := range []struct{ tok, want string }{{"tok-a", `"remaining":0`}, {"tok-b", `"remaining":2`}} {
		resp, body := get(t, s, auditlogtest.PathRateLimit, tok(tc.tok)...)
		require.Equal(t, http.StatusOK, resp.StatusCode)
		var rl struct {
			Resources map[string]json.RawMessage `json:"resources"`
		}
		require.NoError(t, json.Unmarshal(body, &rl))
		assert.Contains(t, string(rl.Resources["audit_log"]), tc.want, tc.tok)
	}

	// Windows end apart: the enterprise's reopens whole.
	clk.Advance(time.Minute)
	resp, _ = get(t, s, "/enterprises/avocado-corp/audit-log", tok("tok-a")...)
	assert.Equal(t, "2", remaining(resp))
}

// TestOrgRulesMatchLoginAndID: PathOrgAuditLog, or an organization named
// literally, selects its requests whether they name it by login or by ID.
func TestOrgRulesMatchLoginAndID(t *testing.T) {
	t.Parallel()
	s := auditlogtest.New(t, auditlogtest.WithoutListener(), auditlogtest.WithGeneratedEvents(200, 4))
	require.NoError(t, s.Inject(auditlogtest.Rule{Match: auditlogtest.Match{Path: "/orgs/avocado-org/audit-log"}, Times: -1,
		Fault: auditlogtest.Fault{Kind: auditlogtest.FaultServerError, Status: 502}}))
	for _, p := range []string{"/orgs/avocado-org/audit-log", "/orgs/Avocado-Org/audit-log", "/organizations/62012/audit-log"} {
		resp, _ := get(t, s, p)
		assert.Equal(t, http.StatusBadGateway, resp.StatusCode, p)
	}
	for _, p := range []string{"/orgs/pit-labs/audit-log", "/organizations/80233/audit-log", "/enterprises/avocado-corp/audit-log"} {
		resp, _ := get(t, s, p)
		assert.Equal(t, http.StatusOK, resp.StatusCode, p)
	}
	assert.Equal(t, 5, s.Count(auditlogtest.Match{Path: auditlogtest.PathOrgAuditLog}))
	assert.Equal(t, 3, s.Count(auditlogtest.Match{Path: "/organizations/62012/audit-log"}))
	assert.Equal(t, 1, s.Count(auditlogtest.Match{Path: auditlogtest.PathAuditLog}))
}

// TestWithOrganizations: declared organizations are the only ones served,
// by their IDs in links; events of others are the enterprise's alone; bad
// declarations are refused.
func TestWithOrganizations(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2024, 6, 6, 8, 0, 0, 0, time.UTC)
	evs := []json.RawMessage{
		auditlogtest.Event{ID: "a", Time: t0, Action: "repo.create", Org: []string{"octo-org"}}.JSON(),
		auditlogtest.Event{ID: "b", Time: t0.Add(time.Second), Action: "repo.create", Org: []string{"Octo-Org", "hub-org"}}.JSON(),
		auditlogtest.Event{ID: "c", Time: t0.Add(2 * time.Second), Action: "repo.create", Org: []string{"hub-org"}, OrgID: []int64{77}}.JSON(),
		auditlogtest.Event{ID: "d", Time: t0.Add(3 * time.Second), Action: "business.update"}.JSON(), // the enterprise's alone
	}

	// Without WithOrganizations: those the events name, with the ID their
	// events give, else one derived from the login.
	s := auditlogtest.New(t, auditlogtest.WithoutListener(), auditlogtest.WithEvents(evs...))
	orgs := s.Organizations()
	require.Len(t, orgs, 2)
	assert.Equal(t, "octo-org", orgs[0].Login)
	assert.Positive(t, orgs[0].ID)
	assert.Equal(t, auditlogtest.Org{Login: "hub-org", ID: 77}, orgs[1])
	assert.Equal(t, []string{"b", "a"}, rawIDs(t, s.OrgEvents("octo-org", "", "")))
	assert.Equal(t, []string{"c", "b"}, rawIDs(t, s.OrgEvents("77", "", "")))
	// An event added later with a new organization adds it.
	require.NoError(t, s.AddEvents(auditlogtest.Event{ID: "e", Time: t0.Add(4 * time.Second), Action: "repo.create", Org: []string{"new-org"}}.JSON()))
	assert.Equal(t, []string{"e"}, rawIDs(t, s.OrgEvents("new-org", "", "")))

	// Declared: only those, with their IDs.
	d := auditlogtest.New(t, auditlogtest.WithoutListener(), auditlogtest.WithEvents(evs...),
		auditlogtest.WithOrganizations(auditlogtest.Org{Login: "octo-org", ID: 9001}, auditlogtest.Org{Login: "empty-org", ID: 9002}))
	assert.Equal(t, []auditlogtest.Org{{Login: "octo-org", ID: 9001}, {Login: "empty-org", ID: 9002}}, d.Organizations())
	resp, _ := get(t, d, "/orgs/hub-org/audit-log")
	assert.Equal(t, http.StatusNotFound, resp.StatusCode)
	resp, body := get(t, d, "/organizations/9002/audit-log")
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, "[]", string(body))
	resp, body = get(t, d, "/orgs/octo-org/audit-log?per_page=1")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, []string{"b"}, docIDs(t, body))
	assert.Contains(t, links(resp.Header)["next"], d.URL()+"/organizations/9001/audit-log?")
	require.NoError(t, d.AddEvents(auditlogtest.Event{ID: "f", Time: t0.Add(5 * time.Second), Action: "repo.create", Org: []string{"late-org"}}.JSON()))
	assert.Len(t, d.Organizations(), 2, "declared organizations are all there are")

	for _, bad := range [][]auditlogtest.Org{
		{{Login: "", ID: 1}},
		{{Login: "-octo", ID: 1}},
		{{Login: "octo--org", ID: 1}},
		{{Login: "octo_org", ID: 1}},
		{{Login: strings.Repeat("a", 40), ID: 1}},
		{{Login: "octo", ID: 0}},
		{{Login: "octo", ID: 1}, {Login: "OCTO", ID: 2}},
		{{Login: "octo", ID: 1}, {Login: "hub", ID: 1}},
	} {
		assert.Panics(t, func() { auditlogtest.NewServer(auditlogtest.WithoutListener(), auditlogtest.WithOrganizations(bad...)) }, "%v", bad)
	}
}
