// Package auditlogtest is an in-memory fake of GitHub's Enterprise audit-log
// REST API and audit-log stream configuration API, in the spirit of
// [net/http/httptest]: [NewServer] starts a real HTTP server on 127.0.0.1 that
// speaks the seven operations the way GitHub documents (and, where the
// documentation is silent, the way GitHub is observed to behave).
//
//	srv := auditlogtest.NewServer()
//	defer srv.Close()
//	req, _ := http.NewRequest("GET", srv.URL()+"/enterprises/"+srv.Enterprise()+"/audit-log?per_page=100", nil)
//	req.Header.Set("Authorization", "Bearer "+srv.Token())
//	resp, err := srv.Client().Do(req)
//
// The server is deterministic for a seed: the generated dataset depends on
// [WithGeneratedEvents] (n, seed) and the clock's time at start, the stream
// key pairs and the fault draws on [WithSeed]. It is safe for concurrent use,
// and [Server.Close] leaves no goroutine behind.
//
// # Served endpoints
//
//   - GET /enterprises/{enterprise}/audit-log (resource audit_log)
//   - GET /enterprises/{enterprise}/audit-log/stream-key
//   - GET, POST /enterprises/{enterprise}/audit-log/streams
//   - GET, PUT, DELETE /enterprises/{enterprise}/audit-log/streams/{id}
//     (these five use resource audit_log_streaming)
//
// {enterprise} is the slug or the numeric ID. Anything else is 404.
//
// # Faithful to GitHub
//
//   - Requests are processed in this order: authentication (401 "Requires
//     authentication" or "Bad credentials"), X-GitHub-Api-Version (absent,
//     2022-11-28 or 2026-03-10; otherwise 400), injected faults, routing (404),
//     primary rate limit, handler. Every response has X-GitHub-Request-Id
//     and a Date header on the server's clock ([WithClock]), which is what a
//     client reads to correct x-ratelimit-reset for clock skew.
//   - Primary limits are fixed windows per token and resource; every response
//     past routing carries x-ratelimit-limit/remaining/used/reset/resource.
//     An exhausted budget answers 403 with "API rate limit exceeded for user
//     ID 1...". Refusals do not consume budget. [WithoutRateLimits] turns
//     this off, as GitHub Enterprise Server ships: no headers, no refusals.
//   - [WithLinkBase] makes Link URLs name another host (GitHub behind a
//     proxy, gateway or alias), with the same cursors.
//   - The audit log is listed newest first by default, ties broken by
//     _document_id; include defaults to web (git events excluded); per_page
//     defaults to 30 and is clamped to 100. Events are served byte for byte
//     as stored, so array-valued org/repo, bool permission and unknown fields
//     reach the client exactly as GitHub sends them.
//   - Pagination is by cursor: base64 of "<@timestamp in e-notation>|<_document_id>".
//     Link carries rel="next" (only when more events follow), rel="first" and
//     rel="prev" (only when events precede the page), never rel="last", with
//     absolute URLs that use the numeric enterprise ID. No Link header is sent
//     when the result fits one page. Cursors are positions, not indexes, so
//     they stay valid when events are added.
//   - Stream creation answers 200 (not 201), deletion 204; PUT validation
//     errors use the bare {"errors":["..."]} shape of the OpenAPI description,
//     POST errors the usual "Validation Failed" shape. Secrets must be libsodium
//     sealed boxes (std base64) for the current stream key; the server really
//     opens them ([Server.StreamSecrets]).
//   - In [WithEnterpriseServer] mode paths are under /api/v3, pagination is by
//     page number with next/last/first/prev links, and the stream endpoints,
//     which GitHub documents as cloud-only, are 404.
//
// # Decisions where GitHub is undocumented
//
//   - Invalid include or order, an undecodable cursor ("Invalid cursor"),
//     both after and before, free text or an unknown qualifier in phrase are
//     422. Qualifier values match case-insensitively; action:category matches
//     category.* ; repo: and repository: both match the repo and repository
//     fields; org: and repo: match any element of an array. Extra qualifiers
//     supported: country:, hashed_token:, ip:.
//   - created: with a date covers the whole UTC day; a date-time is an instant
//     (millisecond). A range a..b includes both ends (b as a date: through the
//     end of that day).
//   - page=N without cursors is honoured as an offset page in cloud mode; the
//     page's Link header then uses cursors. An empty page has no Link header.
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
//
// # Faults
//
// [WithFaults] injects 5xx HTML pages, connection resets, truncated bodies,
// latency and periodic secondary rate limits; [Server.Script] injects a given
// [Fault] into the next n requests, including primary-limit exhaustion that
// persists until the window resets.
package auditlogtest
