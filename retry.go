package auditlog

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"time"
)

// DefaultMaxWait is how long one call may wait in total, for budget or
// between retries, unless [WithMaxWait] says otherwise. Fifteen minutes
// covers a secondary-limit backoff of 1, 2, 4 and 8 minutes and a quarter of
// an hourly window; a backfill that hits the primary limit (up to an hour)
// gets a [*RateLimitError] saying when to come back, or a caller who wants
// to sleep through it raises the bound.
const DefaultMaxWait = 15 * time.Minute

// DefaultMaxAttempts is how many times one call is sent, counting the first,
// unless [WithMaxAttempts] says otherwise.
const DefaultMaxAttempts = 5

// DefaultStreamMaxAttempts is how many times one call to a stream endpoint is
// sent, counting the first, unless [WithStreamMaxAttempts] says otherwise:
// those endpoints allow 15 requests an hour, so a retry is costly.
const DefaultStreamMaxAttempts = 2

// DefaultAttemptTimeout bounds each attempt, from sending the request to the
// last byte of the response, unless [WithAttemptTimeout] says otherwise.
// GitHub itself gives up on a request after 10 seconds; a page of 100 events
// is about 100 KB.
const DefaultAttemptTimeout = time.Minute

// secondaryMinWait is the first wait after a secondary-limit refusal that
// says neither retry-after nor remaining 0; GitHub asks for at least a
// minute, then exponentially longer.
const secondaryMinWait = time.Minute

// primaryMinWait is the wait after a primary refusal whose reset is already
// past by our clock (skew): long enough not to hammer the server.
const primaryMinWait = time.Second

// maxHold bounds how far ahead one response can hold a resource, through
// x-ratelimit-reset or a refusal's wait: one window (GitHub's primary
// limits are hourly) and the clock skew allowed for. A server saying
// "until 2100" cannot stop every Client sharing a Budget for good.
const maxHold = time.Hour + allowedSkew

// allowedSkew is the slack maxHold leaves for the difference between
// GitHub's clock and ours that the Date header cannot account for.
const allowedSkew = time.Minute

// backoff is the capped exponential backoff with full jitter used between
// attempts after a transient failure.
type backoff struct {
	base, cap time.Duration
	// jitter returns a uniform duration in [0, d]; tests replace it.
	jitter func(d time.Duration) time.Duration
}

var defaultBackoff = backoff{
	base:   time.Second,
	cap:    30 * time.Second,
	jitter: func(d time.Duration) time.Duration { return rand.N(d + 1) },
}

// delay is the wait after the nth failed attempt (n from 1).
func (b backoff) delay(n int) time.Duration {
	d := b.cap
	if n-1 < 30 && b.base<<(n-1) < b.cap {
		d = b.base << (n - 1)
	}
	return b.jitter(d)
}

// callState is what the pipeline remembers across the attempts of one call.
type callState struct {
	call        *call
	req         *http.Request // built once; each attempt sends it with its own context and body
	path        string        // req's URL path, for errors and logs
	start       time.Time
	maxAttempts int           // of this call's resource
	waited      time.Duration // total slept so far, bounded by MaxWait
	bare        int           // secondary refusals without timing headers so far
	why         Reason        // the reason of the next budget wait ("" for ReasonBudget)
	ticket      Ticket        // the reservation of the attempt in hand (0: none)
	heldUntil   time.Time     // the end of the hold the last refusal set
}

// allowance is how much longer this call may wait: what is left of MaxWait,
// and of the context's deadline.
func (c *Client) allowance(ctx context.Context, st *callState, now time.Time) time.Duration {
	left := c.maxWait - st.waited
	if dl, ok := ctx.Deadline(); ok {
		left = min(left, dl.Sub(now))
	}
	return max(left, 0)
}

// pace waits until the limiter lets the call's next attempt go, or fails at
// once when that wait would go past MaxWait or the context's deadline. On
// success st.ticket is the attempt's reservation, which send settles.
func (c *Client) pace(ctx context.Context, st *callState) error {
	cl := st.call
	for {
		now := time.Now()
		left := c.allowance(ctx, st, now)
		t, wait, err := c.limiter.Reserve(cl.resource, now, left)
		if err == nil && t == 0 {
			// Asked to come back: never sooner than a millisecond, and
			// never past the bound, whatever the limiter says.
			wait = max(wait, time.Millisecond)
			if wait > left {
				err = &RateLimitError{Resource: cl.resource, Remaining: -1, RetryAfter: wait, observed: now}
			}
		}
		why := st.why
		if why == "" || (err == nil && now.Add(wait).After(st.heldUntil)) {
			// Nothing refused this call, or its wait outlasts what the
			// refusal asked for: the budget is what it waits for.
			why = ReasonBudget
		}
		if err != nil {
			st.why = ""
			var rl *RateLimitError
			if errors.As(err, &rl) {
				rl.Method, rl.Path = cl.method, st.path
				if rl.observed.IsZero() {
					rl.observed = now
				}
			}
			c.logger.LogAttrs(ctx, slog.LevelWarn, "auditlog: budget exhausted; not waiting past the bound",
				slog.String("method", cl.method), slog.String("path", st.path),
				slog.String("resource", cl.resource), slog.String("why", string(why)),
				slog.Duration("would_wait", durationOf(rl)), slog.Duration("waited", st.waited),
				slog.Duration("max_wait", c.maxWait))
			return err
		}
		if t != 0 {
			st.why = ""
		}
		if wait > 0 {
			level := slog.LevelInfo
			if t == 0 && wait <= time.Second {
				level = slog.LevelDebug // a short wait before asking again: not worth a record each
			}
			c.logger.LogAttrs(ctx, level, "auditlog: waiting for budget",
				slog.String("method", cl.method), slog.String("path", st.path),
				slog.String("resource", cl.resource), slog.String("why", string(why)), slog.Duration("wait", wait))
			c.waitStarts(st, why, now, wait)
			if err := sleep(ctx, wait); err != nil {
				if t != 0 {
					// The request is not sent: GitHub never counts it.
					c.limiter.Cancel(cl.resource, t, time.Now())
				}
				return err
			}
			st.waited += wait
		}
		if t != 0 {
			st.ticket = t
			return nil
		}
		// Nothing was claimed: the limiter asked for this wait before it
		// could place the request. Ask again.
		if err := ctx.Err(); err != nil {
			return err
		}
	}
}

func durationOf(rl *RateLimitError) time.Duration {
	if rl == nil {
		return 0
	}
	return rl.RetryAfter
}

// observe reads the rate headers of a response once for the whole pipeline:
// it converts x-ratelimit-reset to the local clock through the Date header,
// bounds it (logging what it clamped), settles the attempt's reservation
// with the limiter when the response reported the budget, and logs the
// budget seen. A success without any rate header tells the limiter the
// server enforces no limit; a success with rate headers that do not say the
// budget releases the reservation. An error response without the budget is
// settled once it is classified (see send): GitHub does not count a
// refusal.
func (c *Client) observe(ctx context.Context, st *callState, resp *response, sent time.Time) Rate {
	cl := st.call
	r := parseRate(resp.header)
	resp.skew = c.skew.observe(resp.header.Get("Date"), sent, resp.received)
	if cl.free {
		// GET /rate_limit: its headers are another resource's (core), and
		// it holds no reservation; only its Date is of use.
		return r
	}
	r.Reset = c.localReset(ctx, cl.resource, r.Reset, resp)
	success := resp.status >= 200 && resp.status < 300
	switch {
	case r.Known() || success && !hasRateHeaders(resp.header):
		// The budget GitHub reported; or, a success without any rate
		// header, that the server enforces none.
		c.limiter.Observe(cl.resource, st.ticket, resp.received, r)
		st.ticket = 0
		c.rateReported(cl.resource, r)
	case success:
		c.release(st, resp.received)
	}
	if r.Known() {
		c.logger.LogAttrs(ctx, slog.LevelDebug, "auditlog: budget",
			slog.String("resource", cl.resource), slog.String("reported_resource", r.Resource),
			slog.Int("limit", r.Limit), slog.Int("remaining", r.Remaining), slog.Time("reset", r.Reset))
	}
	return r
}

// release settles the attempt's reservation, if it is not settled yet,
// when its request may have reached GitHub but nothing was said of the
// budget.
func (c *Client) release(st *callState, now time.Time) {
	if st.ticket != 0 {
		c.limiter.Release(st.call.resource, st.ticket, now)
		st.ticket = 0
	}
}

// cancel settles the attempt's reservation, if it is not settled yet, when
// GitHub did not count its request: it was never sent, or refused.
func (c *Client) cancel(st *callState, now time.Time) {
	if st.ticket != 0 {
		c.limiter.Cancel(st.call.resource, st.ticket, now)
		st.ticket = 0
	}
}

// localReset converts a reset time GitHub reported in resp (zero for none)
// to the local clock through the skew the Date headers show, and bounds it
// to maxHold after the response arrived, logging what it clamped.
func (c *Client) localReset(ctx context.Context, resource string, reset time.Time, resp *response) time.Time {
	if reset.IsZero() {
		return reset
	}
	reset = reset.Add(-resp.skew)
	if bound := resp.received.Add(maxHold); reset.After(bound) {
		c.logger.LogAttrs(ctx, slog.LevelWarn, "auditlog: rate-limit reset more than a window ahead; clamped",
			slog.String("resource", resource), slog.Time("reported", reset), slog.Time("clamped_to", bound))
		reset = bound
	}
	return reset
}

// rateReported hands a budget GitHub reported for resource to the hooks.
func (c *Client) rateReported(resource string, r Rate) {
	if c.hooks.OnRate != nil {
		c.hooks.OnRate(resource, r)
	}
}

// hold applies a rate-limit refusal GitHub sent, whatever the call does
// next: it computes the wait GitHub asks for (bounded by maxHold), holds
// every caller of the limiter on the call's resource until then, records
// it as the error's RetryAt, and logs it.
func (c *Client) hold(ctx context.Context, st *callState, rl *RateLimitError, now time.Time) {
	wait, reason := rateLimitWait(rl, now, st)
	if wait > maxHold {
		c.logger.LogAttrs(ctx, slog.LevelWarn, "auditlog: rate-limit wait more than a window; clamped",
			slog.String("resource", st.call.resource), slog.Duration("reported", wait), slog.Duration("clamped_to", maxHold))
		wait = maxHold
	}
	rl.retryAt = now.Add(wait)
	st.why, st.heldUntil = reason, rl.retryAt
	c.limiter.Pause(st.call.resource, rl.retryAt)
	c.logger.LogAttrs(ctx, slog.LevelWarn, "auditlog: rate limited by GitHub; holding the resource",
		slog.String("method", st.call.method), slog.String("path", st.path),
		slog.String("resource", st.call.resource), slog.Int("status", rl.StatusCode),
		slog.Bool("secondary", rl.Secondary), slog.String("reason", string(reason)),
		slog.Duration("wait", wait), slog.Time("until", rl.retryAt), slog.String("request_id", rl.RequestID))
}

// retryAfter decides whether a failed attempt is sent again, after how long
// and why. A rate-limit refusal is retried for any method (GitHub did not
// act on it) after the wait GitHub asks for, which send has already set on
// the limiter so that every caller sharing it holds back too; a transient
// failure is retried only when the request is safe to repeat. Nothing is
// retried past the call's MaxAttempts, and a wait that would go past MaxWait
// or the context's deadline is not started: the error is returned at once.
func (c *Client) retryAfter(ctx context.Context, st *callState, attempt int, err error) (time.Duration, Reason, bool) {
	if attempt >= st.maxAttempts {
		return 0, "", false
	}
	now := time.Now()
	left := c.allowance(ctx, st, now)
	var rl *RateLimitError
	if errors.As(err, &rl) {
		wait := max(rl.RetryAt().Sub(now), 0)
		if rl.retryAt.IsZero() || wait > left {
			return 0, "", false
		}
		return wait, st.why, true
	}
	if !transient(st.call.method, err) {
		return 0, "", false
	}
	wait := c.backoff.delay(attempt)
	if wait > left {
		return 0, "", false
	}
	return wait, ReasonTransient, true
}

// rateLimitWait is the wait GitHub's documentation asks for after a refusal,
// in its order: retry-after; else, with remaining 0, until reset; else at
// least a minute, doubling with each such refusal of the call. When a
// refusal carries both retry-after and remaining 0, the later of the two
// applies: a retry before the reset would be refused again.
func rateLimitWait(rl *RateLimitError, now time.Time, st *callState) (time.Duration, Reason) {
	reason := ReasonPrimaryLimit
	if rl.Secondary {
		reason = ReasonSecondaryLimit
	}
	spent := rl.Remaining == 0 && !rl.Reset.IsZero()
	switch {
	case rl.RetryAfter > 0 && spent:
		return max(rl.RetryAfter, rl.Reset.Sub(now)), reason
	case rl.RetryAfter > 0:
		return rl.RetryAfter, reason
	case spent:
		return max(rl.Reset.Sub(now), primaryMinWait), reason
	}
	st.bare++
	return secondaryMinWait << min(st.bare-1, 10), reason
}

// transient reports whether err is a failure worth repeating the request
// for: a network error or a truncated body, or a 500, 502, 503 or 504. A
// request that is not idempotent (POST) is repeated only when it cannot have
// reached the server: its connection was never made.
func transient(method string, err error) bool {
	var te *tokenError
	if errors.As(err, &te) {
		return false
	}
	var ne *NetworkError
	var ae *APIError
	switch {
	case errors.As(err, &ne):
		return idempotent(method) || notSent(ne)
	case errors.As(err, &ae):
		switch ae.StatusCode {
		case http.StatusInternalServerError, http.StatusBadGateway,
			http.StatusServiceUnavailable, http.StatusGatewayTimeout:
			return idempotent(method)
		}
	}
	return false
}

func idempotent(method string) bool {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodPut, http.MethodDelete:
		return true
	}
	return false
}

// notSent reports whether a network error happened before any byte of the
// request could be written: the dial failed (refused, unreachable, DNS).
func notSent(ne *NetworkError) bool {
	if ne.Status != 0 {
		return false
	}
	var op *net.OpError
	if errors.As(ne.Err, &op) && op.Op == "dial" {
		return true
	}
	var dns *net.DNSError
	return errors.As(ne.Err, &dns)
}
