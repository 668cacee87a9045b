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
//
// # Rate limits and retries
//
// GitHub allows 1,750 audit-log queries and 15 stream requests per hour, per
// user and IP. Every call waits for its resource's budget before it is sent
// (a [Limiter]; by default a [Budget] of the client's own, kept in line with
// the x-ratelimit-* headers), so a walk uses the whole budget without being
// refused. Clients sharing a token should share one Budget: see [NewBudget]
// and [WithLimiter]. When GitHub still refuses, the call waits what GitHub
// asks (retry-after; else until x-ratelimit-reset when remaining is 0; else
// at least a minute, doubling), and retries network errors, truncated bodies
// and 500/502/503/504 of GET, PUT and DELETE with capped exponential backoff
// and full jitter ([WithMaxAttempts]). A POST is retried only when its
// connection was never made. No call waits longer than [WithMaxWait] in
// total or past its context's deadline: it returns at once a
// [*RateLimitError] saying when to come back, or the last transient error.
package auditlog
