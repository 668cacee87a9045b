package auditlog

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf16"
	"unicode/utf8"
)

// Sentinel errors for errors.Is. An [*APIError] matches the one for its
// status; a [*RateLimitError] matches [ErrRateLimited]; an [*InputError]
// matches [ErrInvalidInput].
var (
	// ErrNotFound: 404, an unknown enterprise or stream, or a token that may
	// not see it.
	ErrNotFound = errors.New("auditlog: not found")
	// ErrUnauthorized: 401, a missing, expired or revoked token.
	ErrUnauthorized = errors.New("auditlog: unauthorized")
	// ErrForbidden: 403 that is not a rate limit, such as a missing scope.
	ErrForbidden = errors.New("auditlog: forbidden")
	// ErrValidation: 422, the server refused the request's content.
	ErrValidation = errors.New("auditlog: validation failed")
	// ErrRateLimited: any rate-limit refusal, primary or secondary, 403 or 429.
	ErrRateLimited = errors.New("auditlog: rate limited")
	// ErrInvalidInput: the SDK refused a call's arguments before sending it.
	ErrInvalidInput = errors.New("auditlog: invalid input")
)

// InputError reports an argument refused before anything was sent. Field
// names the option, parameter or struct field at fault.
type InputError struct {
	Field  string // e.g. "Query.PerPage", "enterprise", "WithBaseURL"
	Reason string // what is wrong, never holding a secret
}

func (e *InputError) Error() string {
	return "auditlog: invalid " + e.Field + ": " + e.Reason
}

// Is reports whether target is [ErrInvalidInput].
func (e *InputError) Is(target error) bool { return target == ErrInvalidInput }

// FieldError is one entry of the "errors" list of a GitHub error body. GitHub
// sends either objects ({resource, field, code, message}) or bare strings (the
// stream update endpoint); a bare string lands in Message.
type FieldError struct {
	Resource string `json:"resource,omitempty"`
	Field    string `json:"field,omitempty"`
	Code     string `json:"code,omitempty"`
	Message  string `json:"message,omitempty"`
}

// UnmarshalJSON accepts both the object and the bare-string form.
func (f *FieldError) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		return json.Unmarshal(b, &f.Message)
	}
	type plain FieldError
	var p plain
	if err := json.Unmarshal(b, &p); err != nil {
		return err
	}
	*f = FieldError(p)
	return nil
}

// String returns the entry as "field: code: message" (the parts present),
// each escaped and bounded as server text in an error is.
func (f FieldError) String() string {
	var parts []string
	for _, p := range []string{f.Field, f.Code, f.Message} {
		if p != "" {
			parts = append(parts, serverText(p, maxFieldText))
		}
	}
	return strings.Join(parts, ": ")
}

// APIError is an error response from GitHub that is not a rate limit, or a
// redirect the client refused to follow (StatusCode 3xx). Every string in
// it that came from the server has been scrubbed of the token and of the
// call's secrets, whatever their encoding.
type APIError struct {
	StatusCode int
	Method     string // of the request
	Path       string // of the request, without query
	// Message is GitHub's "message"; for a refused redirect, where it led.
	Message          string
	DocumentationURL string       // GitHub's "documentation_url"
	Errors           []FieldError // GitHub's "errors", either form
	RequestID        string       // X-GitHub-Request-Id, for GitHub Support
	// Body is the start of a body that was not GitHub's JSON error shape
	// (an HTML error page, say), at most 512 bytes.
	Body string

	hint string // what the SDK suspects, e.g. about the base URL
}

// Error returns a one-line description. What the server wrote in it is
// escaped (control characters, line separators and other invisible or
// invalid characters become \u or \x escapes) and shortened: a message to
// 512 bytes, at most 8 field errors, the whole to about 2 KiB, so that a
// server can neither forge log lines nor flood them.
func (e *APIError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "auditlog: %s %s: %d %s", e.Method, e.Path, e.StatusCode, http.StatusText(e.StatusCode))
	if e.Message != "" {
		b.WriteString(": ")
		b.WriteString(serverText(e.Message, maxMessageText))
	}
	for i, fe := range e.Errors {
		if i == maxFieldErrors {
			fmt.Fprintf(&b, "; and %d more", len(e.Errors)-i)
			break
		}
		if i == 0 {
			b.WriteString(" [")
		} else {
			b.WriteString("; ")
		}
		b.WriteString(fe.String())
	}
	if len(e.Errors) > 0 {
		b.WriteString("]")
	}
	if e.RequestID != "" {
		b.WriteString(" (request ")
		b.WriteString(serverText(e.RequestID, maxRequestIDText))
		b.WriteString(")")
	}
	if e.hint != "" {
		b.WriteString("; ")
		b.WriteString(e.hint)
	}
	return capText(b.String())
}

// Is matches the sentinel for the status code.
func (e *APIError) Is(target error) bool {
	switch target {
	case ErrNotFound:
		return e.StatusCode == http.StatusNotFound
	case ErrUnauthorized:
		return e.StatusCode == http.StatusUnauthorized
	case ErrForbidden:
		return e.StatusCode == http.StatusForbidden
	case ErrValidation:
		return e.StatusCode == http.StatusUnprocessableEntity
	}
	return false
}

// RateLimitError is a refusal because a rate limit was reached: primary
// (the hourly budget is spent: wait until Reset) or secondary (too many
// requests too fast: wait RetryAfter, or at least a minute when GitHub says
// nothing). GitHub uses 403 and 429 for both. StatusCode is 0 when the
// SDK refused the call itself, without sending it, because the budget it
// tracks would not allow a request within WithMaxWait or the context's
// deadline; RetryAfter then says how long the wait would have been.
type RateLimitError struct {
	StatusCode int
	Method     string
	Path       string
	// Resource is x-ratelimit-resource ("audit_log"), or, when the SDK
	// refused the call itself, the budget key it is kept under
	// ("audit_log:orgs/octo-org", see [BudgetKey]).
	Resource  string
	Limit     int // x-ratelimit-limit, 0 when absent
	Remaining int // x-ratelimit-remaining, -1 when absent
	// Reset is x-ratelimit-reset on the local clock (converted through the
	// response's Date header), zero when absent.
	Reset      time.Time
	RetryAfter time.Duration // retry-after, 0 when absent
	Secondary  bool          // a secondary (abuse) limit rather than the hourly budget
	Message    string
	RequestID  string

	observed time.Time // when the refusal arrived, the origin of RetryAfter
	retryAt  time.Time // when the SDK holds the resource until, set by the pipeline
}

func (e *RateLimitError) Error() string {
	kind := "primary"
	if e.Secondary {
		kind = "secondary"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "auditlog: %s %s: %s rate limit", e.Method, e.Path, kind)
	if e.Resource != "" {
		b.WriteString(" on " + serverText(e.Resource, maxFieldText))
	}
	if when := e.RetryAt(); !when.IsZero() {
		b.WriteString("; retry at " + when.UTC().Format(time.RFC3339))
	} else {
		b.WriteString("; retry after at least a minute")
	}
	if e.RequestID != "" {
		b.WriteString(" (request " + serverText(e.RequestID, maxRequestIDText) + ")")
	}
	return capText(b.String())
}

// Is reports whether target is [ErrRateLimited].
func (e *RateLimitError) Is(target error) bool { return target == ErrRateLimited }

// RetryAt is the earliest time a retry may be made, on the local clock: the
// time the SDK holds the resource until after this refusal (what GitHub
// said: retry-after, or Reset when the budget is spent, whichever is later;
// else at least a minute, doubling with each such refusal of the call; never
// more than an hour and a minute ahead), or, for a refusal the SDK made
// itself without sending, when its budget allows the next request. Zero
// only for an error that did not come through a Client.
func (e *RateLimitError) RetryAt() time.Time {
	if !e.retryAt.IsZero() {
		return e.retryAt
	}
	if e.RetryAfter > 0 {
		return e.observed.Add(e.RetryAfter)
	}
	if e.Remaining == 0 && !e.Reset.IsZero() {
		return e.Reset
	}
	return time.Time{}
}

// NetworkError is a failure to get a complete response: a refused or reset
// connection, a timeout, or a body cut short.
type NetworkError struct {
	Method string
	Path   string
	Status int // status of a response whose body was cut short, else 0
	Err    error
}

// Error describes the failure on one line; what a server sent that ends up
// in the cause's text (net/http quotes a malformed response) is escaped and
// shortened.
func (e *NetworkError) Error() string {
	return fmt.Sprintf("auditlog: %s %s: %s", e.Method, e.Path, serverText(e.Err.Error(), maxMessageText))
}

// Unwrap returns the cause.
func (e *NetworkError) Unwrap() error { return e.Err }

// errorBody is GitHub's JSON error shape.
type errorBody struct {
	Message          string       `json:"message"`
	DocumentationURL string       `json:"documentation_url"`
	Errors           []FieldError `json:"errors"`
}

// checkResponse classifies a response the pipeline read (scrubbed, rate
// headers parsed): nil for 2xx, else a *RateLimitError or an *APIError.
func checkResponse(method, path string, resp *response) error {
	if resp.status >= 200 && resp.status < 300 {
		return nil
	}
	var eb errorBody
	parsed := json.Unmarshal([]byte(resp.body), &eb) == nil
	if rl := rateLimitFrom(resp, eb.Message); rl != nil {
		rl.Method, rl.Path, rl.RequestID = method, path, resp.requestID
		return rl
	}
	e := &APIError{
		StatusCode: resp.status, Method: method, Path: path, RequestID: resp.requestID,
		Message: eb.Message, DocumentationURL: eb.DocumentationURL, Errors: eb.Errors,
	}
	if !parsed {
		e.Body = resp.body
		if len(e.Body) > 512 {
			e.Body = e.Body[:512]
		}
	}
	return e
}

// rateLimitFrom decides from headers and message, as GitHub documents,
// whether a 403 or 429 is a rate limit, and of which kind.
func rateLimitFrom(resp *response, message string) *RateLimitError {
	if resp.status != http.StatusForbidden && resp.status != http.StatusTooManyRequests {
		return nil
	}
	rate := resp.rate
	retryAfter, hasRetryAfter := parseRetryAfter(resp.header.Get("Retry-After"), resp.received.Add(resp.skew))
	msg := strings.ToLower(message)
	secondaryMsg := strings.Contains(msg, "secondary rate limit") || strings.Contains(msg, "abuse detection")
	primaryMsg := strings.Contains(msg, "api rate limit exceeded")
	exhausted := rate.Remaining == 0
	if !(exhausted || hasRetryAfter || secondaryMsg || primaryMsg || resp.status == http.StatusTooManyRequests) {
		return nil
	}
	return &RateLimitError{
		StatusCode: resp.status,
		Resource:   rate.Resource,
		Limit:      max(rate.Limit, 0),
		Remaining:  rate.Remaining,
		Reset:      rate.Reset,
		RetryAfter: retryAfter,
		Secondary:  secondaryMsg || (!exhausted && !primaryMsg),
		Message:    message,
		observed:   resp.received,
	}
}

// parseRetryAfter reads a Retry-After value in seconds or as an HTTP date;
// now is the time on the clock the date is on (GitHub's).
func parseRetryAfter(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs < 0 {
			return 0, false
		}
		const maxSecs = int64(1<<63-1) / int64(time.Second)
		return time.Duration(min(secs, maxSecs)) * time.Second, true
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(t.Sub(now), 0), true
	}
	return 0, false
}

// Bounds on server text in an error's message.
const (
	maxMessageText   = 512  // a message, or a network error's cause
	maxFieldText     = 128  // one part of a field error, a resource name
	maxRequestIDText = 128  // a request ID (GitHub's are about 40 bytes)
	maxFieldErrors   = 8    // field errors listed; the rest are counted
	maxErrorText     = 2048 // a whole message
)

// serverText makes text a server sent fit for an error message or a log
// record: every character that is not printable (control characters, line
// and paragraph separators, NEL, format characters such as bidi overrides)
// becomes a \u escape and every invalid byte a \x escape, so that it stays
// on one line and shows what it is; past limit bytes it is cut, at a
// character boundary, and ends with "…".
func serverText(s string, limit int) string {
	clean := len(s) <= limit
	for i := 0; clean && i < len(s); i++ {
		clean = s[i] >= 0x20 && s[i] < 0x7f
	}
	if clean {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		if b.Len() >= limit {
			b.WriteString("…")
			break
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case strconv.IsPrint(r):
			b.WriteString(s[i : i+size])
		case r > 0xffff:
			fmt.Fprintf(&b, `\U%08x`, r)
		default:
			fmt.Fprintf(&b, `\u%04x`, r)
		}
		i += size
	}
	return b.String()
}

// capText bounds a whole error message.
func capText(s string) string {
	if len(s) <= maxErrorText {
		return s
	}
	cut := maxErrorText
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

// scrubber removes secrets (the token sent, the plaintexts a request
// carried) from what a server sends back, before any of it reaches an error
// or a log record. It finds a secret written plainly and written with any
// mix of JSON escapes (\u0067, \/, \") and percent escapes (%67), character
// by character, so an echo in a JSON string, a URL or a header is caught
// however the server encoded it.
type scrubber struct{ secrets []string }

// clean returns s with every occurrence of a secret replaced.
func (sc scrubber) clean(s string) string {
	for _, sec := range sc.secrets {
		if sec != "" {
			s = replaceEncoded(s, sec)
		}
	}
	return s
}

// cleanHeader cleans every header value in place.
func (sc scrubber) cleanHeader(h http.Header) {
	if len(sc.secrets) == 0 {
		return
	}
	for _, vs := range h {
		for i, v := range vs {
			vs[i] = sc.clean(v)
		}
	}
}

// replaceEncoded replaces each occurrence of secret in s, whatever escapes
// write it, by [REDACTED].
func replaceEncoded(s, secret string) string {
	var b strings.Builder
	last := 0
	for i := 0; i < len(s); {
		j := indexStart(s[i:], secret[0])
		if j < 0 {
			break
		}
		i += j
		if n := matchEncoded(s[i:], secret); n > 0 {
			b.WriteString(s[last:i])
			b.WriteString(redacted)
			i += n
			last = i
			continue
		}
		i++
	}
	if last == 0 {
		return s
	}
	b.WriteString(s[last:])
	return b.String()
}

// indexStart is the index of the first byte of s that may start an
// encoding of a secret whose first byte is first: first itself, or the
// start of an escape.
func indexStart(s string, first byte) int {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c == first || c == '\\' || c == '%' {
			return i
		}
	}
	return -1
}

// matchEncoded returns the length of the encoding of secret at the start of
// s, or 0 when s does not start with one. An escape whose first byte is
// also the secret's next byte (a secret holding "%41" or a backslash) is
// tried both ways.
func matchEncoded(s, secret string) int {
	steps := 4 * len(secret) // bounds the backtracking ("%25%25…" against "%%…")
	return matchFrom(s, secret, 0, 0, &steps)
}

func matchFrom(s, secret string, i, k int, steps *int) int {
	var unit [utf8.UTFMax]byte
	for k < len(secret) {
		if *steps--; *steps < 0 {
			return 0
		}
		n, w := decodeUnit(s[i:], unit[:])
		if w == 0 {
			return 0
		}
		escaped := k+n <= len(secret) && string(unit[:n]) == secret[k:k+n]
		if w > 1 && s[i] == secret[k] {
			// The escape's first byte is the secret's next byte too.
			if escaped {
				if m := matchFrom(s, secret, i+w, k+n, steps); m > 0 {
					return m
				}
			}
			i, k = i+1, k+1
			continue
		}
		if !escaped {
			return 0
		}
		i, k = i+w, k+n
	}
	return i
}

// decodeUnit decodes the first character or escape of s into buf: the
// bytes it stands for (n) and how many bytes of s it takes (w); w is 0 at
// the end of s.
func decodeUnit(s string, buf []byte) (n, w int) {
	switch {
	case s == "":
		return 0, 0
	case s[0] == '%' && len(s) >= 3 && isHex(s[1]) && isHex(s[2]):
		buf[0] = unhex(s[1])<<4 | unhex(s[2])
		return 1, 3
	case s[0] == '\\' && len(s) >= 2:
		switch c := s[1]; c {
		case '"', '\\', '/':
			buf[0] = c
			return 1, 2
		case 'b', 'f', 'n', 'r', 't':
			buf[0] = jsonEscapes[c]
			return 1, 2
		case 'u':
			r, w := decodeUEscape(s)
			if w == 0 {
				break
			}
			return utf8.EncodeRune(buf, r), w
		}
	}
	buf[0] = s[0]
	return 1, 1
}

// decodeUEscape decodes \uXXXX, or a surrogate pair of two, at the start
// of s; w is 0 when s does not start with one.
func decodeUEscape(s string) (r rune, w int) {
	hex4 := func(s string) (rune, bool) {
		if len(s) < 6 || s[0] != '\\' || s[1] != 'u' {
			return 0, false
		}
		var v rune
		for i := 2; i < 6; i++ {
			if !isHex(s[i]) {
				return 0, false
			}
			v = v<<4 | rune(unhex(s[i]))
		}
		return v, true
	}
	r, ok := hex4(s)
	if !ok {
		return 0, 0
	}
	if utf16.IsSurrogate(r) {
		if r2, ok := hex4(s[6:]); ok {
			if pair := utf16.DecodeRune(r, r2); pair != utf8.RuneError {
				return pair, 12
			}
		}
	}
	return r, 6
}

// jsonEscapes are the one-letter JSON escapes of control characters.
var jsonEscapes = map[byte]byte{'b': '\b', 'f': '\f', 'n': '\n', 'r': '\r', 't': '\t'}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c >= 'a':
		return c - 'a' + 10
	}
	return c - 'A' + 10
}
