package auditlogtest_test

import (
	"encoding/json"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/ghaudit/auditlog"
	"github.com/ghaudit/auditlog/auditlogtest"
	"github.com/stretchr/testify/require"
)

// newClock returns the clock most tests start from.
func newClock() *auditlogtest.Clock {
	return auditlogtest.NewClock(time.Date(2024, 6, 6, 8, 0, 0, 0, time.UTC))
}

// do sends a request with the server's token (unless token is set in hdr) and
// returns the response with its body read.
func do(t *testing.T, s *auditlogtest.Server, method, url string, body string, hdr ...string) (*http.Response, []byte) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	if strings.HasPrefix(url, "/") {
		url = s.URL() + url
	}
	req, err := http.NewRequest(method, url, rd)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+s.Token())
	for i := 0; i+1 < len(hdr); i += 2 {
		if hdr[i+1] == "" {
			req.Header.Del(hdr[i])
		} else {
			req.Header.Set(hdr[i], hdr[i+1])
		}
	}
	resp, err := s.Client().Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp, b
}

func get(t *testing.T, s *auditlogtest.Server, url string, hdr ...string) (*http.Response, []byte) {
	t.Helper()
	return do(t, s, http.MethodGet, url, "", hdr...)
}

var linkRE = regexp.MustCompile(`<([^>]*)>;\s*rel="([^"]+)"`)

// links parses a Link header into rel -> URL.
func links(h http.Header) map[string]string {
	out := map[string]string{}
	for _, m := range linkRE.FindAllStringSubmatch(h.Get("Link"), -1) {
		out[m[2]] = m[1]
	}
	return out
}

// docIDs decodes a page (or a dataset) and returns the _document_id values.
func docIDs(t *testing.T, page []byte) []string {
	t.Helper()
	var evs []struct {
		ID string `json:"_document_id"`
	}
	require.NoError(t, json.Unmarshal(page, &evs))
	out := make([]string, len(evs))
	for i, e := range evs {
		out[i] = e.ID
	}
	return out
}

func rawIDs(t *testing.T, evs []json.RawMessage) []string {
	t.Helper()
	out := make([]string, len(evs))
	for i, e := range evs {
		var v struct {
			ID string `json:"_document_id"`
		}
		require.NoError(t, json.Unmarshal(e, &v))
		out[i] = v.ID
	}
	return out
}

type apiErr struct {
	Message          string `json:"message"`
	DocumentationURL string `json:"documentation_url"`
	Errors           []struct {
		Resource string `json:"resource"`
		Field    string `json:"field"`
		Code     string `json:"code"`
		Message  string `json:"message"`
	} `json:"errors"`
}

func decodeErr(t *testing.T, b []byte) apiErr {
	t.Helper()
	var e apiErr
	require.NoError(t, json.Unmarshal(b, &e), string(b))
	return e
}

// unlimited lifts the audit_log budget for tests that walk many pages.
var unlimited = auditlogtest.WithRateLimit(auditlogtest.ResourceAuditLog, 1_000_000, time.Hour)

// sdk returns an SDK client for srv that sends through srv.Client(), so
// that with WithoutListener it runs in memory.
func sdk(t *testing.T, srv *auditlogtest.Server, opts ...auditlog.Option) *auditlog.Client {
	t.Helper()
	c, err := auditlog.NewClient(append([]auditlog.Option{
		auditlog.WithBaseURL(srv.URL()), auditlog.WithToken(srv.Token()), auditlog.WithHTTPClient(srv.Client()),
	}, opts...)...)
	require.NoError(t, err)
	return c
}
