package auditlog

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"
)

// Bounds and defaults of [BackfillOptions].
const (
	// DefaultBackfillParallel is how many slices a backfill walks at once
	// when BackfillOptions.Parallel is 0. To use the whole budget, the
	// requests in flight must cover the time each takes: at GitHub's 1,750
	// an hour (one every 2.06 s), n in flight keep up with answers of up to
	// 2.06×n seconds, so 8 cover the slowest answer GitHub gives before it
	// times out (10 s), with room. More costs little but is not free: each
	// slice ends on a part page, and the Budget may count up to Parallel−1
	// requests still in flight at the start of a window as spent (0.4% of
	// GitHub's hour at 8). Measured in BENCHMARKS.md: on a window scaled so
	// that 5 requests must be in flight, 8 use 89–97% of it, 4 use 80%, one
	// walk 20%.
	DefaultBackfillParallel = 8
	// MaxBackfillParallel bounds BackfillOptions.Parallel. GitHub allows a
	// user at most 100 concurrent requests (REST and GraphQL together);
	// this leaves the rest to the user's other tools.
	MaxBackfillParallel = 32
	// BackfillRequestsPerSecond bounds the pages a Backfill asks for, retries
	// aside, whatever the budget allows (a GitHub Enterprise Server without
	// rate limits allows everything). A page is asked for at its pace, but
	// sent once the Limiter lets it go, so after a hold (a secondary limit,
	// the warm start) up to Parallel of them go at once, and Parallel more
	// from the bucket: in any minute at most 60×13 + 2×Parallel, 844 at
	// MaxBackfillParallel, under the 900 points a minute GitHub allows REST
	// requests (a GET costs one).
	BackfillRequestsPerSecond = 13
)

const (
	// minBackfillPerPage is the fewest events a slice that keeps timing out
	// at one second asks for per page before the backfill gives up.
	minBackfillPerPage = 10
	// maxCheckpointSlices and maxCheckpointSeen bound what a checkpoint read
	// back from JSON may hold, far above what a backfill keeps.
	maxCheckpointSlices = 1 << 16
	maxCheckpointSeen   = 1 << 20
	maxSeenKeyLen       = 256
)

// BackfillOptions configures [Client.Backfill].
type BackfillOptions struct {
	// Since and Until bound the range: events at or after Since and before
	// Until. Both are required for a new backfill; Until should be in the
	// past (events that reach the log after their slice was read are a
	// tail's to deliver: see [Client.Backfill]). They are ignored when From
	// is set.
	Since, Until time.Time
	// Parallel is how many slices are walked at once, 1 to
	// MaxBackfillParallel; 0 means DefaultBackfillParallel.
	Parallel int
	// From resumes from a checkpoint saved with [Backfill.Checkpoint].
	From BackfillCheckpoint
}

// BackfillCheckpoint is a backfill's position: its range, the query and
// the [Scope] it belongs to (a backfill of another scope refuses it), and
// each part of the range not yet delivered in full (a
// slice: its bounds, the newest event time delivered in it and the IDs
// delivered at exactly that time). It marshals to JSON and back; its size
// is a few hundred bytes per slice not yet finished (at most Parallel, plus
// the splits of slices that timed out), plus the IDs of events sharing one
// millisecond, never the IDs of the whole range. The zero value is no
// position.
type BackfillCheckpoint struct {
	since, until time.Time
	query        string
	scope        string // the key of the scope it walks; "" in one saved before checkpoints named it
	slices       []sliceState
}

// sliceState is the persisted part of a slice: it owns the events of
// [from, to); every one of them before at has been delivered, and so have
// those at exactly at whose keys are in seen.
type sliceState struct {
	from, to time.Time
	at       time.Time
	seen     []string
}

// IsZero reports whether c holds no position.
func (c BackfillCheckpoint) IsZero() bool { return c.since.IsZero() && c.until.IsZero() }

// Range returns the range c covers: events at or after since and before
// until. Both are zero for the zero checkpoint.
func (c BackfillCheckpoint) Range() (since, until time.Time) { return c.since, c.until }

// Done reports whether c is the end of a backfill: every event of its range
// has been delivered. A backfill resumed from it sends no request.
func (c BackfillCheckpoint) Done() bool { return !c.IsZero() && len(c.slices) == 0 }

type checkpointJSON struct {
	Scope  string      `json:"scope,omitempty"`
	Since  time.Time   `json:"since"`
	Until  time.Time   `json:"until"`
	Query  string      `json:"query"`
	Slices []sliceJSON `json:"slices"`
}

type sliceJSON struct {
	From time.Time `json:"from"`
	To   time.Time `json:"to"`
	At   time.Time `json:"at,omitzero"`
	Seen []string  `json:"seen,omitempty"`
}

// MarshalJSON implements json.Marshaler; the zero value is null.
func (c BackfillCheckpoint) MarshalJSON() ([]byte, error) {
	if c.IsZero() {
		return []byte("null"), nil
	}
	j := checkpointJSON{Scope: c.scope, Since: c.since, Until: c.until, Query: c.query, Slices: make([]sliceJSON, len(c.slices))}
	for i, s := range c.slices {
		j.Slices[i] = sliceJSON{From: s.from, To: s.to, At: s.at, Seen: s.seen}
	}
	return json.Marshal(j)
}

// UnmarshalJSON implements json.Unmarshaler. It accepts what MarshalJSON
// wrote and refuses anything else (slices out of the range, overlapping or
// out of order, positions outside their slice) with an [*InputError].
func (c *BackfillCheckpoint) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*c = BackfillCheckpoint{}
		return nil
	}
	var j checkpointJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return &InputError{Field: "BackfillCheckpoint", Reason: "not a backfill checkpoint: " + err.Error()}
	}
	cp := BackfillCheckpoint{since: j.Since, until: j.Until, query: j.Query, scope: j.Scope, slices: make([]sliceState, len(j.Slices))}
	for i, s := range j.Slices {
		cp.slices[i] = sliceState{from: s.From, to: s.To, at: s.At, seen: s.Seen}
	}
	if err := cp.validate(); err != nil {
		return err
	}
	*c = cp
	return nil
}

func (c BackfillCheckpoint) validate() error {
	bad := func(format string, args ...any) error {
		return &InputError{Field: "BackfillCheckpoint", Reason: fmt.Sprintf(format, args...)}
	}
	switch {
	case c.since.IsZero() || c.until.IsZero() || !c.until.After(c.since):
		return bad("its range is empty or missing")
	case !validFingerprint(c.query):
		return bad("query must be 16 hex digits")
	case c.scope != "" && !validScopeKey(c.scope):
		return bad("%s", badScopeKey(c.scope))
	case len(c.slices) > maxCheckpointSlices:
		return bad("holds %d slices, more than %d", len(c.slices), maxCheckpointSlices)
	}
	prev := c.since
	seen := 0
	for i, s := range c.slices {
		switch {
		case s.from.Before(prev) || !s.to.After(s.from) || s.to.After(c.until):
			return bad("slice %d is out of the range, empty, or overlaps the one before", i)
		case !s.at.IsZero() && (s.at.Before(s.from) || !s.at.Before(s.to)):
			return bad("slice %d: its position is outside it", i)
		case s.at.IsZero() && len(s.seen) > 0:
			return bad("slice %d: IDs without a position", i)
		}
		for _, k := range s.seen {
			if k == "" || len(k) > maxSeenKeyLen || !validText(k) {
				return bad("slice %d: an ID is empty, too long or not text", i)
			}
		}
		seen += len(s.seen)
		prev = s.to
	}
	if seen > maxCheckpointSeen {
		return bad("holds %d IDs, more than %d", seen, maxCheckpointSeen)
	}
	return nil
}

// BackfillProgress is how far a backfill has come; see [Backfill.Progress].
type BackfillProgress struct {
	// Done is the share of the range, by time, whose events have all been
	// delivered, from 0 to 1 (carried over from the checkpoint a backfill
	// resumed from). Events are rarely spread evenly in time, so it is a
	// guide for an ETA, not a count.
	Done float64
	// Events and Pages count the events yielded and the pages received by
	// this Backfill (not those of the run a checkpoint came from).
	Events, Pages int64
	// Slices is how many parts of the range are not finished; Walking, how
	// many of them are being walked now (at most Parallel). The others wait
	// for a worker.
	Slices, Walking int
}

// Backfill reads a range of the audit log in parallel slices; see
// [Client.Backfill].
type Backfill struct {
	c        *Client
	scope    Scope
	q        Query // Order asc, PerPage set
	parallel int
	since    time.Time // as given, for the log line on resume
	until    time.Time
	resumed  bool
	err      error // invalid options: the first and only error yielded
	pace     *rate.Limiter
	noSteal  bool // tests: no split for idle workers, to measure what stealing buys

	mu      sync.Mutex
	cp      BackfillCheckpoint // range and query; its slices are in live
	live    []*bslice          // the slices not finished, by from
	events  int64
	pages   int64
	walking int
	ranging bool
}

// bslice is a slice while a Backfill runs: its persisted state and who
// walks it.
type bslice struct {
	sliceState
	seenSet map[string]struct{} // the keys of seen, once it grows
	w       *walker             // nil while it waits
	perPage int                 // page size; lowered when a one-second slice times out
	// failures counts the walks of the slice that ended in a transient
	// failure since its last page; see restart.
	failures int
}

// walker is one walk of a slice's query. Its fields other than limit are
// the coordinator's alone.
type walker struct {
	s       *bslice      // nil once the slice is finished
	limit   atomic.Int64 // UnixNano of the slice's end: the walk stops after a page that reaches it
	lo      time.Time    // the query's lower bound
	fetched int          // events received
	last    time.Time    // @timestamp of the last event received
	recent  float64      // events per second in the last page received
	warned  bool         // the server's order was found broken (logged once)
}

// Backfill reads the events q selects in the audit log of s (an
// [Enterprise], an [Organization] or an [OrganizationID]) between
// opts.Since and opts.Until,
// walking up to opts.Parallel time slices of the range at once through the
// client's one pipeline and budget, and delivers each event of the range
// exactly once. Nothing is sent until [Backfill.Events] is ranged over,
// with the context that bounds it. **When opts.From is set, opts.Since and
// opts.Until are ignored (a log line says so): the checkpoint holds the
// range.**
//
// q's Phrase and Include apply; its Order is ignored, its PerPage defaults
// to 100, and a cursor in q is an error. Events come oldest first within a
// slice, but **the order across slices is not promised**: events of several
// slices interleave as their pages arrive.
//
// # Slices
//
// The range is cut into Parallel slices of equal time, on whole seconds,
// each asked for with one created:A..B range merged into the caller's
// phrase (a created: qualifier of the caller's is intersected with it; a
// phrase with two is refused). GitHub's search counts whole seconds and
// reads a range's end as inclusive, so neighbouring queries overlap by up
// to a second: each slice owns exactly the events with from <= @timestamp
// < to and drops the others, which its neighbour owns. No event is lost or
// delivered twice at a boundary, whatever the events at the same
// millisecond or exactly on it.
//
// When a worker runs out of slices, it takes work from the walk with the
// most events left, by the density that walk has read so far: what is left
// of that slice, past where its walk has got to, is cut on whole seconds
// into equal stretches, one for each idle worker (as long as each holds
// about a page), and the first walk goes on and stops at the first cut.
// So the workers stay busy to the end even when one hour holds most of the
// range's events. A slice whose walk has not received a page is never cut
// (nothing is known of it); a backfill resumed with fewer slices left than
// Parallel first halves the widest until there are enough.
//
// A slice whose request still fails with 502 or 504, or with no answer
// within the attempt timeout, after the pipeline's retries (GitHub ends a
// request after 10 seconds and advises asking for less) is split in two at
// its middle second and both halves walked; a one-second slice asks for
// half as many events per page instead, down to 10. One that still times
// out at 10 events per one-second page is the error the iteration ends
// with; its checkpoint resumes there. Each split comes after the
// pipeline's attempts ([WithMaxAttempts]); a client with fewer attempts
// splits sooner and spends fewer requests on searches that cannot succeed.
// A walk that runs out of the pipeline's attempts on another transient
// failure (a reset, a truncated body, a 500 or 503) is walked again from
// its position, up to twice in a row without a page in between; a third
// such failure is the error the iteration ends with.
//
// # Budget
//
// Every request goes through the client's pipeline and its [Limiter], so
// Parallel raises how many requests are in flight, not how many are sent:
// the budget is used and not exceeded, and a refusal holds every worker
// (and every Client sharing the Limiter). At most Parallel requests are in
// flight, and at most [BackfillRequestsPerSecond] pages are asked for per
// second, within GitHub's secondary limits (100 concurrent requests, 900
// a minute) even where the budget allows more.
//
// # Exactly once across restarts
//
// [Backfill.Checkpoint] covers every event yielded before it is called,
// including the one the loop body holds when it is called: process (write)
// events, then save the checkpoint from the loop body, and pass it back in
// opts.From to resume; it yields exactly the events not covered. (Called
// from another goroutine it may cover events the loop body has not
// finished with; save it where the events are known to be processed.) It
// holds one position per slice left, not a set of IDs. If the process dies
// after processing events and before saving, those events come again:
// save in the same transaction, or make processing idempotent on
// DocumentID.
//
// Events that reach the log after their slice was read (GitHub indexes some
// late) are not delivered; hand over to [Client.Follow] from a [Checkpoint]
// built with [Checkpoint.Add] from the events delivered at or after
// Until − LookBack, with Swept at Until − LookBack, to deliver them and
// everything after Until, each once.
func (c *Client) Backfill(s Scope, q *Query, opts BackfillOptions) *Backfill {
	b := &Backfill{
		c: c, scope: s, q: copyQuery(q), parallel: opts.Parallel,
		since: opts.Since, until: opts.Until, resumed: !opts.From.IsZero(),
	}
	if b.parallel == 0 {
		b.parallel = DefaultBackfillParallel
	}
	if b.q.PerPage == 0 {
		b.q.PerPage = MaxPerPage
	}
	b.err = b.validate(opts)
	b.q.Order = OrderAsc
	b.pace = rate.NewLimiter(BackfillRequestsPerSecond, max(min(b.parallel, MaxBackfillParallel), 1))
	if b.err != nil {
		return b
	}
	if b.resumed {
		b.cp = BackfillCheckpoint{since: opts.From.since, until: opts.From.until, query: opts.From.query, scope: scopeKey(s)}
		for _, s := range opts.From.slices {
			b.live = append(b.live, b.newSlice(s.from, s.to, s.at, s.seen, 0))
		}
		return b
	}
	b.cp = BackfillCheckpoint{since: opts.Since, until: opts.Until, query: b.fingerprint(), scope: scopeKey(s)}
	for _, s := range planSlices(opts.Since, opts.Until, b.parallel) {
		b.live = append(b.live, b.newSlice(s.from, s.to, time.Time{}, nil, 0))
	}
	return b
}

// fingerprint ties a checkpoint to what the query selects: its phrase and
// include (the order is always ascending, the page size does not matter).
func (b *Backfill) fingerprint() string {
	q := b.q
	q.Order = OrderAsc
	return q.fingerprint(false)
}

func (b *Backfill) validate(opts BackfillOptions) error {
	q := &b.q
	switch {
	case b.parallel < 1 || b.parallel > MaxBackfillParallel:
		return &InputError{Field: "BackfillOptions.Parallel", Reason: fmt.Sprintf("must be between 1 and %d (0 for %d), got %d", MaxBackfillParallel, DefaultBackfillParallel, opts.Parallel)}
	case q.After != "" || q.Before != "" || q.Page != 0 || q.done || q.tie != "":
		return &InputError{Field: "Query.After", Reason: "Backfill manages its own position; use BackfillOptions.From to resume"}
	}
	if _, err := scopePath(b.scope); err != nil {
		return err
	}
	if err := q.Validate(); err != nil {
		return err
	}
	// The longest created: range a slice can add, to check the phrase's length.
	t := time.Date(2000, 1, 1, 1, 1, 1, 0, time.UTC)
	merged, _, err := mergeCreated(q.Phrase, span{lo: t, hi: t.Add(time.Hour)})
	if err != nil {
		return err
	}
	if len(merged) > maxPhraseLen {
		return &InputError{Field: "Query.Phrase", Reason: fmt.Sprintf("with a slice's created: range it is longer than %d bytes", maxPhraseLen)}
	}
	if b.resumed {
		if err := opts.From.validate(); err != nil {
			var ie *InputError
			errors.As(err, &ie)
			return &InputError{Field: "BackfillOptions.From", Reason: ie.Reason}
		}
		if opts.From.query != b.fingerprint() {
			return &InputError{Field: "BackfillOptions.From", Reason: "belongs to a backfill with another phrase or include; resume it with the query it came from"}
		}
		return checkTie("BackfillOptions.From", opts.From.scope, b.scope)
	}
	switch {
	case opts.Since.IsZero():
		return &InputError{Field: "BackfillOptions.Since", Reason: "is required (the start of the range)"}
	case opts.Until.IsZero():
		return &InputError{Field: "BackfillOptions.Until", Reason: "is required (the end of the range, exclusive)"}
	case !opts.Until.After(opts.Since):
		return &InputError{Field: "BackfillOptions.Until", Reason: fmt.Sprintf("%s is not after Since (%s)",
			opts.Until.UTC().Format(time.RFC3339Nano), opts.Since.UTC().Format(time.RFC3339Nano))}
	}
	return nil
}

// planSlices cuts [since, until) into at most n slices of equal time whose
// inner bounds are whole seconds.
func planSlices(since, until time.Time, n int) []sliceState {
	start := since.Truncate(time.Second)
	width := ceilSecond(until.Sub(start) / time.Duration(n))
	var out []sliceState
	from := since
	for i := 1; ; i++ {
		to := start.Add(time.Duration(i) * width)
		if !to.Before(until) {
			return append(out, sliceState{from: from, to: until})
		}
		if to.After(from) {
			out = append(out, sliceState{from: from, to: to})
			from = to
		}
	}
}

// ceilSecond rounds d up to whole seconds, at least one.
func ceilSecond(d time.Duration) time.Duration {
	s := (d + time.Second - 1) / time.Second * time.Second
	return max(s, time.Second)
}

// splitPoint is a whole second strictly between pos and to, near their
// middle, or the zero time when there is none.
func splitPoint(pos, to time.Time) time.Time {
	first := pos.Truncate(time.Second).Add(time.Second)
	mid := pos.Add(to.Sub(pos) / 2).Truncate(time.Second)
	m := mid
	if m.Before(first) {
		m = first
	}
	if !m.Before(to) {
		return time.Time{}
	}
	return m
}

// pos is where what is left of s starts: its position, or its start.
func (s *sliceState) pos() time.Time {
	if s.at.IsZero() {
		return s.from
	}
	return s.at
}

func (b *Backfill) newSlice(from, to, at time.Time, seen []string, perPage int) *bslice {
	s := &bslice{sliceState: sliceState{from: from, to: to, at: at, seen: slices.Clone(seen)}, perPage: perPage}
	if s.perPage == 0 {
		s.perPage = b.q.PerPage
	}
	return s
}

// Checkpoint returns the backfill's position: it covers every event yielded
// so far, including the one the loop body is processing. It is safe to call
// from the loop body or any goroutine. Before the first range it is the
// whole range (or opts.From); once every event is delivered, Done reports
// true.
func (b *Backfill) Checkpoint() BackfillCheckpoint {
	b.mu.Lock()
	defer b.mu.Unlock()
	cp := b.cp
	cp.slices = make([]sliceState, len(b.live))
	for i, s := range b.live {
		cp.slices[i] = sliceState{from: s.from, to: s.to, at: s.at, seen: slices.Clone(s.seen)}
	}
	return cp
}

// Progress reports how far the backfill has come: the share of the range
// done, the events and pages so far, the slices left and those being
// walked. It is safe to call from any goroutine, and cheap.
func (b *Backfill) Progress() BackfillProgress {
	b.mu.Lock()
	defer b.mu.Unlock()
	p := BackfillProgress{Events: b.events, Pages: b.pages, Slices: len(b.live), Walking: b.walking}
	total := b.cp.until.Sub(b.cp.since)
	if total <= 0 {
		return p
	}
	var left time.Duration
	for _, s := range b.live {
		left += s.to.Sub(s.pos())
	}
	p.Done = 1 - float64(left)/float64(total)
	return p
}

// result is what a walker sends the coordinator: a page, or its end (with
// the error that ended it, if any).
type result struct {
	w    *walker
	page *Page
	end  bool
	err  error
}

// Events returns the iterator over the range's events. It ends when every
// event has been delivered, at the first error that outlasts the
// pipeline's retries and the slices' splitting (yielded once), when ctx
// ends (its error is yielded), or when the loop breaks. Invalid options or
// query are the first and only error yielded. Ranging again goes on from
// where the last range stopped; range over it once at a time.
func (b *Backfill) Events(ctx context.Context) iter.Seq2[Event, error] {
	return func(yield func(Event, error) bool) {
		if ctx == nil {
			yield(Event{}, &InputError{Field: "ctx", Reason: "context is nil"})
			return
		}
		if b.err != nil {
			yield(Event{}, b.err)
			return
		}
		b.mu.Lock()
		busy := b.ranging
		b.ranging = true
		b.mu.Unlock()
		if busy {
			yield(Event{}, &InputError{Field: "Backfill.Events", Reason: "is already being ranged over; range over a Backfill once at a time"})
			return
		}
		defer func() {
			b.mu.Lock()
			b.ranging = false
			b.mu.Unlock()
		}()
		if b.resumed && (!b.since.IsZero() || !b.until.IsZero()) {
			b.c.logger.LogAttrs(ctx, slog.LevelInfo, "auditlog: Backfill resumes from BackfillOptions.From; BackfillOptions.Since and Until are ignored",
				slog.Time("since", b.cp.since), slog.Time("until", b.cp.until))
		}
		b.run(ctx, yield)
	}
}

// run is the coordinator: it hands slices to up to Parallel walkers, yields
// the events of the pages they send (in the caller's goroutine, as an
// iterator must), and splits slices when a walker runs out of work or a
// slice times out.
func (b *Backfill) run(parent context.Context, yield func(Event, error) bool) {
	ctx, cancel := context.WithCancel(parent)
	out := make(chan result)
	var wg sync.WaitGroup
	b.mu.Lock()
	b.spreadLocked()
	b.mu.Unlock()
	defer func() {
		cancel()
		wg.Wait() // a walker blocked on out gives up when ctx ends
		b.mu.Lock()
		for _, s := range b.live {
			s.w = nil
		}
		b.walking = 0
		b.mu.Unlock()
	}()
	for {
		if b.fill(ctx, out, &wg) == 0 {
			return // fill starts a walker whenever a slice is left
		}
		var r result
		select {
		case r = <-out:
		case <-parent.Done():
			yield(Event{}, parent.Err())
			return
		}
		if !r.end {
			if !b.deliver(ctx, r.w, r.page, yield) {
				return
			}
			continue
		}
		s := r.w.s
		r.w.s = nil
		b.mu.Lock()
		b.walking--
		if s != nil {
			s.w = nil
		}
		b.mu.Unlock()
		switch {
		case s == nil: // already finished
		case r.err == nil:
			b.finish(s)
		case parent.Err() != nil:
			yield(Event{}, parent.Err())
			return
		case tooSlow(r.err) && b.adapt(ctx, s, r.err):
		case !tooSlow(r.err) && transient(http.MethodGet, r.err) && b.restart(ctx, s, r.err):
		default:
			yield(Event{}, r.err)
			return
		}
	}
}

// fill starts walkers on slices that wait, then on slices split off those
// with the most work left, until Parallel walk, and returns how many walk.
func (b *Backfill) fill(ctx context.Context, out chan<- result, wg *sync.WaitGroup) int {
	for {
		b.mu.Lock()
		if b.walking == b.parallel {
			b.mu.Unlock()
			return b.parallel
		}
		s := b.waitingLocked()
		if s == nil && !b.noSteal && b.stealLocked(ctx, b.parallel-b.walking) {
			s = b.waitingLocked()
		}
		if s == nil {
			n := b.walking
			b.mu.Unlock()
			return n
		}
		// Re-read the second of the position; seen drops what was delivered.
		lo := s.pos().Truncate(time.Second)
		if lo.Before(s.from) {
			lo = s.from
		}
		phrase, some, err := mergeCreated(b.q.Phrase, span{lo: lo, hi: s.to})
		if err != nil || !some {
			// The caller's own created: range excludes the slice (the
			// phrase was checked when the Backfill was made).
			b.removeLocked(s)
			b.mu.Unlock()
			continue
		}
		w := &walker{s: s, lo: lo}
		w.limit.Store(s.to.UnixNano())
		s.w = w
		b.walking++
		b.mu.Unlock()
		q := b.q
		q.Phrase, q.PerPage = phrase, s.perPage
		wg.Add(1)
		go func() {
			defer wg.Done()
			b.walk(ctx, w, &q, out)
		}()
	}
}

// walk reads one slice's query, oldest first, sending each page to the
// coordinator, until the walk ends or a page reaches the slice's end (which
// a split may move closer). Its last message is its end, unless ctx ended.
func (b *Backfill) walk(ctx context.Context, w *walker, q *Query, out chan<- result) {
	send := func(r result) bool {
		select {
		case out <- r:
			return true
		case <-ctx.Done():
			return false
		}
	}
	if sleep(ctx, b.pace.Reserve().Delay()) != nil {
		return
	}
	for page, err := range b.c.Pages(ctx, b.scope, q) {
		if err != nil {
			send(result{w: w, end: true, err: err})
			return
		}
		if !send(result{w: w, page: page}) {
			return
		}
		if n := len(page.Events); n > 0 && page.Events[n-1].Timestamp.UnixNano() >= w.limit.Load() {
			break
		}
		if page.Next.Done() {
			break
		}
		if sleep(ctx, b.pace.Reserve().Delay()) != nil {
			return
		}
	}
	send(result{w: w, end: true})
}

// deliver yields the events of a page that its slice owns and has not
// delivered yet, recording each as delivered before it is yielded, and
// finishes the slice when the page reaches its end.
func (b *Backfill) deliver(ctx context.Context, w *walker, page *Page, yield func(Event, error) bool) bool {
	s := w.s
	b.mu.Lock()
	b.pages++
	if s != nil {
		s.failures = 0
	}
	b.mu.Unlock()
	if s == nil {
		return true // the slice finished on an earlier page
	}
	n := len(page.Events)
	if n > 0 {
		w.fetched += n
		w.last = page.Events[n-1].Timestamp
		w.recent = float64(n) / max(w.last.Sub(page.Events[0].Timestamp), time.Millisecond).Seconds()
	}
	for i, ev := range page.Events {
		if i > 0 && ev.Timestamp.Before(page.Events[i-1].Timestamp) && !w.warned {
			w.warned = true
			b.c.logger.LogAttrs(ctx, slog.LevelWarn, "auditlog: backfill got a page out of @timestamp order; a slice's position assumes oldest first, so an event older than one already delivered is taken for delivered",
				slog.String("document_id", ev.DocumentID), slog.Time("timestamp", ev.Timestamp), slog.Time("after", page.Events[i-1].Timestamp))
		}
		if !b.admit(ctx, s, ev) {
			continue
		}
		if !yield(ev, nil) {
			return false
		}
	}
	if n > 0 && !page.Events[n-1].Timestamp.Before(s.to) {
		w.s = nil
		b.finish(s)
	}
	return true
}

// admit records ev as delivered by s and reports whether to yield it: s
// owns it (from <= @timestamp < to) and has not delivered it before.
func (b *Backfill) admit(ctx context.Context, s *bslice, ev Event) bool {
	ts := ev.Timestamp
	if ts.IsZero() {
		b.c.logger.LogAttrs(ctx, slog.LevelWarn, "auditlog: backfill skipped an event without @timestamp: no slice owns it",
			slog.String("document_id", ev.DocumentID))
		return false
	}
	if ts.Before(s.from) || !ts.Before(s.to) {
		return false // a neighbour's (the overlapping second), or split off
	}
	key := eventKey(ev)
	b.mu.Lock()
	defer b.mu.Unlock()
	switch {
	case ts.Before(s.at):
		return false // delivered before the checkpoint this run resumed from
	case ts.Equal(s.at):
		if s.has(key) {
			return false
		}
	default:
		s.at, s.seen, s.seenSet = ts, nil, nil
	}
	s.add(key)
	b.events++
	return true
}

// eventKey identifies an event among those of one millisecond: its
// DocumentID, or for an event without one a digest of its JSON.
func eventKey(ev Event) string {
	if ev.DocumentID != "" && len(ev.DocumentID) <= maxSeenKeyLen && validText(ev.DocumentID) {
		return strings.Clone(ev.DocumentID)
	}
	sum := sha256.Sum256([]byte(ev.raw))
	return "sha256:" + hex.EncodeToString(sum[:16])
}

func (s *bslice) has(key string) bool {
	if s.seenSet != nil {
		_, ok := s.seenSet[key]
		return ok
	}
	return slices.Contains(s.seen, key)
}

func (s *bslice) add(key string) {
	s.seen = append(s.seen, key)
	switch {
	case s.seenSet != nil:
		s.seenSet[key] = struct{}{}
	case len(s.seen) > 16:
		s.seenSet = make(map[string]struct{}, 2*len(s.seen))
		for _, k := range s.seen {
			s.seenSet[k] = struct{}{}
		}
	}
}

func (b *Backfill) finish(s *bslice) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.removeLocked(s)
}

func (b *Backfill) removeLocked(s *bslice) {
	b.live = slices.DeleteFunc(b.live, func(x *bslice) bool { return x == s })
}

// insertLocked adds s to the live slices, keeping them ordered by from.
func (b *Backfill) insertLocked(s *bslice) {
	i, _ := slices.BinarySearchFunc(b.live, s.from, func(x *bslice, t time.Time) int { return x.from.Compare(t) })
	b.live = slices.Insert(b.live, i, s)
}

// waitingLocked returns the first live slice no walk has, or nil.
func (b *Backfill) waitingLocked() *bslice {
	for _, s := range b.live {
		if s.w == nil {
			return s
		}
	}
	return nil
}

// splitLocked cuts s at m: s keeps [from, m), and a new slice of s's page
// size, waiting for a walker, takes [m, to).
func (b *Backfill) splitLocked(s *bslice, m time.Time) *bslice {
	half := b.newSlice(m, s.to, time.Time{}, nil, s.perPage)
	s.to = m
	b.insertLocked(half)
	return half
}

// stealLocked finds work for idle workers: it takes the walked slice with
// the most events left, by the density its walk has read (the greater of
// the last page's and the whole walk's), and cuts what is left of it, past
// where its walk has got to, into equal stretches on whole seconds, one for
// it and one for each idle worker, as long as each holds about a page or
// more: a cut costs a request (the first walk's last page, cut short). The
// new slices wait for a worker; the first walk goes on and stops at the
// first cut, and what it reads beyond is dropped, since its slice no longer
// owns it. A slice whose walk has not received a page yet is never cut:
// nothing is known of it, and cutting blind multiplies the requests for a
// stretch that may be empty. It reports whether it cut anything.
func (b *Backfill) stealLocked(ctx context.Context, idle int) bool {
	var victim *bslice
	best := 0.0
	for _, s := range b.live {
		w := s.w
		if w == nil || w.fetched == 0 || !w.last.After(w.lo) || !w.last.Before(s.to) {
			continue
		}
		density := max(w.recent, float64(w.fetched)/w.last.Sub(w.lo).Seconds())
		if left := density * s.to.Sub(w.last).Seconds(); left > best {
			victim, best = s, left
		}
	}
	if victim == nil {
		return false
	}
	parts := min(idle+1, int(best/float64(victim.perPage)))
	if parts < 2 {
		return false
	}
	from, to := victim.w.last, victim.to
	var cuts []time.Time
	floor := from.Truncate(time.Second).Add(time.Second) // a cut is past the walk's position
	for i := 1; i < parts; i++ {
		c := from.Add(to.Sub(from) * time.Duration(i) / time.Duration(parts)).Truncate(time.Second)
		if c.Before(floor) {
			c = floor
		}
		if !c.Before(to) || (len(cuts) > 0 && !c.After(cuts[len(cuts)-1])) {
			continue
		}
		cuts = append(cuts, c)
	}
	if len(cuts) == 0 {
		return false
	}
	for _, c := range slices.Backward(cuts) {
		b.splitLocked(victim, c)
	}
	victim.w.limit.Store(victim.to.UnixNano())
	b.c.logger.LogAttrs(ctx, slog.LevelDebug, "auditlog: backfill cut a slice for idle workers",
		slog.Time("from", victim.from), slog.Time("walked_to", from), slog.Time("to", to),
		slog.Int("parts", len(cuts)+1), slog.Float64("events_left", best))
	return true
}

// spreadLocked splits the slices left, before any is walked, until there
// are as many as workers (or none can be split): a resumed backfill may
// have fewer slices left than it has workers, and none of them has been
// read yet. Each split halves, by time, the slice with the most time left.
func (b *Backfill) spreadLocked() {
	for len(b.live) < b.parallel {
		var widest *bslice
		var cut time.Time
		var most time.Duration
		for _, s := range b.live {
			if m := splitPoint(s.pos(), s.to); !m.IsZero() && s.to.Sub(s.pos()) > most {
				widest, cut, most = s, m, s.to.Sub(s.pos())
			}
		}
		if widest == nil {
			return
		}
		b.splitLocked(widest, cut)
	}
}

// tooSlow reports whether err says a request asked for too much at once:
// GitHub's timeout answers (502, 504), or no answer within the attempt
// timeout.
func tooSlow(err error) bool {
	var ae *APIError
	if errors.As(err, &ae) {
		return ae.StatusCode == http.StatusBadGateway || ae.StatusCode == http.StatusGatewayTimeout
	}
	var ne *NetworkError
	return errors.As(err, &ne) && errors.Is(ne.Err, context.DeadlineExceeded)
}

// maxSliceRestarts is how many times in a row a slice's walk that ran out
// of the pipeline's attempts on a transient failure (a reset, a truncated
// body, a 500 or 503) is started again from its position before the
// failure ends the iteration.
const maxSliceRestarts = 2

// restart lets a slice whose walk ended in a transient failure wait for a
// walker again, from its position, unless it has failed that way
// maxSliceRestarts times since its last page. With Parallel walks, one
// unlucky slice out of many would otherwise end a long backfill.
func (b *Backfill) restart(ctx context.Context, s *bslice, err error) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if s.failures >= maxSliceRestarts {
		return false
	}
	s.failures++
	b.c.logger.LogAttrs(ctx, slog.LevelWarn, "auditlog: backfill slice failed after the pipeline's retries; walking it again from its position",
		slog.Time("from", s.from), slog.Time("to", s.to), slog.Int("restart", s.failures), slog.String("error", err.Error()))
	return true
}

// adapt makes a slice that timed out ask for less: it splits it at its
// middle second (both halves then wait for a walker), or, at one second,
// halves its page size. It reports false at the floor: one second, 10 per
// page.
func (b *Backfill) adapt(ctx context.Context, s *bslice, err error) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if m := splitPoint(s.pos(), s.to); !m.IsZero() {
		half := b.splitLocked(s, m)
		b.c.logger.LogAttrs(ctx, slog.LevelWarn, "auditlog: backfill slice timed out; split in two",
			slog.Time("from", s.from), slog.Time("at", m), slog.Time("to", half.to), slog.String("error", err.Error()))
		return true
	}
	if s.perPage > minBackfillPerPage {
		s.perPage = max(s.perPage/2, minBackfillPerPage)
		b.c.logger.LogAttrs(ctx, slog.LevelWarn, "auditlog: one-second backfill slice timed out; asking for fewer per page",
			slog.Time("from", s.from), slog.Int("per_page", s.perPage), slog.String("error", err.Error()))
		return true
	}
	return false
}
