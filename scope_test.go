package auditlog

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/ghaudit/auditlog/auditlogtest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestScopePaths: each kind of scope reads the audit log at its own path,
// and records its own key in the cursors it hands out.
func TestScopePaths(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var paths []string
	hc := &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		mu.Lock()
		paths = append(paths, r.URL.EscapedPath())
		mu.Unlock()
		return &http.Response{StatusCode: http.StatusOK, Header: http.Header{
			"Link": {`<https://api.github.com/x?after=YWJj&before=>; rel="next"`}},
			Body: io.NopCloser(strings.NewReader("[]")), Request: r}, nil
	})}
	c, err := NewClient(WithToken("ghp_test"), WithHTTPClient(hc), WithoutWarmStart(), WithLogger(testLogger))
	require.NoError(t, err)
	long := strings.Repeat("a", 19) + "-" + strings.Repeat("b", 19)
	for _, tc := range []struct {
		scope     Scope
		path, key string
	}{
		{Enterprise("avocado-corp"), "/enterprises/avocado-corp/audit-log", "enterprises/avocado-corp"},
		{Enterprise("13827"), "/enterprises/13827/audit-log", "enterprises/13827"},
		{Enterprise("Avocado_Corp.EU"), "/enterprises/Avocado_Corp.EU/audit-log", "enterprises/avocado_corp.eu"},
		{Organization("octo-org"), "/orgs/octo-org/audit-log", "orgs/octo-org"},
		{Organization("Octo-Org"), "/orgs/Octo-Org/audit-log", "orgs/octo-org"},
		{Organization("1234"), "/orgs/1234/audit-log", "orgs/1234"}, // a login that is all digits
		{Organization(long), "/orgs/" + long + "/audit-log", "orgs/" + long},
		{OrganizationID(62012), "/organizations/62012/audit-log", "organizations/62012"},
	} {
		mu.Lock()
		paths = nil
		mu.Unlock()
		page, err := c.AuditLog(t.Context(), tc.scope, nil)
		require.NoError(t, err, tc.path)
		mu.Lock()
		assert.Equal(t, []string{tc.path}, paths)
		mu.Unlock()
		assert.Equal(t, tc.key, page.Next.scope, tc.path)
		assert.Contains(t, page.Next.String(), "&scope=", tc.path)
	}
}

// TestBudgetKey: each scope's audit-log budget is kept under the resource
// and its path, in lower case; an organization by login and by ID are two
// keys. What is configured for audit_log holds for every one of them, and
// a limit is set per resource, never per key.
func TestBudgetKey(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		scope Scope
		key   string
	}{
		{Enterprise("avocado-corp"), "audit_log:enterprises/avocado-corp"},
		{Enterprise("Avocado_Corp.EU"), "audit_log:enterprises/avocado_corp.eu"},
		{Organization("Octo-Org"), "audit_log:orgs/octo-org"},
		{OrganizationID(62012), "audit_log:organizations/62012"},
		{nil, "audit_log"},
	} {
		assert.Equal(t, tc.key, BudgetKey(tc.scope))
		assert.Equal(t, ResourceAuditLog, KeyResource(tc.key))
	}
	assert.Equal(t, ResourceAuditLogStreaming, KeyResource(ResourceAuditLogStreaming))
	assert.Equal(t, "", KeyResource(""))

	t0 := time.Unix(1_700_000_000, 0)
	b, err := NewBudget(map[string]RateLimit{ResourceAuditLog: {Requests: 3, Per: time.Hour}})
	require.NoError(t, err)
	for _, s := range []Scope{Enterprise("avocado-corp"), Organization("octo-org")} {
		for range 3 {
			_, wait, err := b.Reserve(BudgetKey(s), t0, 0)
			require.NoError(t, err)
			assert.Zero(t, wait)
		}
		_, _, err := b.Reserve(BudgetKey(s), t0, 0)
		var rl *RateLimitError
		require.ErrorAs(t, err, &rl, "audit_log's 3 an hour holds for %s", BudgetKey(s))
		assert.Equal(t, 3, rl.Limit)
		assert.Equal(t, BudgetKey(s), rl.Resource)
	}
	_, err = NewBudget(map[string]RateLimit{BudgetKey(Organization("octo-org")): {Requests: 3, Per: time.Hour}})
	var ie *InputError
	require.ErrorAs(t, err, &ie)
	assert.Contains(t, ie.Error(), "per resource")
	_, err = NewClient(WithRateLimits(map[string]RateLimit{"audit_log:orgs/octo-org": {Requests: 3, Per: time.Hour}}))
	require.ErrorAs(t, err, &ie)
	assert.Equal(t, "WithRateLimits", ie.Field)
}

// TestCursorTiedToScope: a position saved on one scope is refused on any
// other before anything is sent, whichever way round; on the same scope
// named in another case it resumes.
func TestCursorTiedToScope(t *testing.T) {
	t.Parallel()
	srv, c := newFake(t, auditlogtest.WithGeneratedEvents(800, 6))
	ctx := context.Background()
	org := srv.Organizations()[0]
	named := []Scope{Enterprise(srv.Enterprise()), Organization(org.Login), OrganizationID(org.ID),
		Organization(srv.Organizations()[1].Login)}
	q := &Query{Include: IncludeAll, PerPage: 10}
	for i, from := range named {
		page, err := c.AuditLog(ctx, from, q)
		require.NoError(t, err)
		text, err := page.Next.MarshalText()
		require.NoError(t, err)
		var saved Cursor
		require.NoError(t, saved.UnmarshalText(text))
		for j, on := range named {
			srv.ResetRequests()
			_, err := c.AuditLog(ctx, on, q.At(saved))
			if i == j {
				assert.NoError(t, err)
				continue
			}
			var ie *InputError
			require.ErrorAs(t, err, &ie, "%v resumed on %v", from, on)
			assert.Equal(t, "Cursor", ie.Field)
			assert.Contains(t, ie.Reason, from.describe())
			assert.Contains(t, ie.Reason, on.describe())
			errs := 0
			for _, err := range c.Pages(ctx, on, q.At(saved)) {
				require.ErrorAs(t, err, &ie)
				errs++
			}
			assert.Equal(t, 1, errs)
			assert.Empty(t, srv.Requests(), "%v resumed on %v sent a request", from, on)
		}
	}

	// A login is compared without case, as GitHub compares it.
	page, err := c.AuditLog(ctx, Organization(org.Login), q)
	require.NoError(t, err)
	_, err = c.AuditLog(ctx, Organization(strings.ToUpper(org.Login)), q.At(page.Next))
	assert.NoError(t, err)

	// The end of a finished walk is tied too: resumed elsewhere it is an
	// error, not an empty walk that would look finished.
	var end Cursor
	for p, err := range c.Pages(ctx, Organization(org.Login), &Query{Phrase: "action:repo.destroy", PerPage: 100}) {
		require.NoError(t, err)
		end = p.Next
	}
	require.True(t, end.Done())
	err = firstErr(c.Pages(ctx, Enterprise(srv.Enterprise()), (&Query{Phrase: "action:repo.destroy", PerPage: 100}).At(end)))
	var ie *InputError
	require.ErrorAs(t, err, &ie)
	assert.Equal(t, "Cursor", ie.Field)

	// A cursor saved before cursors named their scope resumes anywhere.
	page, err = c.AuditLog(ctx, Enterprise(srv.Enterprise()), q)
	require.NoError(t, err)
	old := page.Next
	old.scope = ""
	_, err = c.AuditLog(ctx, Organization(org.Login), q.At(old))
	assert.NoError(t, err)
}

// TestFollowCheckpointTiedToScope: a tail's checkpoint records its scope,
// in its JSON too; a tail of another scope refuses it before anything is
// sent, and one that a walk built with Add (no scope) resumes anywhere.
func TestFollowCheckpointTiedToScope(t *testing.T) {
	t.Parallel()
	synctest.Test(t, testFollowCheckpointTiedToScope)
}

func testFollowCheckpointTiedToScope(t *testing.T) {
	srv, c := newFake(t, auditlogtest.WithGeneratedEvents(400, 8))
	org := Organization(srv.Organizations()[0].Login)
	ctx := t.Context()
	f := c.Follow(org, &Query{Include: IncludeAll}, FollowOptions{Since: time.Now().Add(-30 * 24 * time.Hour)})
	n := 0
	for _, err := range f.Events(ctx) {
		require.NoError(t, err)
		if n++; n == 5 {
			break
		}
	}
	cp := f.Checkpoint()
	assert.Equal(t, "orgs/avocado-org", cp.Scope())
	raw, err := json.Marshal(cp)
	require.NoError(t, err)
	assert.Contains(t, string(raw), `"scope":"orgs/avocado-org"`)
	var back Checkpoint
	require.NoError(t, json.Unmarshal(raw, &back))
	again, err := json.Marshal(back)
	require.NoError(t, err)
	assert.JSONEq(t, string(raw), string(again))
	assert.Equal(t, cp.Scope(), back.Scope())

	srv.ResetRequests()
	for _, other := range []Scope{Enterprise(srv.Enterprise()), Organization("guacamole-inc"), OrganizationID(62012)} {
		err := firstErr(c.Follow(other, nil, FollowOptions{From: back}).Events(ctx))
		var ie *InputError
		require.ErrorAs(t, err, &ie, "%v", other)
		assert.Equal(t, "FollowOptions.From", ie.Field)
	}
	assert.Empty(t, srv.Requests())

	// Resumed on its own scope it goes on, and keeps the scope.
	f = c.Follow(org, &Query{Include: IncludeAll}, FollowOptions{From: back})
	for _, err := range f.Events(ctx) {
		require.NoError(t, err)
		break
	}
	assert.Equal(t, "orgs/avocado-org", f.Checkpoint().Scope())

	// A walk's checkpoint, or JSON saved before checkpoints named their
	// scope, ties to the first tail that resumes it.
	for _, from := range []string{`{"newest":"2026-01-02T03:04:05Z","seen":{}}`, ``} {
		var walk Checkpoint
		if from != "" {
			require.NoError(t, json.Unmarshal([]byte(from), &walk))
		} else {
			walk.Add(Event{DocumentID: "x", Timestamp: time.Now().Add(-time.Hour)})
		}
		assert.Empty(t, walk.Scope())
		f := c.Follow(Enterprise(srv.Enterprise()), nil, FollowOptions{From: walk})
		done, stop := context.WithCancel(ctx)
		stop() // the tail starts, then stops at its first request
		for _, err := range f.Events(done) {
			require.NoError(t, err)
		}
		assert.Equal(t, "enterprises/avocado-corp", f.Checkpoint().Scope())
	}

	// JSON naming no scope a tail records is refused.
	for _, bad := range []string{`{"scope":"orgs/-x","newest":"2026-01-02T03:04:05Z"}`, `{"scope":"users/octocat"}`, `{"scope":"ORGS/X"}`} {
		var cp Checkpoint
		err := json.Unmarshal([]byte(bad), &cp)
		var ie *InputError
		require.ErrorAs(t, err, &ie, bad)
		assert.Equal(t, "Checkpoint", ie.Field)
	}
}
