package auditlogtest

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"
)

// Request is one entry of the server's request log. It never holds a token
// or a request body.
type Request struct {
	// Seq numbers requests in arrival order, from 1.
	Seq      int
	Method   string
	Path     string
	RawQuery string
	// Header is a copy of the request's headers, with the credentials of
	// Authorization replaced by "[redacted]" (the scheme is kept).
	Header http.Header
	// Status is the final status code, 0 when the connection was reset or
	// the request was abandoned.
	Status int
	// RequestID is the X-GitHub-Request-Id the response carried ("" when
	// none was sent), the one an SDK error reports.
	RequestID string
	// Resource is the rate-limit resource the request was routed to, if any.
	Resource string
	// Fault is the injected fault's name (see [FaultKind.String]), if any.
	Fault string
	// Time is the server clock when the request arrived.
	Time time.Time
}

// Query returns the parsed query parameters.
func (r Request) Query() url.Values {
	q, _ := url.ParseQuery(r.RawQuery)
	return q
}

// redactedHeader copies h with Authorization's credentials redacted.
func redactedHeader(h http.Header) http.Header {
	out := h.Clone()
	if out == nil {
		out = http.Header{}
	}
	if vs := out.Values("Authorization"); len(vs) > 0 {
		red := make([]string, len(vs))
		for i, v := range vs {
			scheme, _, ok := strings.Cut(strings.TrimSpace(v), " ")
			if ok {
				red[i] = scheme + " [redacted]"
			} else {
				red[i] = "[redacted]"
			}
		}
		out["Authorization"] = red
	}
	return out
}

// logLocked records a finished request at its place in arrival order, and
// wakes [Server.WaitRequests].
func (s *Server) logLocked(r Request) {
	i := sort.Search(len(s.log), func(i int) bool { return s.log[i].Seq > r.Seq })
	s.log = append(s.log, Request{})
	copy(s.log[i+1:], s.log[i:])
	s.log[i] = r
	if s.logged != nil {
		close(s.logged)
		s.logged = nil
	}
}

// Requests returns a copy of the request log: the requests that have been
// answered (or reset, or abandoned), in arrival order. A client that has
// its response finds its request here.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Request, len(s.log))
	for i, r := range s.log {
		r.Header = r.Header.Clone()
		out[i] = r
	}
	return out
}

// ResetRequests empties the request log. Sequence numbers go on.
func (s *Server) ResetRequests() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.log = nil
}

// selects reports whether m selects the logged request r.
func (s *Server) selects(m Match, r Request) bool {
	return m.matches(r.Method, s.apiPath(r.Path), r.Query(), s.canonPathLocked)
}

// matchingLocked returns copies of the logged requests m selects.
func (s *Server) matchingLocked(m Match) []Request {
	var out []Request
	for _, r := range s.log {
		if s.selects(m, r) {
			r.Header = r.Header.Clone()
			out = append(out, r)
		}
	}
	return out
}

// Count returns how many logged requests m selects: Count(Match{}) is the
// size of the log, Count(Match{Method: "GET", Path: PathAuditLog}) the
// audit-log pages asked for.
func (s *Server) Count(m Match) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, r := range s.log {
		if s.selects(m, r) {
			n++
		}
	}
	return n
}

// WaitRequests waits until the log holds at least n requests that m
// selects, and returns them. It fails when ctx ends or the server closes
// first, returning those logged so far. Inside a synctest bubble the wait
// is durably blocking when the server was made in the bubble.
func (s *Server) WaitRequests(ctx context.Context, m Match, n int) ([]Request, error) {
	if err := m.validate(); err != nil {
		return nil, err
	}
	for {
		s.mu.Lock()
		got := s.matchingLocked(m)
		if len(got) >= n {
			s.mu.Unlock()
			return got, nil
		}
		if s.closed {
			s.mu.Unlock()
			return got, fmt.Errorf("%w with %d of the %d requests waited for", errServerClosed, len(got), n)
		}
		if s.logged == nil {
			s.logged = make(chan struct{})
		}
		logged := s.logged
		s.mu.Unlock()
		select {
		case <-logged: // a request was logged, or the server closed
		case <-ctx.Done():
			return got, fmt.Errorf("auditlogtest: waiting for %d requests, %d logged: %w", n, len(got), ctx.Err())
		}
	}
}
