package auditlogtest

import (
	"encoding/json"
	"strings"
)

// The fake keeps each event as the JSON text it serves and reads the few
// fields a search needs straight from that text when it needs them, instead
// of decoding every event into a map at startup. These helpers assume valid
// JSON: every event is validated (and compacted) once when it enters a
// dataset, and generated events are valid by construction.

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func skipSpace(s string, i int) int {
	for i < len(s) && isSpace(s[i]) {
		i++
	}
	return i
}

// skipString returns the index just past the JSON string starting at s[i].
func skipString(s string, i int) int {
	for i++; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case '"':
			return i + 1
		}
	}
	return len(s)
}

// skipValue returns the index just past the JSON value starting at s[i].
func skipValue(s string, i int) int {
	if i >= len(s) {
		return i
	}
	switch s[i] {
	case '"':
		return skipString(s, i)
	case '{', '[':
		depth := 0
		for ; i < len(s); i++ {
			switch s[i] {
			case '"':
				i = skipString(s, i) - 1
			case '{', '[':
				depth++
			case '}', ']':
				if depth--; depth == 0 {
					return i + 1
				}
			}
		}
		return len(s)
	}
	for i < len(s) && s[i] != ',' && s[i] != '}' && s[i] != ']' && !isSpace(s[i]) {
		i++ // a number, true, false or null
	}
	return i
}

// members calls fn with each member of the JSON object s, its key
// unescaped and its value as JSON text, until fn returns false. It reports
// false when s is not an object.
func members(s string, fn func(key, val string) bool) bool {
	i := skipSpace(s, 0)
	if i >= len(s) || s[i] != '{' {
		return false
	}
	for i = skipSpace(s, i+1); i < len(s) && s[i] == '"'; {
		end := skipString(s, i)
		key, _ := stringOf(s[i:end])
		i = skipSpace(s, end)
		if i >= len(s) || s[i] != ':' {
			return true
		}
		i = skipSpace(s, i+1)
		end = skipValue(s, i)
		if !fn(key, s[i:end]) {
			return true
		}
		if i = skipSpace(s, end); i >= len(s) || s[i] != ',' {
			return true
		}
		i = skipSpace(s, i+1)
	}
	return true
}

// stringOf returns the Go string of the JSON string v, and whether v is one.
func stringOf(v string) (string, bool) {
	if len(v) < 2 || v[0] != '"' {
		return "", false
	}
	in := v[1 : len(v)-1]
	if strings.IndexByte(in, '\\') < 0 {
		return in, true
	}
	var out string
	if json.Unmarshal([]byte(v), &out) != nil {
		return "", false
	}
	return out, true
}

func isNumber(v string) bool {
	return v != "" && (v[0] == '-' || v[0] >= '0' && v[0] <= '9')
}

// eachScalar calls fn with the text of v when it is a string or a number,
// or with that of each string or number in v when it is an array (GitHub
// sends org and repo as arrays for some events), until fn returns false.
// It reports whether fn asked to stop.
func eachScalar(v string, fn func(string) bool) bool {
	if s, ok := stringOf(v); ok {
		return !fn(s)
	}
	if isNumber(v) {
		return !fn(v)
	}
	if v == "" || v[0] != '[' {
		return false
	}
	for i := skipSpace(v, 1); i < len(v) && v[i] != ']'; {
		end := skipValue(v, i)
		elem := v[i:end]
		if s, ok := stringOf(elem); ok {
			if !fn(s) {
				return true
			}
		} else if isNumber(elem) && !fn(elem) {
			return true
		}
		if i = skipSpace(v, end); i < len(v) && v[i] == ',' {
			i = skipSpace(v, i+1)
		}
	}
	return false
}

// eachField calls fn with the scalar values (see eachScalar) of the members
// of object s named in names, until fn returns false.
func eachField(s string, names []string, fn func(string) bool) {
	members(s, func(key, val string) bool {
		for _, n := range names {
			if key == n {
				return !eachScalar(val, fn)
			}
		}
		return true
	})
}

// eachString calls fn with v when it is a JSON string, or with each string
// in v when it is an array; other values are skipped.
func eachString(v string, fn func(string)) {
	if s, ok := stringOf(v); ok {
		fn(s)
		return
	}
	if v == "" || v[0] != '[' {
		return
	}
	for i := skipSpace(v, 1); i < len(v) && v[i] != ']'; {
		end := skipValue(v, i)
		if s, ok := stringOf(v[i:end]); ok {
			fn(s)
		}
		if i = skipSpace(v, end); i < len(v) && v[i] == ',' {
			i = skipSpace(v, i+1)
		}
	}
}
