package auditlog

import (
	"context"
	"encoding/json"
	"fmt"
	"iter"
	"log/slog"
	"maps"
	"strings"
	"sync"
	"time"
)

// Defaults of [FollowOptions].
const (
	DefaultFollowEvery    = time.Minute
	DefaultFollowLookBack = 5 * time.Minute
	// DefaultFollowPerPage is the page size of a tail whose query leaves
	// PerPage at 0 (GitHub's own default is 30).
	DefaultFollowPerPage = MaxPerPage
)

// maxEventSkew is how far ahead of the local clock an event's @timestamp
// may be and still count in full towards a tail's position (clocks are
// never exactly in step). A later time is clamped to it: the event is
// delivered, but cannot push the position into the future, where a hostile
// or broken server would leave every later event behind it.
const maxEventSkew = time.Minute

// FollowOptions configures [Client.Follow].
type FollowOptions struct {
	// Every is the pause between the end of one poll and the start of the
	// next; 0 means DefaultFollowEvery.
	Every time.Duration
	// LookBack is how late an event may reach the audit log, after its
	// @timestamp, and still be delivered; 0 means DefaultFollowLookBack.
	// Size it to GitHub's ingestion delay, which is usually seconds.
	LookBack time.Duration
	// Rescan is how often the tail re-reads the stretch of the log that
	// LookBack has just closed, to deliver the events that arrived late in
	// it; 0 means LookBack/2. A shorter Rescan delivers late events sooner
	// and costs more requests; see [Client.Follow].
	Rescan time.Duration
	// Since is where a new tail starts: events at or after it. Zero means
	// the time the iteration starts. It is ignored when From is set.
	Since time.Time
	// From resumes from a checkpoint saved with [Follower.Checkpoint], or
	// built with [Checkpoint.Add] by the walk that came before the tail.
	From Checkpoint
}

// Checkpoint is a tail's position, as JSON: the newest event time
// delivered; Swept, the time before which the log is final (every event
// that can still be delivered before it has been); and the IDs delivered
// since Swept, with their times. Its size is bounded by the events of one
// LookBack plus one Rescan. A Follower's checkpoint also records the
// [Scope] it tails ([Checkpoint.Scope]), and a tail on another scope
// refuses it; one built with [Checkpoint.Add] by a walk records none and
// resumes on any scope.
type Checkpoint struct {
	Newest time.Time            `json:"newest"`
	Swept  time.Time            `json:"swept,omitzero"`
	Seen   map[string]time.Time `json:"seen"` // document ID → @timestamp

	scope string // the key of the scope the tail that made it follows; "" for none
}

// IsZero reports whether c holds no position.
func (c Checkpoint) IsZero() bool {
	return c.Newest.IsZero() && c.Swept.IsZero() && len(c.Seen) == 0
}

// Scope names the scope whose tail made c, as "enterprises/<slug>",
// "orgs/<login>" or "organizations/<id>" in lower case, or "" for a
// checkpoint no tail made.
func (c Checkpoint) Scope() string { return c.scope }

// checkpointFields is Checkpoint's JSON.
type checkpointFields struct {
	Scope  string               `json:"scope,omitempty"`
	Newest time.Time            `json:"newest"`
	Swept  time.Time            `json:"swept,omitzero"`
	Seen   map[string]time.Time `json:"seen"`
}

// MarshalJSON implements json.Marshaler: the three fields and the scope.
func (c Checkpoint) MarshalJSON() ([]byte, error) {
	return json.Marshal(checkpointFields{Scope: c.scope, Newest: c.Newest, Swept: c.Swept, Seen: c.Seen})
}

// UnmarshalJSON implements json.Unmarshaler. A scope that is not one a
// tail records is an [*InputError]; JSON without one (a checkpoint saved
// before checkpoints named their scope) is accepted, tied to none.
func (c *Checkpoint) UnmarshalJSON(b []byte) error {
	var f checkpointFields
	if err := json.Unmarshal(b, &f); err != nil {
		return err
	}
	if f.Scope != "" && !validScopeKey(f.Scope) {
		return &InputError{Field: "Checkpoint", Reason: badScopeKey(f.Scope)}
	}
	*c = Checkpoint{Newest: f.Newest, Swept: f.Swept, Seen: f.Seen, scope: f.Scope}
	return nil
}

// Add records ev as delivered and reports whether it was new. A walk that
// hands over to [Client.Follow] adds each event it delivers, so the tail
// starts where the walk ended, with nothing missed or repeated. What the
// checkpoint keeps is copied: it never holds on to the page ev came from.
// An event time more than a minute ahead of the local clock moves Newest
// only that far.
func (c *Checkpoint) Add(ev Event) bool {
	isNew, _ := c.add(ev, time.Now())
	return isNew
}

func (c *Checkpoint) add(ev Event, now time.Time) (isNew, clamped bool) {
	key := ev.DocumentID
	if key == "" {
		key = ev.raw
	}
	if _, dup := c.Seen[key]; dup {
		return false, false
	}
	if c.Seen == nil {
		c.Seen = map[string]time.Time{}
	}
	c.Seen[strings.Clone(key)] = ev.Timestamp
	ts := ev.Timestamp
	if bound := now.Add(maxEventSkew); ts.After(bound) {
		ts, clamped = bound, true
	}
	if ts.After(c.Newest) {
		c.Newest = ts
	}
	return true, clamped
}

// Prune forgets the IDs no tail with that look-back reads again: those of
// events before Swept, or, for a checkpoint no tail has swept yet (one built
// by a walk), before lookBack behind Newest. It keeps a walk's checkpoint
// the size of one look-back window.
func (c *Checkpoint) Prune(lookBack time.Duration) {
	cut := c.Swept
	if cut.IsZero() {
		cut = c.Newest.Add(-lookBack)
	}
	for id, ts := range c.Seen {
		if ts.Before(cut) {
			delete(c.Seen, id)
		}
	}
}

// Follower tails the audit log; see [Client.Follow].
type Follower struct {
	c        *Client
	scope    Scope
	q        Query
	every    time.Duration
	lookBack time.Duration
	rescan   time.Duration
	since    time.Time
	resumed  bool // FollowOptions.From was set

	mu      sync.Mutex
	cp      Checkpoint // what has been delivered
	started bool
}

// Follow tails the audit log of s (an [Enterprise], an [Organization] or
// an [OrganizationID]): it polls for the events q selects, oldest first, from opts.Since (or a saved checkpoint), and
// delivers each event once, including events that reach the log up to
// opts.LookBack late. Nothing is sent until [Follower.Events] is ranged
// over, with the context that bounds it.
//
// **Resuming: when opts.From is set, opts.Since is ignored (and a log line
// says so); the checkpoint alone says where the tail goes on.**
//
// q's Phrase and Include apply; its Order is replaced by ascending, its
// PerPage defaults to 100, and a cursor in q is an error. A created:
// qualifier in the phrase is merged with the tail's own bound into one
// range; a phrase with two is refused.
//
// # How it polls, and what it catches
//
// Each poll reads what is new since the newest event delivered (created:>=
// its second, so the events sharing that second are read again and dropped
// by ID). Every Rescan, a sweep re-reads once the stretch of the log that
// has just become LookBack old, by GitHub's clock (its Date header), and
// delivers the events that arrived there after the polls had passed it.
// So an event that becomes visible in the API at most LookBack after its
// @timestamp is delivered: at the next poll if it arrives in order, else by
// a sweep, between LookBack and LookBack + Rescan + Every after its
// @timestamp. An event later than that is missed. IDs are kept from Swept
// on (one LookBack and one Rescan of events), so memory stays bounded
// however long the tail runs.
//
// # Cost
//
// Each event is read about twice: once by a poll, once by a sweep. A poll
// costs ⌈(n+k)/PerPage⌉ requests (at least one), n being the events new
// since the last poll and k those sharing the newest event's second; a
// sweep ⌈m/PerPage⌉ (at least one), m being the events of the stretch it
// reads, about a Rescan's worth. At r events a minute, with Every and Rescan
// in minutes, that is about
//
//	60/Every × ⌈(r×Every + k)/PerPage⌉ + 60/Rescan × ⌈(r×Rescan + k)/PerPage⌉
//
// requests an hour. With the defaults (Every 1m, LookBack 5m, Rescan 2.5m,
// 100 per page) at 1,000 events a minute: 60×11 + 24×26 ≈ 1,300 an hour,
// about 21 per 1,000 events, within the 1,750 GitHub allows. A quiet log
// costs 60/Every + 60/Rescan requests an hour.
//
// For exactly-once delivery across restarts, process each event, then save
// [Follower.Checkpoint] (it already includes the event just yielded), and
// pass it back in opts.From.
func (c *Client) Follow(s Scope, q *Query, opts FollowOptions) *Follower {
	f := &Follower{
		c: c, scope: s, q: copyQuery(q),
		every: opts.Every, lookBack: opts.LookBack, rescan: opts.Rescan, since: opts.Since,
		resumed: !opts.From.IsZero(),
		cp:      Checkpoint{Newest: opts.From.Newest, Swept: opts.From.Swept, Seen: maps.Clone(opts.From.Seen), scope: opts.From.scope},
	}
	if f.every == 0 {
		f.every = DefaultFollowEvery
	}
	if f.lookBack == 0 {
		f.lookBack = DefaultFollowLookBack
	}
	if f.rescan == 0 {
		f.rescan = f.lookBack / 2
	}
	if f.q.PerPage == 0 {
		f.q.PerPage = DefaultFollowPerPage
	}
	f.q.Order = OrderAsc
	return f
}

func (f *Follower) validate() error {
	switch {
	case f.every < 0:
		return &InputError{Field: "FollowOptions.Every", Reason: fmt.Sprintf("must not be negative, got %s", f.every)}
	case f.lookBack < 0:
		return &InputError{Field: "FollowOptions.LookBack", Reason: fmt.Sprintf("must not be negative, got %s", f.lookBack)}
	case f.rescan < 0:
		return &InputError{Field: "FollowOptions.Rescan", Reason: fmt.Sprintf("must not be negative, got %s", f.rescan)}
	case f.q.After != "" || f.q.Before != "" || f.q.Page != 0 || f.q.done || f.q.tie != "":
		return &InputError{Field: "Query.After", Reason: "Follow manages its own position; use FollowOptions.From to resume"}
	case f.resumed && f.cp.Newest.IsZero() && f.cp.Swept.IsZero():
		return &InputError{Field: "FollowOptions.From", Reason: "holds IDs but neither Newest nor Swept: not a checkpoint a tail or Checkpoint.Add made"}
	}
	if _, err := scopePath(f.scope); err != nil {
		return err
	}
	if err := checkTie("FollowOptions.From", f.cp.scope, f.scope); err != nil {
		return err
	}
	if err := f.q.Validate(); err != nil {
		return err
	}
	_, _, err := mergeCreated(f.q.Phrase, span{})
	return err
}

// Events returns the iterator over new events. It ends when ctx ends, or
// when the loop breaks. An error that outlasts the pipeline's retries is
// yielded; if the loop goes on, the Follower waits for the next poll and
// tries again from the same position, losing nothing. Invalid options or
// query are the first and only error yielded. Ranging again goes on from
// where the last range stopped; range over it once at a time.
func (f *Follower) Events(ctx context.Context) iter.Seq2[Event, error] {
	return func(yield func(Event, error) bool) {
		if ctx == nil {
			yield(Event{}, &InputError{Field: "ctx", Reason: "context is nil"})
			return
		}
		if err := f.validate(); err != nil {
			yield(Event{}, err)
			return
		}
		f.start(ctx)
		for f.poll(ctx, yield) {
			if sleep(ctx, f.every) != nil {
				return
			}
		}
	}
}

// start sets the position of a new tail, once.
func (f *Follower) start(ctx context.Context) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.started {
		return
	}
	f.started = true
	f.cp.scope = scopeKey(f.scope)
	if !f.resumed {
		since := f.since
		if since.IsZero() {
			since = time.Now()
		}
		f.cp.Swept = since
		return
	}
	if !f.since.IsZero() {
		f.c.logger.LogAttrs(ctx, slog.LevelInfo, "auditlog: Follow resumes from FollowOptions.From; FollowOptions.Since is ignored",
			slog.Time("since", f.since), slog.Time("newest", f.cp.Newest))
	}
	if f.cp.Swept.IsZero() {
		// A walk's checkpoint: what arrived late behind its newest event
		// is still to be swept.
		f.cp.Swept = f.cp.Newest.Add(-f.lookBack)
	}
}

// poll reads what is new, then sweeps when a Rescan's worth of the log has
// become final. It returns false when the iteration must end.
func (f *Follower) poll(ctx context.Context, yield func(Event, error) bool) bool {
	f.mu.Lock()
	from := f.cp.Newest
	if from.Before(f.cp.Swept) {
		from = f.cp.Swept
	}
	f.mu.Unlock()
	date, complete, ok := f.read(ctx, from, time.Time{}, yield)
	if !ok {
		return false
	}
	if complete {
		now := time.Now()
		ref := date
		if ref.IsZero() {
			ref = now
		}
		if bound := now.Add(maxEventSkew); ref.After(bound) {
			ref = bound
		}
		cut := ref.Add(-f.lookBack)
		f.mu.Lock()
		swept := f.cp.Swept
		f.mu.Unlock()
		if cut.Sub(swept) >= f.rescan {
			_, complete, ok := f.read(ctx, swept, cut, yield)
			if !ok {
				return false
			}
			if complete {
				f.mu.Lock()
				if cut.After(f.cp.Swept) {
					f.cp.Swept = cut
				}
				f.mu.Unlock()
			}
		}
	}
	f.mu.Lock()
	f.cp.Prune(f.lookBack) // a tail's checkpoint is swept: it keeps the IDs from Swept on
	f.mu.Unlock()
	return true
}

// read delivers the events from from on, oldest first, that are not final
// and not yet delivered. With stop set it ends after the first page that
// reaches stop. It returns the Date of the last response, whether it read
// to its end, and false when the iteration must end.
func (f *Follower) read(ctx context.Context, from, stop time.Time, yield func(Event, error) bool) (date time.Time, complete, ok bool) {
	phrase, some, err := mergeCreated(f.q.Phrase, span{lo: from})
	if err != nil {
		return time.Time{}, false, yield(Event{}, err)
	}
	if !some {
		return time.Time{}, true, true // the phrase's own range is over
	}
	q := f.q
	q.Phrase = phrase
	for page, err := range f.c.Pages(ctx, f.scope, &q) {
		if err != nil {
			if ctx.Err() != nil {
				return time.Time{}, false, false
			}
			return time.Time{}, false, yield(Event{}, err)
		}
		date = page.date
		for _, ev := range page.Events {
			if ctx.Err() != nil {
				return date, false, false // not admitted: a later range delivers it
			}
			if f.admit(ctx, ev) && !yield(ev, nil) {
				return date, false, false
			}
		}
		if n := len(page.Events); !stop.IsZero() && n > 0 && !page.Events[n-1].Timestamp.Before(stop) {
			break
		}
	}
	return date, true, true
}

// admit records ev as delivered, unless it is before Swept (final: read
// only because the search counts whole seconds) or was delivered before.
func (f *Follower) admit(ctx context.Context, ev Event) bool {
	now := time.Now()
	f.mu.Lock()
	if ev.Timestamp.Before(f.cp.Swept) {
		f.mu.Unlock()
		return false
	}
	isNew, clamped := f.cp.add(ev, now)
	f.mu.Unlock()
	if clamped {
		f.c.logger.LogAttrs(ctx, slog.LevelWarn, "auditlog: event time is in the future; the tail's position moves only to now plus the allowed skew",
			slog.String("document_id", ev.DocumentID), slog.Time("timestamp", ev.Timestamp),
			slog.Time("clamped_to", now.Add(maxEventSkew)))
	}
	return isNew
}

// Checkpoint returns the Follower's position, including the last event
// yielded. It is safe to call from the loop body or another goroutine.
func (f *Follower) Checkpoint() Checkpoint {
	f.mu.Lock()
	defer f.mu.Unlock()
	return Checkpoint{Newest: f.cp.Newest, Swept: f.cp.Swept, Seen: maps.Clone(f.cp.Seen), scope: f.cp.scope}
}

// Tracked returns how many event IDs the Follower holds for de-duplication.
func (f *Follower) Tracked() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.cp.Seen)
}
