package auditlog

import (
	"context"
	"fmt"
	"iter"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// Cursor is a position in the audit log, taken from a page's Link header:
// GitHub.com's opaque after/before cursor, or a page number on GitHub
// Enterprise Server. The zero Cursor means "no position" (the start of a
// query, or the end of the log). Cursors are not secret; they marshal as
// text (e.g. "after=MS42NjQz...") so they can be saved in a file or a
// database and restored with UnmarshalText.
type Cursor struct {
	after  string
	before string
	page   int
}

// IsZero reports whether c holds no position.
func (c Cursor) IsZero() bool { return c == Cursor{} }

// String returns the text form of c, "" for the zero Cursor.
func (c Cursor) String() string {
	switch {
	case c.after != "":
		return "after=" + url.QueryEscape(c.after)
	case c.before != "":
		return "before=" + url.QueryEscape(c.before)
	case c.page > 0:
		return "page=" + strconv.Itoa(c.page)
	}
	return ""
}

// MarshalText implements encoding.TextMarshaler.
func (c Cursor) MarshalText() ([]byte, error) { return []byte(c.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler; it accepts what
// MarshalText wrote, and empty text as the zero Cursor.
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
	key, val, ok := strings.Cut(s, "=")
	if !ok {
		return bad(fmt.Sprintf("%s is not after=…, before=… or page=N", quoteValue(s)))
	}
	v, err := url.QueryUnescape(val)
	if err != nil || v == "" || !validCursor(v) {
		return bad(fmt.Sprintf("%s has an invalid value", quoteValue(s)))
	}
	switch key {
	case "after":
		return Cursor{after: v}, nil
	case "before":
		return Cursor{before: v}, nil
	case "page":
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return bad(fmt.Sprintf("page must be a positive number, got %s", quoteValue(v)))
		}
		return Cursor{page: n}, nil
	}
	return bad(fmt.Sprintf("%s is not after=…, before=… or page=N", quoteValue(s)))
}

// At returns a copy of q positioned at c: its After, Before and Page are
// replaced by c's. At the zero Cursor the copy starts from the beginning.
func (q *Query) At(c Cursor) *Query {
	cp := *q
	cp.After, cp.Before, cp.Page = c.after, c.before, c.page
	return &cp
}

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

// linkCursors reads the next and prev cursors of a response. A link to
// another scheme or host than the base URL's is refused: following it would
// send the caller's query, and could send the token, elsewhere.
func (c *Client) linkCursors(h http.Header) (next, prev Cursor, err error) {
	for _, l := range parseLinkHeader(h.Values("Link")) {
		for _, rel := range l.rels {
			if rel != "next" && rel != "prev" {
				continue
			}
			cur, err := c.cursorFromLink(l.url)
			if err != nil {
				return Cursor{}, Cursor{}, err
			}
			if rel == "next" {
				next = cur
			} else {
				prev = cur
			}
		}
	}
	return next, prev, nil
}

func (c *Client) cursorFromLink(raw string) (Cursor, error) {
	u, err := c.base.Parse(raw)
	if err != nil {
		return Cursor{}, fmt.Errorf("auditlog: unreadable Link URL: %w", err)
	}
	if !strings.EqualFold(u.Scheme, c.base.Scheme) || !strings.EqualFold(u.Host, c.base.Host) {
		return Cursor{}, fmt.Errorf("auditlog: Link header points to %s, not the API host %s://%s; refusing to follow it",
			serverText(u.Scheme+"://"+u.Host, maxFieldText), c.base.Scheme, c.base.Host)
	}
	q := u.Query()
	switch {
	case q.Get("after") != "":
		return Cursor{after: q.Get("after")}, nil
	case q.Get("before") != "":
		return Cursor{before: q.Get("before")}, nil
	}
	if n, err := strconv.Atoi(q.Get("page")); err == nil && n > 0 {
		return Cursor{page: n}, nil
	}
	return Cursor{}, fmt.Errorf("auditlog: Link URL %s holds no cursor or page number", quoteValue(u.Path+"?"+u.RawQuery))
}

// Pages returns an iterator over the pages of the enterprise's audit log
// that q selects, from q's position (the start, or a cursor set with
// [Query.At]) to the last page. It does nothing until ranged over; q is
// copied when Pages is called and never modified. Each page is fetched
// through the client's pipeline, so transient failures are retried on the
// same cursor and the rate budget is respected; an error that remains is
// yielded once and ends the iteration. Breaking out of the loop sends no
// further request. Only one page is held at a time.
//
// On GitHub Enterprise Server, which pages by number, the iterator follows
// page numbers; on GitHub.com it follows cursors.
//
// # Exactly once across restarts
//
// Process every event of a page, then persist page.Next (a [Cursor] is a
// TextMarshaler). To resume, range over Pages(ctx, enterprise, q.At(saved)):
// it yields exactly the events after the saved page. If the process dies
// between processing a page and saving its cursor, that one page is
// delivered again on resume; make its processing idempotent (events carry a
// unique DocumentID) or save the cursor in the same transaction as the
// events.
func (c *Client) Pages(ctx context.Context, enterprise string, q *Query) iter.Seq2[*Page, error] {
	start := copyQuery(q)
	return func(yield func(*Page, error) bool) {
		q := start
		var prevIDs map[string]struct{}
		for {
			page, err := c.AuditLog(ctx, enterprise, &q)
			if err != nil {
				yield(nil, err)
				return
			}
			if q.Page > 0 || page.Next.page > 0 {
				// Page numbers shift when events arrive during a walk in
				// newest-first order; drop what the previous page yielded.
				prevIDs = dropRepeats(page, prevIDs)
			}
			if !yield(page, nil) || page.Next.IsZero() {
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
func (c *Client) Events(ctx context.Context, enterprise string, q *Query) iter.Seq2[Event, error] {
	pages := c.Pages(ctx, enterprise, q)
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

// dropRepeats removes from page the events whose IDs were in prev and
// returns the IDs of the page.
func dropRepeats(page *Page, prev map[string]struct{}) map[string]struct{} {
	ids := make(map[string]struct{}, len(page.Events))
	kept := page.Events[:0:0]
	for _, ev := range page.Events {
		if _, dup := prev[ev.DocumentID]; dup && ev.DocumentID != "" {
			continue
		}
		ids[ev.DocumentID] = struct{}{}
		kept = append(kept, ev)
	}
	page.Events = kept
	return ids
}
