package auditlog

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
)

// A Scope is whose audit log a call reads: an [Enterprise], an
// [Organization] (by login) or an [OrganizationID]. Every audit-log
// operation ([Client.AuditLog], [Client.Pages], [Client.Events],
// [Client.Follow], [Client.Backfill]) takes one; the same query, cursors and
// event shape serve all three. The set is closed: only this package's types
// are Scopes, so a bare string cannot be passed where a Scope goes, and a
// slug cannot silently mean the wrong kind of account.
//
// GitHub keeps the audit-log budget per user, IP and entity path: each
// Scope has its own budget (see [BudgetKey]). Cursors and checkpoints record
// the Scope they were made on, and resuming one on another Scope is an
// [*InputError].
type Scope interface {
	// path is the scope's path under the API root, without a leading
	// slash ("orgs/octo-org"), its segment escaped; it fails with an
	// *InputError naming the scope's field when the value is not valid.
	path() (string, error)
	// describe names the scope for an error or a log line.
	describe() string
}

// Enterprise is an enterprise, by slug ("avocado-corp") or numeric ID
// ("13827"); GitHub accepts either in its paths. It is a [Scope] for the
// audit log, and the only kind of account the stream endpoints serve.
type Enterprise string

// Organization is an organization, by login ("octo-org"): letters, digits
// and single hyphens, not at either end, at most 39 characters, as GitHub
// allows logins. It is a [Scope]: GET /orgs/{org}/audit-log, with the same
// parameters, cursors and events as an enterprise's. An organization known
// by its numeric ID is an [OrganizationID].
type Organization string

// OrganizationID is an organization by its numeric ID (an event's org_id).
// It is a [Scope]: GET /organizations/{id}/audit-log, the path GitHub's own
// Link headers name. It is a type of its own because a login may be all
// digits: Organization("1234") is the organization whose login is 1234,
// OrganizationID(1234) the one whose ID is.
type OrganizationID int64

func (e Enterprise) path() (string, error) {
	if err := validateEnterprise(string(e)); err != nil {
		return "", err
	}
	return "enterprises/" + url.PathEscape(string(e)), nil
}

func (e Enterprise) describe() string { return "enterprise " + quoteValue(string(e)) }

func (o Organization) path() (string, error) {
	if err := validateLogin(string(o)); err != nil {
		return "", err
	}
	return "orgs/" + string(o), nil // letters, digits and hyphens need no escaping
}

func (o Organization) describe() string { return "organization " + quoteValue(string(o)) }

func (o OrganizationID) path() (string, error) {
	if o < 1 {
		return "", &InputError{Field: "organization", Reason: fmt.Sprintf("ID must be positive, got %d", int64(o))}
	}
	return "organizations/" + strconv.FormatInt(int64(o), 10), nil
}

func (o OrganizationID) describe() string {
	return "organization ID " + strconv.FormatInt(int64(o), 10)
}

// maxLoginLen is the longest login GitHub allows.
const maxLoginLen = 39

// validateLogin checks an organization login as GitHub constrains logins:
// letters, digits and single hyphens, neither first nor last, 1 to 39
// characters.
func validateLogin(login string) error {
	bad := func(reason string) error { return &InputError{Field: "organization", Reason: reason} }
	switch {
	case login == "":
		return bad("is empty")
	case len(login) > maxLoginLen:
		return bad(fmt.Sprintf("%s is longer than %d characters", quoteValue(login), maxLoginLen))
	case login[0] == '-' || login[len(login)-1] == '-' || strings.Contains(login, "--"):
		return bad(fmt.Sprintf("%s: a login's hyphens are single and inside it", quoteValue(login)))
	}
	for i := 0; i < len(login); i++ {
		c := login[i]
		if !(c == '-' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return bad(fmt.Sprintf("%s may hold only letters, digits and single hyphens (a login; an ID is an OrganizationID)", quoteValue(login)))
		}
	}
	return nil
}

// scopePath validates s and returns the path of its audit log under the API
// root ("orgs/octo-org/audit-log").
func scopePath(s Scope) (string, error) {
	if s == nil {
		return "", &InputError{Field: "scope", Reason: "is nil (an Enterprise, Organization or OrganizationID)"}
	}
	p, err := s.path()
	if err != nil {
		return "", err
	}
	return p + "/audit-log", nil
}

// scopeKey is the identity a cursor or a checkpoint records for s: its
// path, in lower case (GitHub's slugs and logins ignore case), such as
// "orgs/octo-org". s must be valid.
func scopeKey(s Scope) string {
	if s == nil {
		return ""
	}
	p, _ := s.path()
	return strings.ToLower(p)
}

// BudgetKey is the key the audit-log budget of s is kept under, in a
// [Limiter] and in [Client.Rate]: "audit_log:" and the scope's path in lower
// case, such as "audit_log:orgs/octo-org" or
// "audit_log:enterprises/avocado-corp". GitHub counts the audit-log budget
// per user, IP and entity path, so every Scope has a budget of its own: a
// walk of an enterprise's log and one of an organization's, through one
// Client, each get the whole allowance. An [Organization] and the
// [OrganizationID] of the same organization are distinct keys: the SDK
// cannot know they are the same without a request. The stream endpoints'
// budget, [ResourceAuditLogStreaming], is not scoped. s must be valid; a nil
// or invalid s gives the bare resource name.
func BudgetKey(s Scope) string {
	k := scopeKey(s)
	if k == "" {
		return ResourceAuditLog
	}
	return ResourceAuditLog + ":" + k
}

// validScopeKey reports whether k is a key scopeKey can return, for text
// read back from a saved cursor or checkpoint.
func validScopeKey(k string) bool {
	kind, name, ok := strings.Cut(k, "/")
	if !ok || k != strings.ToLower(k) {
		return false
	}
	switch kind {
	case "enterprises":
		return validateEnterprise(name) == nil
	case "orgs":
		return validateLogin(name) == nil
	case "organizations":
		n, err := strconv.ParseInt(name, 10, 64)
		return err == nil && n > 0 && strconv.FormatInt(n, 10) == name
	}
	return false
}

// describeKey names the scope a saved key stands for, for an error.
func describeKey(k string) string {
	kind, name, _ := strings.Cut(k, "/")
	switch kind {
	case "enterprises":
		return "enterprise " + quoteValue(name)
	case "orgs":
		return "organization " + quoteValue(name)
	}
	return "organization ID " + name
}

// checkTie refuses a position recorded on scope key (empty: recorded before
// positions named their scope, or built by hand) for use on s, as an
// *InputError for field.
func checkTie(field, key string, s Scope) error {
	if key == "" || key == scopeKey(s) {
		return nil
	}
	return &InputError{Field: field, Reason: fmt.Sprintf("belongs to the audit log of %s, not of %s; resume it on the scope it came from",
		describeKey(key), s.describe())}
}
