package auditlogtest_test

import (
	"crypto/tls"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ghaudit/auditlog"
	"github.com/ghaudit/auditlog/auditlogtest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestScopes(t *testing.T) {
	t.Parallel()
	const (
		reader = "ghp_reader0000000000000000000000000000"
		admin  = "ghp_admin00000000000000000000000000000"
	)
	s := auditlogtest.New(t, auditlogtest.WithoutListener(),
		auditlogtest.WithScopes(reader, auditlogtest.ScopeReadAuditLog, "repo"),
		auditlogtest.WithScopes(admin, auditlogtest.ScopeAdminEnterprise))
	auth := func(tok string) []string { return []string{"Authorization", "Bearer " + tok} }
	tests := []struct {
		name, token, path string
		status            int
		accepted          string
	}{
		{"reader reads the log", reader, "/enterprises/avocado-corp/audit-log", 200, "read:audit_log"},
		{"reader cannot list streams", reader, "/enterprises/avocado-corp/audit-log/streams", 403, "admin:enterprise"},
		{"reader cannot get the key", reader, "/enterprises/avocado-corp/audit-log/stream-key", 403, "admin:enterprise"},
		{"admin lists streams", admin, "/enterprises/avocado-corp/audit-log/streams", 200, "admin:enterprise"},
		{"admin without read:audit_log", admin, "/enterprises/avocado-corp/audit-log", 403, "read:audit_log"},
		{"default token has both", s.Token(), "/enterprises/avocado-corp/audit-log/streams", 200, "admin:enterprise"},
	}
	for _, tt := range tests {
		resp, body := get(t, s, tt.path, auth(tt.token)...)
		require.Equal(t, tt.status, resp.StatusCode, "%s: %s", tt.name, body)
		assert.Equal(t, tt.accepted, resp.Header.Get("X-Accepted-OAuth-Scopes"), tt.name)
		assertRateHeaders(t, resp.Header, true)
		if tt.status == 403 {
			e := decodeErr(t, body)
			assert.Contains(t, e.Message, "needs the "+tt.accepted+" scope", tt.name)
			assert.NotContains(t, e.Message, "rate limit")
		}
	}
	resp, _ := get(t, s, "/enterprises/avocado-corp/audit-log", auth(reader)...)
	assert.Equal(t, "read:audit_log, repo", resp.Header.Get("X-OAuth-Scopes"))
	_, _, used, _ := s.Budget(admin, auditlogtest.ResourceAuditLog)
	assert.Zero(t, used, "a scope refusal consumes no budget")

	// The SDK reports it as forbidden, not as a rate limit.
	c, err := auditlog.NewClient(auditlog.WithBaseURL(s.URL()), auditlog.WithToken(admin), auditlog.WithHTTPClient(s.Client()))
	require.NoError(t, err)
	_, err = c.AuditLog(t.Context(), auditlog.Enterprise(s.Enterprise()), nil)
	require.ErrorIs(t, err, auditlog.ErrForbidden)
	var rl *auditlog.RateLimitError
	assert.False(t, errors.As(err, &rl))
}

func TestRevokeToken(t *testing.T) {
	t.Parallel()
	s := auditlogtest.New(t, auditlogtest.WithoutListener(), auditlogtest.WithToken("tok-a", "tok-b"))
	const log = "/enterprises/avocado-corp/audit-log"
	s.RevokeToken("tok-a")
	resp, body := get(t, s, log, "Authorization", "Bearer tok-a")
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	assert.Equal(t, "Bad credentials", decodeErr(t, body).Message)
	resp, _ = get(t, s, log, "Authorization", "Bearer tok-b")
	assert.Equal(t, http.StatusOK, resp.StatusCode)
}

// TestTokenExpiresMidWalk: the SDK walking the log meets a token revoked at
// the third page and stops with ErrUnauthorized, after yielding the first
// two pages.
func TestTokenExpiresMidWalk(t *testing.T) {
	t.Parallel()
	s := auditlogtest.New(t, auditlogtest.WithoutListener(), auditlogtest.WithGeneratedEvents(500, 8))
	require.NoError(t, s.Inject(auditlogtest.Rule{Match: auditlogtest.Match{Path: auditlogtest.PathAuditLog}, Nth: 3,
		Fault: auditlogtest.Fault{Kind: auditlogtest.FaultRevokeToken}}))
	n := 0
	var walkErr error
	for _, err := range sdk(t, s).Events(t.Context(), auditlog.Enterprise(s.Enterprise()), &auditlog.Query{PerPage: 100}) {
		if err != nil {
			walkErr = err
			break
		}
		n++
	}
	require.ErrorIs(t, walkErr, auditlog.ErrUnauthorized)
	assert.Equal(t, 200, n)
	resp, _ := get(t, s, "/enterprises/avocado-corp/audit-log")
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode, "it stays revoked")
	walked, err := s.WaitRequests(t.Context(), auditlogtest.Match{Path: auditlogtest.PathAuditLog}, 3)
	require.NoError(t, err)
	assert.Equal(t, "revoke_token", walked[2].Fault)
}

func TestEnterpriseServerMode(t *testing.T) {
	t.Parallel()
	const log = "/enterprises/avocado-corp/audit-log"
	t.Run("rate limits off by default", func(t *testing.T) {
		t.Parallel()
		s := auditlogtest.New(t, auditlogtest.WithoutListener(), auditlogtest.WithEnterpriseServer())
		for range 3 {
			resp, _ := get(t, s, log)
			require.Equal(t, http.StatusOK, resp.StatusCode)
			for k := range resp.Header {
				assert.False(t, strings.HasPrefix(strings.ToLower(k), "x-ratelimit-"), k)
			}
			assert.Equal(t, auditlogtest.EnterpriseServerVersion, resp.Header.Get("X-GitHub-Enterprise-Version"))
		}
		resp, _ := get(t, s, "/enterprises/nope/audit-log")
		assert.Equal(t, auditlogtest.EnterpriseServerVersion, resp.Header.Get("X-GitHub-Enterprise-Version"), "on every response")
	})
	t.Run("an administrator turns them on", func(t *testing.T) {
		t.Parallel()
		s := auditlogtest.New(t, auditlogtest.WithoutListener(), auditlogtest.WithEnterpriseServer(),
			auditlogtest.WithRateLimit(auditlogtest.ResourceAuditLog, 2, time.Hour))
		assert.Equal(t, []int{200, 200, 403}, statuses(t, s, log, log, log))
		resp, _ := get(t, s, log)
		assert.Equal(t, "2", resp.Header.Get("X-Ratelimit-Limit"))
	})
	t.Run("cloud sends no GHES version", func(t *testing.T) {
		t.Parallel()
		s := auditlogtest.New(t, auditlogtest.WithoutListener())
		resp, _ := get(t, s, log)
		assert.Empty(t, resp.Header.Get("X-GitHub-Enterprise-Version"))
	})
}

func TestWithTLS(t *testing.T) {
	t.Parallel()
	s := auditlogtest.New(t, auditlogtest.WithTLS(), auditlogtest.WithGeneratedEvents(120, 2))
	require.True(t, strings.HasPrefix(s.URL(), "https://127.0.0.1:"), s.URL())
	// An https base URL needs no loopback exception in the SDK.
	n := 0
	for _, err := range sdk(t, s).Events(t.Context(), auditlog.Enterprise(s.Enterprise()), &auditlog.Query{PerPage: 50, Include: auditlog.IncludeAll}) {
		require.NoError(t, err)
		n++
	}
	assert.Equal(t, 120, n)
	resp, err := s.Client().Get(s.URL() + "/enterprises/avocado-corp/audit-log")
	require.NoError(t, err)
	require.NoError(t, resp.Body.Close())
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	require.NotNil(t, resp.TLS)
	assert.Equal(t, uint16(tls.VersionTLS13), resp.TLS.Version)
	// A client that does not trust the test certificate is refused.
	_, err = http.Get(s.URL())
	require.Error(t, err)
}
