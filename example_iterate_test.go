package auditlog_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log"
	"time"

	"github.com/ghaudit/auditlog"
	"github.com/ghaudit/auditlog/auditlogtest"
)

// fixedNow makes the generated demo data the same on every run.
var fixedNow = func() time.Time { return time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC) }

func ExampleClient_AuditLog() {
	srv := auditlogtest.NewServer(auditlogtest.WithGeneratedEvents(250, 1), auditlogtest.WithClock(fixedNow))
	defer srv.Close()
	c, err := auditlog.NewClient(auditlog.WithBaseURL(srv.URL()), auditlog.WithToken(srv.Token()))
	if err != nil {
		log.Fatal(err)
	}
	page, err := c.AuditLog(context.Background(), auditlog.Enterprise(srv.Enterprise()), &auditlog.Query{PerPage: 100})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("events:", len(page.Events))
	fmt.Println("newest first:", page.Events[0].Timestamp.After(page.Events[99].Timestamp))
	fmt.Println("more pages:", !page.Next.Done())
	fmt.Printf("budget: %d of %d left on %s\n", page.Rate.Remaining, page.Rate.Limit, page.Rate.Resource)
	// Output:
	// events: 100
	// newest first: true
	// more pages: true
	// budget: 1749 of 1750 left on audit_log
}

func ExampleClient_Events() {
	srv := auditlogtest.NewServer(auditlogtest.WithGeneratedEvents(1000, 1), auditlogtest.WithClock(fixedNow))
	defer srv.Close()
	c, err := auditlog.NewClient(auditlog.WithBaseURL(srv.URL()), auditlog.WithToken(srv.Token()))
	if err != nil {
		log.Fatal(err)
	}
	phrase := auditlog.Phrase().Action("repo").String()
	q := &auditlog.Query{Phrase: phrase, Include: auditlog.IncludeAll, PerPage: 100}

	actions := map[string]int{}
	for ev, err := range c.Events(context.Background(), auditlog.Enterprise(srv.Enterprise()), q) {
		if err != nil {
			log.Fatal(err)
		}
		actions[ev.Action]++
	}
	fmt.Println(actions)
	// Output:
	// map[repo.access:61 repo.create:53 repo.destroy:57]
}

// Pages with a saved cursor: process a page, then save its Next cursor; a
// later run resumes exactly after it.
func ExampleClient_Pages() {
	srv := auditlogtest.NewServer(auditlogtest.WithGeneratedEvents(500, 1), auditlogtest.WithClock(fixedNow))
	defer srv.Close()
	c, err := auditlog.NewClient(auditlog.WithBaseURL(srv.URL()), auditlog.WithToken(srv.Token()))
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	q := &auditlog.Query{Include: auditlog.IncludeAll, PerPage: 100}

	// First run: two pages, then stop (a crash, a deploy...).
	var saved []byte // in real code: a file or a database row
	processed := 0
	for page, err := range c.Pages(ctx, auditlog.Enterprise(srv.Enterprise()), q) {
		if err != nil {
			log.Fatal(err)
		}
		processed += len(page.Events)                         // process the events first...
		if saved, err = page.Next.MarshalText(); err != nil { // ...then save the cursor
			log.Fatal(err)
		}
		if processed == 200 {
			break
		}
	}
	fmt.Println("first run:", processed, "saved", len(saved) > 0)

	// Second run: resume after the saved page.
	var cur auditlog.Cursor
	if err := cur.UnmarshalText(saved); err != nil {
		log.Fatal(err)
	}
	for page, err := range c.Pages(ctx, auditlog.Enterprise(srv.Enterprise()), q.At(cur)) {
		if err != nil {
			log.Fatal(err)
		}
		processed += len(page.Events)
	}
	fmt.Println("after resume:", processed)
	// Output:
	// first run: 200 saved true
	// after resume: 500
}

func ExampleClient_Follow() {
	now := time.Now()
	event := func(id string, ago time.Duration) json.RawMessage {
		return json.RawMessage(fmt.Sprintf(`{"@timestamp":%d,"_document_id":%q,"action":"repo.create"}`,
			now.Add(-ago).UnixMilli(), id))
	}
	srv := auditlogtest.NewServer(auditlogtest.WithEvents(event("a", 3*time.Minute), event("b", 2*time.Minute)))
	defer srv.Close()
	c, err := auditlog.NewClient(auditlog.WithBaseURL(srv.URL()), auditlog.WithToken(srv.Token()))
	if err != nil {
		log.Fatal(err)
	}
	f := c.Follow(auditlog.Enterprise(srv.Enterprise()), nil, auditlog.FollowOptions{
		Every:    10 * time.Millisecond, // in production: a minute or so
		LookBack: 5 * time.Minute,
		Since:    now.Add(-time.Hour),
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	n := 0
	for ev, err := range f.Events(ctx) {
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(ev.DocumentID, ev.Action)
		// Save f.Checkpoint() here to resume with FollowOptions.From.
		if n++; n == 2 {
			// A new event reaches the log; the next poll delivers it.
			if err := srv.AddEvents(event("c", time.Second)); err != nil {
				log.Fatal(err)
			}
		}
		if n == 3 {
			break
		}
	}
	fmt.Println("tracked IDs:", f.Tracked())
	// Output:
	// a repo.create
	// b repo.create
	// c repo.create
	// tracked IDs: 3
}

// A backfill of a month in 4 slices at once, stopped half way and resumed
// from its checkpoint: every event of the range once, in no particular
// order across slices.
func ExampleClient_Backfill() {
	srv := auditlogtest.NewServer(auditlogtest.WithGeneratedEvents(2000, 1), auditlogtest.WithClock(fixedNow))
	defer srv.Close()
	c, err := auditlog.NewClient(auditlog.WithBaseURL(srv.URL()), auditlog.WithToken(srv.Token()))
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	q := &auditlog.Query{Include: auditlog.IncludeAll}
	until := fixedNow()
	opts := auditlog.BackfillOptions{Since: until.AddDate(0, -1, 0), Until: until, Parallel: 4}

	// First run: stop after 1,200 events (a crash, a deploy...).
	seen := map[string]int{}
	var saved []byte // in real code: a file or a database row
	b := c.Backfill(auditlog.Enterprise(srv.Enterprise()), q, opts)
	for ev, err := range b.Events(ctx) {
		if err != nil {
			log.Fatal(err)
		}
		seen[ev.DocumentID]++ // process the event first...
		if len(seen)%100 == 0 {
			// ...then save the checkpoint: it covers every event yielded so far.
			if saved, err = json.Marshal(b.Checkpoint()); err != nil {
				log.Fatal(err)
			}
		}
		if len(seen) == 1200 {
			break
		}
	}
	fmt.Printf("first run: %d events, done: %v\n", b.Progress().Events, b.Checkpoint().Done())

	// Second run: resume from the checkpoint; Since and Until come with it.
	var cp auditlog.BackfillCheckpoint
	if err := json.Unmarshal(saved, &cp); err != nil {
		log.Fatal(err)
	}
	b = c.Backfill(auditlog.Enterprise(srv.Enterprise()), q, auditlog.BackfillOptions{From: cp, Parallel: 4})
	for ev, err := range b.Events(ctx) {
		if err != nil {
			log.Fatal(err)
		}
		seen[ev.DocumentID]++
	}
	twice := 0
	for _, n := range seen {
		if n > 1 {
			twice++
		}
	}
	fmt.Println("after resume:", len(seen), "events, twice:", twice, "done:", b.Checkpoint().Done())
	// Output:
	// first run: 1200 events, done: false
	// after resume: 2000 events, twice: 0 done: true
}
