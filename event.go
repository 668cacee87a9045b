package auditlog

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"
	"unicode/utf16"
	"unicode/utf8"
)

// Event is one audit-log entry. The fields below are the ones most tools
// filter and index on, decoded in the same single pass that splits the page;
// every field GitHub sent, documented or not, stays readable through [Event.Get],
// [Event.Decode] and [Event.Raw], and marshalling an Event gives back exactly
// the JSON GitHub sent.
//
// GitHub's entries do not always follow the published schema: org, org_id and
// repo sometimes arrive as arrays, and fields such as permission change type
// between actions. A field of an unexpected type is left at its zero value
// here (it is still in the raw JSON); it never fails the page. Org, OrgID and
// Repo keep every value whether GitHub sent one or a list.
//
// An Event shares memory with the page it was decoded from; it is immutable
// and safe to share between goroutines.
type Event struct {
	Timestamp     time.Time // @timestamp: when the action happened (UTC)
	CreatedAt     time.Time // created_at: when the entry was recorded (UTC)
	DocumentID    string    // _document_id: unique ID of the entry
	Action        string    // e.g. "repo.create"
	Actor         string    // login of who did it
	ActorID       int64
	ActorLocation Location
	User          string // login the action was done to, when there is one
	UserID        int64
	Org           []string // org, as one name or several
	OrgID         []int64  // org_id, as one ID or several
	Business      string
	BusinessID    int64
	Repo          []string // repo ("owner/name"), as one name or several
	Repository    string
	OperationType string // access, authentication, create, modify, remove, restore, transfer
	// HashedToken is the base64 SHA-256 of the token that made the request,
	// for tracing what one token did.
	HashedToken            string
	TokenID                int64
	ProgrammaticAccessType string

	raw string // the entry's JSON object, byte for byte
}

// Location is where an actor was, from actor_location.
type Location struct {
	CountryCode string // ISO 3166-1 alpha-2, e.g. "US"
	CountryName string
}

// Raw returns a copy of the entry's JSON exactly as GitHub sent it.
func (e Event) Raw() json.RawMessage {
	if e.raw == "" {
		return nil
	}
	return json.RawMessage(e.raw)
}

// AppendRaw appends the entry's JSON to dst without an intermediate copy,
// for writers that batch output.
func (e Event) AppendRaw(dst []byte) []byte { return append(dst, e.raw...) }

// MarshalJSON returns the entry's original JSON. An Event built in code
// rather than decoded has none and marshals as null.
func (e Event) MarshalJSON() ([]byte, error) {
	if e.raw == "" {
		return []byte("null"), nil
	}
	return []byte(e.raw), nil
}

// UnmarshalJSON decodes one entry, as read back from a file of Events.
func (e *Event) UnmarshalJSON(b []byte) error {
	s := string(b)
	i := skipWS(s, 0)
	if i < len(s) && s[i] == 'n' {
		if _, err := skipValue(s, i, 0); err != nil {
			return err
		}
		*e = Event{}
		return nil
	}
	var ev Event
	values := maxPageValues
	i, err := decodeEvent(s, i, &ev, &values)
	if err != nil {
		return err
	}
	if i = skipWS(s, i); i != len(s) {
		return syntaxError(i, "data after the event")
	}
	*e = ev
	return nil
}

// Get returns the raw JSON of the top-level field name, and whether the
// entry has it.
func (e Event) Get(name string) (json.RawMessage, bool) {
	v, ok := lookupField(e.raw, name)
	if !ok {
		return nil, false
	}
	return json.RawMessage(v), true
}

// Decode unmarshals the entry's JSON into v, for a struct of the fields a
// particular action carries.
func (e Event) Decode(v any) error {
	if e.raw == "" {
		return errors.New("auditlog: Event has no JSON to decode")
	}
	return json.Unmarshal([]byte(e.raw), v)
}

// Bounds on what one page may make the decoder allocate, whatever its
// size in bytes: GitHub sends at most 100 entries a page, so a page of more
// than maxPageElements is refused before the entry past the bound is
// materialised, and the org, org_id and repo arrays of a page may hold at
// most maxPageValues values between them. Memory per page is therefore
// proportional to these caps, not to the body: a 32 MiB body of "{}," is
// one error, not eleven million Events.
const (
	maxPageElements = 1000
	maxPageValues   = 100 * maxPageElements
)

// errTooManyElements is returned for a page over maxPageElements.
var errTooManyElements = fmt.Errorf("page holds more than %d entries (GitHub sends at most %d)", maxPageElements, MaxPerPage)

// decodeEvents decodes a page: a JSON array of entry objects (null counts
// as an empty page).
func decodeEvents(s string) ([]Event, error) {
	// Entries average 600-1000 bytes; a close guess saves regrowth.
	events := make([]Event, 0, min(len(s)/600+1, maxPageElements))
	values := maxPageValues
	err := readList(s, maxPageElements, errTooManyElements, func(i int) (int, error) {
		events = append(events, Event{})
		return decodeEvent(s, i, &events[len(events)-1], &values)
	})
	if err != nil {
		return nil, err
	}
	return events, nil
}

// readList reads a response body that is a JSON array (null counts as an
// empty one) and nothing else, calling elem for each element: at most max
// of them, since the body's size says nothing about how many elements it
// holds. The element past max is refused with tooMany before elem or
// anything else reads it.
func readList(s string, max int, tooMany error, elem func(i int) (int, error)) error {
	i := skipWS(s, 0)
	var err error
	switch {
	case i >= len(s):
		return syntaxError(i, "empty body")
	case s[i] == 'n':
		i, err = literal(s, i, "null")
	case s[i] == '[':
		n := 0
		i, err = readArray(s, i, func(j int) (int, error) {
			if n == max {
				return j, tooMany
			}
			n++
			return elem(j)
		})
	default:
		return syntaxError(i, "want a JSON array")
	}
	if err != nil {
		return err
	}
	if skipWS(s, i) != len(s) {
		return syntaxError(i, "data after the array")
	}
	return nil
}

// decodeEvent decodes the object starting at s[i] into ev and returns the
// index after it; values is what is left of the page's budget of array
// values.
func decodeEvent(s string, i int, ev *Event, values *int) (int, error) {
	if i >= len(s) || s[i] != '{' {
		return i, syntaxError(i, "an entry must be a JSON object")
	}
	end, err := readObject(s, i, 0, func(key string, j int) (int, error) {
		return ev.setField(key, s, j, values)
	})
	if err != nil {
		return end, err
	}
	ev.raw = s[i:end]
	return end, nil
}

// setField decodes the value at s[i] into the field named key, if the
// Event has one, and returns the index after the value.
func (ev *Event) setField(key, s string, i int, values *int) (int, error) {
	switch key {
	case "@timestamp":
		return readMillis(s, i, &ev.Timestamp)
	case "created_at":
		return readMillis(s, i, &ev.CreatedAt)
	case "_document_id":
		return readStringField(s, i, &ev.DocumentID)
	case "action":
		return readStringField(s, i, &ev.Action)
	case "actor":
		return readStringField(s, i, &ev.Actor)
	case "actor_id":
		return readIntField(s, i, &ev.ActorID)
	case "actor_location":
		return readLocation(s, i, &ev.ActorLocation)
	case "user":
		return readStringField(s, i, &ev.User)
	case "user_id":
		return readIntField(s, i, &ev.UserID)
	case "org":
		return readStrings(s, i, &ev.Org, values)
	case "org_id":
		return readInts(s, i, &ev.OrgID, values)
	case "business":
		return readStringField(s, i, &ev.Business)
	case "business_id":
		return readIntField(s, i, &ev.BusinessID)
	case "repo":
		return readStrings(s, i, &ev.Repo, values)
	case "repository":
		return readStringField(s, i, &ev.Repository)
	case "operation_type":
		return readStringField(s, i, &ev.OperationType)
	case "hashed_token":
		return readStringField(s, i, &ev.HashedToken)
	case "token_id":
		return readIntField(s, i, &ev.TokenID)
	case "programmatic_access_type":
		return readStringField(s, i, &ev.ProgrammaticAccessType)
	}
	return skipValue(s, i, 0)
}

// readStringField sets *dst when the value is a string; any other type is
// skipped, leaving *dst as it was.
func readStringField(s string, i int, dst *string) (int, error) {
	if i < len(s) && s[i] == '"' {
		v, j, err := readString(s, i)
		if err == nil {
			*dst = v
		}
		return j, err
	}
	return skipValue(s, i, 0)
}

// readIntField sets *dst from a number, or from a string holding one.
func readIntField(s string, i int, dst *int64) (int, error) {
	j, err := skipValue(s, i, 0)
	if err != nil {
		return j, err
	}
	if n, ok := parseIntValue(s[i:j]); ok {
		*dst = n
	}
	return j, nil
}

func parseIntValue(v string) (int64, bool) {
	if len(v) >= 2 && v[0] == '"' {
		v = v[1 : len(v)-1]
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		return n, true
	}
	if f, err := strconv.ParseFloat(v, 64); err == nil && f >= -1<<63 && f < 1<<63 {
		return int64(f), true
	}
	return 0, false
}

// readMillis sets *dst from epoch milliseconds.
func readMillis(s string, i int, dst *time.Time) (int, error) {
	var ms int64 = -1
	j, err := readIntField(s, i, &ms)
	if err == nil && ms >= 0 {
		*dst = time.UnixMilli(ms).UTC()
	}
	return j, err
}

// errTooManyValues is returned for a page over maxPageValues.
var errTooManyValues = fmt.Errorf("page holds more than %d org, org_id and repo values", maxPageValues)

// readStrings accepts a string or an array; it keeps every string element,
// each counted against values.
func readStrings(s string, i int, dst *[]string, values *int) (int, error) {
	switch {
	case i < len(s) && s[i] == '"':
		v, j, err := readString(s, i)
		if err == nil {
			*dst = []string{v}
		}
		return j, err
	case i < len(s) && s[i] == '[':
		*dst = nil
		return readArray(s, i, func(j int) (int, error) {
			if s[j] != '"' {
				return skipValue(s, j, 1)
			}
			v, k, err := readString(s, j)
			if err == nil {
				if *values--; *values < 0 {
					return k, errTooManyValues
				}
				*dst = append(*dst, v)
			}
			return k, err
		})
	}
	return skipValue(s, i, 0)
}

// readInts accepts a number or an array; it keeps every numeric element,
// each counted against values.
func readInts(s string, i int, dst *[]int64, values *int) (int, error) {
	if i < len(s) && s[i] == '[' {
		*dst = nil
		return readArray(s, i, func(j int) (int, error) {
			k, err := skipValue(s, j, 1)
			if err == nil {
				if n, ok := parseIntValue(s[j:k]); ok {
					if *values--; *values < 0 {
						return k, errTooManyValues
					}
					*dst = append(*dst, n)
				}
			}
			return k, err
		})
	}
	var n int64
	j, err := skipValue(s, i, 0)
	if err == nil {
		if v, ok := parseIntValue(s[i:j]); ok {
			n = v
			*dst = []int64{n}
		}
	}
	return j, err
}

// readArray calls elem for each element of the array at s[i].
func readArray(s string, i int, elem func(int) (int, error)) (int, error) {
	i = skipWS(s, i+1)
	if i < len(s) && s[i] == ']' {
		return i + 1, nil
	}
	for {
		if i >= len(s) {
			return i, syntaxError(i, "unexpected end in array")
		}
		var err error
		if i, err = elem(i); err != nil {
			return i, err
		}
		i = skipWS(s, i)
		if i < len(s) && s[i] == ',' {
			i = skipWS(s, i+1)
			continue
		}
		if i < len(s) && s[i] == ']' {
			return i + 1, nil
		}
		return i, syntaxError(i, "expected , or ] in array")
	}
}

func readLocation(s string, i int, dst *Location) (int, error) {
	if i >= len(s) || s[i] != '{' {
		return skipValue(s, i, 0)
	}
	return readObject(s, i, 1, func(key string, j int) (int, error) {
		switch key {
		case "country_code":
			return readStringField(s, j, &dst.CountryCode)
		case "country_name":
			return readStringField(s, j, &dst.CountryName)
		}
		return skipValue(s, j, 2)
	})
}

// readObject calls field for each member of the object at s[i].
func readObject(s string, i, depth int, field func(key string, j int) (int, error)) (int, error) {
	if depth > maxDepth {
		return i, syntaxError(i, "nesting too deep")
	}
	i = skipWS(s, i+1)
	if i < len(s) && s[i] == '}' {
		return i + 1, nil
	}
	for {
		if i >= len(s) || s[i] != '"' {
			return i, syntaxError(i, "expected a field name")
		}
		key, j, err := readString(s, i)
		if err != nil {
			return j, err
		}
		i = skipWS(s, j)
		if i >= len(s) || s[i] != ':' {
			return i, syntaxError(i, "expected : after a field name")
		}
		if i, err = field(key, skipWS(s, i+1)); err != nil {
			return i, err
		}
		i = skipWS(s, i)
		if i < len(s) && s[i] == ',' {
			i = skipWS(s, i+1)
			continue
		}
		if i < len(s) && s[i] == '}' {
			return i + 1, nil
		}
		return i, syntaxError(i, "expected , or } in object")
	}
}

// lookupField returns the raw value of a top-level field of the object s.
func lookupField(s, name string) (string, bool) {
	i := skipWS(s, 0)
	if i >= len(s) || s[i] != '{' {
		return "", false
	}
	var found string
	var ok bool
	_, err := readObject(s, i, 0, func(key string, j int) (int, error) {
		k, err := skipValue(s, j, 1)
		if err == nil && key == name {
			found, ok = s[j:k], true
		}
		return k, err
	})
	if err != nil {
		return "", false
	}
	return found, ok
}

// maxDepth bounds nesting so hostile input cannot exhaust the stack.
const maxDepth = 512

// skipValue validates and skips the JSON value at s[i].
func skipValue(s string, i, depth int) (int, error) {
	if i >= len(s) {
		return i, syntaxError(i, "unexpected end of input")
	}
	switch c := s[i]; {
	case c == '"':
		return skipString(s, i)
	case c == '{':
		return readObject(s, i, depth+1, func(_ string, j int) (int, error) {
			return skipValue(s, j, depth+1)
		})
	case c == '[':
		if depth+1 > maxDepth {
			return i, syntaxError(i, "nesting too deep")
		}
		return readArray(s, i, func(j int) (int, error) { return skipValue(s, j, depth+1) })
	case c == 't':
		return literal(s, i, "true")
	case c == 'f':
		return literal(s, i, "false")
	case c == 'n':
		return literal(s, i, "null")
	case c == '-' || (c >= '0' && c <= '9'):
		return skipNumber(s, i)
	}
	return i, syntaxError(i, fmt.Sprintf("unexpected character %q", s[i]))
}

func literal(s string, i int, lit string) (int, error) {
	if len(s)-i >= len(lit) && s[i:i+len(lit)] == lit {
		return i + len(lit), nil
	}
	return i, syntaxError(i, "invalid literal")
}

// skipNumber validates a JSON number.
func skipNumber(s string, i int) (int, error) {
	start := i
	if i < len(s) && s[i] == '-' {
		i++
	}
	switch {
	case i < len(s) && s[i] == '0':
		i++
	case i < len(s) && s[i] >= '1' && s[i] <= '9':
		for i < len(s) && isDigit(s[i]) {
			i++
		}
	default:
		return start, syntaxError(start, "invalid number")
	}
	if i < len(s) && s[i] == '.' {
		i++
		if i >= len(s) || !isDigit(s[i]) {
			return start, syntaxError(start, "invalid number")
		}
		for i < len(s) && isDigit(s[i]) {
			i++
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		if i >= len(s) || !isDigit(s[i]) {
			return start, syntaxError(start, "invalid number")
		}
		for i < len(s) && isDigit(s[i]) {
			i++
		}
	}
	return i, nil
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func skipWS(s string, i int) int {
	for i < len(s) {
		switch s[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

// skipString validates and skips the string at s[i].
func skipString(s string, i int) (int, error) {
	for i++; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"':
			return i + 1, nil
		case c == '\\':
			n, err := escapeLen(s, i)
			if err != nil {
				return i, err
			}
			i += n - 1
		case c < 0x20:
			return i, syntaxError(i, "control character in string")
		}
	}
	return i, syntaxError(i, "unterminated string")
}

// escapeLen validates the escape sequence at s[i] ('\\') and returns its length.
func escapeLen(s string, i int) (int, error) {
	if i+1 >= len(s) {
		return 0, syntaxError(i, "unterminated string")
	}
	switch s[i+1] {
	case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
		return 2, nil
	case 'u':
		if i+6 > len(s) {
			return 0, syntaxError(i, "short \\u escape")
		}
		if _, ok := hex4(s[i+2 : i+6]); !ok {
			return 0, syntaxError(i, "invalid \\u escape")
		}
		return 6, nil
	}
	return 0, syntaxError(i, "invalid escape")
}

// readString decodes the string at s[i]. A string without escapes and of
// valid UTF-8 is returned as a substring of s, with no allocation; invalid
// UTF-8 is replaced byte by byte with U+FFFD, as encoding/json does, so a
// typed field never holds invalid UTF-8.
func readString(s string, i int) (string, int, error) {
	start := i + 1
	ascii := true
	for j := start; j < len(s); j++ {
		switch c := s[j]; {
		case c == '"':
			if !ascii && !utf8.ValidString(s[start:j]) {
				// Replace invalid bytes as encoding/json does.
				return readEscaped(s, start)
			}
			return s[start:j], j + 1, nil
		case c == '\\':
			return readEscaped(s, start)
		case c < 0x20:
			return "", j, syntaxError(j, "control character in string")
		case c >= utf8.RuneSelf:
			ascii = false
		}
	}
	return "", len(s), syntaxError(len(s), "unterminated string")
}

// readEscaped decodes a string with escapes, starting after its quote.
func readEscaped(s string, start int) (string, int, error) {
	buf := make([]byte, 0, 32)
	for j := start; j < len(s); {
		c := s[j]
		switch {
		case c == '"':
			return string(buf), j + 1, nil
		case c < 0x20:
			return "", j, syntaxError(j, "control character in string")
		case c >= utf8.RuneSelf:
			// Each byte of invalid UTF-8 becomes U+FFFD, as in encoding/json.
			r, size := utf8.DecodeRuneInString(s[j:])
			if r == utf8.RuneError && size == 1 {
				buf = utf8.AppendRune(buf, utf8.RuneError)
			} else {
				buf = append(buf, s[j:j+size]...)
			}
			j += size
			continue
		case c != '\\':
			buf = append(buf, c)
			j++
			continue
		}
		n, err := escapeLen(s, j)
		if err != nil {
			return "", j, err
		}
		switch e := s[j+1]; e {
		case 'b':
			buf = append(buf, '\b')
		case 'f':
			buf = append(buf, '\f')
		case 'n':
			buf = append(buf, '\n')
		case 'r':
			buf = append(buf, '\r')
		case 't':
			buf = append(buf, '\t')
		case 'u':
			r, _ := hex4(s[j+2 : j+6])
			if utf16.IsSurrogate(r) {
				r2 := rune(-1)
				if j+12 <= len(s) && s[j+6] == '\\' && s[j+7] == 'u' {
					r2, _ = hex4(s[j+8 : j+12])
				}
				if dec := utf16.DecodeRune(r, r2); dec != utf8.RuneError {
					buf = utf8.AppendRune(buf, dec)
					j += 12
					continue
				}
				r = utf8.RuneError
			}
			buf = utf8.AppendRune(buf, r)
		default: // '"', '\\', '/'
			buf = append(buf, e)
		}
		j += n
	}
	return "", len(s), syntaxError(len(s), "unterminated string")
}

func hex4(h string) (rune, bool) {
	var r rune
	for i := 0; i < 4; i++ {
		c := h[i]
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			c = c - 'A' + 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}

// SyntaxError reports a page or entry that is not valid JSON.
type SyntaxError struct {
	Offset int // byte offset in the response body
	Msg    string
}

func (e *SyntaxError) Error() string {
	return fmt.Sprintf("auditlog: invalid JSON at offset %d: %s", e.Offset, e.Msg)
}

func syntaxError(off int, msg string) error { return &SyntaxError{Offset: off, Msg: msg} }
