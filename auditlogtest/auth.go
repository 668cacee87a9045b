package auditlogtest

import (
	"net/http"
	"slices"
	"strings"
)

// OAuth scopes of a classic personal access token that the endpoints need.
const (
	// ScopeReadAuditLog is what GET /enterprises/{e}/audit-log needs.
	ScopeReadAuditLog = "read:audit_log"
	// ScopeAdminEnterprise is what the stream-key and stream endpoints need.
	ScopeAdminEnterprise = "admin:enterprise"
)

// defaultScopes are the scopes of a token no WithScopes names.
var defaultScopes = []string{ScopeAdminEnterprise, ScopeReadAuditLog}

func tokenFrom(r *http.Request) string {
	h := r.Header.Get("Authorization")
	if h == "" {
		return ""
	}
	scheme, tok, ok := strings.Cut(strings.TrimSpace(h), " ")
	if !ok {
		return "\x00invalid"
	}
	switch strings.ToLower(scheme) {
	case "bearer", "token":
		return strings.TrimSpace(tok)
	}
	return "\x00invalid"
}

// validToken reports whether tok is one of the server's tokens and has not
// been revoked.
func (s *Server) validToken(tok string) bool {
	if _, scoped := s.cfg.scopes[tok]; !scoped && !slices.Contains(s.cfg.tokens, tok) {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return !s.revoked[tok]
}

// RevokeToken makes token invalid from now on, as when it expires or is
// deleted: every request with it is answered 401 "Bad credentials". Its
// rate-limit windows are kept. To revoke it at the Nth request of a walk,
// aim a [FaultRevokeToken] at that request instead.
func (s *Server) RevokeToken(token string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.revoked[token] = true
}

func badCredentials() *response {
	return errorResponse(http.StatusUnauthorized, "Bad credentials", docsREST)
}

func (s *Server) scopesOf(tok string) []string {
	if sc, ok := s.cfg.scopes[tok]; ok {
		return sc
	}
	return defaultScopes
}

func requiredScope(resource string) string {
	if resource == ResourceAuditLog {
		return ScopeReadAuditLog
	}
	return ScopeAdminEnterprise
}

func (s *Server) hasScope(tok, scope string) bool {
	return slices.Contains(s.scopesOf(tok), scope)
}

// scopeHeaders sets the headers GitHub sends a classic token: the scopes it
// has and the ones the endpoint accepts.
func (s *Server) scopeHeaders(h http.Header, tok, resource string) {
	h.Set("X-OAuth-Scopes", strings.Join(s.scopesOf(tok), ", "))
	h.Set("X-Accepted-OAuth-Scopes", requiredScope(resource))
}
