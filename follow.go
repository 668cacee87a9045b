package auditlog

import (
	"context"
	"fmt"
	"iter"
	"maps"
	"strings"
	"sync"
	"time"
)

// Defaults of [FollowOptions].
const (
	DefaultFollowEvery    = time.Minute
	DefaultFollowLookBack = 5 * time.Minute
)

// FollowOptions configures [Client.Follow].
type FollowOptions struct {
	// Every is the pause between the end of one poll and the start of the
	// next; 0 means DefaultFollowEvery. Each poll costs at least one request
	// of the 1,750 an hour the audit log allows.
	Every time.Duration
	// LookBack is how far behind the newest event seen each poll reads
	// again, to catch events that reach the audit log after newer ones;
	// 0 means DefaultFollowLookBack. An event that arrives later than
	// LookBack behind the newest one is missed, and every poll re-reads the
	// whole window, so size it to the log's ingestion delay and volume.
	LookBack time.Duration
	// Since is where a new tail starts: events at or after it. Zero means
	// the time the iteration starts. With From set, Since still bounds the
	// tail from below when non-zero.
	Since time.Time
	// From resumes from a checkpoint saved with [Follower.Checkpoint].
	From Checkpoint
}

// Checkpoint is a Follower's position: the newest event time yielded, and
// the IDs it yielded within the look-back window behind it. It marshals to
// JSON, so it can be saved and given back in [FollowOptions].From after a
// restart. Its size is bounded by the number of events in one look-back
// window.
type Checkpoint struct {
	Newest time.Time            `json:"newest"`
	Seen   map[string]time.Time `json:"seen"` // document ID → @timestamp
}

// IsZero reports whether c holds no position.
func (c Checkpoint) IsZero() bool { return c.Newest.IsZero() && len(c.Seen) == 0 }

// Add records ev as delivered and reports whether it was new. A backfill
// that hands over to [Client.Follow] adds each event it delivers, so the
// tail starts where the backfill ended, with nothing missed or repeated.
func (c *Checkpoint) Add(ev Event) bool {
	key := ev.DocumentID
	if key == "" {
		key = ev.raw
	}
	if _, dup := c.Seen[key]; dup {
		return false
	}
	if c.Seen == nil {
		c.Seen = map[string]time.Time{}
	}
	c.Seen[key] = ev.Timestamp
	if ev.Timestamp.After(c.Newest) {
		c.Newest = ev.Timestamp
	}
	return true
}

// Prune forgets the IDs of events more than lookBack older than Newest:
// a Follower with that look-back never reads them again, so the
// checkpoint stays the size of one window.
func (c *Checkpoint) Prune(lookBack time.Duration) {
	cut := c.Newest.Add(-lookBack)
	for id, ts := range c.Seen {
		if ts.Before(cut) {
			delete(c.Seen, id)
		}
	}
}

// Follower tails the audit log; see [Client.Follow].
type Follower struct {
	c          *Client
	ctx        context.Context
	enterprise string
	q          Query
	every      time.Duration
	lookBack   time.Duration
	since      time.Time

	mu sync.Mutex
	cp Checkpoint // what has been yielded
}

// Follow tails the enterprise's audit log: it polls for the events q
// selects, oldest first, from opts.Since (or a saved checkpoint) until ctx
// ends, and yields each event once, including events that reach the log up
// to opts.LookBack late. Each poll asks for created:>= the newest event
// time seen less the look-back, and drops the document IDs already yielded;
// the set of IDs kept is pruned to the look-back window, so memory stays
// bounded however long it runs.
//
// q's Phrase and Include apply; its Order is replaced by ascending, and a
// cursor or page in q is an error. Nothing is sent until [Follower.Events]
// is ranged over.
//
// For exactly-once delivery across restarts, process each event, then save
// [Follower.Checkpoint] (it already includes the event just yielded), and
// pass it back in opts.From.
func (c *Client) Follow(ctx context.Context, enterprise string, q *Query, opts FollowOptions) *Follower {
	f := &Follower{
		c: c, ctx: ctx, enterprise: enterprise, q: copyQuery(q),
		every: opts.Every, lookBack: opts.LookBack, since: opts.Since,
		cp: Checkpoint{Newest: opts.From.Newest, Seen: maps.Clone(opts.From.Seen)},
	}
	if f.every == 0 {
		f.every = DefaultFollowEvery
	}
	if f.lookBack == 0 {
		f.lookBack = DefaultFollowLookBack
	}
	return f
}

func (f *Follower) validate() error {
	switch {
	case f.every < 0:
		return &InputError{Field: "FollowOptions.Every", Reason: fmt.Sprintf("must not be negative, got %s", f.every)}
	case f.lookBack < 0:
		return &InputError{Field: "FollowOptions.LookBack", Reason: fmt.Sprintf("must not be negative, got %s", f.lookBack)}
	case f.q.After != "" || f.q.Before != "" || f.q.Page != 0:
		return &InputError{Field: "Query.After", Reason: "Follow manages its own position; use FollowOptions.From to resume"}
	}
	if err := validateEnterprise(f.enterprise); err != nil {
		return err
	}
	return f.q.Validate()
}

// Events returns the iterator over new events. It ends when the Follower's
// context ends, or when the loop breaks. An error that outlasts the
// pipeline's retries is yielded; if the loop goes on, the Follower waits
// for the next poll and tries again from the same position, losing nothing.
// Range over it once at a time.
func (f *Follower) Events() iter.Seq2[Event, error] {
	return func(yield func(Event, error) bool) {
		if err := f.validate(); err != nil {
			yield(Event{}, err)
			return
		}
		if f.ctx == nil {
			yield(Event{}, &InputError{Field: "ctx", Reason: "context is nil"})
			return
		}
		f.mu.Lock()
		if f.since.IsZero() && f.cp.Newest.IsZero() {
			f.since = time.Now()
		}
		f.mu.Unlock()
		for {
			floor := f.floor()
			q := f.q
			q.Order = OrderAsc
			q.Phrase = strings.TrimSpace(q.Phrase + " created:>=" + searchTime(floor))
			for page, err := range f.c.Pages(f.ctx, f.enterprise, &q) {
				if err != nil {
					if f.ctx.Err() != nil {
						return
					}
					if !yield(Event{}, err) {
						return
					}
					break
				}
				for _, ev := range page.Events {
					if f.admit(ev, floor) && !yield(ev, nil) {
						return
					}
				}
			}
			f.prune()
			if sleep(f.ctx, f.every) != nil {
				return
			}
		}
	}
}

// floor is the earliest event time the next poll asks for.
func (f *Follower) floor() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	floor := f.cp.Newest.Add(-f.lookBack)
	if f.cp.Newest.IsZero() || floor.Before(f.since) {
		floor = f.since
	}
	return floor
}

// admit records ev as yielded, unless it is older than the poll's floor or
// was yielded before.
func (f *Follower) admit(ev Event, floor time.Time) bool {
	if ev.Timestamp.Before(floor) {
		return false // asked for only because the search syntax has whole seconds
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.cp.Add(ev)
}

// prune forgets IDs no later poll can return: those behind the look-back
// window, and those before Since.
func (f *Follower) prune() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.cp.Prune(f.lookBack)
	for id, ts := range f.cp.Seen {
		if ts.Before(f.since) {
			delete(f.cp.Seen, id)
		}
	}
}

// Checkpoint returns the Follower's position, including the last event
// yielded. It is safe to call from the loop body or another goroutine.
func (f *Follower) Checkpoint() Checkpoint {
	f.mu.Lock()
	defer f.mu.Unlock()
	return Checkpoint{Newest: f.cp.Newest, Seen: maps.Clone(f.cp.Seen)}
}

// Tracked returns how many event IDs the Follower holds for de-duplication.
func (f *Follower) Tracked() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.cp.Seen)
}
