package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/ghaudit/auditlog/auditlogtest"
)

var update = flag.Bool("update", false, "regenerate testdata/page100.json from auditlogtest's generator")

const pageFile = "testdata/page100.json"

// fixtureClock fixes the generator's time range so -update is reproducible.
func fixtureClock() time.Time { return time.Date(2026, 1, 15, 12, 0, 0, 0, time.UTC) }

// loadPage returns the committed 100-event page, byte for byte as the fake
// served it.
func loadPage(tb testing.TB) []byte {
	tb.Helper()
	b, err := os.ReadFile(pageFile)
	if err != nil {
		tb.Fatalf("%v (regenerate with go test -run TestFixture -update)", err)
	}
	return b
}

// TestFixture regenerates the page with -update, and otherwise checks that
// the committed page still has the quirks the decode benchmark is about.
func TestFixture(t *testing.T) {
	if *update {
		srv := auditlogtest.NewServer(auditlogtest.WithGeneratedEvents(5000, 42), auditlogtest.WithClock(fixtureClock))
		defer srv.Close()
		page := fetchRaw(t, srv, "include=all&per_page=100")
		if err := os.MkdirAll(filepath.Dir(pageFile), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(pageFile, page, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var elems []map[string]json.RawMessage
	if err := json.Unmarshal(loadPage(t), &elems); err != nil {
		t.Fatal(err)
	}
	if len(elems) != 100 {
		t.Fatalf("page has %d events, want 100", len(elems))
	}
	orgArrays, withData := 0, 0
	for _, e := range elems {
		if o := bytes.TrimSpace(e["org"]); len(o) > 0 && o[0] == '[' {
			orgArrays++
		}
		if _, ok := e["data"]; ok {
			withData++
		}
	}
	t.Logf("%d events, %d with org as an array, %d with nested data", len(elems), orgArrays, withData)
	if orgArrays < 2 {
		t.Errorf("only %d events with org as an array; the page should show the quirk", orgArrays)
	}
}

// fetchRaw GETs one audit-log page from the fake and returns its body.
func fetchRaw(tb testing.TB, srv *auditlogtest.Server, query string) []byte {
	tb.Helper()
	req, err := http.NewRequestWithContext(context.Background(), http.MethodGet,
		fmt.Sprintf("%s/enterprises/%s/audit-log?%s", srv.URL(), srv.Enterprise(), query), nil)
	if err != nil {
		tb.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+srv.Token())
	resp, err := srv.Client().Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		tb.Fatalf("status %d, err %v: %.200s", resp.StatusCode, err, b)
	}
	return b
}
