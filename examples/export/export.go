package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/ghaudit/auditlog"
	"github.com/ghaudit/auditlog/auditlogtest"
)

type exporter struct {
	o      options
	client *auditlog.Client
	stderr io.Writer
	demo   *auditlogtest.Server // nil against a real GitHub
	waits  *waits               // what the client's hooks report

	since, upper time.Time // the -since/-until range (upper: -until, else the start), for the ETA and -parallel

	out   io.Writer
	file  *os.File // out when it is a file, for Sync
	state state
	tail  auditlog.Checkpoint // the events written so far, for the tail to start from
	prog  *progress
}

// run opens the output (resuming from the checkpoint when there is one),
// backfills (in one walk, or with -parallel in slices), and tails when
// -follow is set.
func (ex *exporter) run(ctx context.Context, q *auditlog.Query, stdout io.Writer) error {
	now := time.Now().UTC()
	out := ""
	if ex.o.out != "" {
		abs, err := filepath.Abs(ex.o.out)
		if err != nil {
			return fmt.Errorf("-out: %w", err)
		}
		out = abs
	}
	ex.state = state{
		Version: checkpointVersion, Enterprise: ex.o.enterprise, Org: ex.o.org, Out: out,
		Phrase: q.Phrase, Include: string(q.Include), Order: string(q.Order), PerPage: q.PerPage,
		Started: now,
		// The hand-over to -follow re-reads what may arrive late behind the
		// export's start, whichever order the backfill walks in.
		Tail: auditlog.Checkpoint{Swept: now.Add(-ex.o.lookBack)},
	}
	resumed := false
	if ex.o.checkpoint != "" {
		st, ok, err := loadState(ex.o.checkpoint)
		if err != nil {
			return err
		}
		if ok {
			switch {
			case st.Enterprise != ex.o.enterprise || st.Org != ex.o.org:
				return fmt.Errorf("the flags name the audit log of %s but checkpoint %s is for %s",
					scopeText(ex.o.enterprise, ex.o.org), ex.o.checkpoint, scopeText(st.Enterprise, st.Org))
			case st.Out != out:
				return fmt.Errorf("checkpoint %s counts the events in %s, not -out %s", ex.o.checkpoint, st.Out, ex.o.out)
			}
			if st.Phrase != q.Phrase || st.Include != string(q.Include) || st.Order != string(q.Order) {
				fmt.Fprintf(ex.stderr, "export: resuming the query saved in %s (phrase %q, include %q, order %q); -phrase, -since, -until, -include and -order apply to a new export only\n",
					ex.o.checkpoint, st.Phrase, st.Include, st.Order)
			}
			ex.state, resumed = st, true
			q = &auditlog.Query{Phrase: st.Phrase, Include: auditlog.Include(st.Include), Order: auditlog.Order(st.Order), PerPage: st.PerPage}
		}
	}
	// The checkpoint decides between one walk and slices; -parallel says how
	// many slices at once.
	var bf *auditlog.Backfill
	switch {
	case resumed && !ex.state.Backfill.IsZero():
		n := ex.o.parallel
		if n == 0 {
			n = auditlog.DefaultBackfillParallel
		}
		bf = ex.client.Backfill(ex.o.scope(), q, auditlog.BackfillOptions{From: ex.state.Backfill, Parallel: n})
	case resumed && ex.o.parallel > 0:
		fmt.Fprintf(ex.stderr, "export: %s is an export of one walk; -parallel applies to a new export only\n", ex.o.checkpoint)
	case !resumed && ex.o.parallel > 0:
		// Up to -until (inclusive, to the millisecond of the events' times),
		// else up to the start: what arrives after it is -follow's.
		until := ex.state.Started
		if ex.o.until != "" {
			until = ex.upper.Truncate(time.Millisecond).Add(time.Millisecond)
		}
		bf = ex.client.Backfill(ex.o.scope(), q, auditlog.BackfillOptions{Since: ex.since, Until: until, Parallel: ex.o.parallel})
		ex.state.Backfill = bf.Checkpoint()
		if ex.state.Backfill.IsZero() {
			// Invalid options: the first range says why.
			for _, err := range bf.Events(ctx) {
				return err
			}
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
			ex.o.checkpoint, ex.state.Events, ex.o.out, ex.state.Bytes, ex.state.Cursor.Done() || ex.state.Backfill.Done())
	} else if err := ex.save(); err != nil { // so that a crash before the first page is resumable too
		return err
	}
	ex.tail = ex.state.Tail
	ex.prog = newProgress(ex.o, ex.stderr, ex.expectedTotal(q, bf), ex.state.Events, ex.client, ex.waits)

	// The one recipe: resume from the saved position. A finished backfill's
	// position is the end, so this sends nothing.
	var err error
	if bf != nil {
		err = ex.backfillSlices(ctx, bf)
	} else {
		err = ex.backfill(ctx, q)
	}
	ex.prog.finish()
	if err != nil {
		return err
	}
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
func (ex *exporter) expectedTotal(q *auditlog.Query, bf *auditlog.Backfill) int64 {
	if ex.demo == nil || q.Phrase != "" || (bf != nil && ex.state.Events > 0) {
		return -1
	}
	evs := ex.demo.Events(q.Include, q.Order)
	if ex.o.org != "" {
		known := slices.ContainsFunc(ex.demo.Organizations(), func(o auditlogtest.Org) bool { return strings.EqualFold(o.Login, ex.o.org) })
		if !known {
			return -1 // the fake answers 404, as GitHub does
		}
		evs = ex.demo.OrgEvents(ex.o.org, q.Include, q.Order)
	}
	if bf == nil {
		return int64(len(evs))
	}
	var n int64
	since, until := bf.Checkpoint().Range()
	for _, raw := range evs {
		var ev auditlog.Event
		if ev.UnmarshalJSON(raw) == nil && !ev.Timestamp.Before(since) && ev.Timestamp.Before(until) {
			n++
		}
	}
	return n
}

// openOutput opens -out. The file holds audit events (actors, IPs, hashed
// tokens), so it is created 0600; a symlink in its place is refused, never
// followed; and an existing file is only replaced when it is this tool's:
// the output a checkpoint counts (which is then truncated to the size it
// recorded, dropping whatever was written after it, and refused if shorter),
// or, without -checkpoint, an earlier export (its first line is an audit
// event). Anything else needs -overwrite.
func (ex *exporter) openOutput(stdout io.Writer, resumed bool) error {
	if ex.o.out == "" {
		ex.out = stdout
		return nil
	}
	path := ex.o.out
	before, err := os.Lstat(path)
	exists := err == nil
	switch {
	case err != nil && !errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("-out: %w", err)
	case exists && before.Mode()&fs.ModeSymlink != 0:
		return fmt.Errorf("-out %s is a symlink; refusing to follow it: name the file itself", path)
	case exists && !before.Mode().IsRegular():
		return fmt.Errorf("-out %s is not a regular file (write to stdout to feed a pipe)", path)
	}
	replace := false
	switch {
	case !exists || before.Size() == 0 || resumed:
	case ex.o.overwrite:
		replace = true
	case ex.o.checkpoint == "" && ownExport(path):
		replace = true
	case ex.o.checkpoint != "":
		return fmt.Errorf("-out %s already holds %d bytes and -checkpoint %s does not exist, so nothing says what they are: pass -overwrite to start over in it, or name another file", path, before.Size(), ex.o.checkpoint)
	default:
		return fmt.Errorf("-out %s already holds %d bytes that are not an export of this tool: pass -overwrite to replace it, or name another file", path, before.Size())
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|oNoFollow, 0o600)
	if err != nil {
		if after, lerr := os.Lstat(path); lerr == nil && after.Mode()&fs.ModeSymlink != 0 {
			return fmt.Errorf("-out %s is a symlink; refusing to follow it: name the file itself", path)
		}
		return fmt.Errorf("-out: %w", err)
	}
	fi, err := f.Stat()
	if err == nil && (!fi.Mode().IsRegular() || (exists && !os.SameFile(before, fi))) {
		err = errors.New("the file changed while it was being opened")
	}
	if err == nil && replace {
		err = f.Truncate(0)
	}
	if err == nil && ex.o.checkpoint != "" {
		switch {
		case fi.Size() < ex.state.Bytes:
			err = fmt.Errorf("it holds %d bytes but checkpoint %s recorded %d: the file was changed; start a new export", fi.Size(), ex.o.checkpoint, ex.state.Bytes)
		case !replace && fi.Size() > ex.state.Bytes:
			fmt.Fprintf(ex.stderr, "export: dropping %d bytes written after the last checkpoint\n", fi.Size()-ex.state.Bytes)
		}
		if err == nil {
			err = f.Truncate(ex.state.Bytes)
		}
		if err == nil {
			_, err = f.Seek(ex.state.Bytes, io.SeekStart)
		}
	}
	if err != nil {
		f.Close()
		return fmt.Errorf("-out %s: %w", path, err)
	}
	ex.out, ex.file = f, f
	return nil
}

// ownExport reports whether the file at path looks like an earlier output
// of this tool: its first line is an audit-log event.
func ownExport(path string) bool {
	f, err := os.OpenFile(path, os.O_RDONLY|oNoFollow, 0)
	if err != nil {
		return false
	}
	defer f.Close()
	head := make([]byte, 64<<10)
	n, _ := io.ReadFull(f, head)
	line, _, _ := bytes.Cut(head[:n], []byte("\n"))
	var ev auditlog.Event
	return ev.UnmarshalJSON(line) == nil && (ev.DocumentID != "" || !ev.Timestamp.IsZero())
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

// backfill writes every page from the saved cursor to the last one; from a
// finished backfill's cursor it sends nothing. A signal cancels ctx: the
// page in hand is written and checkpointed, the request in flight (if any)
// is abandoned, and nothing of it is written.
func (ex *exporter) backfill(ctx context.Context, q *auditlog.Query) error {
	var buf []byte
	var err error
	var pages int64 // this run's
	if ex.state.Cursor.IsZero() && !ex.since.IsZero() {
		ex.prog.setBase(0) // a new walk: none of the range is done
	}
	for page, perr := range ex.client.Pages(ctx, ex.o.scope(), q.At(ex.state.Cursor)) {
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
		if err := ex.save(); err != nil {
			return err
		}
		pages++
		ex.prog.update(step{st: ex.state, added: len(page.Events), pages: pages, share: ex.share(page)})
		if ctx.Err() != nil && !page.Next.Done() {
			return errInterrupted
		}
	}
	if ctx.Err() != nil && !ex.state.Cursor.Done() {
		return errInterrupted
	}
	return nil
}

// backfillSlices writes the events of a -parallel backfill as they come, in
// batches: every -per-page events, or when a second has passed since the
// last batch, the batch is appended to the output and synced, then the
// checkpoint is saved with the Backfill's position, taken in the loop body
// after the write, so that it covers exactly the events written. A signal
// cancels ctx: the batch in hand is written and checkpointed, and requests
// in flight are abandoned.
func (ex *exporter) backfillSlices(ctx context.Context, bf *auditlog.Backfill) error {
	var batch []auditlog.Event
	var buf []byte
	basePages := ex.state.Pages
	ex.prog.setBase(bf.Progress().Done)
	flushed := time.Now()
	flush := func() error {
		var err error
		if buf, err = ex.write(buf, batch); err != nil {
			return err
		}
		p := bf.Progress()
		ex.state.Pages = basePages + p.Pages
		ex.state.Backfill = bf.Checkpoint()
		if err := ex.save(); err != nil {
			return err
		}
		ex.prog.update(step{st: ex.state, added: len(batch), pages: p.Pages, share: p.Done,
			detail: fmt.Sprintf("%.1f%% of the range, slices left: %d", 100*p.Done, p.Slices)})
		batch, flushed = batch[:0], time.Now()
		return nil
	}
	for ev, err := range bf.Events(ctx) {
		if err != nil {
			if ferr := flush(); ferr != nil {
				return ferr
			}
			if ctx.Err() != nil {
				return errInterrupted
			}
			return err
		}
		batch = append(batch, ev)
		if len(batch) >= ex.state.PerPage || time.Since(flushed) >= time.Second {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	return flush()
}

// share is how much of the -since/-until range the walk has covered by the
// last event of page p, from 0 to 1; negative when that cannot be told (no
// -since, or an empty page).
func (ex *exporter) share(p *auditlog.Page) float64 {
	if p.Next.Done() {
		return 1
	}
	span := ex.upper.Sub(ex.since)
	if ex.since.IsZero() || len(p.Events) == 0 || span <= 0 {
		return -1
	}
	last := p.Events[len(p.Events)-1].Timestamp
	done := ex.upper.Sub(last)
	if ex.state.Order == string(auditlog.OrderAsc) {
		done = last.Sub(ex.since)
	}
	return min(max(float64(done)/float64(span), 0), 1)
}

// followLog tails the log after the backfill, from the checkpoint the
// backfill built. Each event is appended to the output as it comes; every
// 1,000 events, or when a second has passed since the last save, the output
// is synced and the Follower's checkpoint saved with it, in the loop body,
// so the checkpoint holds exactly the events written. Between polls the
// last few events may wait unsaved for the next event or the signal that
// ends the tail; a crash before then only makes the next run read them
// again (the output is truncated to the checkpoint).
func (ex *exporter) followLog(ctx context.Context, q *auditlog.Query) error {
	ex.tail.Prune(ex.o.lookBack)
	opts := auditlog.FollowOptions{Every: ex.o.every, LookBack: ex.o.lookBack, Rescan: ex.o.rescan, From: ex.tail}
	if opts.From.IsZero() {
		opts.Since = ex.state.Started // no checkpoint: tail from when the export began
	}
	fq := &auditlog.Query{Phrase: q.Phrase, Include: q.Include, PerPage: q.PerPage}
	f := ex.client.Follow(ex.o.scope(), fq, opts)
	fmt.Fprintf(ex.stderr, "export: tailing every %s (look-back %s); SIGINT or SIGTERM to stop\n", ex.o.every, ex.o.lookBack)

	if ex.demo != nil {
		go demoActivity(ctx, ex.demo, ex.o.org, ex.o.every)
	}

	pending := 0
	saved := time.Now()
	save := func() error {
		if pending == 0 {
			return nil
		}
		if ex.file != nil {
			if err := ex.file.Sync(); err != nil && ex.o.checkpoint != "" {
				return fmt.Errorf("-out: %w", err)
			}
		}
		ex.tail = f.Checkpoint()
		if err := ex.save(); err != nil {
			return err
		}
		fmt.Fprintf(ex.stderr, "export: tail: +%d events, %d in all\n", pending, ex.state.Events)
		pending, saved = 0, time.Now()
		return nil
	}
	var line []byte
	for ev, err := range f.Events(ctx) {
		if err != nil {
			var input *auditlog.InputError
			if errors.As(err, &input) {
				return err
			}
			fmt.Fprintf(ex.stderr, "export: tail: %v (retrying at the next poll)\n", err)
			continue
		}
		line = append(ev.AppendRaw(line[:0]), '\n')
		if _, err := ex.out.Write(line); err != nil {
			return fmt.Errorf("-out: %w", err)
		}
		ex.state.Events++
		ex.state.Bytes += int64(len(line))
		if pending++; pending >= 1000 || time.Since(saved) >= time.Second {
			if err := save(); err != nil {
				return err
			}
		}
	}
	if err := save(); err != nil {
		return err
	}
	return errInterrupted // the Follower ends only when the context does
}

// demoActivity adds a few events to the demo server on every poll period, so
// that -follow has something to show; in org's audit log when org is set.
func demoActivity(ctx context.Context, srv *auditlogtest.Server, org string, every time.Duration) {
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
				fields := map[string]any{
					"@timestamp": now.UnixMilli(), "created_at": now.UnixMilli(),
					"_document_id": fmt.Sprintf("demo-tail-%d-%d", now.UnixNano(), n),
					"action":       "repo.access", "actor": "octocat", "operation_type": "access",
				}
				if org != "" {
					fields["org"] = org
				}
				ev, _ := json.Marshal(fields)
				evs = append(evs, ev)
			}
			_ = srv.AddEvents(evs...)
		}
	}
}
