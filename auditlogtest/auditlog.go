package auditlogtest

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/ghaudit/auditlog/internal/wire"
)

// AddEvents adds events while the server runs (e.g. for tail tests), listed
// from now on. Each must be a JSON object with an integer "@timestamp" in
// epoch milliseconds (a value that can only be seconds is refused) and a
// "_document_id" not already present; on error nothing is added.
func (s *Server) AddEvents(events ...json.RawMessage) error {
	return s.AddEventsAt(time.Time{}, events...)
}

// AddEventsAt adds events that GET audit-log lists only from the server's
// time at on (see [WithClock]): late arrival, as when GitHub indexes an
// event minutes after its @timestamp, without choreographing the test
// around the client's polls. A zero at lists them at once. The events are
// checked as by [Server.AddEvents]; on error nothing is added.
func (s *Server) AddEventsAt(at time.Time, events ...json.RawMessage) error {
	parsed := make([]*event, 0, len(events))
	seen := map[string]bool{}
	for i, r := range events {
		ev, err := parseEvent(r)
		if err != nil {
			return fmt.Errorf("auditlogtest: event %d: %w", i, err)
		}
		if seen[ev.id] {
			return fmt.Errorf("auditlogtest: event %d: duplicate _document_id %q", i, ev.id)
		}
		seen[ev.id] = true
		if !at.IsZero() {
			ev.visible = at.UnixMilli()
		}
		parsed = append(parsed, ev)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, ev := range parsed {
		if s.data.has(ev.id) || s.added[ev.id] {
			return fmt.Errorf("auditlogtest: event %d: duplicate _document_id %q", i, ev.id)
		}
	}
	if s.added == nil {
		s.added = map[string]bool{}
	}
	for _, ev := range parsed {
		s.added[ev.id] = true
	}
	if !s.cfg.orgsSet {
		s.orgs = s.orgIdx.addFrom(s.orgs, parsed...)
	}
	// The dataset may be shared with other servers: copy it once, then
	// insert in place. A tail test adds a few recent events at a time, so
	// each insert moves only the short run of events after it.
	if !s.ownEvents {
		s.events, s.ownEvents = slices.Clone(s.events), true
	}
	slices.SortFunc(parsed, compareEvents)
	for _, ev := range parsed {
		k, _ := slices.BinarySearchFunc(s.events, ev, compareEvents)
		s.events = slices.Insert(s.events, k, ev)
	}
	return nil
}

// Events returns the events GET audit-log would list now with no phrase,
// in that order, as copies. include and order are the SDK's types:
// auditlog.IncludeWeb, IncludeGit or IncludeAll ("" is GitHub's default,
// web) and auditlog.OrderAsc or OrderDesc ("" is desc). Any other value
// (such as "All") fails the test (a server from [New]) or panics.
func (s *Server) Events(include wire.Include, order wire.Order) []json.RawMessage {
	return s.listed("Events", "", include, order)
}

// listed is Events of the enterprise (org "") or of an organization, for
// the helper fn.
func (s *Server) listed(fn, org string, include wire.Include, order wire.Order) []json.RawMessage {
	switch include {
	case "":
		include = "web"
	case "web", "git", "all":
	default:
		s.fail("%s: include %q is not web, git or all", fn, include)
		return nil
	}
	switch order {
	case "":
		order = "desc"
	case "asc", "desc":
	default:
		s.fail("%s: order %q is not asc or desc", fn, order)
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []json.RawMessage
	for _, ev := range s.listLocked(string(include), string(order), org, nil, s.now().UnixMilli()) {
		out = append(out, json.RawMessage(ev.raw))
	}
	return out
}

// listLocked returns the matching events listed at now, in listing order,
// by the enterprise (org "") or the organization org.
func (s *Server) listLocked(include, order, org string, q *query, now int64) []*event {
	out := make([]*event, 0, len(s.events))
	for _, ev := range s.events {
		if !listed(ev, include, org, q, now) {
			continue
		}
		out = append(out, ev)
	}
	if order != "asc" {
		slices.Reverse(out)
	}
	return out
}

// listed reports whether a request with include and phrase q to the audit
// log of the enterprise (org "") or of the organization org lists ev at
// time now (epoch milliseconds). An organization's log is the enterprise's
// restricted to the events whose org names it.
func listed(ev *event, include, org string, q *query, now int64) bool {
	return ev.visible <= now && includes(include, ev) && (org == "" || ev.inOrg(org)) && (q == nil || q.match(ev))
}

// includes reports whether the include parameter selects ev.
func includes(include string, ev *event) bool {
	switch include {
	case "all":
		return true
	case "git":
		return ev.git
	}
	return !ev.git
}

// listing is the dataset (sorted ascending) seen in listing order, with the
// request's filter applied lazily. Only positions [lo, hi) can match: those
// of the events inside the phrase's created: range.
type listing struct {
	evs    []*event
	desc   bool
	match  func(*event) bool
	lo, hi int
}

func (l listing) at(k int) *event {
	if l.desc {
		return l.evs[len(l.evs)-1-k]
	}
	return l.evs[k]
}

// forward collects up to limit matching events from listing position from on,
// returning them with the position of the first and just past the last.
func (l listing) forward(from, limit int) (items []*event, first, end int) {
	first, end = from, from
	for k := max(from, l.lo); k < l.hi && len(items) < limit; k++ {
		if ev := l.at(k); l.match(ev) {
			if len(items) == 0 {
				first = k
			}
			items = append(items, ev)
			end = k + 1
		}
	}
	return items, first, end
}

// backward collects up to limit matching events before listing position upto,
// in listing order.
func (l listing) backward(upto, limit int) (items []*event, first, end int) {
	first, end = upto, upto
	for k := min(upto, l.hi) - 1; k >= l.lo && len(items) < limit; k-- {
		if ev := l.at(k); l.match(ev) {
			if len(items) == 0 {
				end = k + 1
			}
			items = append(items, ev)
			first = k
		}
	}
	slices.Reverse(items)
	return items, first, end
}

// anyIn reports whether a matching event lies in listing positions [lo, hi).
func (l listing) anyIn(lo, hi int) bool {
	for k := max(lo, l.lo); k < min(hi, l.hi); k++ {
		if l.match(l.at(k)) {
			return true
		}
	}
	return false
}

// encodeCursor renders GitHub's cursor: std base64 of "<ts as float e-notation>|<id>".
func encodeCursor(p pos) string {
	return base64.StdEncoding.EncodeToString([]byte(strconv.FormatFloat(float64(p.ts), 'e', -1, 64) + "|" + p.id))
}

func decodeCursor(c string) (pos, bool) {
	b, err := base64.StdEncoding.DecodeString(c)
	if err != nil {
		return pos{}, false
	}
	tsPart, id, ok := strings.Cut(string(b), "|")
	if !ok || id == "" {
		return pos{}, false
	}
	f, err := strconv.ParseFloat(tsPart, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) || f < 0 || f > 1<<53 {
		return pos{}, false
	}
	return pos{int64(math.Round(f)), id}, true
}

func validationFailed(field, message string) *response {
	return jsonResponse(422, apiError{
		Message:          "Validation Failed",
		Errors:           []apiFieldError{{Resource: "AuditLog", Field: field, Code: "invalid", Message: message}},
		DocumentationURL: docsAuditLog,
	})
}

// auditLogLocked answers GET audit-log for the enterprise (org nil) or an
// organization.
func (s *Server) auditLogLocked(r *http.Request, org *Org, at time.Time) *response {
	login := ""
	if org != nil {
		login = org.Login
	}
	now := at.UnixMilli()
	qv := r.URL.Query()
	include := qv.Get("include")
	switch include {
	case "":
		include = "web"
	case "web", "git", "all":
	default:
		return validationFailed("include", fmt.Sprintf("include %q is not one of web, git, all", include))
	}
	order := qv.Get("order")
	switch order {
	case "":
		order = "desc"
	case "asc", "desc":
	default:
		return validationFailed("order", fmt.Sprintf("order %q is not one of asc, desc", order))
	}
	perPage := 30
	if v, err := strconv.Atoi(qv.Get("per_page")); err == nil && v >= 1 {
		perPage = min(v, 100)
	}
	page := 1
	if v, err := strconv.Atoi(qv.Get("page")); err == nil && v >= 1 {
		page = v
	}
	q, err := parsePhrase(qv.Get("phrase"))
	if err != nil {
		return validationFailed("phrase", err.Error())
	}
	if s.timesOutLocked(include, login, q, now) {
		return errorResponse(s.cfg.searchTimeout.Status, timeoutMessage, docsREST)
	}

	// Parameters carried into the Link URLs, only when the request had them.
	carry := func(v url.Values) {
		v.Set("per_page", strconv.Itoa(perPage))
		for _, k := range []string{"phrase", "include", "order"} {
			if qv.Has(k) {
				v.Set(k, qv.Get(k))
			}
		}
	}
	root := s.URL()
	if s.cfg.linkBase != "" {
		root = s.cfg.linkBase
	}
	// Link URLs name the account by numeric ID, as GitHub's do.
	base := fmt.Sprintf("%s/enterprises/%d/audit-log", root, s.cfg.enterpriseID)
	if org != nil {
		base = fmt.Sprintf("%s/organizations/%d/audit-log", root, org.ID)
	}

	if s.cfg.ghes {
		return pageNumberResponse(s.listLocked(include, order, login, q, now), page, perPage, base, carry)
	}

	after, before := qv.Get("after"), qv.Get("before")
	if after != "" && before != "" {
		return validationFailed("after", "after and before cannot both be set")
	}
	// The page is found without building the filtered list: a binary search
	// puts the cursor in the sorted dataset, and the scan stops as soon as
	// the page and the existence of a next and previous event are known, so
	// a walk costs O(log n + page) per request even over millions of events.
	v := listing{evs: s.events, desc: order != "asc", match: func(ev *event) bool {
		return listed(ev, include, login, q, now)
	}, hi: len(s.events)}
	if sp := q.createdSpan(); sp.lo != math.MinInt64 || sp.hi != math.MaxInt64 {
		// Events outside the created: range cannot match: scan only the
		// positions inside it, so a narrow range costs O(log n) to find.
		a := sort.Search(len(s.events), func(k int) bool { return s.events[k].ts >= sp.lo })
		z := max(a, sort.Search(len(s.events), func(k int) bool { return s.events[k].ts >= sp.hi }))
		v.lo, v.hi = a, z
		if v.desc {
			v.lo, v.hi = len(s.events)-z, len(s.events)-a
		}
	}
	less := func(a, b pos) bool { // a comes before b in listing order
		c := comparePos(a, b)
		if order == "asc" {
			return c < 0
		}
		return c > 0
	}
	n := len(s.events)
	var items []*event
	var first, end int // listing positions of the first item and just past the last
	switch {
	case after != "":
		c, ok := decodeCursor(after)
		if !ok {
			return errorResponse(422, "Invalid cursor", docsAuditLog)
		}
		from := sort.Search(n, func(k int) bool { return less(c, v.at(k).pos()) })
		items, first, end = v.forward(from, perPage)
	case before != "":
		c, ok := decodeCursor(before)
		if !ok {
			return errorResponse(422, "Invalid cursor", docsAuditLog)
		}
		upto := sort.Search(n, func(k int) bool { return !less(v.at(k).pos(), c) })
		items, first, end = v.backward(upto, perPage)
	default:
		from, skipped := v.lo, 0
		for ; from < v.hi && skipped < (page-1)*perPage; from++ {
			if v.match(v.at(from)) {
				skipped++
			}
		}
		if skipped == (page-1)*perPage {
			items, first, end = v.forward(from, perPage)
		}
	}
	resp := eventsResponse(items)

	hasPrev := len(items) > 0 && v.anyIn(0, first)
	hasNext := len(items) > 0 && v.anyIn(end, n)
	if hasPrev || hasNext {
		link := func(rel, after, before string) string {
			v := url.Values{}
			carry(v)
			// "after" and "before" go first, like GitHub's own links.
			return fmt.Sprintf("<%s?after=%s&before=%s&%s>; rel=%q", base,
				url.QueryEscape(after), url.QueryEscape(before), v.Encode(), rel)
		}
		var links []string
		if hasNext {
			links = append(links, link("next", encodeCursor(items[len(items)-1].pos()), ""))
		}
		links = append(links, link("first", "", ""))
		if hasPrev {
			links = append(links, link("prev", "", encodeCursor(items[0].pos())))
		}
		resp.header.Set("Link", strings.Join(links, ", "))
	}
	return resp
}

// timeoutMessage is what GitHub answers a request it ended after 10 seconds.
const timeoutMessage = "We couldn't respond to your request in time. Sorry about that. Please try resubmitting your request and contact us if the problem persists."

// timesOutLocked reports whether [WithSearchTimeout] ends this search: its
// created: range is wider than MaxSpan, or it matches more than MaxEvents.
// A range open at its end ends at now: nothing is indexed past it, so
// created:>=X costs what X..now does. A closed end is taken as written
// (inside a synctest bubble the clock may read years before the events).
func (s *Server) timesOutLocked(include, org string, q *query, now int64) bool {
	st := s.cfg.searchTimeout
	if st.MaxSpan > 0 {
		sp := q.createdSpan()
		if sp.hi == math.MaxInt64 {
			sp.hi = now + 1
		}
		if sp.lo == math.MinInt64 || sp.hi-sp.lo > st.MaxSpan.Milliseconds() {
			return true
		}
	}
	if st.MaxEvents > 0 {
		n := 0
		for _, ev := range s.events {
			if listed(ev, include, org, q, now) {
				if n++; n > st.MaxEvents {
					return true
				}
			}
		}
	}
	return false
}

func pageNumberResponse(all []*event, page, perPage int, base string, carry func(url.Values)) *response {
	lo := min((page-1)*perPage, len(all))
	hi := min(lo+perPage, len(all))
	resp := eventsResponse(all[lo:hi])
	last := max((len(all)+perPage-1)/perPage, 1)
	if last > 1 || page > 1 {
		link := func(rel string, n int) string {
			v := url.Values{}
			carry(v)
			v.Set("page", strconv.Itoa(n))
			return fmt.Sprintf("<%s?%s>; rel=%q", base, v.Encode(), rel)
		}
		var links []string
		if page < last {
			links = append(links, link("next", page+1))
		}
		links = append(links, link("last", last), link("first", 1))
		if page > 1 {
			links = append(links, link("prev", min(page-1, last)))
		}
		resp.header.Set("Link", strings.Join(links, ", "))
	}
	return resp
}

func eventsResponse(items []*event) *response {
	resp := newResponse(http.StatusOK)
	resp.header.Set("Content-Type", contentTypeJSON)
	n := 2
	for _, ev := range items {
		n += len(ev.raw) + 1
	}
	b := make([]byte, 0, n)
	b = append(b, '[')
	for i, ev := range items {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, ev.raw...)
	}
	resp.body = append(b, ']')
	return resp
}
