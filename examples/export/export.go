package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/ghaudit/auditlog"
	"github.com/ghaudit/auditlog/auditlogtest"
)

type exporter struct {
	o      options
	client *auditlog.Client
	stderr io.Writer
	demo   *auditlogtest.Server // nil against a real GitHub

	since, upper time.Time // the -since/-until range, for the ETA

	out   io.Writer
	file  *os.File // out when it is a file, for Sync
	state state
	tail  auditlog.Checkpoint // the events written so far, for the tail to start from
	prog  progress
}

// run opens the output (resuming from the checkpoint when there is one),
// backfills, and tails when -follow is set.
func (ex *exporter) run(ctx context.Context, q *auditlog.Query, stdout io.Writer) error {
	now := time.Now().UTC()
	ex.state = state{
		Version: checkpointVersion, Enterprise: ex.o.enterprise,
		Phrase: q.Phrase, Include: string(q.Include), Order: string(q.Order),
		Started: now,
	}
	resumed := false
	if ex.o.checkpoint != "" {
		st, ok, err := loadState(ex.o.checkpoint)
		if err != nil {
			return err
		}
		if ok {
			if st.Enterprise != ex.o.enterprise {
				return fmt.Errorf("-enterprise is %q but checkpoint %s is for %q", ex.o.enterprise, ex.o.checkpoint, st.Enterprise)
			}
			if st.Phrase != q.Phrase || st.Include != string(q.Include) || st.Order != string(q.Order) {
				fmt.Fprintf(ex.stderr, "export: resuming the query saved in %s (phrase %q, include %q, order %q); -phrase, -since, -until, -include and -order apply to a new export only\n",
					ex.o.checkpoint, st.Phrase, st.Include, st.Order)
			}
			ex.state, resumed = st, true
			q = &auditlog.Query{Phrase: st.Phrase, Include: auditlog.Include(st.Include), Order: auditlog.Order(st.Order), PerPage: q.PerPage}
		}
	}
	if err := ex.openOutput(stdout, resumed); err != nil {
		return err
	}
	if ex.file != nil && ex.file != os.Stdout {
		defer ex.file.Close()
	}
	if resumed {
		fmt.Fprintf(ex.stderr, "export: resuming from %s: %d events in %s (%d bytes), backfill done: %v\n",
			ex.o.checkpoint, ex.state.Events, ex.o.out, ex.state.Bytes, ex.state.BackfillDone)
	} else if err := ex.save(); err != nil { // so that a crash before the first page is resumable too
		return err
	}
	ex.tail = ex.state.Tail
	ex.prog = newProgress(ex.o, ex.stderr, ex.expectedTotal(q), ex.client)

	if !ex.state.BackfillDone {
		if err := ex.backfill(ctx, q); err != nil {
			ex.prog.finish()
			return err
		}
	}
	ex.prog.finish()
	fmt.Fprintf(ex.stderr, "export: backfill done: %d events, %d pages, %s\n", ex.state.Events, ex.state.Pages, ex.where())
	if !ex.o.follow {
		return nil
	}
	return ex.followLog(ctx, q)
}

func (ex *exporter) where() string {
	if ex.o.out == "" {
		return "written to stdout"
	}
	return "in " + ex.o.out
}

// expectedTotal is the number of events the backfill will write when it can
// be known (the demo without a phrase), else -1.
func (ex *exporter) expectedTotal(q *auditlog.Query) int64 {
	if ex.demo == nil || q.Phrase != "" {
		return -1
	}
	return int64(len(ex.demo.Events(q.Include, q.Order)))
}

// openOutput opens -out. With a checkpoint the file is truncated to the size
// it recorded, which drops whatever was written after it (a page whose
// checkpoint never made it to disk, or a partial line); a file that is
// shorter than recorded was changed by someone else and is refused.
func (ex *exporter) openOutput(stdout io.Writer, resumed bool) error {
	if ex.o.out == "" {
		ex.out = stdout
		return nil
	}
	flags := os.O_WRONLY | os.O_CREATE
	if ex.o.checkpoint == "" {
		flags |= os.O_TRUNC
	}
	f, err := os.OpenFile(ex.o.out, flags, 0o644)
	if err != nil {
		return fmt.Errorf("-out: %w", err)
	}
	if ex.o.checkpoint != "" {
		fi, err := f.Stat()
		if err != nil {
			f.Close()
			return fmt.Errorf("-out: %w", err)
		}
		switch {
		case !resumed && fi.Size() > 0:
			f.Close()
			return fmt.Errorf("-out %s already holds %d bytes and -checkpoint %s does not exist: remove the file or name another, so that nothing is exported twice", ex.o.out, fi.Size(), ex.o.checkpoint)
		case fi.Size() < ex.state.Bytes:
			f.Close()
			return fmt.Errorf("-out %s holds %d bytes but checkpoint %s recorded %d: the file was changed; start a new export", ex.o.out, fi.Size(), ex.o.checkpoint, ex.state.Bytes)
		case fi.Size() > ex.state.Bytes:
			fmt.Fprintf(ex.stderr, "export: dropping %d bytes written after the last checkpoint\n", fi.Size()-ex.state.Bytes)
		}
		if err := f.Truncate(ex.state.Bytes); err != nil {
			f.Close()
			return fmt.Errorf("-out: %w", err)
		}
		if _, err := f.Seek(ex.state.Bytes, io.SeekStart); err != nil {
			f.Close()
			return fmt.Errorf("-out: %w", err)
		}
	}
	ex.out, ex.file = f, f
	return nil
}

// write appends events to the output as NDJSON in one write, makes them
// durable, and counts them; the checkpoint is saved by the caller after.
func (ex *exporter) write(buf []byte, events []auditlog.Event) ([]byte, error) {
	buf = buf[:0]
	for _, ev := range events {
		buf = ev.AppendRaw(buf)
		buf = append(buf, '\n')
	}
	if len(buf) > 0 {
		if _, err := ex.out.Write(buf); err != nil {
			return buf, fmt.Errorf("-out: %w", err)
		}
		if ex.file != nil {
			if err := ex.file.Sync(); err != nil && ex.o.checkpoint != "" {
				return buf, fmt.Errorf("-out: %w", err)
			}
		}
	}
	for _, ev := range events {
		ex.tail.Add(ev)
	}
	ex.state.Events += int64(len(events))
	ex.state.Bytes += int64(len(buf))
	return buf, nil
}

func (ex *exporter) save() error {
	if ex.o.checkpoint == "" {
		return nil
	}
	ex.tail.Prune(ex.o.lookBack)
	ex.state.Tail = ex.tail
	return saveState(ex.o.checkpoint, &ex.state)
}

// backfill writes every page from the saved cursor to the last one. A
// signal cancels ctx: the page in hand is written and checkpointed, the
// request in flight (if any) is abandoned, and nothing of it is written.
func (ex *exporter) backfill(ctx context.Context, q *auditlog.Query) error {
	var buf []byte
	var err error
	for page, perr := range ex.client.Pages(ctx, ex.o.enterprise, q.At(ex.state.Cursor)) {
		if perr != nil {
			if ctx.Err() != nil {
				return errInterrupted
			}
			return perr
		}
		if buf, err = ex.write(buf, page.Events); err != nil {
			return err
		}
		ex.state.Pages++
		ex.state.Cursor = page.Next
		ex.state.BackfillDone = page.Next.IsZero()
		if err := ex.save(); err != nil {
			return err
		}
		ex.prog.page(ex.state, page, ex.eta(page))
		if ctx.Err() != nil && !ex.state.BackfillDone {
			return errInterrupted
		}
	}
	if ctx.Err() != nil && !ex.state.BackfillDone {
		return errInterrupted
	}
	// An empty log ends without a page; mark it done all the same.
	ex.state.BackfillDone = true
	return ex.save()
}

// eta estimates the time left from how far into the -since/-until range the
// last event of the page is; zero when unknown (no -since).
func (ex *exporter) eta(p *auditlog.Page) time.Duration {
	if ex.since.IsZero() || len(p.Events) == 0 || p.Next.IsZero() {
		return 0
	}
	span := ex.upper.Sub(ex.since)
	last := p.Events[len(p.Events)-1].Timestamp
	done := ex.upper.Sub(last)
	if ex.state.Order == string(auditlog.OrderAsc) {
		done = last.Sub(ex.since)
	}
	if span <= 0 || done <= 0 || done > span {
		return 0
	}
	elapsed := time.Since(ex.prog.started())
	return time.Duration(float64(elapsed) * float64(span-done) / float64(done))
}

// followLog tails the log after the backfill. Events are batched: written,
// synced and checkpointed when 1,000 are pending or a second has passed, and
// always before exiting on a signal.
func (ex *exporter) followLog(ctx context.Context, q *auditlog.Query) error {
	ex.tail.Prune(ex.o.lookBack)
	opts := auditlog.FollowOptions{Every: ex.o.every, LookBack: ex.o.lookBack, From: ex.tail}
	if opts.From.IsZero() {
		opts.Since = ex.state.Started // an empty backfill: tail from when it began
	}
	fq := &auditlog.Query{Phrase: q.Phrase, Include: q.Include, PerPage: q.PerPage}
	f := ex.client.Follow(ctx, ex.o.enterprise, fq, opts)
	fmt.Fprintf(ex.stderr, "export: tailing every %s (look-back %s); SIGINT or SIGTERM to stop\n", ex.o.every, ex.o.lookBack)

	if ex.demo != nil {
		go demoActivity(ctx, ex.demo, ex.o.every)
	}

	type item struct {
		ev  auditlog.Event
		err error
	}
	ch := make(chan item, 256)
	go func() {
		defer close(ch)
		for ev, err := range f.Events() {
			select {
			case ch <- item{ev, err}:
			case <-ctx.Done():
				return
			}
		}
	}()

	var pending []auditlog.Event
	var buf []byte
	flush := func() error {
		if len(pending) == 0 {
			return nil
		}
		var err error
		if buf, err = ex.write(buf, pending); err != nil {
			return err
		}
		if err := ex.save(); err != nil {
			return err
		}
		fmt.Fprintf(ex.stderr, "export: tail: +%d events, %d in all\n", len(pending), ex.state.Events)
		pending = pending[:0]
		return nil
	}
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case it, ok := <-ch:
			if !ok { // the Follower ended: the context is done
				if err := flush(); err != nil {
					return err
				}
				return errInterrupted
			}
			if it.err != nil {
				var input *auditlog.InputError
				if errors.As(it.err, &input) {
					return it.err
				}
				fmt.Fprintf(ex.stderr, "export: tail: %v (retrying at the next poll)\n", it.err)
				continue
			}
			pending = append(pending, it.ev)
			if len(pending) >= 1000 {
				if err := flush(); err != nil {
					return err
				}
			}
		case <-tick.C:
			if err := flush(); err != nil {
				return err
			}
		}
	}
}

// demoActivity adds a few events to the demo server on every poll period, so
// that -follow has something to show.
func demoActivity(ctx context.Context, srv *auditlogtest.Server, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for n := 0; ; {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			var evs []json.RawMessage
			for range 3 {
				n++
				ev, _ := json.Marshal(map[string]any{
					"@timestamp": now.UnixMilli(), "created_at": now.UnixMilli(),
					"_document_id": fmt.Sprintf("demo-tail-%d-%d", now.UnixNano(), n),
					"action":       "repo.access", "actor": "octocat", "operation_type": "access",
				})
				evs = append(evs, ev)
			}
			_ = srv.AddEvents(evs...)
		}
	}
}
