package auditlog

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
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

func (f FieldError) String() string {
	var parts []string
	if f.Field != "" {
		parts = append(parts, oneLine(f.Field))
	}
	if f.Code != "" {
		parts = append(parts, oneLine(f.Code))
	}
	if f.Message != "" {
		parts = append(parts, oneLine(f.Message))
	}
	return strings.Join(parts, ": ")
}

// APIError is an error response from GitHub that is not a rate limit.
type APIError struct {
	StatusCode       int
	Method           string       // of the request
	Path             string       // of the request, without query
	Message          string       // GitHub's "message"
	DocumentationURL string       // GitHub's "documentation_url"
	Errors           []FieldError // GitHub's "errors", either form
	RequestID        string       // X-GitHub-Request-Id, for GitHub Support
	// Body is the start of a body that was not GitHub's JSON error shape
	// (an HTML error page, say), at most 512 bytes.
	Body string
}

func (e *APIError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "auditlog: %s %s: %d %s", e.Method, e.Path, e.StatusCode, http.StatusText(e.StatusCode))
	if e.Message != "" {
		b.WriteString(": ")
		b.WriteString(oneLine(e.Message))
	}
	for i, fe := range e.Errors {
		if i == 0 {
			b.WriteString(" [")
		} else {
			b.WriteString("; ")
		}
		b.WriteString(fe.String())
		if i == len(e.Errors)-1 {
			b.WriteString("]")
		}
	}
	if e.RequestID != "" {
		b.WriteString(" (request ")
		b.WriteString(oneLine(e.RequestID))
		b.WriteString(")")
	}
	return b.String()
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
	Resource   string        // x-ratelimit-resource, e.g. "audit_log"
	Limit      int           // x-ratelimit-limit, 0 when absent
	Remaining  int           // x-ratelimit-remaining, -1 when absent
	Reset      time.Time     // x-ratelimit-reset, zero when absent
	RetryAfter time.Duration // retry-after, 0 when absent
	Secondary  bool          // a secondary (abuse) limit rather than the hourly budget
	Message    string
	RequestID  string

	observed time.Time // when the refusal arrived, the origin of RetryAfter
}

func (e *RateLimitError) Error() string {
	kind := "primary"
	if e.Secondary {
		kind = "secondary"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "auditlog: %s %s: %s rate limit", e.Method, e.Path, kind)
	if e.Resource != "" {
		b.WriteString(" on " + oneLine(e.Resource))
	}
	if when := e.RetryAt(); !when.IsZero() {
		b.WriteString("; retry at " + when.UTC().Format(time.RFC3339))
	} else {
		b.WriteString("; retry after at least a minute")
	}
	if e.RequestID != "" {
		b.WriteString(" (request " + oneLine(e.RequestID) + ")")
	}
	return b.String()
}

// Is reports whether target is [ErrRateLimited].
func (e *RateLimitError) Is(target error) bool { return target == ErrRateLimited }

// RetryAt is the earliest time GitHub said a retry may be made: now plus
// RetryAfter when given, else Reset; zero when GitHub said neither.
func (e *RateLimitError) RetryAt() time.Time {
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

func (e *NetworkError) Error() string {
	return fmt.Sprintf("auditlog: %s %s: %v", e.Method, e.Path, e.Err)
}

// Unwrap returns the cause.
func (e *NetworkError) Unwrap() error { return e.Err }

// errorBody is GitHub's JSON error shape.
type errorBody struct {
	Message          string       `json:"message"`
	DocumentationURL string       `json:"documentation_url"`
	Errors           []FieldError `json:"errors"`
}

// checkResponse classifies a response: nil for 2xx, else a *RateLimitError
// or an *APIError.
func checkResponse(method, path string, resp *http.Response, body string, now time.Time) error {
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return nil
	}
	var eb errorBody
	parsed := json.Unmarshal([]byte(body), &eb) == nil
	requestID := resp.Header.Get("X-GitHub-Request-Id")
	if rl := rateLimitFrom(resp, eb.Message, now); rl != nil {
		rl.Method, rl.Path, rl.RequestID = method, path, requestID
		return rl
	}
	e := &APIError{
		StatusCode: resp.StatusCode, Method: method, Path: path, RequestID: requestID,
		Message: eb.Message, DocumentationURL: eb.DocumentationURL, Errors: eb.Errors,
	}
	if !parsed {
		e.Body = body
		if len(e.Body) > 512 {
			e.Body = e.Body[:512]
		}
	}
	return e
}

// rateLimitFrom decides from headers and message, as GitHub documents,
// whether a 403 or 429 is a rate limit, and of which kind.
func rateLimitFrom(resp *http.Response, message string, now time.Time) *RateLimitError {
	if resp.StatusCode != http.StatusForbidden && resp.StatusCode != http.StatusTooManyRequests {
		return nil
	}
	rate := parseRate(resp.Header)
	retryAfter, hasRetryAfter := parseRetryAfter(resp.Header.Get("Retry-After"), now)
	msg := strings.ToLower(message)
	secondaryMsg := strings.Contains(msg, "secondary rate limit") || strings.Contains(msg, "abuse detection")
	primaryMsg := strings.Contains(msg, "api rate limit exceeded")
	exhausted := rate.Remaining == 0
	if !(exhausted || hasRetryAfter || secondaryMsg || primaryMsg || resp.StatusCode == http.StatusTooManyRequests) {
		return nil
	}
	return &RateLimitError{
		StatusCode: resp.StatusCode,
		Resource:   rate.Resource,
		Limit:      rate.Limit,
		Remaining:  rate.Remaining,
		Reset:      rate.Reset,
		RetryAfter: retryAfter,
		Secondary:  secondaryMsg || (!exhausted && !primaryMsg),
		Message:    message,
		observed:   now,
	}
}

// parseRetryAfter reads a Retry-After value in seconds or as an HTTP date.
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

// oneLine escapes the control characters (and Unicode line separators) of
// a server-supplied string, so an error message stays on one line and a
// body cannot forge log lines.
func oneLine(s string) string {
	isBreak := func(r rune) bool { return r < 0x20 || r == 0x7f || r == 0x85 || r == 0x2028 || r == 0x2029 }
	if strings.IndexFunc(s, isBreak) < 0 {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		if isBreak(r) {
			fmt.Fprintf(&b, "\\u%04x", r)
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}
