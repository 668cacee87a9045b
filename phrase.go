package auditlog

import (
	"fmt"
	"strings"
	"time"
	"unicode"
)

// PhraseBuilder builds a search phrase for [Query].Phrase in GitHub's
// audit-log search syntax: space-separated key:value qualifiers, where a
// repeated qualifier means "any of" and a leading "-" excludes. Values with
// spaces are quoted and times are written in UTC.
//
// The time methods ([PhraseBuilder.CreatedSince], [PhraseBuilder.CreatedBefore],
// [PhraseBuilder.Created]) narrow one range: whatever is called, in any order
// and any number of times, the phrase holds a single created:A..B qualifier
// (with * for an open end), since GitHub reads two created: qualifiers as
// alternatives. GitHub's search counts whole seconds: a bound that is not on
// a whole second is widened to the second that holds it, so the range may
// hold events up to a second outside the times given, never fewer.
//
// A PhraseBuilder is an immutable value: each method returns a new one, so a
// common base can be extended in several directions. Values that cannot be
// expressed in the syntax (empty, or holding a double quote or a control
// character) are reported by [PhraseBuilder.Build] and [PhraseBuilder.Err],
// naming the qualifier.
type PhraseBuilder struct {
	terms   []string
	created span
	at      int // where the created: range goes among terms, plus one; 0 until a time method
	err     error
}

// Phrase starts an empty phrase.
func Phrase() PhraseBuilder { return PhraseBuilder{} }

// Action matches an action ("repo.create") or a whole category ("repo").
// The category may also be written "repo.*"; the search syntax has no other
// wildcard, so any other "*" is an error.
func (p PhraseBuilder) Action(action string) PhraseBuilder {
	if cat, ok := strings.CutSuffix(action, ".*"); ok && cat != "" && !strings.ContainsAny(cat, ".*") {
		action = cat
	}
	if i := strings.IndexByte(action, '*'); i >= 0 && p.err == nil {
		category, _, _ := strings.Cut(action[:i], ".")
		p.err = &InputError{Field: "Phrase.action", Reason: fmt.Sprintf(
			"%s: the search has no wildcards; a whole category is written action:%s", quoteValue(action), category)}
	}
	return p.Qualifier("action", action)
}

// Actor matches the login of who performed the action.
func (p PhraseBuilder) Actor(login string) PhraseBuilder { return p.Qualifier("actor", login) }

// User matches the login of the user affected.
func (p PhraseBuilder) User(login string) PhraseBuilder { return p.Qualifier("user", login) }

// Org matches an organization name.
func (p PhraseBuilder) Org(name string) PhraseBuilder { return p.Qualifier("org", name) }

// Repo matches a repository as "owner/name", as GitHub.com requires.
func (p PhraseBuilder) Repo(ownerName string) PhraseBuilder {
	if p.err == nil && !strings.Contains(ownerName, "/") {
		p.err = &InputError{Field: "Phrase.Repo", Reason: fmt.Sprintf("want owner/name, got %s", quoteValue(ownerName))}
	}
	return p.Qualifier("repo", ownerName)
}

// Country matches the actor's country, by two-letter code or full name.
func (p PhraseBuilder) Country(country string) PhraseBuilder { return p.Qualifier("country", country) }

// Operation matches an operation type: access, authentication, create,
// modify, remove, restore or transfer.
func (p PhraseBuilder) Operation(op string) PhraseBuilder { return p.Qualifier("operation", op) }

// HashedToken matches events made with the token whose SHA-256, base64
// encoded, is hashed.
func (p PhraseBuilder) HashedToken(hashed string) PhraseBuilder {
	return p.Qualifier("hashed_token", hashed)
}

// IP matches the actor's IP address.
func (p PhraseBuilder) IP(ip string) PhraseBuilder { return p.Qualifier("ip", ip) }

// CreatedSince narrows the created range to events at or after t.
func (p PhraseBuilder) CreatedSince(t time.Time) PhraseBuilder {
	return p.narrow(span{lo: t})
}

// CreatedBefore narrows the created range to events strictly before t.
func (p PhraseBuilder) CreatedBefore(t time.Time) PhraseBuilder {
	return p.narrow(span{hi: t})
}

// Created narrows the created range to events from from to to, both
// inclusive. A zero from or to leaves that end as it was.
func (p PhraseBuilder) Created(from, to time.Time) PhraseBuilder {
	s := span{lo: from}
	if !to.IsZero() {
		s.hi, s.hiIncl = to, true
	}
	return p.narrow(s)
}

func (p PhraseBuilder) narrow(s span) PhraseBuilder {
	if p.at == 0 {
		p.at = len(p.terms) + 1
	}
	p.created = p.created.intersect(s)
	if p.created.empty() && p.err == nil {
		p.err = &InputError{Field: "Phrase.Created", Reason: "the range is empty: its end is before its start"}
	}
	return p
}

// Qualifier adds key:value for a qualifier without its own method.
func (p PhraseBuilder) Qualifier(key, value string) PhraseBuilder {
	if p.err == nil {
		if err := checkQualifier(key, value); err != nil {
			p.err = err
		}
	}
	return p.term(key, quoteTerm(value))
}

// Not adds every qualifier of q, negated: Phrase().Action("repo").Not(Phrase().Actor("dependabot")).
func (p PhraseBuilder) Not(q PhraseBuilder) PhraseBuilder {
	if p.err == nil {
		p.err = q.err
	}
	terms := append([]string(nil), p.terms...)
	qterms := q.terms
	if !q.created.open() {
		qterms = append(qterms[:len(qterms):len(qterms)], "created:"+q.created.value())
	}
	for _, t := range qterms {
		pos, ok := strings.CutPrefix(t, "-")
		if !ok {
			terms = append(terms, "-"+t)
			continue
		}
		// not not x is x; a created: range joins p's own.
		if v, isCreated := cutCreated(pos); isCreated {
			s, err := parseSpan(v)
			if err == nil {
				p = p.narrow(s)
				continue
			}
		}
		terms = append(terms, pos)
	}
	p.terms = terms
	return p
}

// String returns the phrase. Check [PhraseBuilder.Err] (or use Build) when
// values come from users.
func (p PhraseBuilder) String() string {
	if p.created.open() {
		return strings.Join(p.terms, " ")
	}
	at := min(p.at-1, len(p.terms))
	terms := make([]string, 0, len(p.terms)+1)
	terms = append(append(append(terms, p.terms[:at]...), "created:"+p.created.value()), p.terms[at:]...)
	return strings.Join(terms, " ")
}

// Err returns the first invalid value given to the builder, or nil.
func (p PhraseBuilder) Err() error { return p.err }

// Build returns the phrase, or the first invalid value given to the builder.
func (p PhraseBuilder) Build() (string, error) {
	if p.err != nil {
		return "", p.err
	}
	return p.String(), nil
}

// term returns a copy of p with key:value appended; it never shares the
// backing array with p, so branches of one base stay independent.
func (p PhraseBuilder) term(key, value string) PhraseBuilder {
	terms := make([]string, len(p.terms), len(p.terms)+1)
	copy(terms, p.terms)
	p.terms = append(terms, key+":"+value)
	return p
}

func checkQualifier(key, value string) error {
	field := "Phrase." + key
	for _, r := range key {
		if !(r == '_' || (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9')) {
			return &InputError{Field: "Phrase", Reason: fmt.Sprintf("qualifier %s is not a lowercase name", quoteValue(key))}
		}
	}
	switch {
	case key == "":
		return &InputError{Field: "Phrase", Reason: "empty qualifier name"}
	case value == "":
		return &InputError{Field: field, Reason: "empty value"}
	case strings.Contains(value, `"`):
		return &InputError{Field: field, Reason: "a double quote cannot be expressed in a search value"}
	case !validText(value):
		return &InputError{Field: field, Reason: "has control characters or invalid UTF-8"}
	}
	return nil
}

// quoteTerm quotes a value holding white space, as the search syntax
// requires; any Unicode space counts (U+00A0, U+3000, ...), since a search
// parser may split on it.
func quoteTerm(v string) string {
	if strings.IndexFunc(v, unicode.IsSpace) >= 0 {
		return `"` + v + `"`
	}
	return v
}

// span is a range of event times. lo is inclusive; hi is exclusive, or
// inclusive when hiIncl. A zero bound is open.
type span struct {
	lo, hi time.Time
	hiIncl bool
}

// open reports whether s does not bound anything.
func (s span) open() bool { return s.lo.IsZero() && s.hi.IsZero() }

// empty reports whether no time is in s.
func (s span) empty() bool {
	if s.lo.IsZero() || s.hi.IsZero() {
		return false
	}
	if s.hiIncl {
		return s.hi.Before(s.lo)
	}
	return !s.lo.Before(s.hi)
}

// intersect returns the times in both s and o.
func (s span) intersect(o span) span {
	if !o.lo.IsZero() && (s.lo.IsZero() || o.lo.After(s.lo)) {
		s.lo = o.lo
	}
	switch {
	case o.hi.IsZero():
	case s.hi.IsZero() || o.hi.Before(s.hi):
		s.hi, s.hiIncl = o.hi, o.hiIncl
	case o.hi.Equal(s.hi):
		s.hiIncl = s.hiIncl && o.hiIncl
	}
	return s
}

// value renders s as the value of one created: qualifier, "A..B" with "*"
// for an open end. Bounds are whole seconds, widened outward: the lower one
// down to its second, the upper one up to the second that holds it; a range
// ending exclusively at midnight UTC ends on the day before, which the
// search reads as the whole of that day.
func (s span) value() string {
	lo, hi := "*", "*"
	if !s.lo.IsZero() {
		lo = searchTime(s.lo)
	}
	if !s.hi.IsZero() {
		t := s.hi.UTC()
		if !s.hiIncl && t.Equal(t.Truncate(24*time.Hour)) {
			hi = t.AddDate(0, 0, -1).Format(time.DateOnly)
		} else {
			up := t.Truncate(time.Second)
			if up.Before(t) {
				up = up.Add(time.Second)
			}
			hi = up.Format("2006-01-02T15:04:05Z")
		}
	}
	return lo + ".." + hi
}

// searchTime formats t in the search syntax for a lower bound: a date alone
// at midnight UTC, else a full UTC timestamp to the second (the search
// syntax has no finer precision).
func searchTime(t time.Time) string {
	t = t.UTC().Truncate(time.Second)
	if t.Hour() == 0 && t.Minute() == 0 && t.Second() == 0 {
		return t.Format(time.DateOnly)
	}
	return t.Format("2006-01-02T15:04:05Z")
}

// cutCreated reports whether term (without a leading "-") is a created:
// qualifier, and returns its value.
func cutCreated(term string) (string, bool) {
	key, val, ok := strings.Cut(term, ":")
	if !ok || !strings.EqualFold(key, "created") {
		return "", false
	}
	return val, true
}

// parseSpan reads the value of a created: qualifier as GitHub documents it:
// >, >=, <, <= a time; a time alone; or a range a..b with * for an open end.
// A time is a date (YYYY-MM-DD, the whole UTC day) or a date-time
// (YYYY-MM-DDTHH:MM[:SS] with Z or ±hh:mm; UTC without a zone).
func parseSpan(v string) (span, error) {
	v = strings.Trim(v, `"`)
	bad := func() (span, error) {
		return span{}, fmt.Errorf("created:%s is not a date, a date-time, a comparison or a range", quoteValue(v))
	}
	parse := func(s string) (start, end time.Time, isDate, ok bool) {
		if t, err := time.Parse(time.DateOnly, s); err == nil {
			return t, t.AddDate(0, 0, 1), true, true
		}
		for _, layout := range []string{time.RFC3339, "2006-01-02T15:04:05", "2006-01-02T15:04Z07:00", "2006-01-02T15:04"} {
			if t, err := time.Parse(layout, s); err == nil {
				return t, t, false, true
			}
		}
		return time.Time{}, time.Time{}, false, false
	}
	// upTo is the span of "<= s": through the end of a date, or the instant.
	upTo := func(s string) (span, bool) {
		_, end, isDate, ok := parse(s)
		if !ok {
			return span{}, false
		}
		if isDate {
			return span{hi: end}, true
		}
		return span{hi: end, hiIncl: true}, true
	}
	for _, op := range []string{">=", "<=", ">", "<"} {
		rest, ok := strings.CutPrefix(v, op)
		if !ok {
			continue
		}
		start, end, isDate, ok := parse(rest)
		if !ok {
			return bad()
		}
		switch op {
		case ">=":
			return span{lo: start}, nil
		case ">": // after a date is the next day; after an instant, from it (a second at most too wide)
			if isDate {
				return span{lo: end}, nil
			}
			return span{lo: start}, nil
		case "<=":
			s, _ := upTo(rest)
			return s, nil
		default:
			return span{hi: start}, nil
		}
	}
	if a, b, ok := strings.Cut(v, ".."); ok {
		var s span
		if a != "*" {
			start, _, _, ok := parse(a)
			if !ok {
				return bad()
			}
			s.lo = start
		}
		if b != "*" {
			hi, ok := upTo(b)
			if !ok {
				return bad()
			}
			s.hi, s.hiIncl = hi.hi, hi.hiIncl
		}
		return s, nil
	}
	start, end, isDate, ok := parse(v)
	if !ok {
		return bad()
	}
	if isDate {
		return span{lo: start, hi: end}, nil
	}
	return span{lo: start, hi: end, hiIncl: true}, nil
}

// phraseTerms splits a phrase into its terms: on white space outside
// double quotes (any Unicode space, as [quoteTerm] quotes them all), and on
// a "+" that starts another qualifier (a phrase copied from a URL), so that
// "created:...+02:00" keeps its "+".
func phraseTerms(p string) []string {
	var out []string
	start, inQuote := -1, false
	for i, r := range p {
		split := false
		switch {
		case r == '"':
			inQuote = !inQuote
		case !inQuote && unicode.IsSpace(r):
			split = true
		case !inQuote && r == '+' && startsQualifier(p[i+1:]):
			split = true
		}
		if split {
			if start >= 0 {
				out = append(out, p[start:i])
			}
			start = -1
		} else if start < 0 {
			start = i
		}
	}
	if start >= 0 {
		out = append(out, p[start:])
	}
	return out
}

// startsQualifier reports whether s begins with [-]key: .
func startsQualifier(s string) bool {
	s = strings.TrimPrefix(s, "-")
	i := 0
	for i < len(s) && (s[i] >= 'a' && s[i] <= 'z' || s[i] >= 'A' && s[i] <= 'Z' || s[i] == '_') {
		i++
	}
	return i > 0 && i < len(s) && s[i] == ':'
}

// mergeCreated returns phrase with its created: range narrowed to bound, as
// one created: qualifier. It is how an iterator that adds its own time
// bound (Follow's floor, a page-number walk's pin, a backfill's slice)
// combines it with the caller's phrase: never as a second created:, which
// GitHub would read as an alternative. A phrase holding two created:
// qualifiers, or one it cannot read, is refused. ok is false when the
// narrowed range holds no time at all (nothing to ask for).
func mergeCreated(phrase string, bound span) (merged string, ok bool, err error) {
	terms := phraseTerms(phrase)
	s := bound
	at := -1
	for i, t := range terms {
		v, isCreated := cutCreated(t)
		if !isCreated {
			continue
		}
		if at >= 0 {
			return "", false, &InputError{Field: "Query.Phrase", Reason: fmt.Sprintf(
				"holds two created: qualifiers (%s and %s), which GitHub reads as alternatives (either matches); write one range, created:A..B",
				quoteValue(terms[at]), quoteValue(t))}
		}
		own, perr := parseSpan(v)
		if perr != nil {
			return "", false, &InputError{Field: "Query.Phrase", Reason: perr.Error()}
		}
		s, at = s.intersect(own), i
	}
	if s.empty() {
		return "", false, nil
	}
	if at < 0 && s.open() {
		return phrase, true, nil
	}
	out := make([]string, 0, len(terms)+1)
	for i, t := range terms {
		if i != at {
			out = append(out, t)
		}
	}
	if !s.open() {
		out = append(out, "created:"+s.value())
	}
	return strings.Join(out, " "), true, nil
}
