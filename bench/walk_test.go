package bench

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/ghaudit/auditlog"
	"github.com/ghaudit/auditlog/auditlogtest"
	"github.com/google/go-github/v92/github"
)

const walkEvents = 10_000

// unlimited is a rate limit the walk benchmarks cannot reach, so they
// measure the clients and not the budget.
var unlimited = auditlogtest.WithRateLimit(auditlogtest.ResourceAuditLog, 1<<30, time.Hour)

// walkAuditlog ranges over every event with auditlog's iterator and returns
// how many it saw; onPage, if not nil, runs after every 100th event.
func walkAuditlog(ctx context.Context, c *auditlog.Client, ent string, onPage func()) (int, error) {
	n := 0
	for _, err := range c.Events(ctx, auditlog.Enterprise(ent), &auditlog.Query{Include: auditlog.IncludeAll, PerPage: 100}) {
		if err != nil {
			return n, err
		}
		n++
		if onPage != nil && n%100 == 0 {
			onPage()
		}
	}
	return n, nil
}

// walkGitHub walks the same events with go-github the way its docs show:
// GetAuditLog in a loop, following resp.After until it is empty. onPage, if
// not nil, runs after every page.
func walkGitHub(ctx context.Context, gh *github.Client, ent string, onPage func()) (int, error) {
	n := 0
	opts := &github.GetAuditLogOptions{Include: new("all"), ListCursorOptions: github.ListCursorOptions{PerPage: 100}}
	for {
		entries, resp, err := gh.Enterprise.GetAuditLog(ctx, ent, opts)
		if err != nil {
			return n, err
		}
		n += len(entries)
		if onPage != nil {
			onPage()
		}
		if resp.After == "" {
			return n, nil
		}
		opts.After = resp.After
	}
}

// loopbackClients returns both SDKs' clients for srv, on default settings
// apart from base URL and token, each with its own connection pool.
func loopbackClients(tb testing.TB, url, token string) (*auditlog.Client, *github.Client) {
	tb.Helper()
	c, err := auditlog.NewClient(auditlog.WithToken(token), auditlog.WithBaseURL(url))
	if err != nil {
		tb.Fatal(err)
	}
	return c, newGitHub(tb, &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}, url, token)
}

// BenchmarkWalk10k walks 10,000 events (100 pages of 100) from auditlogtest
// over loopback with each SDK: wall-clock end to end, per walk.
func BenchmarkWalk10k(b *testing.B) {
	srv := auditlogtest.NewServer(auditlogtest.WithGeneratedEvents(walkEvents, 7), unlimited)
	defer srv.Close()
	c, gh := loopbackClients(b, srv.URL(), srv.Token())
	ctx := context.Background()
	run := func(walk func() (int, error)) func(*testing.B) {
		return func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				n, err := walk()
				if err != nil || n != walkEvents {
					b.Fatalf("walked %d of %d events: %v", n, walkEvents, err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*walkEvents), "ns/event")
		}
	}
	b.Run("sdk=auditlog", run(func() (int, error) { return walkAuditlog(ctx, c, srv.Enterprise(), nil) }))
	b.Run("sdk=go-github", run(func() (int, error) { return walkGitHub(ctx, gh, srv.Enterprise(), nil) }))
}

// TestWalkSameEvents checks both walks see the whole dataset, so the walk
// benchmark compares equal work.
func TestWalkSameEvents(t *testing.T) {
	srv := auditlogtest.NewServer(auditlogtest.WithGeneratedEvents(1234, 7), unlimited)
	defer srv.Close()
	c, gh := loopbackClients(t, srv.URL(), srv.Token())
	ctx := context.Background()
	for name, walk := range map[string]func() (int, error){
		"auditlog":  func() (int, error) { return walkAuditlog(ctx, c, srv.Enterprise(), nil) },
		"go-github": func() (int, error) { return walkGitHub(ctx, gh, srv.Enterprise(), nil) },
	} {
		if n, err := walk(); err != nil || n != 1234 {
			t.Errorf("%s walked %d of 1234 events: %v", name, n, err)
		}
	}
}
