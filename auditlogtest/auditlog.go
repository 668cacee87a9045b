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
		switch include {
		case "all":
		case "git":
			if !ev.git {
				continue
			}
		default:
			if ev.git {
				continue
			}
		}
		if q != nil && !q.match(ev) {
			continue
		}
		out = append(out, ev)
	}
	if order != "asc" {
		slices.Reverse(out)
	}
	return out
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
	all := s.listLocked(include, order, q)

	// Parameters carried into the Link URLs, only when the request had them.
	carry := func(v url.Values) {
		v.Set("per_page", strconv.Itoa(perPage))
		for _, k := range []string{"phrase", "include", "order"} {
			if qv.Has(k) {
				v.Set(k, qv.Get(k))
			}
		}
	}
	base := fmt.Sprintf("%s/enterprises/%d/audit-log", s.URL(), s.cfg.enterpriseID)

	if s.cfg.ghes {
		return pageNumberResponse(all, page, perPage, base, carry)
	}

	after, before := qv.Get("after"), qv.Get("before")
	if after != "" && before != "" {
		return validationFailed("after", "after and before cannot both be set")
	}
	var lo, hi int                // the page is all[lo:hi]
	less := func(a, b pos) bool { // a comes before b in listing order
		c := comparePos(a, b)
		if order == "asc" {
			return c < 0
		}
		return c > 0
	}
	switch {
	case after != "":
		c, ok := decodeCursor(after)
		if !ok {
			return errorResponse(422, "Invalid cursor", docsAuditLog)
		}
		lo = len(all)
		for i, ev := range all {
			if less(c, ev.pos()) {
				lo = i
				break
			}
		}
		hi = min(lo+perPage, len(all))
	case before != "":
		c, ok := decodeCursor(before)
		if !ok {
			return errorResponse(422, "Invalid cursor", docsAuditLog)
		}
		hi = len(all)
		for i, ev := range all {
			if !less(ev.pos(), c) {
				hi = i
				break
			}
		}
		lo = max(hi-perPage, 0)
	default:
		lo = min((page-1)*perPage, len(all))
		hi = min(lo+perPage, len(all))
	}
	items := all[lo:hi]
	resp := eventsResponse(items)

	hasPrev := lo > 0 && len(items) > 0
	hasNext := hi < len(all) && len(items) > 0
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
