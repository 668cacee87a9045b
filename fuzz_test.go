package auditlog

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"golang.org/x/crypto/nacl/box"
)

// The fuzz targets below run their seeds (f.Add and testdata/fuzz/<Name>/)
// as ordinary tests under plain `go test`; scripts/fuzz.sh fuzzes each one.

// FuzzParseLinkHeader: parseLinkHeader and the cursor extraction on top of
// it never panic, every URL returned was written between < and >, and a
// cursor is only ever one a link carried (the request for it always goes to
// the base URL, whatever host the link names).
func FuzzParseLinkHeader(f *testing.F) {
	f.Add(`<https://api.github.com/enterprises/13827/audit-log?after=MS42NjQz&per_page=100>; rel="next", <https://api.github.com/enterprises/13827/audit-log?before=MS42Nj>; rel="prev"`)
	f.Add(`<https://api.github.com/x?page=2>; rel="next last", <https://api.github.com/x?page=1>; rel=first`)
	f.Add(`<https://evil.example/x?after=abc>; rel="next"`)
	f.Add(`< /relative?after=a%20b >;rel=NEXT;title="a,b;c"`)
	f.Add(`<>; rel="next"`)
	f.Add(`<<a>>; rel=next, <unterminated`)
	f.Add(`<http://api.github.com/x?after=1>; rel="next"`)
	c, err := NewClient()
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, header string) {
		links := parseLinkHeader([]string{header})
		for i, l := range links {
			if i < 64 && !betweenAngles(header, l.url) {
				t.Fatalf("URL %q was not between < and > in %q", l.url, header)
			}
			for _, r := range l.rels {
				if r == "" || r != strings.ToLower(r) || strings.ContainsAny(r, " \t") {
					t.Fatalf("rel %q not a lower-case token", r)
				}
			}
		}
		h := http.Header{"Link": {header}}
		next, prev, err := c.linkCursors(h)
		if err != nil {
			if !next.IsZero() || !prev.IsZero() {
				t.Fatalf("error %v with cursors %v %v", err, next, prev)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Fatalf("multi-line error %q", err)
			}
			return
		}
		for _, cur := range []Cursor{next, prev} {
			if cur.IsZero() {
				continue
			}
			// The cursor round-trips through its text form.
			var back Cursor
			if err := back.UnmarshalText([]byte(cur.String())); err == nil && back != cur {
				t.Fatalf("cursor %#v round-trips to %#v", cur, back)
			}
			// It came from one of the links, whatever host that names, and
			// is a cursor the next request may carry.
			if !validCursor(cur.after) || !validCursor(cur.before) {
				t.Fatalf("cursor %#v is not a valid cursor", cur)
			}
			found := false
			for _, l := range links {
				u, err := c.base.Parse(l.url)
				if err != nil {
					continue
				}
				q := u.Query()
				if (cur.after != "" && q.Get("after") == cur.after) || (cur.before != "" && q.Get("before") == cur.before) ||
					(cur.page > 0 && q.Get("after") == "" && q.Get("before") == "" && q.Get("page") == strconv.Itoa(cur.page)) {
					found = true
				}
			}
			if !found {
				t.Fatalf("cursor %v from no link in %q", cur, header)
			}
		}
	})
}

// betweenAngles reports whether url occurs in header as "<", white space,
// url, white space, ">": the span a Link entry's URL is read from. It looks
// only around occurrences of url, so it stays linear in the header.
func betweenAngles(header, url string) bool {
	for off := 0; off <= len(header); {
		i := strings.Index(header[off:], url)
		if i < 0 {
			return false
		}
		p := off + i
		before := strings.TrimRightFunc(header[:p], unicode.IsSpace)
		after := strings.TrimLeftFunc(header[p+len(url):], unicode.IsSpace)
		if strings.HasSuffix(before, "<") && strings.HasPrefix(after, ">") {
			return true
		}
		off = p + 1
	}
	return false
}

// FuzzDecodeEvents: decodeEvents never panics and agrees with encoding/json
// on what a page is, on each entry's bytes, and on the string fields.
func FuzzDecodeEvents(f *testing.F) {
	f.Add([]byte(`[]`))
	f.Add([]byte(` null `))
	f.Add([]byte(`[{"@timestamp":1606929874512,"_document_id":"xJJFlFOhQ6b-5vaAFy9Rjw","action":"repo.create","actor":"octocat","actor_id":1,"org":["a","b"],"org_id":[1,2],"repo":"a/b","actor_location":{"country_code":"US"},"data":{"x":[1,{"y":null}]}}]`))
	f.Add([]byte(`[{"action":"a\u00e9\ud83d\ude00\n\"","actor":null,"_document_id":12}, {}]`))
	f.Add([]byte(`[{"action":"x","action":"y","actor":true,"created_at":1.5e3,"@timestamp":"1"}]`))
	f.Add([]byte(`[{"a":[[[[[[[[[[]]]]]]]]]]}]`))
	f.Add([]byte("[{\"action\":\"\xff\"}]"))
	f.Add([]byte(`[{"actor":"\ud800"}]`))
	f.Add([]byte(`[{},]`))
	f.Add([]byte(`[1]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		events, err := decodeEvents(string(data))
		if err == nil && !json.Valid(data) {
			t.Fatalf("decodeEvents accepted invalid JSON %q", data)
		}
		if err != nil && strings.Contains(err.Error(), "\n") {
			t.Fatalf("multi-line error %q", err)
		}
		var raws []json.RawMessage
		if json.Unmarshal(data, &raws) != nil {
			return
		}
		if nestingDepth(data) > maxDepth {
			// decodeEvents bounds nesting on purpose (encoding/json allows
			// 10,000 levels); past the bound it must refuse, and say why.
			if err == nil && nestingDepth(data) > maxDepth+2 {
				t.Fatalf("accepted nesting %d past the bound %d", nestingDepth(data), maxDepth)
			}
			if err != nil && !strings.Contains(err.Error(), "nesting too deep") {
				t.Fatalf("deep input refused for another reason: %v", err)
			}
			return
		}
		for _, r := range raws {
			if len(r) == 0 || r[0] != '{' {
				return // a page of non-objects: decodeEvents may refuse it
			}
		}
		if err != nil {
			t.Fatalf("encoding/json accepts %q, decodeEvents says %v", data, err)
		}
		if len(events) != len(raws) {
			t.Fatalf("%d events, encoding/json sees %d", len(events), len(raws))
		}
		for i, ev := range events {
			if !bytes.Equal(ev.Raw(), raws[i]) {
				t.Fatalf("event %d Raw %q, element %q", i, ev.Raw(), raws[i])
			}
			var fields map[string]json.RawMessage
			if err := json.Unmarshal(raws[i], &fields); err != nil {
				t.Fatalf("element %d: %v", i, err)
			}
			for name, got := range map[string]string{"action": ev.Action, "actor": ev.Actor, "_document_id": ev.DocumentID, "user": ev.User, "business": ev.Business} {
				var want string
				if v, ok := fields[name]; ok && len(v) > 0 && v[0] == '"' {
					if err := json.Unmarshal(v, &want); err != nil {
						t.Fatalf("element %d field %s: %v", i, name, err)
					}
				}
				if got != want {
					t.Fatalf("event %d %s = %q, encoding/json gives %q (element %q)", i, name, got, want, raws[i])
				}
			}
			// Reading the event back gives the same event.
			var back Event
			if err := json.Unmarshal(raws[i], &back); err != nil || back.raw != ev.raw || back.Action != ev.Action {
				t.Fatalf("event %d does not read back: %v", i, err)
			}
		}
	})
}

// nestingDepth is the deepest nesting of arrays and objects in valid JSON.
func nestingDepth(data []byte) int {
	depth, deepest, inString := 0, 0, false
	for i := 0; i < len(data); i++ {
		switch c := data[i]; {
		case inString && c == '\\':
			i++
		case c == '"':
			inString = !inString
		case inString:
		case c == '[' || c == '{':
			depth++
			deepest = max(deepest, depth)
		case c == ']' || c == '}':
			depth--
		}
	}
	return deepest
}

// FuzzPhraseBuilder: building a phrase from arbitrary values never panics,
// and a phrase Build accepts splits back into exactly the terms given.
func FuzzPhraseBuilder(f *testing.F) {
	f.Add("action", "repo.create", "octo cat", "owner/name", int64(1700000000), false)
	f.Add("country", "United States", "-dependabot", "a/b c", int64(0), true)
	f.Add("x", "a:b", "\t", "/", int64(-1), false)
	f.Add("Bad-Key", "v", "w", "o/n", int64(1), true)
	f.Add("ip", "\u00a0", "\u3000x", "o/\u2028", int64(86400), false)
	f.Add("hashed_token", "", `"`, "o/n", int64(5), false)
	f.Fuzz(func(t *testing.T, key, v1, v2, repo string, secs int64, negate bool) {
		type term struct {
			neg        bool
			key, value string
		}
		other := Phrase().Actor(v2).Repo(repo)
		var want []term
		if negate {
			want = []term{{false, key, v1}, {true, "actor", v2}, {true, "repo", repo}}
		} else {
			want = []term{{false, key, v1}, {false, "actor", v2}, {false, "repo", repo}}
		}
		p := Phrase().Qualifier(key, v1)
		if negate {
			p = p.Not(other)
		} else {
			p = p.Actor(v2).Repo(repo)
		}
		ts := time.Unix(secs%(1<<34), 0)
		p = p.CreatedSince(ts)
		want = append(want, term{false, "created", searchTime(ts) + "..*"})
		phrase, err := p.Build()
		if err != nil {
			var ie *InputError
			if !asInputError(err, &ie) || ie.Field == "" {
				t.Fatalf("Build error %v is not an *InputError naming a field", err)
			}
			if phrase != "" {
				t.Fatalf("phrase %q with error %v", phrase, err)
			}
			return
		}
		for _, s := range []string{key, v1, v2, repo} {
			if !utf8.ValidString(s) || strings.Contains(s, `"`) || hasControl(s) {
				t.Fatalf("Build accepted %q", s)
			}
		}
		var got []term
		for _, raw := range splitPhrase(phrase) {
			var tm term
			if strings.HasPrefix(raw, "-") {
				tm.neg, raw = true, raw[1:]
			}
			k, v, ok := strings.Cut(raw, ":")
			if !ok {
				t.Fatalf("term %q of %q has no colon", raw, phrase)
			}
			if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
				v = v[1 : len(v)-1]
			}
			tm.key, tm.value = k, v
			got = append(got, tm)
		}
		if len(got) != len(want) {
			t.Fatalf("phrase %q splits into %d terms %+v, want %d %+v", phrase, len(got), got, len(want), want)
		}
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("phrase %q term %d = %+v, want %+v", phrase, i, got[i], want[i])
			}
		}
	})
}

// splitPhrase splits a phrase on white space outside double quotes.
func splitPhrase(p string) []string {
	var terms []string
	var cur strings.Builder
	inQuote := false
	for _, r := range p {
		switch {
		case r == '"':
			inQuote = !inQuote
			cur.WriteRune(r)
		case unicode.IsSpace(r) && !inQuote:
			if cur.Len() > 0 {
				terms = append(terms, cur.String())
				cur.Reset()
			}
		default:
			cur.WriteRune(r)
		}
	}
	if cur.Len() > 0 {
		terms = append(terms, cur.String())
	}
	return terms
}

// FuzzCheckResponse: classifying an arbitrary error response never panics,
// always gives an error for a non-2xx status, and its message is one line.
func FuzzCheckResponse(f *testing.F) {
	f.Add(404, []byte(`{"message":"Not Found","documentation_url":"https://docs.github.com/rest"}`), "", "", "")
	f.Add(422, []byte(`{"errors":["Stream type is invalid","x"]}`), "", "", "")
	f.Add(422, []byte(`{"message":"Validation Failed","errors":[{"resource":"Stream","field":"vendor_specific.port","code":"invalid"},"bare",null,1]}`), "", "", "")
	f.Add(403, []byte(`{"message":"You have exceeded a secondary rate limit."}`), "60", "10", "")
	f.Add(429, []byte(`<html>busy</html>`), "Wed, 21 Oct 2015 07:28:00 GMT", "0", "A1B2:3C4D")
	f.Add(403, []byte(`{"message":"API rate limit exceeded for user ID 1.\nline two"}`), "-5", "x", "id\nnext")
	f.Add(500, []byte{0xff, 0xfe, '\n'}, "99999999999999999999", "", "")
	now := time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, status int, body []byte, retryAfter, remaining, requestID string) {
		h := http.Header{}
		h.Set("Retry-After", retryAfter)
		h.Set("X-Ratelimit-Remaining", remaining)
		h.Set("X-Ratelimit-Reset", remaining)
		h.Set("X-GitHub-Request-Id", requestID)
		resp := &response{status: status, header: h, body: string(body), rate: parseRate(h),
			requestID: serverText(requestID, maxRequestIDText), received: now}
		err := checkResponse("GET", "/enterprises/e/audit-log", resp)
		if status >= 200 && status < 300 {
			if err != nil {
				t.Fatalf("status %d gave %v", status, err)
			}
			return
		}
		if err == nil {
			t.Fatalf("status %d gave no error", status)
		}
		if msg := err.Error(); strings.ContainsAny(msg, "\n\r") {
			t.Fatalf("Error() is not one line: %q", msg)
		}
		// One entry of an errors list, alone, in either form.
		var fe FieldError
		if trimmed := bytes.TrimSpace(body); fe.UnmarshalJSON(trimmed) == nil && strings.IndexByte(`"{n`, trimmed[0]) < 0 {
			t.Fatalf("FieldError accepted %q", body)
		}
	})
}

// FuzzSeal: Seal never panics, refuses every key that is not the standard
// base64 of 32 bytes or is a low-order point, and what it seals for a key
// pair derived from the input opens with the private key.
func FuzzSeal(f *testing.F) {
	f.Add("", []byte("secret"), []byte("seed"))
	f.Add(base64.StdEncoding.EncodeToString(make([]byte, 32)), []byte{}, []byte{})
	f.Add(base64.StdEncoding.EncodeToString(make([]byte, 31)), []byte("x"), []byte{1})
	f.Add(base64.RawStdEncoding.EncodeToString(make([]byte, 32)), []byte("x"), []byte{2})
	f.Add(base64.URLEncoding.EncodeToString(bytes.Repeat([]byte{0xfb}, 32)), []byte("x"), []byte{3})
	f.Add("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n=", []byte("SECRET"), []byte{4})
	f.Fuzz(func(t *testing.T, key string, plaintext, seed []byte) {
		out, err := Seal(key, plaintext)
		raw, decErr := base64.StdEncoding.Strict().DecodeString(key)
		canonical := decErr == nil && len(raw) == PublicKeySize && base64.StdEncoding.EncodeToString(raw) == key && !isLowOrder(raw)
		switch {
		case err == nil && !canonical:
			t.Fatalf("Seal accepted key %q", key)
		case err != nil && canonical:
			t.Fatalf("Seal refused key %q: %v", key, err)
		case err != nil:
			var ie *InputError
			if !asInputError(err, &ie) || ie.Field != "publicKey" {
				t.Fatalf("error %v is not an *InputError for publicKey", err)
			}
			// The key is public and may be quoted; the plaintext may not
			// show at all: the message is the same whatever the plaintext.
			if _, other := Seal(key, []byte("other")); other == nil || other.Error() != err.Error() {
				t.Fatalf("error %q depends on the plaintext (other plaintext: %v)", err, other)
			}
		default:
			if ct, err := base64.StdEncoding.DecodeString(out); err != nil || len(ct) != len(plaintext)+SealedOverhead {
				t.Fatalf("sealed output %q: %v", out, err)
			}
		}

		// A key pair derived from the input: sealing must open.
		digest := sha256.Sum256(seed)
		pub, priv, err := box.GenerateKey(bytes.NewReader(digest[:]))
		if err != nil {
			t.Fatal(err)
		}
		out, err = Seal(base64.StdEncoding.EncodeToString(pub[:]), plaintext)
		if err != nil {
			t.Fatalf("Seal with a valid key: %v", err)
		}
		ct, err := base64.StdEncoding.DecodeString(out)
		if err != nil {
			t.Fatal(err)
		}
		opened, ok := box.OpenAnonymous(nil, ct, pub, priv)
		if !ok || !bytes.Equal(opened, plaintext) {
			t.Fatalf("sealed box does not open to the plaintext (ok=%v)", ok)
		}
	})
}

func asInputError(err error, target **InputError) bool { return errors.As(err, target) }

// FuzzResponse drives the whole response path: the bytes of a response on
// the wire (status line, headers including Link and the rate headers, a
// body, gzip-encoded or not) through net/http, the pipeline and an
// endpoint's decoding. Markers in the headers and the body stand for the
// token and a vendor secret, written plainly ({tok}, {sec}), JSON-escaped
// ({tokj}, {secj}) or percent-encoded ({tokp}). Per response it asserts:
//   - time: the call returns (one attempt, bounded by the attempt timeout);
//   - memory: it allocates at most fuzzMaxAlloc, whatever the body claims
//     or inflates to;
//   - no secret: neither the error (in any form) nor any log record holds
//     the token or the secret;
//   - escaping: Error() is one line, and bounded for the SDK's own types.
//
// The body is head, then unit repeated repeat times, then tail, so the
// fuzzer can reach the size bounds with a small input. endpoint selects the
// call: 0 a page of the audit log, 1 the stream list, 2 a stream creation
// (which sends the secret, sealed).
func FuzzResponse(f *testing.F) {
	f.Add(200, "Link: <{base}/enterprises/e/audit-log?after=MQ&before=>; rel=\"next\"\nX-RateLimit-Remaining: 7", false,
		[]byte(`[`), []byte(`{"_document_id":"x","@timestamp":1},`), []byte(`{}]`), uint16(3), uint8(0))
	f.Add(422, "X-GitHub-Request-Id: {tok}", true,
		[]byte(`{"errors":[{"code":"{tokj}"},"{sec}"]}`), []byte{}, []byte{}, uint16(0), uint8(2))
	f.Fuzz(func(t *testing.T, status int, header string, gz bool, head, unit, tail []byte, repeat uint16, endpoint uint8) {
		const secret = "SECRET-fuzz-hec-0123456789"
		marks := strings.NewReplacer(
			"{tokj}", jsonEscapeAll(testToken), "{tokp}", percentEncodeAll(testToken), "{tok}", testToken,
			"{secj}", jsonEscapeAll(secret), "{sec}", secret, "{base}", "http://api.fuzz.test")
		body := marks.Replace(string(head)) + strings.Repeat(marks.Replace(string(unit)), int(repeat)) + marks.Replace(string(tail))
		if len(body) > 4*maxBodyBytes {
			body = body[:4*maxBodyBytes]
		}
		var wire bytes.Buffer
		fmt.Fprintf(&wire, "HTTP/1.1 %03d Fuzz\r\n", min(max(status, 0), 999))
		for _, line := range strings.Split(marks.Replace(header), "\n") {
			if line = strings.TrimRight(line, "\r"); line != "" {
				wire.WriteString(line + "\r\n")
			}
		}
		if gz {
			var zb bytes.Buffer
			zw := gzip.NewWriter(&zb)
			_, _ = zw.Write([]byte(body))
			_ = zw.Close()
			body = zb.String()
			wire.WriteString("Content-Encoding: gzip\r\n")
		}
		wire.WriteString("Connection: close\r\n\r\n")
		wire.WriteString(body)

		logs := newCapture()
		c, err := NewClient(WithBaseURL("http://api.fuzz.test"), WithInsecureHTTP(), WithToken(testToken),
			WithLogger(slog.New(logs)), WithMaxAttempts(1), WithStreamMaxAttempts(1), WithMaxWait(0),
			WithAttemptTimeout(10*time.Second), WithHTTPClient(&http.Client{Transport: wireTransport(wire.Bytes())}))
		if err != nil {
			t.Fatal(err)
		}
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		start := time.Now()
		switch endpoint % 3 {
		case 0:
			_, err = c.AuditLog(context.Background(), Enterprise("e"), &Query{PerPage: 100})
		case 1:
			_, err = c.ListStreams(context.Background(), "e")
		default:
			_, err = c.CreateStream(context.Background(), "e", StreamConfig{Enabled: true,
				Vendor: Splunk{Domain: "http-inputs-acme.splunkcloud.com", Port: 443, Token: NewSecret(secret)}})
		}
		elapsed := time.Since(start)
		runtime.ReadMemStats(&after)
		recordErr(err)

		if elapsed > fuzzMaxTime {
			t.Errorf("the call took %v", elapsed)
		}
		if alloc := after.TotalAlloc - before.TotalAlloc; alloc > fuzzMaxAlloc {
			t.Errorf("the call allocated %d MiB for a %d-byte response", alloc>>20, wire.Len())
		}
		texts := []string{logs.text()}
		if err != nil {
			msg := err.Error()
			texts = append(texts, msg, fmt.Sprintf("%+v", err), fmt.Sprintf("%#v", err))
			if strings.ContainsAny(msg, "\n\r\u2028\u2029\u0085") {
				t.Errorf("Error() is not one line: %q", msg)
			}
			var ae *APIError
			var rl *RateLimitError
			var ne *NetworkError
			if (errors.As(err, &ae) || errors.As(err, &rl) || errors.As(err, &ne)) && len(msg) > maxErrorText+len("…") {
				t.Errorf("Error() is %d bytes", len(msg))
			}
		}
		for _, text := range texts {
			for _, s := range []string{testToken, secret} {
				if strings.Contains(text, s) {
					t.Fatalf("secret %.6s… in %.400q", s, text)
				}
			}
		}
	})
}

const (
	// fuzzMaxTime bounds one response of FuzzResponse: the attempt timeout
	// (10 s) and the decoding of a body at its bound, with room for -race.
	fuzzMaxTime = 30 * time.Second
	// fuzzMaxAlloc bounds what one response of FuzzResponse may allocate: a
	// body read to its 32 MiB bound (a growing buffer: about twice that), its
	// decoding, and net/http's own buffers.
	fuzzMaxAlloc = 8 * maxBodyBytes
)

// wireTransport answers every request with the raw bytes of a response, as
// a server would write them on the connection, through net/http's own
// client transport (so the status line, headers, chunking, gzip and
// truncation are all parsed as they would be). A stream-key request gets a
// valid key instead, so that a stream creation reaches its own request.
func wireTransport(raw []byte) *http.Transport {
	pub, _, err := box.GenerateKey(bytes.NewReader(make([]byte, 64)))
	if err != nil {
		panic(err)
	}
	key := fmt.Sprintf(`{"key_id":"1","key":%q}`, base64.StdEncoding.EncodeToString(pub[:]))
	keyResp := fmt.Sprintf("HTTP/1.1 200 OK\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s", len(key), key)
	return &http.Transport{
		DisableKeepAlives: true,
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			client, server := net.Pipe()
			go func() {
				defer server.Close()
				req, err := http.ReadRequest(bufio.NewReader(server))
				if err != nil {
					return
				}
				_, _ = io.Copy(io.Discard, req.Body)
				if strings.HasSuffix(req.URL.Path, "/stream-key") {
					_, _ = server.Write([]byte(keyResp))
					return
				}
				_, _ = server.Write(raw)
			}()
			return client, nil
		},
	}
}
