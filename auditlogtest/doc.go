// Package auditlogtest is a fake of GitHub's Enterprise audit-log REST API,
// the audit logs of the enterprise's organizations, and the audit-log stream
// configuration API, for testing code that uses them (with this SDK,
// google/go-github or plain net/http). It speaks the eight operations the
// way GitHub documents them and, where the documentation is
// silent, the way GitHub is observed to behave; each choice of the second
// kind is listed below.
//
//	srv := auditlogtest.New(t, auditlogtest.WithGeneratedEvents(2000, 42))
//	c, err := auditlog.NewClient(auditlog.WithBaseURL(srv.URL()), auditlog.WithToken(srv.Token()),
//		auditlog.WithHTTPClient(srv.Client()))
//
// [New] fails the test on a bad option and closes the server when the test
// ends; [NewServer] panics instead and leaves Close to the caller. A server
// listens on 127.0.0.1 (https with [WithTLS]) unless [WithoutListener] is
// given; [Server.Transport] serves it in memory either way, and
// [Server.Client] uses that transport when there is no listener. The server is deterministic: the dataset depends on its generator
// and the clock's time at start, the stream keys and the fault draws on
// [WithSeed]. It is safe for concurrent use, and Close leaves no goroutine
// behind.
//
// # Deterministic tests of retries, budgets and tails
//
// A client's waits (backoff after a 5xx, retry-after, the wait for a
// rate-limit reset, a tail's poll interval) are real sleeps over a real
// connection. The one recipe that makes them instant and deterministic:
//
//  1. run the test inside [testing/synctest.Test];
//  2. create the server inside the bubble with [WithoutListener] (a
//     listener would keep the bubble from ever going idle); its default
//     clock, [time.Now], is then the bubble's fake clock, so rate-limit
//     windows, Date and x-ratelimit-reset move with the client's waits;
//  3. send through [Server.Client] or [Server.Transport], and aim faults
//     with [Server.Inject] at the requests that matter.
//
// For example (the RetriesInASynctestBubble example is the whole test):
//
//	synctest.Test(t, func(t *testing.T) {
//		srv := auditlogtest.New(t, auditlogtest.WithoutListener(), auditlogtest.WithGeneratedEvents(450, 3))
//		srv.Inject(auditlogtest.Rule{Match: auditlogtest.Match{Path: auditlogtest.PathAuditLog}, Nth: 3,
//			Fault: auditlogtest.Fault{Kind: auditlogtest.FaultServerError, Status: 502}})
//		c, _ := auditlog.NewClient(auditlog.WithBaseURL(srv.URL()), auditlog.WithToken(srv.Token()),
//			auditlog.WithHTTPClient(srv.Client()))
//		for ev, err := range c.Events(t.Context(), srv.Enterprise(), nil) { ... } // the 502 is retried in fake time
//	})
//
// Outside a bubble, a [Clock] passed to [WithClock] moves the fake's time
// when the test says so (a window resets, a late event shows up) without
// touching the client's waits.
//
// # Aimed faults and the request log
//
// A [Rule] gives a [Fault] to the requests a [Match] selects (method, a
// path pattern such as [PathAuditLog], query parameters), from the Nth
// matching request on, Times times: "the third page answers 502 once", "every
// stream PUT answers 422", "the token expires at the fifth page".
// [Server.PendingFaults] and [Server.ClearFaults] show and drop what has not
// fired. [WithFaults] adds faults at random rates, drawn from the seed.
//
// The SDK's Client asks GET /rate_limit before its first request on a
// resource (its warm start): a Rule with no Path, or a count of every
// request, sees that request too; aim rules at the endpoint's path.
//
// [Server.Requests] lists the requests in arrival order, each with a
// sequence number, its headers (Authorization redacted), its status and the
// X-GitHub-Request-Id the response carried (the one an SDK error reports);
// [Server.Count] counts those a Match selects, and [Server.WaitRequests]
// waits for them.
//
// # Events
//
// [WithGeneratedEvents] and [WithGenerator] generate a realistic log, with
// the type quirks GitHub sends ([Generator]). [Event] builds one event in
// GitHub's shape for [WithEvents] and [Server.AddEvents];
// [Server.AddEventsAt] adds events that are listed only from a given time
// on, as when GitHub indexes an event after newer ones (a tail's look-back
// catches them; a walk whose cursor is past them does not). A [Dataset] is
// built once and shared by any number of servers ([WithDataset]);
// generated datasets are shared automatically between servers with the
// same generator and clock.
//
// # Organizations
//
// The enterprise's organizations have audit logs of their own: GET
// /orgs/{org}/audit-log lists the enterprise's events whose org names the
// organization (a string, or an array: an event of two organizations is in
// both logs), with the same phrase, include, order, cursors and page rules
// as the enterprise's log; the phrase org:{org} on the enterprise's log
// lists the same events. The organizations are those the events name
// ([Server.Organizations]) unless [WithOrganizations] declares them; any
// other is 404. [Server.OrgEvents] is what one lists, [Server.OrgBudget]
// its budget, [PathOrgAuditLog] the pattern that aims a [Rule] at them.
//
// # Served endpoints
//
//   - GET /enterprises/{enterprise}/audit-log (resource audit_log)
//   - GET /orgs/{org}/audit-log, and GET /organizations/{id}/audit-log,
//     the path its Link headers name (resource audit_log)
//   - GET /enterprises/{enterprise}/audit-log/stream-key
//   - GET, POST /enterprises/{enterprise}/audit-log/streams
//   - GET, PUT, DELETE /enterprises/{enterprise}/audit-log/streams/{id}
//     (these five use resource audit_log_streaming)
//   - GET /rate_limit ([PathRateLimit]), counted against no resource
//
// {enterprise} is the slug or the numeric ID, {org} the login. Anything
// else is 404, the stream endpoints of an organization too (streams are
// the enterprise's).
//
// # Faithful to GitHub
//
//   - Requests are processed in this order: authentication (401 "Requires
//     authentication", or "Bad credentials" for an unknown or revoked
//     token), X-GitHub-Api-Version (absent, 2022-11-28 or 2026-03-10;
//     otherwise 400), injected faults, routing (404), the token's scope
//     (403), primary rate limit, handler. Every response has
//     X-GitHub-Request-Id and a Date header on the server's clock, which is
//     what a client reads to correct x-ratelimit-reset for clock skew.
//   - Primary limits are windows per resource and, for the audit log, per
//     account: GitHub counts the audit-log budget per user, IP and entity
//     path, so the enterprise's log and each organization's have a window
//     of their own. Every response past routing carries
//     x-ratelimit-limit/remaining/used/reset/resource. An exhausted budget
//     answers 403 with "API rate limit exceeded for user ID 1...".
//     [WithoutRateLimits] turns this off: no headers, no refusals.
//   - GET /rate_limit reports the token's current window of each resource
//     (audit_log, audit_log_streaming, any other given to [WithRateLimit],
//     and core) as {"resources": {name: {limit, used, remaining, reset,
//     resource}}}; for audit_log, which names no path, the running window
//     with the least left among the token's audit logs (the enterprise's
//     when none runs: a choice, GitHub's is undocumented), the same windows its requests are counted in, read
//     without opening or spending one; under API version 2022-11-28 the
//     deprecated "rate" object (core's) too, which 2026-03-10 drops. Its
//     x-ratelimit-* headers are core's. It is logged under no resource.
//   - A classic token's scopes: the audit log needs read:audit_log, the
//     stream endpoints admin:enterprise ([WithScopes]); routed responses
//     carry X-OAuth-Scopes and X-Accepted-OAuth-Scopes.
//   - [WithLinkBase] makes Link URLs name another host (GitHub behind a
//     proxy, gateway or alias), with the same cursors.
//   - The audit log is listed newest first by default; include defaults to
//     web (git events excluded); per_page defaults to 30, at most 100.
//     Events are served byte for byte
//     as stored, so array-valued org/repo, bool permission and unknown fields
//     reach the client exactly as GitHub sends them. Timestamps are epoch
//     milliseconds; a dataset with @timestamp or created_at in seconds is
//     refused.
//   - Pagination is by cursor: base64 of "<@timestamp in e-notation>|<_document_id>".
//     Link carries rel="next" (only when more events follow), rel="first" and
//     rel="prev" (only when events precede the page), never rel="last", with
//     absolute URLs that use the numeric enterprise ID
//     (/organizations/{id}/audit-log for an organization). No Link header is sent
//     when the result fits one page. Cursors are positions, not indexes, so
//     they stay valid when events are added.
//   - Stream creation answers 200 (not 201), deletion 204; PUT validation
//     errors use the bare {"errors":["..."]} shape of the OpenAPI description,
//     POST errors the usual "Validation Failed" shape. Secrets must be libsodium
//     sealed boxes (std base64) for the current stream key; the server really
//     opens them ([Server.StreamSecrets]).
//   - In [WithEnterpriseServer] mode paths are under /api/v3, pagination is by
//     page number, the stream endpoints,
//     which GitHub documents as cloud-only, are 404, every response carries
//     X-GitHub-Enterprise-Version, and rate limiting is off (GHES ships so)
//     unless [WithRateLimit] turns it on.
//
// # Decisions where GitHub is undocumented
//
//   - Invalid include or order, an undecodable cursor ("Invalid cursor"),
//     both after and before, free text or an unknown qualifier in phrase are
//     422. Qualifier values match case-insensitively; action:category matches
//     category.* ; repo: and repository: both match the repo and repository
//     fields; org: and repo: match any element of an array. org: is served
//     on the enterprise's log although GitHub's current docs list it for
//     GHES only; a bare repo:name (GitHub says it fails) matches nothing.
//   - Events of one millisecond are listed by _document_id (the cursor holds
//     both). per_page above 100 is served as 100; one that is not a
//     positive integer as 30.
//   - created: with a date covers the whole UTC day; a date-time is an instant
//     (millisecond). A range a..b includes both ends (b as a date: through the
//     end of that day).
//   - page=N without cursors is honoured as an offset page in cloud mode; the
//     page's Link header then uses cursors; with a cursor, page is ignored.
//     An empty page has no Link header. GHES-mode Link URLs also name the
//     numeric enterprise ID, carry rel="last" (page numbers make it
//     computable), and after and before are ignored there.
//   - An event whose org is an array is in the log of each organization it
//     names. An organization's ID under /orgs/ is 404 (only
//     /organizations/{id} takes one).
//   - Budgets are kept per token: the fake has one user per token and no IP,
//     so two tokens never share a window (two tokens of one user share
//     GitHub's). An account's window is one however the path names it
//     (slug, login or ID). Windows are fixed: one opens with the first
//     request after the last ended. A request counts when it arrives: an
//     injected latency delays its answer, not its count. A refusal for
//     scope, budget or a secondary limit, and an injected server error or
//     reset, consumes none.
//   - A search that times out ([WithSearchTimeout]) answers JSON with
//     GitHub's time-out message, and counts against the budget. MaxSpan and
//     MaxEvents model GitHub's 10-second limit; GitHub's real threshold
//     depends on its load and is not published.
//   - A late event ([Server.AddEventsAt]) is listed at its @timestamp's place
//     once visible; cursors are positions, so a walk already past that place
//     does not see it.
//   - A @timestamp below 100,000,000,000 (1973-03-03 in milliseconds) is
//     taken for seconds and refused.
//   - A missing scope is 403 "Resource not accessible: this endpoint needs
//     the ... scope, which the token does not have.", checked after routing,
//     with rate-limit headers and without consuming budget. read:audit_log is
//     the only scope that opens the audit log (admin:enterprise does not).
//   - The GHES version sent is [EnterpriseServerVersion], and GHES mode
//     accepts both API versions.
//   - An injected server error is GitHub's "Unicorn" HTML page with status
//     500 unless the fault names another; probabilistic ones pick among
//     Faults.ServerErrorStatuses only when several are given.
//   - vendor_specific is validated strictly: every property of the variant is
//     required with its JSON type, required strings must be non-empty, and
//     properties the variant does not define are refused (GitHub's behaviour
//     here is unknown; strictness catches client bugs). Extra top-level body
//     fields are ignored. POST field errors name the field as
//     "vendor_specific.<name>". There is no limit on the number of streams.
//     stream_details shows the container, name, bucket, domain or site.
//   - A stale key_id, or a secret that does not open with the current key,
//     is a 422 whose text names neither a field nor the key (GitHub's
//     wording is undocumented, so a client must not depend on it).
//   - Stream ids that are not positive integers are 404 before rate
//     accounting; unknown integer ids are 404 after it (they consume budget).
//   - An unknown method on a known path is 404, as GitHub does.
//   - With rate limiting off, GET /rate_limit is 404 "Rate limiting is not
//     enabled." (what GHES answers; not in the reference notes).
//   - GET /rate_limit with no window running reports the whole limit and a
//     reset one window from now. It needs a token, like every endpoint of
//     the fake (GitHub answers an unauthenticated one with the address's
//     own limits, which the fake does not model) and no scope. A
//     secondary-limit fault refuses it; the primary kinds do not apply to
//     it (GitHub counts it against no primary limit) and it is answered.
//
// # Faults
//
// Faults are injected after the authentication and API-version checks:
// 5xx HTML pages, connection resets, truncated bodies, latency, primary
// (lasting or one-shot) and secondary rate limits, a whole custom response,
// a token revoked mid-walk. [WithSearchTimeout] models GitHub's 10-second
// limit on a request: a search whose created: range is too wide, or that
// matches too many events, answers 504 (or 502) every time, until the
// client asks for less. [Server.Close] during an injected latency
// aborts the connection. Through [Server.Transport] a reset is an error
// wrapping syscall.ECONNRESET and a truncated body ends in
// io.ErrUnexpectedEOF, as over TCP.
package auditlogtest
