package bench

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ghaudit/auditlog"
	"github.com/ghaudit/auditlog/auditlogtest"
)

var (
	followMinutes = flag.Int("follow-minutes", 20, "BenchmarkFollow: minutes of arrivals at 1,000 events a minute (fake time)")
	followScale   = flag.Int("follow-scale", 120, "BenchmarkFollow: fake minutes per wall-clock minute")
)

// BenchmarkFollow tails the audit log the way issue 12 sets the bar:
// 1,000 events a minute, a 5-minute look-back, a poll a minute, 100 per
// page (the defaults), and one event in ten reaching the log late by up to
// half the look-back. Time is scaled: the fake's clock (its Date header and
// the events' @timestamp) runs -follow-scale times faster than the wall
// clock, and so does the poll interval; the look-back and the rescan are
// measured on event time, so they keep their real values. The fake's clock
// stays behind the local one, so no event is ever "in the future".
//
// It reports, from the fake's request log and what the Follower delivered:
// req/1000ev, requests per 1,000 events in steady state (from minute 10, once
// the first sweeps have run, to the end of the arrivals; the target is 25);
// missed, events not delivered (all arrive within the look-back, so 0 is
// the promise); dups, events delivered more than once; ids-held, the most
// IDs the Follower kept.
func BenchmarkFollow(b *testing.B) {
	const rate = 1000 // events a minute
	lookBack := auditlog.DefaultFollowLookBack
	scale := time.Duration(*followScale)
	minutes := *followMinutes
	for b.Loop() {
		total := time.Duration(minutes)*time.Minute + lookBack*3/2 + 3*auditlog.DefaultFollowEvery
		realStart := time.Now()
		start := realStart.Add(-total).Truncate(time.Millisecond) // fake time starts here and never passes the wall clock
		var elapsed atomic.Int64
		clock := func() time.Time { return start.Add(scale * time.Since(realStart)) }
		srv := auditlogtest.NewServer(auditlogtest.WithEvents(), auditlogtest.WithoutRateLimits(), auditlogtest.WithClock(clock))
		// No budget in the way: this measures what the tail asks for, to set
		// against the 1,750 requests an hour GitHub allows.
		c, err := auditlog.NewClient(auditlog.WithBaseURL(srv.URL()), auditlog.WithToken(srv.Token()),
			auditlog.WithRateLimits(map[string]auditlog.RateLimit{auditlog.ResourceAuditLog: {Requests: 1 << 30, Per: time.Hour}}))
		if err != nil {
			b.Fatal(err)
		}

		type arrival struct {
			id     string
			ts, at time.Time
		}
		rng := rand.New(rand.NewPCG(12, 5))
		arrivals := make([]arrival, 0, rate*minutes)
		for i := range rate * minutes {
			ts := start.Add(time.Duration(i) * time.Minute / rate)
			at := ts
			if i%10 == 3 {
				at = ts.Add(time.Duration(rng.Int64N(int64(lookBack/2))) + time.Millisecond)
			}
			arrivals = append(arrivals, arrival{fmt.Sprintf("ev-%05d", i), ts, at})
		}
		slices.SortFunc(arrivals, func(a, b arrival) int { return a.at.Compare(b.at) })

		ctx, cancel := context.WithTimeout(context.Background(), total/scale)
		go func() { // the log fills in 30-second (fake) batches
			for i := 0; i < len(arrivals) && ctx.Err() == nil; {
				var batch []json.RawMessage
				now := clock()
				for ; i < len(arrivals) && !arrivals[i].at.After(now); i++ {
					a := arrivals[i]
					batch = append(batch, json.RawMessage(fmt.Sprintf(`{"@timestamp":%d,"_document_id":%q,"action":"repo.create"}`, a.ts.UnixMilli(), a.id)))
				}
				if len(batch) > 0 {
					if err := srv.AddEvents(batch...); err != nil {
						panic(err)
					}
				}
				elapsed.Store(int64(i))
				time.Sleep(30 * time.Second / scale)
			}
		}()

		f := c.Follow(auditlog.Enterprise(srv.Enterprise()), nil, auditlog.FollowOptions{
			Every: auditlog.DefaultFollowEvery / scale, LookBack: lookBack, Since: start})
		got := map[string]int{}
		held := 0
		for ev, err := range f.Events(ctx) {
			if err != nil {
				b.Fatal(err)
			}
			got[ev.DocumentID]++
			held = max(held, f.Tracked())
		}
		cancel()
		srv.Close()

		missed, dups := 0, 0
		for _, a := range arrivals {
			switch n := got[a.id]; {
			case n == 0:
				missed++
				if missed <= 3 {
					b.Logf("missed %s: @timestamp +%s, arrived %s later", a.id, a.ts.Sub(start), a.at.Sub(a.ts))
				}
			case n > 1:
				dups += n - 1
			}
		}
		from, end := start.Add(10*time.Minute), start.Add(time.Duration(minutes)*time.Minute)
		requests, events := 0, 0
		for _, r := range srv.Requests() {
			if !r.Time.Before(from) && r.Time.Before(end) {
				requests++
			}
		}
		for _, a := range arrivals {
			if !a.at.Before(from) && a.at.Before(end) {
				events++
			}
		}
		if events == 0 {
			b.Fatalf("-follow-minutes %d leaves no steady state after minute 10", minutes)
		}
		b.ReportMetric(float64(requests)*1000/float64(events), "req/1000ev")
		b.ReportMetric(float64(missed), "missed")
		b.ReportMetric(float64(dups), "dups")
		b.ReportMetric(float64(held), "ids-held")
		b.Logf("%d events (%d added), %d requests in all, %d in steady state for %d events; missed %d, dups %d",
			len(arrivals), elapsed.Load(), len(srv.Requests()), requests, events, missed, dups)
	}
}
