package auditlog

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/maphash"
	"iter"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Cursor is a position in a walk of the audit log, taken from a page's Link
// header: GitHub.com's opaque after/before cursor, or a page number on
// GitHub Enterprise Server. Three kinds of value matter to a caller:
//
//   - the zero Cursor is the start of a query;
//   - [Page.Next] of the last page is the end: [Cursor.Done] reports it, and a
//     walk resumed from it sends no request and yields nothing;
//   - any other Cursor is the position after some page.
//
// A Cursor belongs to the query that produced it (its phrase, include and
// order; and page size, for page numbers) and to the [Scope] it walked:
// resuming it with another query, or on another scope, is an [*InputError]
// for "Cursor", before anything is sent. A scope is compared as it was
// named, without case: a walk begun on Enterprise("13827") does not resume
// on Enterprise("avocado-corp"). Cursors are not secret; they marshal as
// text (e.g. "after=MS42NjQz...&q=3f9c0a1b2c3d4e5f&scope=orgs%2Focto-org",
// "done&q=...&scope=...") so they can be saved in a file or a database and
// restored with UnmarshalText.
type Cursor struct {
	after  string
	before string
	page   int
	pin    int64 // page numbers: the created: upper bound (Unix seconds) they count under; 0 none
	done   bool
	query  string // fingerprint of the query the cursor belongs to; "" when unknown
	scope  string // key of the scope whose walk it is (scopeKey); "" when unknown
}

// IsZero reports whether c is the zero Cursor, the start of a query.
func (c Cursor) IsZero() bool { return c == Cursor{} }

// Done reports whether c is the end of a walk: there is nothing after it.
func (c Cursor) Done() bool { return c.done }

// String returns the text form of c, "" for the zero Cursor.
func (c Cursor) String() string {
	var s string
	switch {
	case c.done:
		s = "done"
	case c.after != "":
		s = "after=" + url.QueryEscape(c.after)
	case c.before != "":
		s = "before=" + url.QueryEscape(c.before)
	case c.page > 0:
		s = "page=" + strconv.Itoa(c.page)
		if c.pin != 0 {
			s += "&pin=" + strconv.FormatInt(c.pin, 10)
		}
	default:
		return ""
	}
	if c.query != "" {
		s += "&q=" + c.query
	}
	if c.scope != "" {
		s += "&scope=" + url.QueryEscape(c.scope)
	}
	return s
}

// MarshalText implements encoding.TextMarshaler.
func (c Cursor) MarshalText() ([]byte, error) { return []byte(c.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler; it accepts what
// MarshalText wrote, and empty text as the zero Cursor. Text saved by an
// earlier version (without "&q=" or "&scope=") is accepted and not tied to
// a query or a scope.
func (c *Cursor) UnmarshalText(b []byte) error {
	parsed, err := parseCursor(string(b))
	if err != nil {
		return err
	}
	*c = parsed
	return nil
}

func parseCursor(s string) (Cursor, error) {
	bad := func(reason string) (Cursor, error) {
		return Cursor{}, &InputError{Field: "Cursor", Reason: reason}
	}
	if s == "" {
		return Cursor{}, nil
	}
	parts := strings.Split(s, "&")
	var c Cursor
	for i, part := range parts {
		key, val, hasVal := strings.Cut(part, "=")
		if i == 0 && part == "done" {
			c.done = true
			continue
		}
		if !hasVal {
			return bad(fmt.Sprintf("%s is not after=…, before=…, page=N or done", quoteValue(s)))
		}
		v, err := url.QueryUnescape(val)
		if err != nil || v == "" || !validCursor(v) {
			return bad(fmt.Sprintf("%s has an invalid value", quoteValue(s)))
		}
		switch {
		case i == 0 && key == "after":
			c.after = v
		case i == 0 && key == "before":
			c.before = v
		case i == 0 && key == "page":
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 {
				return bad(fmt.Sprintf("page must be a positive number, got %s", quoteValue(v)))
			}
			c.page = n
		case i > 0 && key == "pin" && c.page > 0 && c.pin == 0:
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || n < 1 {
				return bad(fmt.Sprintf("pin must be a positive number, got %s", quoteValue(v)))
			}
			c.pin = n
		case i > 0 && key == "q" && c.query == "":
			if !validFingerprint(v) {
				return bad(fmt.Sprintf("q must be 16 hex digits, got %s", quoteValue(v)))
			}
			c.query = v
		case i > 0 && key == "scope" && c.scope == "":
			if !validScopeKey(v) {
				return bad(badScopeKey(v))
			}
			c.scope = v
		default:
			return bad(fmt.Sprintf("%s is not after=…, before=…, page=N or done", quoteValue(s)))
		}
	}
	return c, nil
}

// At returns a copy of q positioned at c: its After, Before and Page are
// replaced by c's. At the zero Cursor the copy starts from the beginning; at
// a finished walk's cursor ([Cursor.Done]) it selects nothing, and
// [Client.AuditLog] and the iterators send no request for it.
func (q *Query) At(c Cursor) *Query {
	cp := *q
	cp.After, cp.Before, cp.Page = c.after, c.before, c.page
	cp.pin, cp.done, cp.tie, cp.scope = c.pin, c.done, c.query, c.scope
	return &cp
}

// fingerprint identifies what a query selects and in which order: its
// phrase, include and order (GitHub's defaults spelled out), and with page
// numbers its page size, which they count in. A cursor carries the
// fingerprint of the query it came from.
func (q *Query) fingerprint(pages bool) string {
	include, order := q.Include, q.Order
	if include == "" {
		include = IncludeWeb
	}
	if order == "" {
		order = OrderDesc
	}
	key := q.Phrase + "\x00" + string(include) + "\x00" + string(order)
	if pages {
		per := q.PerPage
		if per == 0 {
			per = 30
		}
		key += "\x00" + strconv.Itoa(per)
	}
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:8])
}

// validFingerprint reports whether s is what fingerprint makes, as a saved
// cursor or backfill checkpoint carries it: 16 hex digits.
func validFingerprint(s string) bool {
	_, err := hex.DecodeString(s)
	return len(s) == 16 && err == nil
}

// badScopeKey is the reason a saved position (a cursor, a checkpoint) whose
// scope is not one a walk records is refused.
func badScopeKey(key string) string {
	return fmt.Sprintf("scope must be enterprises/…, orgs/… or organizations/…, got %s", quoteValue(key))
}

// Bounds on what a Link header may cost. GitHub's own links carry the phrase
// (at most maxPhraseLen bytes, escaped) and a cursor; these leave ample room
// while keeping a hostile header from costing more than a linear pass.
const (
	maxLinkHeaderBytes = 128 << 10
	maxLinkURLBytes    = 32 << 10
)

// link is one entry of a Link header.
type link struct {
	url  string
	rels []string
}

// parseLinkHeader parses RFC 8288 Link header values. It is lenient about
// spacing and case and skips entries it cannot read.
func parseLinkHeader(values []string) []link {
	var links []link
	for _, v := range values {
		for v != "" {
			start := strings.IndexByte(v, '<')
			if start < 0 {
				break
			}
			end := strings.IndexByte(v[start:], '>')
			if end < 0 {
				break
			}
			l := link{url: strings.TrimSpace(v[start+1 : start+end])}
			v = v[start+end+1:]
			// Parameters run to the next comma outside quotes.
			inQuote := false
			i := 0
			for ; i < len(v); i++ {
				if v[i] == '"' {
					inQuote = !inQuote
				} else if v[i] == ',' && !inQuote {
					break
				}
			}
			for _, p := range strings.Split(v[:i], ";") {
				name, val, ok := strings.Cut(strings.TrimSpace(p), "=")
				if !ok || !strings.EqualFold(strings.TrimSpace(name), "rel") {
					continue
				}
				val = strings.Trim(strings.TrimSpace(val), `"`)
				for _, r := range strings.Fields(val) {
					l.rels = append(l.rels, strings.ToLower(r))
				}
			}
			links = append(links, l)
			if i < len(v) {
				v = v[i+1:]
			} else {
				v = ""
			}
		}
	}
	return links
}

// linkCursors reads the next and prev cursors of a response. Only the
// cursor is taken from a link: the request for it is built on the base URL,
// so a link that names another host (GitHub behind a proxy, a gateway or an
// alias) is followed on the API host, and nothing is ever sent to the host
// it names. The header is bounded and each URL parsed once, however many
// rels it carries.
func (c *Client) linkCursors(h http.Header) (next, prev Cursor, err error) {
	values := h.Values("Link")
	size := 0
	for _, v := range values {
		size += len(v)
	}
	if size > maxLinkHeaderBytes {
		return Cursor{}, Cursor{}, fmt.Errorf("auditlog: Link header of %d bytes, more than the %d a page's links need", size, maxLinkHeaderBytes)
	}
	for _, l := range parseLinkHeader(values) {
		isNext, isPrev := false, false
		for _, rel := range l.rels {
			isNext = isNext || rel == "next"
			isPrev = isPrev || rel == "prev"
		}
		if !isNext && !isPrev {
			continue
		}
		cur, err := c.cursorFromLink(l.url)
		if err != nil {
			return Cursor{}, Cursor{}, err
		}
		if isNext {
			next = cur
		}
		if isPrev {
			prev = cur
		}
	}
	return next, prev, nil
}

func (c *Client) cursorFromLink(raw string) (Cursor, error) {
	if len(raw) > maxLinkURLBytes {
		return Cursor{}, fmt.Errorf("auditlog: Link URL of %d bytes, more than %d", len(raw), maxLinkURLBytes)
	}
	u, err := c.base.Parse(raw)
	if err != nil {
		return Cursor{}, errors.New("auditlog: unreadable Link URL")
	}
	q := u.Query()
	var cur Cursor
	switch after, before := q.Get("after"), q.Get("before"); {
	case after != "":
		cur.after = strings.Clone(after)
	case before != "":
		cur.before = strings.Clone(before)
	default:
		if n, err := strconv.Atoi(q.Get("page")); err == nil && n > 0 {
			return Cursor{page: n}, nil
		}
		return Cursor{}, fmt.Errorf("auditlog: Link URL %s holds no cursor or page number", serverText(u.Path+"?"+u.RawQuery, maxFieldText))
	}
	if !validCursor(cur.after) || !validCursor(cur.before) {
		return Cursor{}, errors.New("auditlog: the Link header's cursor is not a cursor (too long, or not printable ASCII)")
	}
	return cur, nil
}

// errLoop is the error a walk stops with when the server hands it a
// position it has already read.
var errLoop = errors.New("auditlog: the server's Link header sent the walk back to a position it already read; stopping rather than loop")

// positions remembers the positions a walk has followed, as 64-bit hashes:
// 8 bytes a page, so even a walk of a million pages stays small.
type positions struct {
	seed maphash.Seed
	seen map[uint64]struct{}
}

// add records c and reports whether it is new.
func (p *positions) add(c Cursor) bool {
	if p.seen == nil {
		p.seed, p.seen = maphash.MakeSeed(), map[uint64]struct{}{}
	}
	key := Cursor{after: c.after, before: c.before, page: c.page}.String()
	h := maphash.String(p.seed, key)
	if _, dup := p.seen[h]; dup {
		return false
	}
	p.seen[h] = struct{}{}
	return true
}

// Pages returns an iterator over the pages of the audit log of s (an
// [Enterprise], an [Organization] or an [OrganizationID]) that q selects, from q's position (the start, or a cursor set with
// [Query.At]) to the last page. It does nothing until ranged over; q is
// copied when Pages is called and never modified. Each page is fetched
// through the client's pipeline, so transient failures are retried on the
// same cursor and the rate budget is respected; an error that remains is
// yielded once and ends the iteration. Breaking out of the loop sends no
// further request. Only one page is held at a time. A server that hands the
// walk a position it has already read ends it with an error rather than a
// loop.
//
// # Exactly once across restarts
//
// Process every event of a page, then persist page.Next (a [Cursor] is a
// TextMarshaler). To resume, range over Pages(ctx, s, q.At(saved)):
// it yields exactly the events after the saved page. The last page's Next
// says the walk is finished, so resuming a finished walk sends no request;
// events that arrive after it are [Client.Follow]'s to deliver. If the
// process dies between processing a page and saving its cursor, that one
// page is delivered again on resume; make its processing idempotent (events
// carry a unique DocumentID) or save the cursor in the same transaction as
// the events.
//
// # GitHub Enterprise Server
//
// GitHub Enterprise Server pages by number; the iterator follows page
// numbers there. Numbers shift when events arrive, so a newest-first walk
// is pinned to the events that existed when it started (a created: bound at
// the newest one, merged into the phrase) and drops any event the previous
// page already yielded: events arriving during the walk are neither
// repeated nor allowed to push one past it. An oldest-first walk needs no
// pin (arrivals go to its end), but on a server with a retention period, old
// events expiring during it shift its pages forward and can be skipped:
// walk newest first there.
func (c *Client) Pages(ctx context.Context, s Scope, q *Query) iter.Seq2[*Page, error] {
	start := copyQuery(q)
	return func(yield func(*Page, error) bool) {
		q := start
		if q.done {
			// A finished walk: check the call all the same, send nothing.
			if _, err := checkCall(ctx, s, &q); err != nil {
				yield(nil, err)
			}
			return
		}
		var followed positions
		followed.add(Cursor{after: q.After, before: q.Before, page: q.Page})
		var prevIDs map[string]struct{}
		for {
			page, err := c.AuditLog(ctx, s, &q)
			if err != nil {
				yield(nil, err)
				return
			}
			if q.Page > 0 || page.Next.page > 0 {
				// Page numbers shift when events land behind the walk;
				// drop what the previous page yielded.
				prevIDs = dropRepeats(page, prevIDs)
			}
			if !yield(page, nil) || page.Next.done || page.Next.IsZero() {
				return
			}
			if !followed.add(page.Next) {
				yield(nil, fmt.Errorf("%w (%s)", errLoop, quoteValue(page.Next.String())))
				return
			}
			q = *q.At(page.Next)
		}
	}
}

// Events returns an iterator over every event q selects, page after page;
// see [Client.Pages] for its behaviour. Events are yielded as values: an
// Event is immutable and shares memory with its page, so a value costs no
// allocation and cannot be changed behind the iterator's back.
func (c *Client) Events(ctx context.Context, s Scope, q *Query) iter.Seq2[Event, error] {
	pages := c.Pages(ctx, s, q)
	return func(yield func(Event, error) bool) {
		for page, err := range pages {
			if err != nil {
				yield(Event{}, err)
				return
			}
			for _, ev := range page.Events {
				if !yield(ev, nil) {
					return
				}
			}
		}
	}
}

func copyQuery(q *Query) Query {
	if q == nil {
		return Query{}
	}
	return *q
}

// dropRepeats removes from page, in place, the events whose IDs were in
// prev and returns the IDs of the page. The page is the walk's own until it
// is yielded, so it is filtered where it lies rather than copied.
func dropRepeats(page *Page, prev map[string]struct{}) map[string]struct{} {
	ids := make(map[string]struct{}, len(page.Events))
	page.Events = slices.DeleteFunc(page.Events, func(ev Event) bool {
		if _, dup := prev[ev.DocumentID]; dup && ev.DocumentID != "" {
			return true
		}
		ids[ev.DocumentID] = struct{}{}
		return false
	})
	return ids
}

// pinFor returns the created: upper bound that pins a newest-first
// page-number walk whose first page is p: the second after its newest
// event, so every event of the first page stays in the listing and events
// arriving later do not.
func pinFor(p *Page) int64 {
	if len(p.Events) == 0 || p.Events[0].Timestamp.IsZero() {
		return 0
	}
	t := p.Events[0].Timestamp
	return t.Truncate(time.Second).Add(time.Second).Unix()
}
