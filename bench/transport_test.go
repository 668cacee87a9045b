package bench

import (
	"bytes"
	"io"
	"net/http"
	"strconv"
	"time"
)

// memTransport answers every request with the same page from memory, so
// a benchmark through a client measures the client (request building,
// response handling, decoding) and not the network. Both SDKs get the same
// headers: a last page (no Link), and a budget that is nowhere near spent.
type memTransport struct {
	body  []byte
	reset string
}

func newMemTransport(body []byte) *memTransport {
	return &memTransport{body: body, reset: strconv.FormatInt(time.Now().Add(time.Hour).Unix(), 10)}
}

func (t *memTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Body != nil {
		req.Body.Close()
	}
	h := http.Header{
		"Content-Type":          {"application/json; charset=utf-8"},
		"Content-Length":        {strconv.Itoa(len(t.body))},
		"X-Github-Request-Id":   {"BENCH:0000:0000000:0000000:00000000"},
		"X-Ratelimit-Limit":     {"1000000000"},
		"X-Ratelimit-Remaining": {"999999999"},
		"X-Ratelimit-Used":      {"1"},
		"X-Ratelimit-Reset":     {t.reset},
		"X-Ratelimit-Resource":  {"audit_log"},
	}
	return &http.Response{
		Status:        "200 OK",
		StatusCode:    http.StatusOK,
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        h,
		Body:          io.NopCloser(bytes.NewReader(t.body)),
		ContentLength: int64(len(t.body)),
		Request:       req,
	}, nil
}
