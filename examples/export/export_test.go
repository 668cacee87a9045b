package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ghaudit/auditlog"
	"github.com/ghaudit/auditlog/auditlogtest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// buildExport compiles this command into a temporary directory.
func buildExport(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "export")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	require.NoError(t, err, "go build: %s", out)
	return bin
}

// newFake starts a fake GitHub whose every request takes a few
// milliseconds, so that a kill lands somewhere in the middle of an export.
func newFake(t *testing.T, events int) *auditlogtest.Server {
	t.Helper()
	srv := auditlogtest.NewServer(
		auditlogtest.WithGeneratedEvents(events, 42),
		auditlogtest.WithFaults(auditlogtest.Faults{Latency: 8 * time.Millisecond}),
	)
	t.Cleanup(srv.Close)
	return srv
}

// want is the NDJSON the export of the whole dataset must produce: the
// enterprise's audit log, or with org the organization's.
func want(srv *auditlogtest.Server, org string) []byte {
	evs := srv.Events("all", "asc")
	if org != "" {
		evs = srv.OrgEvents(org, "all", "asc")
	}
	var b bytes.Buffer
	for _, ev := range evs {
		b.Write(ev)
		b.WriteByte('\n')
	}
	return b.Bytes()
}

// exportScopes are the two audit logs an export reads, as flags, and the
// organization of the second.
var exportScopes = []struct{ name, org string }{{"enterprise", ""}, {"organization", "avocado-org"}}

type job struct {
	bin, out, ckpt string
	srv            *auditlogtest.Server
	org            string   // -org; "" for -enterprise
	extra          []string // more flags
}

func newJob(t *testing.T, srv *auditlogtest.Server) job {
	dir := t.TempDir()
	return job{bin: buildExport(t), out: filepath.Join(dir, "events.ndjson"), ckpt: filepath.Join(dir, "events.ckpt"), srv: srv}
}

func (j job) cmd() (*exec.Cmd, *bytes.Buffer) {
	args := []string{"-enterprise", j.srv.Enterprise()}
	if j.org != "" {
		args = []string{"-org", j.org}
	}
	args = append(args, "-include", "all", "-per-page", "40",
		"-out", j.out, "-checkpoint", j.ckpt, "-log-every", "5")
	if j.extra == nil {
		args = append(args, "-order", "asc")
	}
	cmd := exec.Command(j.bin, append(args, j.extra...)...)
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "GITHUB_") {
			env = append(env, kv)
		}
	}
	cmd.Env = append(env, "GITHUB_TOKEN="+j.srv.Token(), "GITHUB_API_URL="+j.srv.URL())
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	return cmd, &stderr
}

// startUntil starts the export and returns once the output holds at least
// atLeast bytes, or fails if it ends first.
func (j job) startUntil(t *testing.T, atLeast int64) (*exec.Cmd, *bytes.Buffer, chan error) {
	t.Helper()
	cmd, stderr := j.cmd()
	require.NoError(t, cmd.Start())
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	for {
		if fi, err := os.Stat(j.out); err == nil && fi.Size() >= atLeast {
			return cmd, stderr, done
		}
		select {
		case err := <-done:
			t.Fatalf("export ended (%v) before writing %d bytes; stderr:\n%s", err, atLeast, stderr)
		case <-time.After(500 * time.Microsecond):
		}
	}
}

// killAt runs the export until its output holds at least at bytes and
// kills it as a crash would (SIGKILL); it returns the checkpoint left
// behind, and checks that the export's stderr does not hold the token. i
// numbers the kill in messages.
func (j job) killAt(t *testing.T, i int, at int64) state {
	t.Helper()
	cmd, stderr, done := j.startUntil(t, at)
	require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
	err := <-done
	var exit *exec.ExitError
	require.True(t, errors.As(err, &exit), "kill %d: %v", i, err)
	st, ok, err := loadState(j.ckpt)
	require.NoError(t, err)
	require.True(t, ok, "kill %d: no checkpoint", i)
	assert.NotContains(t, stderr.String(), j.srv.Token(), "kill %d", i)
	return st
}

// killPoints are where kills kills land in an output of total bytes, drawn
// from rng: one in each of the first kills of kills+1 equal parts, in the
// first half of it, so that every run makes progress.
func killPoints(rng *rand.Rand, total int64, kills int) []int64 {
	at := make([]int64, kills)
	for i := range at {
		at[i] = total*int64(i+1)/int64(kills+1) + rng.Int64N(total/int64(kills+1)/2)
	}
	return at
}

func TestKillAndResumeDeliversEveryEventOnce(t *testing.T) {
	for _, sc := range exportScopes {
		t.Run(sc.name, func(t *testing.T) { testKillAndResume(t, sc.org) })
	}
}

func testKillAndResume(t *testing.T, org string) {
	srv := newFake(t, 2400)
	j := newJob(t, srv)
	j.org = org
	wantOut := want(srv, org)
	total := int64(len(wantOut))

	kills := killPoints(rand.New(rand.NewPCG(2024, 11)), total, 5) // deterministic
	afterCheckpoint := 0
	for i, at := range kills {
		st := j.killAt(t, i, at)
		fi, err := os.Stat(j.out)
		require.NoError(t, err)
		if fi.Size() > st.Bytes {
			afterCheckpoint++ // killed between writing a page and saving its checkpoint
		}
		require.GreaterOrEqual(t, fi.Size(), st.Bytes, "the checkpoint never runs ahead of the output")
		require.Equal(t, wantOut[:st.Bytes], mustRead(t, j.out)[:st.Bytes], "kill %d: output up to the checkpoint", i)
		t.Logf("kill %d at >= %d bytes: checkpoint %d events / %d bytes, file %d bytes", i, at, st.Events, st.Bytes, fi.Size())
	}
	t.Logf("%d of %d kills landed after a page was written and before its checkpoint", afterCheckpoint, len(kills))

	cmd, stderr := j.cmd()
	require.NoError(t, cmd.Run(), "final run: %s", stderr)
	assert.Contains(t, stderr.String(), "resuming from")
	assert.NotContains(t, stderr.String(), srv.Token())
	got := mustRead(t, j.out)
	require.Equal(t, bytes.Count(wantOut, []byte("\n")), bytes.Count(got, []byte("\n")))
	require.True(t, bytes.Equal(wantOut, got), "the output differs from the dataset")

	st, _, err := loadState(j.ckpt)
	require.NoError(t, err)
	assert.True(t, st.Cursor.Done(), "the checkpoint's cursor is the end of the walk")
	assert.Equal(t, int64(len(got)), st.Bytes)

	// Running again with a finished checkpoint adds nothing, twice, and
	// sends no request.
	for range 2 {
		srv.ResetRequests()
		cmd, stderr = j.cmd()
		require.NoError(t, cmd.Run(), "%s", stderr)
		assert.Equal(t, wantOut, mustRead(t, j.out))
		assert.Empty(t, srv.Requests(), "a finished export sent requests")
	}
}

// lines splits NDJSON into its lines, sorted: a -parallel export writes
// events in no particular order.
func lines(b []byte) []string {
	out := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	if len(b) == 0 {
		out = nil
	}
	slices.Sort(out)
	return out
}

// TestParallelKillAndResumeDeliversEveryEventOnce: a -parallel export is
// SIGKILLed at five seeded points, each followed by a resume; the output
// then holds every event of the dataset once. At each kill the checkpoint
// counts whole lines, each an event of the dataset, none twice.
func TestParallelKillAndResumeDeliversEveryEventOnce(t *testing.T) {
	for _, sc := range exportScopes {
		t.Run(sc.name, func(t *testing.T) { testParallelKillAndResume(t, sc.org) })
	}
}

func testParallelKillAndResume(t *testing.T, org string) {
	srv := newFake(t, 3000)
	j := newJob(t, srv)
	j.org = org
	j.extra = []string{"-parallel", "4", "-since", "31d"}
	wantOut := want(srv, org)
	wantLines := lines(wantOut)
	inDataset := map[string]bool{}
	for _, l := range wantLines {
		inDataset[l] = true
	}
	total := int64(len(wantOut))

	for i, at := range killPoints(rand.New(rand.NewPCG(2025, 15)), total, 5) { // deterministic
		st := j.killAt(t, i, at)
		require.False(t, st.Backfill.IsZero(), "kill %d: the checkpoint holds the backfill's position", i)
		got := mustRead(t, j.out)
		require.GreaterOrEqual(t, int64(len(got)), st.Bytes, "the checkpoint never runs ahead of the output")
		saved := lines(got[:st.Bytes])
		require.Len(t, saved, int(st.Events), "kill %d", i)
		require.Equal(t, len(saved), len(slices.Compact(slices.Clone(saved))), "kill %d: an event written twice", i)
		for _, l := range saved {
			require.True(t, inDataset[l], "kill %d: a line that is not an event of the dataset: %.80s", i, l)
		}
		since, until := st.Backfill.Range()
		t.Logf("kill %d at >= %d bytes: checkpoint %d events / %d bytes, file %d bytes, range %s..%s", i, at, st.Events, st.Bytes, len(got),
			since.Format(time.RFC3339), until.Format(time.RFC3339))
	}

	cmd, stderr := j.cmd()
	require.NoError(t, cmd.Run(), "final run: %s", stderr)
	assert.Contains(t, stderr.String(), "resuming from")
	got := mustRead(t, j.out)
	require.Equal(t, wantLines, lines(got), "the output differs from the dataset")
	st, _, err := loadState(j.ckpt)
	require.NoError(t, err)
	assert.True(t, st.Backfill.Done(), "the checkpoint says the backfill is done")
	assert.Equal(t, int64(len(got)), st.Bytes)

	// Running again with a finished checkpoint adds nothing and sends no request.
	srv.ResetRequests()
	cmd, stderr = j.cmd()
	require.NoError(t, cmd.Run(), "%s", stderr)
	assert.Equal(t, got, mustRead(t, j.out))
	assert.Empty(t, srv.Requests(), "a finished export sent requests")
}

func TestInterruptSavesCheckpointAndNoPartialLine(t *testing.T) {
	srv := newFake(t, 1200)
	j := newJob(t, srv)
	wantOut := want(srv, "")

	cmd, stderr, done := j.startUntil(t, int64(len(wantOut))/3)
	require.NoError(t, cmd.Process.Signal(syscall.SIGINT))
	err := <-done
	var exit *exec.ExitError
	require.True(t, errors.As(err, &exit), "%v", err)
	assert.Equal(t, exitInterrupted, exit.ExitCode())
	assert.Contains(t, stderr.String(), "interrupted after")

	st, ok, err := loadState(j.ckpt)
	require.NoError(t, err)
	require.True(t, ok)
	got := mustRead(t, j.out)
	assert.Equal(t, st.Bytes, int64(len(got)), "the checkpoint records the whole output")
	assert.Equal(t, st.Events, int64(bytes.Count(got, []byte("\n"))))
	require.NotEmpty(t, got)
	assert.Equal(t, byte('\n'), got[len(got)-1], "no partial line")
	assert.Equal(t, wantOut[:len(got)], got)
	assert.False(t, st.Cursor.Done())
	assert.False(t, st.Cursor.IsZero())

	// Simulate a crash after a page was written but before its checkpoint:
	// a duplicate line and a partial one. Resuming must drop both.
	f, err := os.OpenFile(j.out, os.O_APPEND|os.O_WRONLY, 0)
	require.NoError(t, err)
	_, err = f.Write(append(append([]byte{}, wantOut[:bytes.IndexByte(wantOut, '\n')+1]...), `{"_document_id":"half`...))
	require.NoError(t, err)
	require.NoError(t, f.Close())

	cmd, stderr = j.cmd()
	require.NoError(t, cmd.Run(), "%s", stderr)
	assert.Contains(t, stderr.String(), "dropping")
	assert.True(t, bytes.Equal(wantOut, mustRead(t, j.out)), "the resumed output differs from the dataset")
}

func TestDemoRunsWithoutToken(t *testing.T) {
	out := filepath.Join(t.TempDir(), "demo.ndjson")
	var stdout, stderr bytes.Buffer
	code := run([]string{"-demo-events", "300", "-include", "all", "-out", out, "-checkpoint", out + ".ckpt", "-progress", "none"},
		func(string) string { return "" }, &stdout, &stderr)
	require.Equal(t, exitOK, code, stderr.String())
	assert.Contains(t, stderr.String(), "GITHUB_TOKEN is not set")
	got := mustRead(t, out)
	assert.Equal(t, 300, bytes.Count(got, []byte("\n")))
	for _, line := range bytes.Split(bytes.TrimSuffix(got, []byte("\n")), []byte("\n")) {
		var ev auditlog.Event
		require.NoError(t, ev.UnmarshalJSON(line))
		require.NotEmpty(t, ev.DocumentID)
	}
}

func TestDemoToStdout(t *testing.T) {
	var stdout, stderr bytes.Buffer
	code := run([]string{"-demo-events", "50", "-include", "all", "-progress", "log", "-log-every", "1", "-per-page", "20"},
		func(string) string { return "" }, &stdout, &stderr)
	require.Equal(t, exitOK, code, stderr.String())
	assert.Equal(t, 50, bytes.Count(stdout.Bytes(), []byte("\n")))
	assert.Contains(t, stderr.String(), "events/s, budget ")
}

func TestFlagErrorsNameTheFlag(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-checkpoint", "x.ckpt"}, "-checkpoint needs -out"},
		{[]string{"-per-page", "101"}, "-per-page must be 1 to 100"},
		{[]string{"-since", "last tuesday"}, "-since:"},
		{[]string{"-since", "2024-02-01", "-until", "2024-01-01"}, "-until"},
		{[]string{"-follow", "-until", "2024-01-01"}, "-follow cannot be combined with -until"},
		{[]string{"-order", "sideways", "-demo-events", "0"}, "Query.Order"},
		{[]string{"-progress", "fancy"}, "-progress"},
		{[]string{"-parallel", "4"}, "-parallel needs -since"},
		{[]string{"-parallel", "4", "-since", "30d", "-order", "asc"}, "-parallel writes events in no particular order"},
		{[]string{"-parallel", "33", "-since", "30d"}, "-parallel must be 0 to 32"},
		{[]string{"-parallel", "-1"}, "-parallel must be 0 to 32"},
		{[]string{"-demo-rate-limit", "60"}, `invalid value "60" for flag -demo-rate-limit: want N/DURATION`},
		{[]string{"-demo-rate-limit", "0/10s"}, "-demo-rate-limit: want N/DURATION with N at least 1"},
		{[]string{"-demo-rate-limit", "60/500ms"}, "-demo-rate-limit: want N/DURATION with a window of at least 1s"},
		{[]string{"-demo-rate-limit", "60/soon"}, "-demo-rate-limit: want N/DURATION with a window of at least 1s"},
	} {
		var stdout, stderr bytes.Buffer
		code := run(tc.args, func(string) string { return "" }, &stdout, &stderr)
		assert.NotEqual(t, exitOK, code, "%v", tc.args)
		assert.Contains(t, stderr.String(), tc.want, "%v", tc.args)
	}
	var stdout, stderr bytes.Buffer
	code := run(nil, func(k string) string {
		if k == "GITHUB_TOKEN" {
			return "ghp_secret_never_printed"
		}
		return ""
	}, &stdout, &stderr)
	assert.Equal(t, exitUsage, code)
	assert.Contains(t, stderr.String(), "-enterprise or -org is required")
	assert.NotContains(t, stderr.String(), "ghp_secret_never_printed")
}

// TestScopeFlags: -enterprise and -org name one audit log each, never both;
// the demo exports either; a checkpoint of one is refused for the other,
// before anything is sent.
func TestScopeFlags(t *testing.T) {
	var stdout, stderr bytes.Buffer
	code := run([]string{"-enterprise", "avocado-corp", "-org", "octo-org"}, func(string) string { return "" }, &stdout, &stderr)
	assert.Equal(t, exitUsage, code)
	assert.Contains(t, stderr.String(), "-enterprise and -org name two audit logs")

	// An organization login GitHub cannot have is refused by the SDK, by name.
	stderr.Reset()
	code = run([]string{"-org", "octo_org", "-demo-events", "10"}, func(string) string { return "" }, &stdout, &stderr)
	assert.NotEqual(t, exitOK, code)
	assert.Contains(t, stderr.String(), "invalid organization")

	// One the demo's GitHub does not have is its 404.
	stderr.Reset()
	code = run([]string{"-org", "no-such-org", "-demo-events", "10", "-progress", "none"}, func(string) string { return "" }, &stdout, &stderr)
	assert.Equal(t, exitError, code)
	assert.Contains(t, stderr.String(), "GET /orgs/no-such-org/audit-log: 404")
	assert.Contains(t, stderr.String(), `the fake has no organization "no-such-org" (it has avocado-org, guacamole-inc, octo-demo, pit-labs)`)

	// The demo exports an organization's log: exactly its events.
	dir := t.TempDir()
	out, ckpt := filepath.Join(dir, "org.ndjson"), filepath.Join(dir, "org.ckpt")
	stderr.Reset()
	code = run([]string{"-org", "pit-labs", "-demo-events", "400", "-include", "all", "-order", "asc", "-out", out, "-checkpoint", ckpt, "-progress", "none"},
		func(string) string { return "" }, &stdout, &stderr)
	require.Equal(t, exitOK, code, stderr.String())
	assert.Contains(t, stderr.String(), `(organization "pit-labs")`)
	demo := auditlogtest.New(t, auditlogtest.WithClock(func() time.Time { return time.Now().UTC().Truncate(24 * time.Hour) }),
		auditlogtest.WithGeneratedEvents(400, 1))
	assert.Equal(t, want(demo, "pit-labs"), mustRead(t, out))
	st, ok, err := loadState(ckpt)
	require.NoError(t, err)
	require.True(t, ok)
	assert.Equal(t, "pit-labs", st.Org)
	assert.Empty(t, st.Enterprise)

	// That checkpoint is the organization's: refused for the enterprise or
	// another organization.
	for _, flags := range [][]string{{"-enterprise", "avocado-corp"}, {"-org", "octo-demo"}} {
		stderr.Reset()
		code = run(append(flags, "-demo-events", "400", "-out", out, "-checkpoint", ckpt, "-progress", "none"),
			func(string) string { return "" }, &stdout, &stderr)
		assert.Equal(t, exitError, code, "%v", flags)
		assert.Contains(t, stderr.String(), `is for organization "pit-labs"`, "%v", flags)
	}
	assert.Equal(t, want(demo, "pit-labs"), mustRead(t, out), "a refused resume changed the output")
}

func TestBuildQueryUsesPhraseBuilder(t *testing.T) {
	now := time.Date(2024, 6, 30, 12, 0, 0, 0, time.UTC)
	q, rng, err := buildQuery(options{phrase: "action:repo", since: "2024-06-01", until: "1d", perPage: 100}, now)
	require.NoError(t, err)
	assert.Equal(t, "action:repo created:2024-06-01..2024-06-29T12:00:00Z", q.Phrase)
	assert.Equal(t, time.Date(2024, 6, 1, 0, 0, 0, 0, time.UTC), rng.since)
	assert.Equal(t, time.Date(2024, 6, 29, 12, 0, 0, 0, time.UTC), rng.until)

	// With -parallel the Backfill adds each slice's range: the phrase is the caller's.
	q, rng, err = buildQuery(options{phrase: "action:repo", since: "2024-06-01", until: "1d", perPage: 100, parallel: 4}, now)
	require.NoError(t, err)
	assert.Equal(t, "action:repo", q.Phrase)
	assert.Equal(t, time.Date(2024, 6, 1, 0, 0, 0, 0, time.UTC), rng.since)

	q, _, err = buildQuery(options{since: "36h", perPage: 100}, now)
	require.NoError(t, err)
	assert.Equal(t, "created:2024-06-29..*", q.Phrase)

	_, _, err = buildQuery(options{phrase: "action:repo created:>=2024-01-01", since: "36h", perPage: 100}, now)
	require.Error(t, err, "two created: ranges would be OR-ed")
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	return b
}

// TestOutputFileIsSafe: the output holds audit events (actors, hashed
// tokens), so it is created 0600, a symlink in its place is never followed,
// and a file that is not an export of this tool is not clobbered without
// -overwrite (issue 22.10).
func TestOutputFileIsSafe(t *testing.T) {
	demo := func(t *testing.T, args ...string) (int, string) {
		t.Helper()
		var stdout, stderr bytes.Buffer
		code := run(append([]string{"-demo-events", "40", "-include", "all", "-progress", "none"}, args...),
			func(string) string { return "" }, &stdout, &stderr)
		return code, stderr.String()
	}
	t.Run("created 0600", func(t *testing.T) {
		out := filepath.Join(t.TempDir(), "events.ndjson")
		code, stderr := demo(t, "-out", out)
		require.Equal(t, exitOK, code, stderr)
		fi, err := os.Stat(out)
		require.NoError(t, err)
		assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
	})
	t.Run("a symlink is refused", func(t *testing.T) {
		dir := t.TempDir()
		victim := filepath.Join(dir, "victim")
		require.NoError(t, os.WriteFile(victim, []byte("precious\n"), 0o644))
		out := filepath.Join(dir, "events.ndjson")
		require.NoError(t, os.Symlink(victim, out))
		for _, args := range [][]string{{"-out", out}, {"-out", out, "-checkpoint", out + ".ckpt"}, {"-out", out, "-overwrite"}} {
			code, stderr := demo(t, args...)
			assert.NotEqual(t, exitOK, code, "%v", args)
			assert.Contains(t, stderr, "symlink", "%v", args)
			assert.True(t, string(mustRead(t, victim)) == "precious\n", "%v: the symlink's target was written", args)
		}
	})
	t.Run("another file is not clobbered", func(t *testing.T) {
		out := filepath.Join(t.TempDir(), "notes.txt")
		require.NoError(t, os.WriteFile(out, []byte("not an export\n"), 0o600))
		for _, args := range [][]string{{"-out", out}, {"-out", out, "-checkpoint", out + ".ckpt"}} {
			code, stderr := demo(t, args...)
			assert.NotEqual(t, exitOK, code, "%v", args)
			assert.Contains(t, stderr, "-overwrite", "%v", args)
			assert.True(t, string(mustRead(t, out)) == "not an export\n", "%v: the file was clobbered", args)
		}
		code, stderr := demo(t, "-out", out, "-overwrite")
		require.Equal(t, exitOK, code, stderr)
		assert.Equal(t, 40, bytes.Count(mustRead(t, out), []byte("\n")))
	})
	t.Run("its own export is replaced", func(t *testing.T) {
		out := filepath.Join(t.TempDir(), "events.ndjson")
		for range 2 {
			code, stderr := demo(t, "-out", out)
			require.Equal(t, exitOK, code, stderr)
		}
		assert.Equal(t, 40, bytes.Count(mustRead(t, out), []byte("\n")))
	})
}

// TestFollowHandsOverAndResumes: -follow tails from the checkpoint the
// backfill built (one walk, or -parallel slices up to the export's start),
// while events keep arriving (some late); after a SIGINT the same command
// resumes the tail. The file ends with every event once.
func TestFollowHandsOverAndResumes(t *testing.T) {
	for _, extra := range [][]string{nil, {"-parallel", "3", "-since", "31d"}} {
		t.Run(fmt.Sprintf("%v", extra), func(t *testing.T) {
			t.Parallel() // each waits on real time, with its own fake and files
			followHandsOverAndResumes(t, extra)
		})
	}
}

func followHandsOverAndResumes(t *testing.T, extra []string) {
	srv := newFake(t, 300)
	j := newJob(t, srv)
	j.extra = extra
	cmd := func() (*exec.Cmd, *bytes.Buffer) {
		c, stderr := j.cmd()
		c.Args = append(c.Args, "-follow", "-every", "50ms", "-look-back", "2s", "-rescan", "500ms")
		return c, stderr
	}
	n := 0
	add := func(late time.Duration) {
		n++
		now := time.Now().Add(-late)
		ev := fmt.Sprintf(`{"@timestamp":%d,"_document_id":"tail-%03d","action":"repo.access"}`, now.UnixMilli(), n)
		require.NoError(t, srv.AddEvents(json.RawMessage(ev)))
	}
	for round := range 2 {
		c, stderr := cmd()
		require.NoError(t, c.Start())
		deadline := time.Now().Add(2 * time.Second)
		for time.Now().Before(deadline) {
			add(0)
			if n%4 == 0 {
				add(time.Second) // late, within the look-back
			}
			time.Sleep(40 * time.Millisecond)
		}
		time.Sleep(4 * time.Second) // a look-back and a rescan for the late ones
		require.NoError(t, c.Process.Signal(syscall.SIGINT))
		err := c.Wait()
		var exit *exec.ExitError
		require.True(t, errors.As(err, &exit), "round %d: %v\n%s", round, err, stderr)
		assert.Equal(t, exitInterrupted, exit.ExitCode(), "round %d: %s", round, stderr)
	}
	seen := map[string]int{}
	for _, line := range bytes.Split(bytes.TrimSuffix(mustRead(t, j.out), []byte("\n")), []byte("\n")) {
		var ev auditlog.Event
		require.NoError(t, ev.UnmarshalJSON(line))
		seen[ev.DocumentID]++
	}
	dups := 0
	for _, c := range seen {
		dups += c - 1
	}
	assert.Zero(t, dups, "events written twice")
	assert.Len(t, seen, 300+n, "every event, backfilled or tailed")
	st, _, err := loadState(j.ckpt)
	require.NoError(t, err)
	assert.Equal(t, int64(300+n), st.Events)
}
