package auditlogtest

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"syscall"
)

// Transport returns an [http.RoundTripper] that serves the server's
// requests in memory, in the calling goroutine: no socket, no goroutine,
// nothing that keeps a synctest bubble from going idle. It answers exactly
// what the TCP server would, and turns what breaks a connection into what a
// client over TCP would see: a reset is an error wrapping
// syscall.ECONNRESET, a truncated body ends in io.ErrUnexpectedEOF, and
// Close during an injected latency fails the request. It serves only the
// scheme and host of [Server.URL]; anything else is an error, so a link to
// another host cannot reach the fake by accident.
func (s *Server) Transport() http.RoundTripper { return memTransport{s} }

type memTransport struct{ s *Server }

func (t memTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	s := t.s
	if req.Body != nil {
		defer req.Body.Close()
	}
	if req.URL == nil || req.URL.Scheme+"://"+req.URL.Host != s.base {
		return nil, fmt.Errorf("auditlogtest: the in-memory transport serves %s only, not %s", s.base, urlOrigin(req))
	}
	if !s.enter() {
		return nil, connError("dial", syscall.ECONNREFUSED)
	}
	defer s.leave()
	out := s.serve(req)
	switch {
	case out.aborted:
		if err := req.Context().Err(); err != nil {
			return nil, err
		}
		return nil, connError("read", syscall.ECONNRESET)
	case out.reset:
		return nil, connError("read", syscall.ECONNRESET)
	}
	r := out.resp
	resp := &http.Response{
		Status:     strconv.Itoa(r.status) + " " + http.StatusText(r.status),
		StatusCode: r.status,
		Proto:      "HTTP/1.1",
		ProtoMajor: 1,
		ProtoMinor: 1,
		Header:     r.header,
		Request:    req,
		Body:       http.NoBody,
	}
	if r.status != http.StatusNoContent && r.status != http.StatusNotModified {
		r.header.Set("Content-Length", strconv.Itoa(len(r.body)))
		resp.ContentLength = int64(len(r.body))
		switch {
		case req.Method == http.MethodHead:
		case out.truncate && len(r.body) > 0:
			resp.Body = io.NopCloser(io.MultiReader(bytes.NewReader(r.body[:len(r.body)/2]), errReader{io.ErrUnexpectedEOF}))
		case len(r.body) > 0:
			resp.Body = io.NopCloser(bytes.NewReader(r.body))
		}
	}
	return resp, nil
}

func urlOrigin(req *http.Request) string {
	if req.URL == nil {
		return "a request without a URL"
	}
	return req.URL.Scheme + "://" + req.URL.Host
}

// connError is what a client over TCP sees when the peer resets or refuses
// the connection.
func connError(op string, errno syscall.Errno) error {
	return &net.OpError{Op: op, Net: "tcp", Addr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)}, Err: os.NewSyscallError(op, errno)}
}

type errReader struct{ err error }

func (r errReader) Read([]byte) (int, error) { return 0, r.err }

// enter counts an in-memory request in, unless the server is closed.
func (s *Server) enter() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.active++
	return true
}

func (s *Server) leave() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.active--; s.active == 0 && s.idle != nil {
		close(s.idle)
		s.idle = nil
	}
}
