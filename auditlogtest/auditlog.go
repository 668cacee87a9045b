package auditlogtest

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// event is one stored audit-log event.
type event struct {
	ts     int64
	id     string
	raw    json.RawMessage // compact JSON, served byte for byte
	fields map[string]any  // decoded, for phrase filtering
	git    bool
}

func parseEvent(raw json.RawMessage) (*event, error) {
	var buf bytes.Buffer
	if err := json.Compact(&buf, raw); err != nil {
		return nil, fmt.Errorf("invalid JSON: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(buf.Bytes()))
	dec.UseNumber()
	var fields map[string]any
	if err := dec.Decode(&fields); err != nil || fields == nil {
		return nil, errors.New("not a JSON object")
	}
	num, ok := fields["@timestamp"].(json.Number)
	if !ok {
		return nil, errors.New(`"@timestamp" missing or not a number`)
	}
	ts, err := strconv.ParseInt(num.String(), 10, 64)
	if err != nil {
		return nil, fmt.Errorf(`"@timestamp" %s is not an integer (epoch milliseconds)`, num)
	}
	id, ok := fields["_document_id"].(string)
	if !ok || id == "" {
		return nil, errors.New(`"_document_id" missing or not a non-empty string`)
	}
	action, _ := fields["action"].(string)
	return &event{
		ts:     ts,
		id:     id,
		raw:    json.RawMessage(bytes.Clone(buf.Bytes())),
		fields: fields,
		git:    strings.HasPrefix(action, "git."),
	}, nil
}

// pos is a position in the ascending (@timestamp, _document_id) order.
type pos struct {
	ts int64
	id string
}

func (e *event) pos() pos { return pos{e.ts, e.id} }

func comparePos(a, b pos) int {
	if a.ts != b.ts {
		if a.ts < b.ts {
			return -1
		}
		return 1
	}
	return strings.Compare(a.id, b.id)
}

func sortEvents(evs []*event) {
	slices.SortFunc(evs, func(a, b *event) int { return comparePos(a.pos(), b.pos()) })
}

// AddEvents adds events while the server runs (e.g. for tail tests). Each
// must be a JSON object with an integer "@timestamp" (epoch ms) and a
// "_document_id" not already present; on error nothing is added.
func (s *Server) AddEvents(events ...json.RawMessage) error {
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
		parsed = append(parsed, ev)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, ev := range parsed {
		if s.ids[ev.id] {
			return fmt.Errorf("auditlogtest: event %d: duplicate _document_id %q", i, ev.id)
		}
	}
	for _, ev := range parsed {
		s.ids[ev.id] = true
	}
	s.events = append(s.events, parsed...)
	sortEvents(s.events)
	return nil
}

// Events returns the dataset as GET audit-log would list it with no phrase:
// include is "web", "git" or "all" (anything else is treated as "web"),
// order "asc" or "desc" (anything else is "desc"). The slices are copies.
func (s *Server) Events(include, order string) []json.RawMessage {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []json.RawMessage
	for _, ev := range s.listLocked(include, order, nil) {
		out = append(out, bytes.Clone(ev.raw))
	}
	return out
}

// listLocked returns the matching events in listing order.
func (s *Server) listLocked(include, order string, q *query) []*event {
	out := make([]*event, 0, len(s.events))
	for _, ev := range s.events {
		if !includes(include, ev) || (q != nil && !q.match(ev)) {
			continue
		}
		out = append(out, ev)
	}
	if order != "asc" {
		slices.Reverse(out)
	}
	return out
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
// request's filter applied lazily.
type listing struct {
	evs   []*event
	desc  bool
	match func(*event) bool
}

func (l listing) at(k int) *event {
	if l.desc {
		return l.evs[len(l.evs)-1-k]
	}
	return l.evs[k]
}

// forward collects up to max matching events from listing position from on,
// returning them with the position of the first and just past the last.
func (l listing) forward(from, max int) (items []*event, first, end int) {
	first, end = from, from
	for k := from; k < len(l.evs) && len(items) < max; k++ {
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

// backward collects up to max matching events before listing position upto,
// in listing order.
func (l listing) backward(upto, max int) (items []*event, first, end int) {
	first, end = upto, upto
	for k := upto - 1; k >= 0 && len(items) < max; k-- {
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
	for k := lo; k < hi; k++ {
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

func (s *Server) auditLogLocked(r *http.Request) *response {
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
	base := fmt.Sprintf("%s/enterprises/%d/audit-log", root, s.cfg.enterpriseID)

	if s.cfg.ghes {
		return pageNumberResponse(s.listLocked(include, order, q), page, perPage, base, carry)
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
		return includes(include, ev) && (q == nil || q.match(ev))
	}}
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
		from, skipped := 0, 0
		for ; from < n && skipped < (page-1)*perPage; from++ {
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
