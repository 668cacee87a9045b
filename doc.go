// Package auditlog is a client for GitHub's Enterprise audit-log REST API:
// reading the audit log of an enterprise, and managing its audit-log
// streams.
//
// # Client
//
// [NewClient] takes functional options: [WithToken] or [WithTokenSource]
// for authentication (a classic personal access token with read:audit_log
// for the log, admin:enterprise for streams), [WithBaseURL] for GitHub
// Enterprise Cloud with data residency (https://api.SUBDOMAIN.ghe.com), and
// [WithEnterpriseServer] for GitHub Enterprise Server (https://HOST/api/v3).
// A Client is safe for concurrent use. Every call goes through one pipeline
// that sets the headers GitHub asks for, bounds what it reads, and turns
// error responses into typed errors.
//
// # Errors
//
// Errors from GitHub are [*APIError] or, for rate limits, [*RateLimitError];
// failures to get a whole response are [*NetworkError]; arguments refused
// before anything is sent are [*InputError], naming the field. Use errors.Is
// with [ErrNotFound], [ErrUnauthorized], [ErrForbidden], [ErrValidation],
// [ErrRateLimited] and [ErrInvalidInput], or errors.As for the details.
// No error, log record or %v output holds the token.
//
// # Reading the audit log
//
// [Client.AuditLog] fetches one page for a [Query]; [Phrase] builds the
// search phrase. Each [Page] has its events, the [Cursor] of the next page
// and the rate-limit state GitHub reported. [Event] types the fields most
// tools index on and keeps the entry's JSON byte for byte, so undocumented
// fields and GitHub's type quirks (org as a list, permission as a bool) are
// never lost.
package auditlog
