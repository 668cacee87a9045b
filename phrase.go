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
// A PhraseBuilder is an immutable value: each method returns a new one, so a
// common base can be extended in several directions. Values that cannot be
// expressed in the syntax (empty, or holding a double quote or a control
// character) are reported by [PhraseBuilder.Build] and [PhraseBuilder.Err],
// naming the qualifier.
type PhraseBuilder struct {
	terms []string
	err   error
}

// Phrase starts an empty phrase.
func Phrase() PhraseBuilder { return PhraseBuilder{} }

// Action matches an action ("repo.create") or a whole category ("repo").
func (p PhraseBuilder) Action(action string) PhraseBuilder { return p.Qualifier("action", action) }

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

// CreatedSince matches events at or after t.
func (p PhraseBuilder) CreatedSince(t time.Time) PhraseBuilder {
	return p.term("created", ">="+searchTime(t))
}

// CreatedBefore matches events strictly before t.
func (p PhraseBuilder) CreatedBefore(t time.Time) PhraseBuilder {
	return p.term("created", "<"+searchTime(t))
}

// Created matches events from from to to, both inclusive. A zero from or
// to leaves that end open.
func (p PhraseBuilder) Created(from, to time.Time) PhraseBuilder {
	if from.IsZero() && to.IsZero() {
		return p
	}
	lo, hi := "*", "*"
	if !from.IsZero() {
		lo = searchTime(from)
	}
	if !to.IsZero() {
		// Never a bare date here: as an upper bound GitHub reads a date as
		// the end of that day, which would widen the range by up to a day.
		hi = to.UTC().Truncate(time.Second).Format("2006-01-02T15:04:05Z")
	}
	if !from.IsZero() && !to.IsZero() && to.Before(from) && p.err == nil {
		p.err = &InputError{Field: "Phrase.Created", Reason: "to is before from"}
	}
	return p.term("created", lo+".."+hi)
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
	for _, t := range q.terms {
		if strings.HasPrefix(t, "-") {
			terms = append(terms, t[1:]) // not not x is x
		} else {
			terms = append(terms, "-"+t)
		}
	}
	p.terms = terms
	return p
}

// String returns the phrase. Check [PhraseBuilder.Err] (or use Build) when
// values come from users.
func (p PhraseBuilder) String() string { return strings.Join(p.terms, " ") }

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

// searchTime formats t in the search syntax for a lower bound or a strict
// upper bound: a date alone at midnight UTC, else a full UTC timestamp to
// the second (the search syntax has no finer precision).
func searchTime(t time.Time) string {
	t = t.UTC().Truncate(time.Second)
	if t.Hour() == 0 && t.Minute() == 0 && t.Second() == 0 {
		return t.Format("2006-01-02")
	}
	return t.Format("2006-01-02T15:04:05Z")
}
