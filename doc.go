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
// [Client.Pages] and [Client.Events] walk every page a query selects
// (iter.Seq2 iterators: nothing is sent until they are ranged over, a break
// sends nothing more, one error ends them). A transient failure in the middle
// of a walk is retried on the same cursor, so no event is skipped or
// repeated, and only one page is held at a time.
//
// # Resuming exactly once
//
// Process a page's events, then persist page.Next (a [Cursor] marshals as
// text). After a restart, Pages(ctx, enterprise, q.At(saved)) yields exactly
// the events after that page; after the last page, page.Next is the end of
// the walk ([Cursor.Done]), from which Pages yields nothing and sends no
// request. Should the process die after processing a page but before saving
// its cursor, that page comes again: write events and cursor in one
// transaction, or make processing idempotent on [Event].DocumentID.
//
// # Tailing
//
// [Client.Follow] returns a [Follower]; [Follower.Events] polls for new
// events until its context ends, and every [FollowOptions].Rescan re-reads
// once the stretch of the log that [FollowOptions].LookBack has just closed,
// so events that reach the log up to LookBack late are delivered, each
// once, with memory bounded. Its [Follower.Checkpoint] is JSON: save it
// after processing each event and pass it back in [FollowOptions].From. A
// walk hands over to a tail by adding the events it delivers to a
// [Checkpoint].
//
// # Backfilling a range
//
// [Client.Backfill] reads a range of time in slices, up to
// [BackfillOptions].Parallel of them at once, through the same pipeline and
// budget: when each search takes seconds it uses the whole hourly budget,
// where a walk uses a fraction of it. Each event of the range is delivered
// once, in no particular order across slices; [Backfill.Checkpoint] is
// JSON (one position per slice left) and [BackfillOptions].From resumes
// it; [Backfill.Progress] tells the share of the range done. Slices that
// time out are split, and idle workers take over part of the busiest one.
//
// # Streams
//
// [Client.CreateStream] and [Client.UpdateStream] take a [StreamConfig] whose
// Vendor ([Splunk], [Datadog], [AmazonS3OIDC], [AmazonS3AccessKeys],
// [AzureBlobStorage], [AzureEventHubs], [GoogleCloudStorage],
// [HTTPSEventCollector]) holds plaintext credentials as [Secret]s: the client
// fetches the enterprise's stream key once, seals each secret in a libsodium
// sealed box ([Seal]), stamps the key ID and sends the schema's exact fields;
// after a 422 it checks the key once more, and if GitHub has rotated it,
// re-seals and tries once more. A Secret prints, logs and marshals as
// "[REDACTED]". [Sealed] sends values sealed elsewhere.
//
// # Rate limits and retries
//
// GitHub allows 1,750 audit-log queries and 15 stream requests per hour, per
// user and IP. Every call waits for its resource's budget before it is sent
// (a [Limiter]; by default a [Budget] of the client's own, kept in line with
// the x-ratelimit-* headers, its reset converted to the local clock through
// the Date header), so a walk uses the whole budget without being refused; a
// server that reports no limit (GitHub Enterprise Server as shipped) is not
// paced. Clients sharing a token should share one Budget: see [NewBudget]
// and [WithLimiter]; [Client.Rate] shows what is left. A Client starts warm:
// before its first request on a resource it asks GET /rate_limit, which
// costs no budget, what its token has left, so a process restarted in a
// spent window waits for the reset instead of being refused (see [Seeder]
// and [WithoutWarmStart]). When GitHub still refuses, every caller of the
// Limiter holds back for what GitHub asks
// (retry-after; else until x-ratelimit-reset when remaining is 0; else at
// least a minute, doubling), and the call retries after it; network errors,
// truncated bodies, attempts past [WithAttemptTimeout] and 500/502/503/504
// of GET, PUT and DELETE are retried with capped exponential backoff and
// full jitter ([WithMaxAttempts]; stream calls, on a budget of 15 an hour,
// [WithStreamMaxAttempts]). A POST is retried only when its connection was
// never made. No call waits longer than [WithMaxWait] in total or past its
// context's deadline: it returns at once a [*RateLimitError] saying when to
// come back, or the last transient error.
//
// # Seeing waits and retries
//
// [WithHooks] gives the pipeline functions to call as a wait or a retry
// starts ([WaitInfo], [RetryInfo], with a typed [Reason]) and as GitHub
// reports a budget, for a progress bar ("waiting for the audit-log budget
// until 06:47") or metrics, without reading log records; see
// ExampleWithHooks. They run in the calling goroutine and must not block.
package auditlog
