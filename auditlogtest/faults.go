package auditlogtest

import (
	"fmt"
	"math"
	"time"
)

// Faults configures probability-based and periodic fault injection for every
// authenticated request with a supported API version. Scripted faults (see
// [Server.Script]) take precedence. Draws come from the [WithSeed] source in
// request-arrival order, so a sequential client sees the same faults on every
// run.
type Faults struct {
	// ServerError is the probability of a 500, 502, 503 or 504 (chosen at
	// random) with an HTML body, Content-Type text/html and no rate-limit
	// headers. It does not consume budget.
	ServerError float64
	// Reset is the probability of a connection reset (RST) before any
	// response. It does not consume budget.
	Reset float64
	// Truncate is the probability of a truncated body: the full headers
	// including Content-Length, then only part of the body, then the
	// connection is closed. The request is served and consumes budget.
	Truncate float64
	// Latency is added to every request; it ends early when the request's
	// context is done or the server closes.
	Latency time.Duration
	// Jitter adds a random 0..Jitter on top of Latency.
	Jitter time.Duration
	// SecondaryEvery refuses every Nth request (counting only requests that
	// got neither a scripted nor a probabilistic fault) with a secondary rate
	// limit: 403, retry-after, the x-ratelimit-* headers and GitHub's
	// secondary-limit message. 0 disables it.
	SecondaryEvery int
	// RetryAfter is the retry-after of SecondaryEvery refusals, rounded up to
	// whole seconds, at least 1 (the default).
	RetryAfter time.Duration
}

// FaultKind names a fault that [Server.Script] can inject.
type FaultKind int

// The fault kinds.
const (
	// FaultServerError answers a 5xx (500/502/503/504) with an HTML body.
	FaultServerError FaultKind = iota + 1
	// FaultReset resets the connection before any response.
	FaultReset
	// FaultTruncate serves the request but truncates the body.
	FaultTruncate
	// FaultLatency waits Fault.Latency, then handles the request normally.
	FaultLatency
	// FaultPrimary403 exhausts the token's budget for the request's resource
	// until the window resets (used = limit) and answers 403 with
	// x-ratelimit-remaining: 0. Later requests are refused the same way until
	// the reset: it is real state, not a one-off.
	FaultPrimary403
	// FaultPrimary429 is FaultPrimary403 answered with 429.
	FaultPrimary429
	// FaultSecondary403 answers 403 with retry-after (Fault.RetryAfter, whole
	// seconds, min 1), the x-ratelimit-* headers and GitHub's
	// secondary-limit message. It consumes no primary budget.
	FaultSecondary403
	// FaultSecondary429 is FaultSecondary403 answered with 429.
	FaultSecondary429
	// FaultSecondaryBare answers 403 with the secondary-limit message and no
	// retry-after and no x-ratelimit-* headers at all.
	FaultSecondaryBare
)

// String returns the name used in [Request.Fault], e.g. "server_error".
func (k FaultKind) String() string {
	switch k {
	case FaultServerError:
		return "server_error"
	case FaultReset:
		return "reset"
	case FaultTruncate:
		return "truncate"
	case FaultLatency:
		return "latency"
	case FaultPrimary403:
		return "primary_403"
	case FaultPrimary429:
		return "primary_429"
	case FaultSecondary403:
		return "secondary_403"
	case FaultSecondary429:
		return "secondary_429"
	case FaultSecondaryBare:
		return "secondary_bare"
	}
	return fmt.Sprintf("FaultKind(%d)", int(k))
}

// Fault is one injected fault. RetryAfter is used by the secondary kinds and
// Latency by FaultLatency.
type Fault struct {
	Kind       FaultKind
	RetryAfter time.Duration
	Latency    time.Duration
}

// retryAfterSeconds rounds d up to whole seconds, at least 1.
func retryAfterSeconds(d time.Duration) int {
	s := int(math.Ceil(d.Seconds()))
	if s < 1 {
		s = 1
	}
	return s
}
