package auditlogtest

import (
	"sync"
	"time"
)

// Clock is a settable clock for [WithClock]: the fake's time moves only
// when the test says so. Rate-limit windows, x-ratelimit-reset, Date,
// stream timestamps, the request log and [Server.AddEventsAt] all read it.
// It changes nothing for the client: to make the client's own waits
// (backoff, retry-after, poll intervals) take no time, run the test in a
// synctest bubble instead (see the package doc). It is safe for concurrent
// use.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// NewClock returns a clock that reads start until it is advanced or set.
func NewClock(start time.Time) *Clock { return &Clock{t: start} }

// Now returns the clock's time; pass the method value to [WithClock].
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Advance moves the clock d forward (backward when d is negative) and
// returns the new time.
func (c *Clock) Advance(d time.Duration) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
	return c.t
}

// Set sets the clock to t.
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}
