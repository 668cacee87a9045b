package auditlog_test

// Every Go snippet of README.md, as code that runs: each snippet is the
// body (or part of the body) of a function below, and
// TestReadmeSnippetsRunHere checks that the README's text is still this
// code, line for line, so the README cannot drift from what compiles and
// passes.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/ghaudit/auditlog"
	"github.com/ghaudit/auditlog/auditlogtest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestReadmeSnippetsRunHere: each ```go block of README.md occurs, line for
// line (indentation aside), in a test file of the repository: in this file
// for the SDK's snippets.
func TestReadmeSnippetsRunHere(t *testing.T) {
	t.Parallel()
	readme, err := os.ReadFile("README.md")
	require.NoError(t, err)
	// The SDK's snippets run here; those of the other modules (redisbudget)
	// in their own tests.
	var code strings.Builder
	err = filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, "_test.go") {
			return err
		}
		b, err := os.ReadFile(path)
		code.WriteString(normalise(string(b)))
		return err
	})
	require.NoError(t, err)
	blocks := 0
	for _, part := range strings.Split(string(readme), "```go\n")[1:] {
		block, _, ok := strings.Cut(part, "```")
		require.True(t, ok, "unterminated go block")
		blocks++
		if !strings.Contains(code.String(), normalise(block)) {
			t.Errorf("a README snippet is not the code any test runs:\n%s", block)
		}
	}
	assert.GreaterOrEqual(t, blocks, 8, "README go blocks found")
}

// normalise drops blank lines and reduces each run of white space to one
// space (indentation and gofmt's alignment aside, the text must match).
func normalise(s string) string {
	var out []string
	for _, line := range strings.Split(s, "\n") {
		if f := strings.Fields(line); len(f) > 0 {
			out = append(out, strings.Join(f, " "))
		}
	}
	return "\n" + strings.Join(out, "\n") + "\n"
}

// readmeClient is the quick start's first snippet.
func readmeClient() *auditlog.Client {
	c, err := auditlog.NewClient(auditlog.WithToken(os.Getenv("GITHUB_TOKEN")))
	if err != nil {
		log.Fatal(err)
	}
	return c
}

// readmeQuickStart is the quick start's second snippet.
func readmeQuickStart(ctx context.Context, c *auditlog.Client) error {
	// One page: the newest repository events of the last week.
	phrase, err := auditlog.Phrase().Action("repo").CreatedSince(time.Now().AddDate(0, 0, -7)).Build()
	if err != nil {
		return err
	}
	page, err := c.AuditLog(ctx, auditlog.Enterprise("avocado-corp"), &auditlog.Query{Phrase: phrase, PerPage: 100})
	if err != nil {
		var rl *auditlog.RateLimitError
		if errors.As(err, &rl) {
			return fmt.Errorf("rate limited; come back at %s: %w", rl.RetryAt().Format(time.RFC3339), err)
		}
		return err
	}
	for _, ev := range page.Events {
		fmt.Println(ev.Timestamp, ev.Action, ev.Actor, ev.Org)
	}
	// page.Next is the position after this page; on the last page page.Next.Done().
	return nil
}

func TestReadmeQuickStart(t *testing.T) {
	t.Setenv("GITHUB_TOKEN", auditlogtest.DefaultToken)
	if readmeClient() == nil {
		t.Fatal("no client")
	}

	srv := auditlogtest.NewServer(auditlogtest.WithGeneratedEvents(300, 2), auditlogtest.WithRateLimit(auditlog.ResourceAuditLog, 2, time.Hour))
	defer srv.Close()
	c, err := auditlog.NewClient(auditlog.WithBaseURL(srv.URL()), auditlog.WithToken(srv.Token()), auditlog.WithMaxWait(0))
	require.NoError(t, err)
	require.NoError(t, readmeQuickStart(context.Background(), c))
	require.NoError(t, readmeQuickStart(context.Background(), c))
	// The budget is spent: the snippet returns the error, it does not go
	// on with a nil page.
	err = readmeQuickStart(context.Background(), c)
	require.ErrorIs(t, err, auditlog.ErrRateLimited)
	assert.Contains(t, err.Error(), "come back at")
}

// readmeWalk holds the walking, resuming and hand-over snippets.
func readmeWalk(ctx context.Context, c *auditlog.Client, index func(auditlog.Event), store func([]auditlog.Event),
	load func() []byte, save func([]byte), saveCheckpoint func(auditlog.Checkpoint)) error {
	q := &auditlog.Query{Include: auditlog.IncludeAll, PerPage: 100}
	for ev, err := range c.Events(ctx, auditlog.Enterprise("avocado-corp"), q) { // every page, following Link cursors
		if err != nil {
			return err // transient failures were already retried on the same cursor
		}
		index(ev)
	}

	var cur auditlog.Cursor // the zero Cursor is the start
	if err := cur.UnmarshalText(load()); err != nil {
		return err
	}
	for page, err := range c.Pages(ctx, auditlog.Enterprise("avocado-corp"), q.At(cur)) {
		if err != nil {
			return err
		}
		store(page.Events)
		text, _ := page.Next.MarshalText() // after the last page: the end of the walk
		save(text)
	}

	lookBack := 5 * time.Minute
	cp := auditlog.Checkpoint{Swept: time.Now().Add(-lookBack)} // what may still arrive late
	for page, err := range c.Pages(ctx, auditlog.Enterprise("avocado-corp"), q) {
		if err != nil {
			return err
		}
		for _, ev := range page.Events {
			index(ev)
			cp.Add(ev)
		}
		cp.Prune(lookBack)
	}

	f := c.Follow(auditlog.Enterprise("avocado-corp"), q, auditlog.FollowOptions{Every: time.Minute, LookBack: lookBack, From: cp})
	for ev, err := range f.Events(ctx) { // until ctx ends
		if err != nil {
			log.Print(err) // the tail carries on from the same position at the next poll
			continue
		}
		index(ev)
		saveCheckpoint(f.Checkpoint()) // JSON; pass it back in FollowOptions.From after a restart
	}
	return nil
}

// readmeScopes is the snippet of the two scopes.
func readmeScopes(ctx context.Context, c *auditlog.Client) error {
	for _, scope := range []auditlog.Scope{auditlog.Enterprise("avocado-corp"), auditlog.Organization("avocado-org")} {
		q := &auditlog.Query{Phrase: "action:repo.destroy", Include: auditlog.IncludeAll, PerPage: 100}
		for ev, err := range c.Events(ctx, scope, q) {
			if err != nil {
				return err
			}
			fmt.Println(scope, ev.Timestamp.Format(time.RFC3339), ev.Actor, ev.Repo)
		}
	}
	return nil
}

// TestReadmeScopes runs the scopes snippet: each line names its scope, the
// organization's lines are those of the enterprise whose event names it,
// and neither log is empty.
func TestReadmeScopes(t *testing.T) {
	srv := auditlogtest.New(t, auditlogtest.WithGeneratedEvents(3000, 5))
	c, err := auditlog.NewClient(auditlog.WithBaseURL(srv.URL()), auditlog.WithToken(srv.Token()), auditlog.WithHTTPClient(srv.Client()))
	require.NoError(t, err)
	out := captureStdout(t, func() { require.NoError(t, readmeScopes(t.Context(), c)) })
	var ent, org []string
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		scope, rest, _ := strings.Cut(line, " ")
		switch scope {
		case "avocado-corp":
			ent = append(ent, rest)
		case "avocado-org":
			org = append(org, rest)
		default:
			t.Fatalf("a line of no scope: %q", line)
		}
	}
	require.NotEmpty(t, org)
	assert.Greater(t, len(ent), len(org))
	for _, l := range org {
		assert.Contains(t, ent, l)
	}
}

// captureStdout returns what fn prints to os.Stdout.
func captureStdout(t *testing.T, fn func()) string {
	t.Helper()
	r, w, err := os.Pipe()
	require.NoError(t, err)
	old := os.Stdout
	os.Stdout = w
	var b bytes.Buffer
	done := make(chan struct{})
	go func() { _, _ = b.ReadFrom(r); close(done) }()
	defer func() { os.Stdout = old }()
	fn()
	require.NoError(t, w.Close())
	<-done
	return b.String()
}

// TestReadmeWalk runs the walking snippets twice, the second time from the
// position the first saved: the resume sends nothing, and the tail picks up
// exactly the events that arrived after the walk.
func TestReadmeWalk(t *testing.T) {
	srv := auditlogtest.NewServer(auditlogtest.WithGeneratedEvents(450, 3), auditlogtest.WithRateLimit(auditlog.ResourceAuditLog, 1<<20, time.Hour))
	defer srv.Close()
	c, err := auditlog.NewClient(auditlog.WithBaseURL(srv.URL()), auditlog.WithToken(srv.Token()))
	require.NoError(t, err)
	total := len(srv.Events("all", "desc"))

	var (
		mu      sync.Mutex
		indexed = map[string]int{}
		stored  int
		saved   []byte
		lastCP  []byte
	)
	for run := range 2 {
		ctx, cancel := context.WithCancel(context.Background())
		indexed = map[string]int{}
		n := 0
		index := func(ev auditlog.Event) {
			mu.Lock()
			defer mu.Unlock()
			indexed[ev.DocumentID]++
			n++
			if n == 2*total { // the Events walk and the hand-over walk are done
				// New events arrive after the walk: the tail delivers them.
				now := time.Now()
				var evs []json.RawMessage
				for i := range 3 {
					evs = append(evs, json.RawMessage(fmt.Sprintf(`{"@timestamp":%d,"_document_id":"new-%d-%d","action":"repo.create"}`,
						now.Add(time.Duration(i)*time.Millisecond).UnixMilli(), run, i)))
				}
				if err := srv.AddEvents(evs...); err != nil {
					panic(err)
				}
			}
			if n == 2*total+3 {
				cancel()
			}
		}
		store := func(evs []auditlog.Event) { stored += len(evs) }
		err := readmeWalk(ctx, c, index, store,
			func() []byte { return saved }, func(b []byte) { saved = b },
			func(cp auditlog.Checkpoint) { lastCP, _ = json.Marshal(cp) })
		cancel()
		require.NoError(t, err, "run %d", run)
		for id, k := range indexed {
			want := 2 // once by the Events walk, once by the hand-over walk
			if strings.HasPrefix(id, fmt.Sprintf("new-%d-", run)) {
				want = 1 // once, by the tail: they arrived after the walks
			}
			assert.Equal(t, want, k, "run %d: %s", run, id)
		}
		total += 3
	}
	assert.Equal(t, 450, stored, "the first run stored every event; the second, resumed at the end, none")
	var end auditlog.Cursor
	require.NoError(t, end.UnmarshalText(saved))
	assert.True(t, end.Done())
	assert.NotEmpty(t, lastCP)
}

// readmeBackfill holds the parallel backfill snippet.
func readmeBackfill(ctx context.Context, c *auditlog.Client, q *auditlog.Query, index func(auditlog.Event),
	loadBackfill func() auditlog.BackfillCheckpoint, saveBackfill func(auditlog.BackfillCheckpoint)) error {
	start := time.Now()
	b := c.Backfill(auditlog.Organization("avocado-org"), q, auditlog.BackfillOptions{
		Since: start.AddDate(0, 0, -180), Until: start, Parallel: 8,
		From: loadBackfill(), // zero at first; Since and Until are then ignored
	})
	for ev, err := range b.Events(ctx) {
		if err != nil {
			return err // after the retries and the splitting of slow slices: resume from the checkpoint
		}
		index(ev)
		saveBackfill(b.Checkpoint()) // JSON; it covers ev and every event before it
	}
	saveBackfill(b.Checkpoint()) // the end: resuming from it sends nothing
	return nil
}

// TestReadmeBackfill runs the backfill snippet until its context ends,
// then again from the checkpoint it saved: every event once.
func TestReadmeBackfill(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		srv := auditlogtest.New(t, auditlogtest.WithoutListener(), auditlogtest.WithGeneratedEvents(3000, 12),
			auditlogtest.WithFaults(auditlogtest.Faults{Latency: time.Second}))
		c, err := auditlog.NewClient(auditlog.WithBaseURL(srv.URL()), auditlog.WithToken(srv.Token()), auditlog.WithHTTPClient(srv.Client()))
		require.NoError(t, err)
		q := &auditlog.Query{Include: auditlog.IncludeAll}
		seen := map[string]int{}
		var saved []byte
		load := func() auditlog.BackfillCheckpoint {
			var cp auditlog.BackfillCheckpoint
			require.NoError(t, json.Unmarshal(saved, &cp))
			return cp
		}
		save := func(cp auditlog.BackfillCheckpoint) {
			var err error
			saved, err = json.Marshal(cp)
			require.NoError(t, err)
		}
		save(auditlog.BackfillCheckpoint{})
		ctx, cancel := context.WithTimeout(t.Context(), 3*time.Second)
		err = readmeBackfill(ctx, c, q, func(ev auditlog.Event) { seen[ev.DocumentID]++ }, load, save)
		cancel()
		require.ErrorIs(t, err, context.DeadlineExceeded)
		require.NotEmpty(t, seen)
		require.Less(t, len(seen), len(srv.OrgEvents("avocado-org", auditlog.IncludeAll, auditlog.OrderAsc)))
		require.NoError(t, readmeBackfill(t.Context(), c, q, func(ev auditlog.Event) { seen[ev.DocumentID]++ }, load, save))
		assert.Len(t, seen, len(srv.OrgEvents("avocado-org", auditlog.IncludeAll, auditlog.OrderAsc)))
		for id, n := range seen {
			assert.Equal(t, 1, n, id)
		}
		assert.True(t, load().Done())
	})
}

// TestMyExporter is the README's example of testing with auditlogtest.
func TestMyExporter(t *testing.T) {
	srv := auditlogtest.New(t, auditlogtest.WithGeneratedEvents(2000, 42)) // closed when the test ends
	c, err := auditlog.NewClient(auditlog.WithBaseURL(srv.URL()), auditlog.WithToken(srv.Token()),
		auditlog.WithHTTPClient(srv.Client()))
	require.NoError(t, err)
	q := &auditlog.Query{Include: auditlog.IncludeAll, PerPage: 100}
	n := 0
	for _, err := range c.Events(t.Context(), auditlog.Enterprise(srv.Enterprise()), q) {
		require.NoError(t, err)
		n++
	}
	require.Equal(t, len(srv.Events(auditlog.IncludeAll, auditlog.OrderDesc)), n)

	org := srv.Organizations()[0].Login // avocado-org: the generated log names four
	n = 0
	for _, err := range c.Events(t.Context(), auditlog.Organization(org), q) {
		require.NoError(t, err)
		n++
	}
	require.Equal(t, len(srv.OrgEvents(org, auditlog.IncludeAll, auditlog.OrderDesc)), n)
}

// TestRetriesPageThree is the README's example of aimed faults in a synctest bubble.
func TestRetriesPageThree(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := auditlogtest.New(t, auditlogtest.WithoutListener(), auditlogtest.WithGeneratedEvents(450, 3))
		pages := auditlogtest.Match{Method: "GET", Path: auditlogtest.PathAuditLog}
		require.NoError(t, srv.Inject(
			auditlogtest.Rule{Match: pages, Nth: 3, Fault: auditlogtest.Fault{Kind: auditlogtest.FaultServerError, Status: 502}},
			auditlogtest.Rule{Match: pages, Nth: 5, Fault: auditlogtest.Fault{Kind: auditlogtest.FaultPrimary403Once, RetryAfter: 10 * time.Minute}},
		))
		c, _ := auditlog.NewClient(auditlog.WithBaseURL(srv.URL()), auditlog.WithToken(srv.Token()),
			auditlog.WithHTTPClient(srv.Client()))
		for _, err := range c.Events(t.Context(), auditlog.Enterprise(srv.Enterprise()), &auditlog.Query{PerPage: 100, Include: auditlog.IncludeAll}) {
			require.NoError(t, err) // the 502 and the 403 are retried: ten minutes of fake time, milliseconds of real time
		}
		require.Empty(t, srv.PendingFaults())
		require.Equal(t, 7, srv.Count(pages))
	})
}

// readmeCreateStream is the README's stream snippet.
func readmeCreateStream(ctx context.Context, c *auditlog.Client, splunkToken string) (*auditlog.Stream, error) {
	s, err := c.CreateStream(ctx, "avocado-corp", auditlog.StreamConfig{
		Enabled: true,
		Vendor: auditlog.Splunk{Domain: "http-inputs-acme.splunkcloud.com", Port: 443,
			Token: auditlog.NewSecret(splunkToken), SSLVerify: true},
	})
	return s, err
}

func TestReadmeCreateStream(t *testing.T) {
	srv := auditlogtest.NewServer()
	defer srv.Close()
	c, err := auditlog.NewClient(auditlog.WithBaseURL(srv.URL()), auditlog.WithToken(srv.Token()))
	require.NoError(t, err)
	s, err := readmeCreateStream(context.Background(), c, "SECRET-readme-hec-token")
	require.NoError(t, err)
	assert.Equal(t, "SECRET-readme-hec-token", srv.StreamSecrets(s.ID)["encrypted_token"])
	var buf bytes.Buffer
	fmt.Fprintf(&buf, "%+v", s)
	assert.NotContains(t, buf.String(), "SECRET")
}
