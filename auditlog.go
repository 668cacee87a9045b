package auditlog

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/ghaudit/auditlog/internal/wire"
	"github.com/google/go-querystring/query"
)

// Include selects which events a query returns. It is the type
// auditlogtest's Server.Events takes, so a test passes these constants to
// the fake too.
type Include = wire.Include

// Values of [Include]. GitHub's default is IncludeWeb.
const (
	IncludeWeb Include = "web" // web (non-Git) events
	IncludeGit Include = "git" // Git events (clone, fetch, push), kept 7 days
	IncludeAll Include = "all" // both
)

// Order is the order of events in a listing (also taken by auditlogtest).
type Order = wire.Order

// Values of [Order]. GitHub's default is OrderDesc.
const (
	OrderDesc Order = "desc" // newest first
	OrderAsc  Order = "asc"  // oldest first
)

// MaxPerPage is the largest page size GitHub serves.
const MaxPerPage = 100

// Query selects audit-log events. The zero Query asks for GitHub's defaults:
// web events, newest first, 30 per page.
type Query struct {
	// Phrase is a search phrase in GitHub's audit-log syntax, such as
	// "action:repo.create actor:octocat"; see [Phrase] for a builder.
	Phrase  string  `url:"phrase,omitempty"`
	Include Include `url:"include,omitempty"`
	Order   Order   `url:"order,omitempty"`
	// After and Before are cursors from a Link header; at most one is set.
	// Iterators manage them; set them by hand only to resume from a raw
	// cursor (see [Cursor] for the usual way).
	After  string `url:"after,omitempty"`
	Before string `url:"before,omitempty"`
	// Page is a page number, for GitHub Enterprise Server, which pages by
	// number; GitHub.com pages by cursor. It cannot be combined with a cursor.
	Page int `url:"page,omitempty"`
	// PerPage is the page size, 1 to 100; 0 means GitHub's default of 30.
	PerPage int `url:"per_page,omitempty"`

	// Set by At from a Cursor: the page-number pin, the end of a walk, the
	// fingerprint of the query the cursor came from and the key of its
	// scope.
	pin   int64
	done  bool
	tie   string
	scope string
}

// Validate reports the first field of q that GitHub would refuse or
// misread, as an [*InputError] naming it.
func (q *Query) Validate() error {
	bad := func(field, reason string) error { return &InputError{Field: "Query." + field, Reason: reason} }
	switch {
	case !validText(q.Phrase):
		return bad("Phrase", "has control characters or invalid UTF-8")
	case len(q.Phrase) > maxPhraseLen:
		return bad("Phrase", fmt.Sprintf("longer than %d bytes", maxPhraseLen))
	case q.Include != "" && q.Include != IncludeWeb && q.Include != IncludeGit && q.Include != IncludeAll:
		return bad("Include", fmt.Sprintf("must be web, git or all, got %s", quoteValue(string(q.Include))))
	case q.Order != "" && q.Order != OrderAsc && q.Order != OrderDesc:
		return bad("Order", fmt.Sprintf("must be asc or desc, got %s", quoteValue(string(q.Order))))
	case q.PerPage < 0 || q.PerPage > MaxPerPage:
		return bad("PerPage", fmt.Sprintf("must be between 1 and %d (0 for the default), got %d", MaxPerPage, q.PerPage))
	case q.Page < 0:
		return bad("Page", fmt.Sprintf("must not be negative, got %d", q.Page))
	case q.After != "" && q.Before != "":
		return bad("After", "After and Before cannot both be set")
	case q.Page > 0 && (q.After != "" || q.Before != ""):
		return bad("Page", "a page number cannot be combined with an After or Before cursor")
	case !validCursor(q.After):
		return bad("After", "not a cursor from a Link header")
	case !validCursor(q.Before):
		return bad("Before", "not a cursor from a Link header")
	case q.tie != "" && q.tie != q.fingerprint(q.Page > 0):
		reason := "belongs to a walk with another phrase, include or order"
		if q.Page > 0 {
			reason = "belongs to a walk with another phrase, include, order or page size"
		}
		return &InputError{Field: "Cursor", Reason: reason + "; resume it with the query it came from"}
	}
	return nil
}

// maxPhraseLen keeps a request line well under what proxies accept.
const maxPhraseLen = 4096

func validText(s string) bool { return utf8.ValidString(s) && !hasControl(s) }

// validCursor accepts what GitHub puts in cursors (base64) and page links,
// conservatively: printable ASCII without spaces, of a sane length.
func validCursor(s string) bool {
	if len(s) > 1024 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] >= 0x7f {
			return false
		}
	}
	return true
}

// values encodes q as URL query parameters.
func (q *Query) values() url.Values {
	v, _ := query.Values(q) // cannot fail for a struct of strings and ints
	return v
}

// Page is one page of the audit log.
type Page struct {
	Events []Event
	// Next is the position after this page; on the last page it is the end
	// of the walk ([Cursor.Done]), never the zero Cursor. Save it once the
	// page's events are processed to resume from there.
	Next Cursor
	// Prev is the position before this page, zero when GitHub gave none.
	Prev Cursor
	// Rate is the budget GitHub reported with the page.
	Rate Rate
	// RequestID is the X-GitHub-Request-Id of the response.
	RequestID string

	date time.Time // the response's Date: GitHub's clock, for Follow
}

// errFinished is AuditLog's answer for a query positioned at the end of a
// finished walk: there is no page to fetch. (The iterators yield nothing
// for it instead.)
var errFinished = &InputError{Field: "Cursor", Reason: "is the end of a finished walk: there is no page after it (stop when Page.Next.Done())"}

// AuditLog fetches one page of the audit log of s: an [Enterprise], an
// [Organization] or an [OrganizationID]. A nil q means the zero Query. A
// query positioned at a finished walk's end ([Cursor.Done]) is an
// [*InputError]: a loop over pages stops when page.Next.Done(). So is a
// query positioned at a cursor of another scope's walk.
//
// GitHub API docs: https://docs.github.com/enterprise-cloud@latest/rest/enterprise-admin/audit-log#get-the-audit-log-for-an-enterprise
// and https://docs.github.com/enterprise-cloud@latest/rest/orgs/orgs#get-the-audit-log-for-an-organization
func (c *Client) AuditLog(ctx context.Context, s Scope, q *Query) (*Page, error) {
	if q == nil {
		q = &Query{}
	}
	path, err := checkCall(ctx, s, q)
	if err != nil {
		return nil, err
	}
	if q.done {
		return nil, errFinished
	}
	key := scopeKey(s)
	end := &Page{Next: Cursor{done: true, query: q.fingerprint(false), scope: key}}
	values := q.values()
	if q.pin != 0 {
		phrase, ok, err := mergeCreated(q.Phrase, span{hi: time.Unix(q.pin, 0), hiIncl: true})
		if err != nil {
			return nil, err
		}
		if !ok {
			return end, nil
		}
		values.Set("phrase", phrase)
	}
	resp, err := c.do(ctx, &call{method: http.MethodGet, path: path, query: values, resource: BudgetKey(s)})
	if err != nil {
		return nil, err
	}
	events, err := decodeEvents(resp.body)
	if err != nil {
		return nil, fmt.Errorf("auditlog: decoding audit-log page (request %s): %w", quoteValue(resp.requestID), err)
	}
	page := &Page{Events: events, Rate: resp.rate, RequestID: resp.requestID}
	if d, err := http.ParseTime(resp.header.Get("Date")); err == nil {
		page.date = d
	}
	if page.Next, page.Prev, err = c.linkCursors(resp.header); err != nil {
		return nil, err
	}
	pages := page.Next.page > 0 || page.Prev.page > 0
	pin := q.pin
	if pages && pin == 0 && q.Order != OrderAsc && q.Page <= 1 {
		pin = pinFor(page) // the first page of a newest-first walk by number
	}
	for _, cur := range []*Cursor{&page.Next, &page.Prev} {
		if cur.IsZero() {
			continue
		}
		cur.query, cur.scope = q.fingerprint(cur.page > 0), key
		if cur.page > 0 {
			cur.pin = pin
		}
	}
	if page.Next.IsZero() {
		page.Next = end.Next
	}
	return page, nil
}

// checkCall checks what an audit-log call is given, before anything is
// sent: the scope, the query (a position included, which must come from a
// walk of the same scope) and the context. It returns the path of the
// scope's audit log.
func checkCall(ctx context.Context, s Scope, q *Query) (string, error) {
	path, err := scopePath(s)
	if err != nil {
		return "", err
	}
	if err := q.Validate(); err != nil {
		return "", err
	}
	if err := checkTie("Cursor", q.scope, s); err != nil {
		return "", err
	}
	if ctx == nil {
		return "", &InputError{Field: "ctx", Reason: "context is nil"}
	}
	return path, nil
}

// enterprisePath validates an enterprise slug or ID and returns the escaped
// path "enterprises/{enterprise}/{rest...}".
func enterprisePath(e Enterprise, rest ...string) (string, error) {
	p, err := e.path()
	if err != nil {
		return "", err
	}
	return p + "/" + strings.Join(rest, "/"), nil
}

func validateEnterprise(e string) error {
	bad := func(reason string) error { return &InputError{Field: "enterprise", Reason: reason} }
	switch {
	case e == "":
		return bad("is empty")
	case len(e) > 100:
		return bad("longer than 100 characters")
	case e == "." || e == "..":
		return bad(fmt.Sprintf("%s is not an enterprise", quoteValue(e)))
	}
	for _, r := range e {
		ok := r == '-' || r == '_' || r == '.' || (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z') || (r >= '0' && r <= '9')
		if !ok {
			return bad(fmt.Sprintf("%s may hold only letters, digits, '-', '_' and '.' (a slug or numeric ID)", quoteValue(e)))
		}
	}
	return nil
}
