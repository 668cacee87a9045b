package bench

import (
	"context"
	"errors"
	"flag"
	"net/http"
	"testing"
	"time"

	"github.com/ghaudit/auditlog"
	"github.com/ghaudit/auditlog/auditlogtest"
	"github.com/google/go-github/v92/github"
)

var (
	budgetLimit   = flag.Int("budget-limit", 60, "BenchmarkBudget: audit_log requests per window")
	budgetWindow  = flag.Duration("budget-window", 3*time.Second, "BenchmarkBudget: the scaled rate-limit window")
	budgetWindows = flag.Int("budget-windows", 3, "BenchmarkBudget: how many windows each run lasts")
)

// BenchmarkBudget runs each SDK against a fake whose audit_log budget is
// -budget-limit requests per -budget-window (GitHub's 1,750 an hour, scaled
// down), for -budget-windows windows of wall time from the first request,
// walking the log again and again. It reports the share of the budget used
// (requests served / (windows × limit)) and how many requests the fake
// refused (403 or 429), from the fake's own request log.
//
//   - sdk=auditlog/limits=scaled: the default policy with the client's
//     window scaled like the fake's (WithRateLimits), i.e. what the defaults
//     are against GitHub's real hour.
//   - sdk=auditlog/limits=default: literally the defaults. The client
//     re-paces its bucket to the limit the headers report over its own
//     configured window (an hour), so against a 3-second window it spends
//     the first window and then would wait far past the run: it returns a
//     *RateLimitError at once instead of waiting (WithMaxWait's rule).
//   - sdk=go-github/limits=default: go-github's defaults, with the caller
//     doing what go-github leaves to it: on *github.RateLimitError (which
//     go-github also raises locally, without sending, while it knows the
//     budget is spent) sleep until Rate.Reset; on *github.AbuseRateLimitError
//     sleep RetryAfter.
func BenchmarkBudget(b *testing.B) {
	limit, window, windows := *budgetLimit, *budgetWindow, *budgetWindows
	scaled := map[string]auditlog.RateLimit{auditlog.ResourceAuditLog: {Requests: limit, Per: window}}
	run := func(walk func(ctx context.Context, url, token, ent string)) func(*testing.B) {
		return func(b *testing.B) {
			var served, refused, total int
			for b.Loop() {
				b.StopTimer()
				srv := auditlogtest.NewServer(auditlogtest.WithGeneratedEvents(1000, 3),
					auditlogtest.WithRateLimit(auditlogtest.ResourceAuditLog, limit, window))
				b.StartTimer()
				start := time.Now()
				end := start.Add(time.Duration(windows) * window)
				ctx, cancel := context.WithDeadline(context.Background(), end)
				walk(ctx, srv.URL(), srv.Token(), srv.Enterprise())
				cancel()
				b.StopTimer()
				srv.Close()
				for _, r := range srv.Requests() {
					if r.Time.After(end) || r.Resource != auditlogtest.ResourceAuditLog {
						continue // late, or auditlog's warm start (GET /rate_limit, counted against no budget)
					}
					switch r.Status {
					case http.StatusOK:
						served++
					case http.StatusForbidden, http.StatusTooManyRequests:
						refused++
					}
				}
				total += windows * limit
				b.StartTimer()
			}
			b.ReportMetric(100*float64(served)/float64(total), "utilisation-%")
			b.ReportMetric(float64(refused)/float64(b.N), "refusals/op")
			b.ReportMetric(float64(served)/float64(b.N), "served/op")
		}
	}
	auditlogWalk := func(opts ...auditlog.Option) func(ctx context.Context, url, token, ent string) {
		return func(ctx context.Context, url, token, ent string) {
			c, err := auditlog.NewClient(append([]auditlog.Option{auditlog.WithToken(token), auditlog.WithBaseURL(url)}, opts...)...)
			if err != nil {
				b.Fatal(err)
			}
			for ctx.Err() == nil {
				for _, err := range c.Events(ctx, auditlog.Enterprise(ent), &auditlog.Query{Include: auditlog.IncludeAll, PerPage: 100}) {
					if err != nil {
						if ctx.Err() == nil && !errors.Is(err, auditlog.ErrRateLimited) {
							b.Errorf("auditlog: %v", err)
						}
						return // a wait past the deadline, or the deadline itself
					}
				}
			}
		}
	}
	b.Run("sdk=auditlog/limits=scaled", run(auditlogWalk(auditlog.WithRateLimits(scaled))))
	b.Run("sdk=auditlog/limits=default", run(auditlogWalk()))
	b.Run("sdk=go-github/limits=default", run(func(ctx context.Context, url, token, ent string) {
		gh := newGitHub(b, &http.Client{}, url, token)
		opts := &github.GetAuditLogOptions{Include: new("all"), ListCursorOptions: github.ListCursorOptions{PerPage: 100}}
		for ctx.Err() == nil {
			_, resp, err := gh.Enterprise.GetAuditLog(ctx, ent, opts)
			var rle *github.RateLimitError
			var abuse *github.AbuseRateLimitError
			switch {
			case errors.As(err, &rle):
				sleepCtx(ctx, time.Until(rle.Rate.Reset.Time))
			case errors.As(err, &abuse):
				sleepCtx(ctx, abuse.GetRetryAfter())
			case err != nil:
				if ctx.Err() == nil {
					b.Errorf("go-github: %v", err)
				}
				return
			default:
				opts.After = resp.After // "" at the end: start over
			}
		}
	}))
}

func sleepCtx(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
