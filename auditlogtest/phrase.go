package auditlogtest

import (
	"fmt"
	"math"
	"strings"
	"time"
)

// term is one qualifier of a phrase.
type term struct {
	key    string
	neg    bool
	value  string // for string qualifiers
	lo, hi int64  // for created: the range [lo, hi) in epoch milliseconds, math.MinInt64/MaxInt64 when open
}

// query is a parsed phrase: terms with the same key and sign are ORed
// (positive) or each excluded (negative); different keys are ANDed.
type query struct {
	pos map[string][]term
	neg []term
}

// qualifiers maps each supported qualifier to the event fields it matches;
// country and country_code read actor_location, created reads @timestamp.
var qualifiers = map[string][]string{
	"action":       {"action"},
	"actor":        {"actor"},
	"user":         {"user"},
	"org":          {"org"},
	"repo":         {"repo", "repository"},
	"repository":   {"repo", "repository"},
	"operation":    {"operation_type"},
	"hashed_token": {"hashed_token"},
	"ip":           {"actor_ip"},
	"country_code": {"country_code"},
	"country":      {"country_code", "country_name"},
	"created":      nil,
}

func (t term) match(ev *event) bool {
	if t.key == "created" {
		return ev.ts >= t.lo && ev.ts < t.hi
	}
	// action and actor, the commonest qualifiers, are kept with the event;
	// the others are read from its JSON when a search needs them.
	switch {
	case t.key == "action" && !ev.odd:
		return t.matchValue(ev.action)
	case t.key == "actor" && !ev.odd:
		return t.matchValue(ev.actor)
	}
	found := false
	each := func(v string) bool {
		found = t.matchValue(v)
		return !found
	}
	if t.key == "country" || t.key == "country_code" {
		members(ev.raw, func(k, v string) bool {
			if k == "actor_location" {
				eachField(v, qualifiers[t.key], each)
				return false
			}
			return true
		})
		return found
	}
	eachField(ev.raw, qualifiers[t.key], each)
	return found
}

// matchValue reports whether one value of the event's field matches.
func (t term) matchValue(v string) bool {
	if strings.EqualFold(v, t.value) {
		return true
	}
	// action:repo matches the category: repo.create, repo.destroy, ...
	return t.key == "action" && !strings.Contains(t.value, ".") &&
		len(v) > len(t.value) && strings.EqualFold(v[:len(t.value)], t.value) && v[len(t.value)] == '.'
}

func (q *query) match(ev *event) bool {
	for _, ts := range q.pos {
		ok := false
		for _, t := range ts {
			if t.match(ev) {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	for _, t := range q.neg {
		if t.match(ev) {
			return false
		}
	}
	return true
}

// splitPhrase splits on whitespace and '+' outside double quotes. A '+' only
// separates when a qualifier ("key:" or "-key:") follows, so a literal '+'
// inside a value (e.g. created:2024-01-01T10:00:00+02:00) survives.
func splitPhrase(p string) []string {
	var out []string
	var cur strings.Builder
	inQuote := false
	flush := func() {
		if cur.Len() > 0 {
			out = append(out, cur.String())
			cur.Reset()
		}
	}
	for i := 0; i < len(p); i++ {
		c := p[i]
		switch {
		case c == '"':
			inQuote = !inQuote
			cur.WriteByte(c)
		case !inQuote && (c == ' ' || c == '\t' || c == '\n' || c == '\r'):
			flush()
		case !inQuote && c == '+' && startsQualifier(p[i+1:]):
			flush()
		default:
			cur.WriteByte(c)
		}
	}
	flush()
	return out
}

func startsQualifier(s string) bool {
	if s == "" {
		return true
	}
	s = strings.TrimPrefix(s, "-")
	i := 0
	for i < len(s) && (s[i] >= 'a' && s[i] <= 'z' || s[i] >= 'A' && s[i] <= 'Z' || s[i] == '_') {
		i++
	}
	return i > 0 && i < len(s) && s[i] == ':'
}

func unquote(v string) string {
	if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
		return v[1 : len(v)-1]
	}
	return v
}

// parsePhrase parses GitHub's audit-log search phrase. Free text and unknown
// qualifiers are errors (GitHub does not support free-text search).
func parsePhrase(p string) (*query, error) {
	tokens := splitPhrase(p)
	if len(tokens) == 0 {
		return nil, nil
	}
	q := &query{pos: map[string][]term{}}
	for _, tok := range tokens {
		t := term{}
		if strings.HasPrefix(tok, "-") {
			t.neg = true
			tok = tok[1:]
		}
		key, val, ok := strings.Cut(tok, ":")
		if !ok || key == "" {
			return nil, fmt.Errorf("free-text search is not supported: %q is not a qualifier (use key:value)", tok)
		}
		key = strings.ToLower(key)
		if _, known := qualifiers[key]; !known {
			return nil, fmt.Errorf("unknown qualifier %q in phrase", key)
		}
		t.key = key
		if key == "created" {
			sp, err := parseCreated(val)
			if err != nil {
				return nil, err
			}
			t.lo, t.hi = sp.lo, sp.hi
		} else {
			t.value = unquote(val)
			if t.value == "" {
				return nil, fmt.Errorf("qualifier %q needs a value", key)
			}
		}
		if t.neg {
			q.neg = append(q.neg, t)
		} else {
			q.pos[key] = append(q.pos[key], t)
		}
	}
	return q, nil
}

// span is a half-open interval [lo, hi) of epoch milliseconds: a whole UTC
// day for a date, one millisecond for a date-time.
type span struct{ lo, hi int64 }

func parseInstant(v string) (span, error) {
	v = unquote(v)
	if t, err := time.Parse("2006-01-02", v); err == nil {
		return span{t.UnixMilli(), t.AddDate(0, 0, 1).UnixMilli()}, nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02T15:04Z07:00", "2006-01-02T15:04"} {
		if t, err := time.Parse(layout, v); err == nil {
			ms := t.UnixMilli()
			return span{ms, ms + 1}, nil
		}
	}
	return span{}, fmt.Errorf("created: %q is not a date (YYYY-MM-DD) or date-time (YYYY-MM-DDTHH:MM:SS with Z or +hh:mm)", v)
}

// parseCreated parses the value of created: (operators >, >=, <, <=, a
// date, or a range a..b with * for an open end) into the range of epoch
// milliseconds it covers, math.MinInt64 or math.MaxInt64 for an open end.
func parseCreated(v string) (span, error) {
	v = unquote(v)
	if v == "" {
		return span{}, fmt.Errorf("qualifier %q needs a value", "created")
	}
	for _, op := range []string{">=", "<=", ">", "<"} {
		rest, ok := strings.CutPrefix(v, op)
		if !ok {
			continue
		}
		sp, err := parseInstant(rest)
		if err != nil {
			return span{}, err
		}
		switch op {
		case ">=":
			return span{sp.lo, math.MaxInt64}, nil
		case "<=":
			return span{math.MinInt64, sp.hi}, nil
		case ">":
			return span{sp.hi, math.MaxInt64}, nil
		default:
			return span{math.MinInt64, sp.lo}, nil
		}
	}
	if a, b, ok := strings.Cut(v, ".."); ok {
		out := span{math.MinInt64, math.MaxInt64}
		if a != "*" {
			sp, err := parseInstant(a)
			if err != nil {
				return span{}, err
			}
			out.lo = sp.lo
		}
		if b != "*" {
			sp, err := parseInstant(b)
			if err != nil {
				return span{}, err
			}
			out.hi = sp.hi
		}
		return out, nil
	}
	return parseInstant(v)
}

// createdSpan is the hull of the times the query's created: qualifiers let
// through: positive ones are alternatives, so their union; negative ones
// are ignored. No created: at all is open at both ends.
func (q *query) createdSpan() span {
	terms := []term(nil)
	if q != nil {
		terms = q.pos["created"]
	}
	if len(terms) == 0 {
		return span{math.MinInt64, math.MaxInt64}
	}
	out := span{math.MaxInt64, math.MinInt64}
	for _, t := range terms {
		out.lo, out.hi = min(out.lo, t.lo), max(out.hi, t.hi)
	}
	return out
}
