package auditlogtest

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// term is one qualifier of a phrase.
type term struct {
	key    string
	neg    bool
	value  string           // for string qualifiers
	within func(int64) bool // for created:
}

// query is a parsed phrase: terms with the same key and sign are ORed
// (positive) or each excluded (negative); different keys are ANDed.
type query struct {
	pos map[string][]term
	neg []term
}

// qualifiers maps each supported qualifier to the event values it matches.
var qualifiers = map[string]func(map[string]any) []string{
	"action":       fieldValues("action"),
	"actor":        fieldValues("actor"),
	"user":         fieldValues("user"),
	"org":          fieldValues("org"),
	"repo":         fieldValues("repo", "repository"),
	"repository":   fieldValues("repo", "repository"),
	"operation":    fieldValues("operation_type"),
	"hashed_token": fieldValues("hashed_token"),
	"ip":           fieldValues("actor_ip"),
	"country_code": func(f map[string]any) []string {
		loc, _ := f["actor_location"].(map[string]any)
		return fieldValues("country_code")(loc)
	},
	"country": func(f map[string]any) []string {
		loc, _ := f["actor_location"].(map[string]any)
		return fieldValues("country_code", "country_name")(loc)
	},
	"created": nil, // handled by term.within
}

// fieldValues returns the string forms of the named fields, flattening arrays
// (GitHub returns org and repo as arrays for some events).
func fieldValues(names ...string) func(map[string]any) []string {
	return func(f map[string]any) []string {
		var out []string
		for _, n := range names {
			switch v := f[n].(type) {
			case string:
				out = append(out, v)
			case json.Number:
				out = append(out, v.String())
			case []any:
				for _, e := range v {
					switch e := e.(type) {
					case string:
						out = append(out, e)
					case json.Number:
						out = append(out, e.String())
					}
				}
			}
		}
		return out
	}
}

func (t term) match(ev *event) bool {
	if t.within != nil {
		return t.within(ev.ts)
	}
	for _, v := range qualifiers[t.key](ev.fields) {
		if strings.EqualFold(v, t.value) {
			return true
		}
		// action:repo matches the category: repo.create, repo.destroy, ...
		if t.key == "action" && !strings.Contains(t.value, ".") &&
			len(v) > len(t.value) && strings.EqualFold(v[:len(t.value)], t.value) && v[len(t.value)] == '.' {
			return true
		}
	}
	return false
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
			w, err := parseCreated(val)
			if err != nil {
				return nil, err
			}
			t.within = w
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
// date, or a range a..b with * for an open end).
func parseCreated(v string) (func(int64) bool, error) {
	v = unquote(v)
	if v == "" {
		return nil, fmt.Errorf("qualifier %q needs a value", "created")
	}
	for _, op := range []string{">=", "<=", ">", "<"} {
		rest, ok := strings.CutPrefix(v, op)
		if !ok {
			continue
		}
		sp, err := parseInstant(rest)
		if err != nil {
			return nil, err
		}
		switch op {
		case ">=":
			return func(ts int64) bool { return ts >= sp.lo }, nil
		case "<=":
			return func(ts int64) bool { return ts < sp.hi }, nil
		case ">":
			return func(ts int64) bool { return ts >= sp.hi }, nil
		default:
			return func(ts int64) bool { return ts < sp.lo }, nil
		}
	}
	if a, b, ok := strings.Cut(v, ".."); ok {
		var lo, hi *span
		if a != "*" {
			sp, err := parseInstant(a)
			if err != nil {
				return nil, err
			}
			lo = &sp
		}
		if b != "*" {
			sp, err := parseInstant(b)
			if err != nil {
				return nil, err
			}
			hi = &sp
		}
		return func(ts int64) bool {
			return (lo == nil || ts >= lo.lo) && (hi == nil || ts < hi.hi)
		}, nil
	}
	sp, err := parseInstant(v)
	if err != nil {
		return nil, err
	}
	return func(ts int64) bool { return ts >= sp.lo && ts < sp.hi }, nil
}
