package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"testing"

	"github.com/ghaudit/auditlog"
	"github.com/google/go-github/v92/github"
)

const benchEnterprise = "avocado-corp"

// newMemClients returns both SDKs' clients wired to a transport that serves
// page from memory, on default settings apart from the base URL and token.
func newMemClients(tb testing.TB, page []byte) (*auditlog.Client, *github.Client) {
	tb.Helper()
	hc := &http.Client{Transport: newMemTransport(page)}
	const base = "http://127.0.0.1:1"
	c, err := auditlog.NewClient(auditlog.WithToken("ghp_bench"), auditlog.WithBaseURL(base), auditlog.WithHTTPClient(hc))
	if err != nil {
		tb.Fatal(err)
	}
	return c, newGitHub(tb, hc, base, "ghp_bench")
}

// newGitHub returns a go-github client on its defaults apart from the HTTP
// client, the token and the base URL (with the trailing slash it requires).
func newGitHub(tb testing.TB, hc *http.Client, base, token string) *github.Client {
	tb.Helper()
	base += "/"
	gh, err := github.NewClient(github.WithHTTPClient(hc), github.WithAuthToken(token), github.WithURLs(&base, nil))
	if err != nil {
		tb.Fatal(err)
	}
	return gh
}

// BenchmarkDecodePage decodes the committed 100-event page four ways.
//
//   - client: one page through each SDK's client (auditlog's Client.AuditLog,
//     go-github's Enterprise.GetAuditLog) with a transport that serves the
//     bytes from memory: request building, header parsing, body read and
//     decode, i.e. what a caller pays per page minus the network.
//   - unmarshal: json.Unmarshal of the page bytes into each SDK's event
//     slice. For auditlog this goes through encoding/json's scanner and
//     Event.UnmarshalJSON (one copy per event), which is not the path the
//     client uses; it is here to show the type alone is not the trick.
func BenchmarkDecodePage(b *testing.B) {
	page := loadPage(b)
	ctx := context.Background()
	c, gh := newMemClients(b, page)
	b.Run("sdk=auditlog/path=client", func(b *testing.B) {
		q := &auditlog.Query{PerPage: 100, Include: auditlog.IncludeAll}
		b.SetBytes(int64(len(page)))
		b.ReportAllocs()
		for b.Loop() {
			p, err := c.AuditLog(ctx, auditlog.Enterprise(benchEnterprise), q)
			if err != nil || len(p.Events) != 100 {
				b.Fatalf("%d events, %v", len(p.Events), err)
			}
		}
	})
	b.Run("sdk=go-github/path=client", func(b *testing.B) {
		opts := &github.GetAuditLogOptions{Include: new("all"), ListCursorOptions: github.ListCursorOptions{PerPage: 100}}
		b.SetBytes(int64(len(page)))
		b.ReportAllocs()
		for b.Loop() {
			entries, _, err := gh.Enterprise.GetAuditLog(ctx, benchEnterprise, opts)
			if err != nil || len(entries) != 100 {
				b.Fatalf("%d events, %v", len(entries), err)
			}
		}
	})
	b.Run("sdk=auditlog/path=unmarshal", func(b *testing.B) {
		b.SetBytes(int64(len(page)))
		b.ReportAllocs()
		for b.Loop() {
			var evs []auditlog.Event
			if err := json.Unmarshal(page, &evs); err != nil || len(evs) != 100 {
				b.Fatalf("%d events, %v", len(evs), err)
			}
		}
	})
	b.Run("sdk=go-github/path=unmarshal", func(b *testing.B) {
		b.SetBytes(int64(len(page)))
		b.ReportAllocs()
		for b.Loop() {
			var entries []*github.AuditEntry
			if err := json.Unmarshal(page, &entries); err != nil || len(entries) != 100 {
				b.Fatalf("%d events, %v", len(entries), err)
			}
		}
	})
}

// TestDecodeNoFieldLost checks what the decode benchmark compares: every
// event auditlog decodes keeps its entry's JSON byte for byte (so no field,
// known, unknown or oddly typed, is lost), on both the client and the
// unmarshal path, and go-github decodes the same page without error.
func TestDecodeNoFieldLost(t *testing.T) {
	page := loadPage(t)
	var elems []json.RawMessage
	if err := json.Unmarshal(page, &elems); err != nil {
		t.Fatal(err)
	}
	c, gh := newMemClients(t, page)
	ctx := context.Background()

	p, err := c.AuditLog(ctx, auditlog.Enterprise(benchEnterprise), &auditlog.Query{PerPage: 100})
	if err != nil {
		t.Fatal(err)
	}
	var viaUnmarshal []auditlog.Event
	if err := json.Unmarshal(page, &viaUnmarshal); err != nil {
		t.Fatal(err)
	}
	for name, evs := range map[string][]auditlog.Event{"client": p.Events, "unmarshal": viaUnmarshal} {
		if len(evs) != len(elems) {
			t.Fatalf("%s: %d events, page has %d", name, len(evs), len(elems))
		}
		for i, ev := range evs {
			if !bytes.Equal(ev.Raw(), elems[i]) {
				t.Errorf("%s: event %d: raw JSON differs from the page element\n got %.120s\nwant %.120s", name, i, ev.Raw(), elems[i])
			}
			var fields map[string]json.RawMessage
			if err := json.Unmarshal(elems[i], &fields); err != nil {
				t.Fatal(err)
			}
			for k, want := range fields {
				if got, ok := ev.Get(k); !ok || !bytes.Equal(got, want) {
					t.Errorf("%s: event %d: Get(%q) = %s, %t; want %s", name, i, k, got, ok, want)
				}
			}
			if ev.DocumentID == "" || ev.Action == "" || ev.Timestamp.IsZero() {
				t.Errorf("%s: event %d: typed fields not decoded: %+v", name, i, ev)
			}
		}
	}

	entries, _, err := gh.Enterprise.GetAuditLog(ctx, benchEnterprise, &github.GetAuditLogOptions{ListCursorOptions: github.ListCursorOptions{PerPage: 100}})
	if err != nil {
		t.Fatalf("go-github: %v", err)
	}
	if len(entries) != len(elems) {
		t.Fatalf("go-github: %d entries, page has %d", len(entries), len(elems))
	}
	for i, e := range entries {
		if e.GetDocumentID() != p.Events[i].DocumentID || e.GetAction() != p.Events[i].Action {
			t.Errorf("go-github: entry %d is %s %s, auditlog has %s %s", i, e.GetDocumentID(), e.GetAction(), p.Events[i].DocumentID, p.Events[i].Action)
		}
	}
}
