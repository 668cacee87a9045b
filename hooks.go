package auditlog

import "time"

// Hooks are functions a [Client] calls as its pipeline starts a wait or a
// retry, or learns a budget, so that a caller can show progress ("waiting
// for the audit-log budget until 06:47") or export metrics without reading
// log records. Set them with [WithHooks]; any of them may be nil.
//
// They are called synchronously, from the goroutine making the call, before
// the wait or the retry starts: they must return quickly and must not block
// (hand the value to a channel with a default case, or update a counter),
// and must be safe for concurrent use when the Client is used by several
// goroutines. A panic in a hook is not recovered. The values they get hold
// no token or secret (a RetryInfo's Err is scrubbed as every error is).
type Hooks struct {
	// OnWait is called as the pipeline starts to sleep: for the budget (the
	// Limiter's pacing, a spent window, a hold set after a refusal) or
	// between attempts after a transient failure. It is called once per
	// sleep, whatever its length; a wait that would go past MaxWait or the
	// context's deadline is not started and not reported.
	OnWait func(WaitInfo)
	// OnRetry is called when the pipeline decides to send a call again,
	// after a failed attempt; the wait before the retry, if any, is reported
	// to OnWait as it starts.
	OnRetry func(RetryInfo)
	// OnRate is called with every budget GitHub reports, with the key of
	// the budget it is kept under ([BudgetKey] of the call's [Scope] for the
	// audit log, [ResourceAuditLogStreaming] for streams): the
	// x-ratelimit-* headers of a response (Reset on the local clock), and
	// the answer of GET /rate_limit at a warm start. A Rate whose Known is
	// false says the server enforces no limit on that budget (a success
	// without rate headers).
	OnRate func(key string, r Rate)
}

// Reason says why the pipeline waits or retries.
type Reason string

// The reasons for a wait or a retry.
const (
	// ReasonBudget is a wait for the resource's budget that no refusal of
	// this call caused: the Limiter spreads requests over the window, the
	// window is spent until its reset, or another call's refusal holds the
	// resource.
	ReasonBudget Reason = "budget"
	// ReasonPrimaryLimit follows a primary rate-limit refusal: the budget
	// was spent. The wait is GitHub's retry-after, else until
	// x-ratelimit-reset, else a minute, doubling.
	ReasonPrimaryLimit Reason = "primary rate limit"
	// ReasonSecondaryLimit follows a secondary rate-limit refusal (too many
	// requests at once or per minute). The wait is GitHub's retry-after,
	// else until x-ratelimit-reset when nothing remains, else a minute,
	// doubling.
	ReasonSecondaryLimit Reason = "secondary rate limit"
	// ReasonTransient follows a transient failure: a network error, a
	// truncated body, an attempt past its timeout, a 500, 502, 503 or 504.
	// The wait is a capped exponential backoff with full jitter.
	ReasonTransient Reason = "transient failure"
)

// WaitInfo describes a wait the pipeline starts.
type WaitInfo struct {
	Method   string // the call's method, e.g. "GET"
	Path     string // the call's URL path, e.g. "/enterprises/avocado-corp/audit-log"
	Resource string // the budget key the call is charged to, e.g. "audit_log:orgs/octo-org" (see [BudgetKey])
	Reason   Reason
	Wait     time.Duration // how long the call sleeps
	Until    time.Time     // when it wakes, on the local clock
}

// RetryInfo describes a retry the pipeline decides on.
type RetryInfo struct {
	Method      string
	Path        string
	Resource    string // the budget key the call is charged to (see [BudgetKey])
	Attempt     int    // the attempt that failed, from 1; the retry is Attempt+1
	MaxAttempts int    // the call's bound on attempts
	Reason      Reason
	// After is how long the retry waits at least: GitHub's wait after a
	// refusal, or the backoff after a transient failure.
	After time.Duration
	Err   error // the attempt's error
}

// WithHooks sets the functions the client calls as waits and retries start
// and as budgets are reported (see [Hooks]). The slog records of
// [WithLogger] are written either way.
func WithHooks(h Hooks) Option {
	return func(s *settings) error {
		s.hooks = h
		return nil
	}
}

// waitStarts reports a wait of d from now to the hooks.
func (c *Client) waitStarts(st *callState, reason Reason, now time.Time, d time.Duration) {
	if c.hooks.OnWait == nil {
		return
	}
	c.hooks.OnWait(WaitInfo{Method: st.call.method, Path: st.path, Resource: st.call.resource,
		Reason: reason, Wait: d, Until: now.Add(d)})
}
