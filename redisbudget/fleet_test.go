package redisbudget

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ghaudit/auditlog"
	"github.com/ghaudit/auditlog/auditlogtest"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The fleet tests run several OS processes on one token against one fake
// GitHub (auditlogtest, in this process, where its request log is read):
// the test binary runs itself as each member of the fleet, with childEnv
// set to the member's configuration.
const childEnv = "GHAUDIT_REDISBUDGET_CHILD"

// The fake's window, GitHub's 1,750 an hour scaled down.
const (
	fleetLimit  = 60
	fleetWindow = 3 * time.Second
	fleetEvents = 100 // ten pages of ten: a walk is a sixth of a window
)

// childConfig is what one member of a fleet does: walk the whole log again
// and again with Walkers goroutines until its stdin closes, each walk
// checked for exactly once.
type childConfig struct {
	Mode       string // "redis": a Limiter of this package; "local": an auditlog.Budget of its own
	RedisAddr  string
	Key        string
	URL        string
	Token      string
	Enterprise string
	Burst      int // of the configured limit: 0 for GitHub's whole window
	Walkers    int
	ClaimTTL   time.Duration
	Share      float64
	Retry      time.Duration
	Timeout    time.Duration
}

// childReport is what a member prints when it stops.
type childReport struct {
	Walks           int
	Problems        []string // a walk that failed or was not exactly once
	RateLimitErrors int      // refusals that reached the caller
	Down, Back      int      // the Limiter's log records of an outage and of the return
}

// childHello is the member's first line of output.
type childHello struct{ ID string }

// runChild runs this process as a member of a fleet when childEnv is set,
// and exits; otherwise it returns false.
func runChild() bool {
	raw := os.Getenv(childEnv)
	if raw == "" {
		return false
	}
	var cfg childConfig
	if err := json.Unmarshal([]byte(raw), &cfg); err != nil {
		fmt.Fprintln(os.Stderr, "child config:", err)
		os.Exit(2)
	}
	rep, err := child(cfg, os.Stdin, os.Stdout)
	if err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		os.Exit(1)
	}
	json.NewEncoder(os.Stdout).Encode(rep)
	os.Exit(0)
	return true
}

func child(cfg childConfig, stdin io.Reader, stdout io.Writer) (childReport, error) {
	var rep childReport
	limits := map[string]auditlog.RateLimit{res: {Requests: fleetLimit, Per: fleetWindow, Burst: cfg.Burst}}
	var logs logBuffer
	var limiter auditlog.Limiter
	hello := childHello{}
	switch cfg.Mode {
	case "redis":
		rdb := redis.NewClient(&redis.Options{Addr: cfg.RedisAddr})
		defer rdb.Close()
		l, err := New(rdb, cfg.Key, WithRateLimits(limits), WithClaimTTL(cfg.ClaimTTL), WithFallbackShare(cfg.Share),
			WithRetryInterval(cfg.Retry), WithTimeout(cfg.Timeout), WithLogger(logs.logger()))
		if err != nil {
			return rep, err
		}
		limiter, hello.ID = l, l.id
	case "local":
		b, err := auditlog.NewBudget(limits)
		if err != nil {
			return rep, err
		}
		limiter = b
	default:
		return rep, fmt.Errorf("mode %q", cfg.Mode)
	}
	c, err := auditlog.NewClient(auditlog.WithToken(cfg.Token), auditlog.WithBaseURL(cfg.URL), auditlog.WithLimiter(limiter))
	if err != nil {
		return rep, err
	}
	var stop atomic.Bool
	go func() {
		io.Copy(io.Discard, stdin) // the parent closes our stdin to stop us
		stop.Store(true)
	}()
	if err := json.NewEncoder(stdout).Encode(hello); err != nil {
		return rep, err
	}

	var mu sync.Mutex
	var wg sync.WaitGroup
	for range max(cfg.Walkers, 1) {
		wg.Go(func() {
			for !stop.Load() {
				problem, limited := walk(c, cfg.Enterprise)
				mu.Lock()
				rep.Walks++
				if problem != "" {
					rep.Problems = append(rep.Problems, problem)
				}
				if limited {
					rep.RateLimitErrors++
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	rep.Down, rep.Back = strings.Count(logs.String(), msgDown), strings.Count(logs.String(), msgBack)
	return rep, nil
}

// walk reads the whole log once and says what was wrong with it, if
// anything: an error, an event twice, an event missing.
func walk(c *auditlog.Client, enterprise string) (problem string, limited bool) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	seen := make(map[string]bool, fleetEvents)
	for ev, err := range c.Events(ctx, auditlog.Enterprise(enterprise), &auditlog.Query{Include: auditlog.IncludeAll, PerPage: 10}) {
		if err != nil {
			return "walk: " + err.Error(), errors.Is(err, auditlog.ErrRateLimited)
		}
		if seen[ev.DocumentID] {
			return "walk: event " + ev.DocumentID + " twice", false
		}
		seen[ev.DocumentID] = true
	}
	if len(seen) != fleetEvents {
		return fmt.Sprintf("walk: %d events of %d", len(seen), fleetEvents), false
	}
	return "", false
}

// member is a running child process.
type member struct {
	id     string
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	out    *bufio.Reader
	stderr logBuffer // safe to read while the child writes
	killed bool
}

// fleet is a fake GitHub and the processes walking it.
type fleet struct {
	t       *testing.T
	srv     *auditlogtest.Server
	members []*member
	key     string
	redis   *redisServer
}

func newFleet(t *testing.T, srv *redisServer, opts ...auditlogtest.Option) *fleet {
	t.Helper()
	fake := auditlogtest.NewServer(append([]auditlogtest.Option{auditlogtest.WithGeneratedEvents(fleetEvents, 7),
		auditlogtest.WithRateLimit(auditlogtest.ResourceAuditLog, fleetLimit, fleetWindow)}, opts...)...)
	t.Cleanup(fake.Close)
	// NewServer sets its listener's URL after it starts serving, which the
	// race detector sees as racing with the handlers (our members are other
	// processes, outside its view). Taking the server's lock once here
	// orders it before every handler, which takes the same lock first.
	fake.ResetRequests()
	return &fleet{t: t, srv: fake, key: "fleet:" + t.Name(), redis: srv}
}

// start runs a member; cfg's connection fields are filled in.
func (f *fleet) start(cfg childConfig) *member {
	f.t.Helper()
	cfg.URL, cfg.Token, cfg.Enterprise, cfg.Key = f.srv.URL(), f.srv.Token(), f.srv.Enterprise(), f.key
	if f.redis != nil {
		cfg.RedisAddr = f.redis.Addr()
	}
	cfg.ClaimTTL = durOr(cfg.ClaimTTL, DefaultClaimTTL)
	cfg.Share = floatOr(cfg.Share, 0.25)
	cfg.Retry = durOr(cfg.Retry, 300*time.Millisecond)
	cfg.Timeout = durOr(cfg.Timeout, 2*time.Second) // a loaded CI machine must not fake an outage
	js, err := json.Marshal(cfg)
	require.NoError(f.t, err)
	m := &member{cmd: exec.Command(os.Args[0], "-test.run=^$")}
	m.cmd.Env = append(os.Environ(), childEnv+"="+string(js))
	m.cmd.Stderr = &m.stderr
	m.stdin, err = m.cmd.StdinPipe()
	require.NoError(f.t, err)
	stdout, err := m.cmd.StdoutPipe()
	require.NoError(f.t, err)
	require.NoError(f.t, m.cmd.Start())
	f.t.Cleanup(func() {
		if m.cmd.ProcessState == nil {
			_ = m.cmd.Process.Kill() // only the child this test started
			_ = m.cmd.Wait()
		}
	})
	m.out = bufio.NewReader(stdout)
	var hello childHello
	line, err := m.out.ReadBytes('\n')
	if err == nil {
		err = json.Unmarshal(line, &hello)
	}
	require.NoError(f.t, err, "member's first line %q; stderr: %s", line, m.stderr.String())
	m.id = hello.ID
	f.members = append(f.members, m)
	return m
}

func durOr(d, def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return d
}

func floatOr(x, def float64) float64 {
	if x == 0 {
		return def
	}
	return x
}

// kill ends a member with SIGKILL, as a crash would.
func (f *fleet) kill(m *member) {
	require.NoError(f.t, m.cmd.Process.Kill())
	_ = m.cmd.Wait()
	m.killed = true
}

// stop tells every member left to finish the walk in hand and collects
// their reports.
func (f *fleet) stop() []childReport {
	f.t.Helper()
	var reps []childReport
	for _, m := range f.members {
		if !m.killed {
			m.stdin.Close()
		}
	}
	for i, m := range f.members {
		if m.killed {
			continue
		}
		var rep childReport
		line, err := m.out.ReadBytes('\n')
		if err == nil {
			err = json.Unmarshal(line, &rep)
		}
		werr := m.cmd.Wait()
		require.NoError(f.t, errors.Join(err, werr), "member %d: stderr: %s", i, m.stderr.String())
		reps = append(reps, rep)
	}
	return reps
}

// window is one of the fake's rate-limit windows, rebuilt from its request
// log as the fake opens them: at the first audit_log request at or after
// the previous window's end.
type window struct {
	start            time.Time
	served, refused  int
	secondary, other int
}

func (w window) end() time.Time { return w.start.Add(fleetWindow) }

func windowsOf(reqs []auditlogtest.Request) []window {
	var ws []window
	for _, r := range reqs {
		if r.Resource != auditlogtest.ResourceAuditLog || r.Status == 0 {
			continue
		}
		if len(ws) == 0 || !r.Time.Before(ws[len(ws)-1].end()) {
			ws = append(ws, window{start: r.Time})
		}
		w := &ws[len(ws)-1]
		switch {
		case r.Status == http.StatusOK:
			w.served++
		case strings.HasPrefix(r.Fault, "secondary"):
			w.secondary++
		case r.Status == http.StatusForbidden || r.Status == http.StatusTooManyRequests:
			w.refused++
		default:
			w.other++
		}
	}
	return ws
}

// waitWindows waits until the fake has opened n windows, and returns them.
func (f *fleet) waitWindows(n int) []window {
	f.t.Helper()
	deadline := time.Now().Add(time.Duration(n+5) * 2 * fleetWindow)
	for time.Now().Before(deadline) {
		if ws := windowsOf(f.srv.Requests()); len(ws) >= n {
			return ws
		}
		time.Sleep(20 * time.Millisecond)
	}
	f.t.Fatalf("the fake opened fewer than %d windows in time: %+v", n, windowsOf(f.srv.Requests()))
	return nil
}

// usage sums the windows that ended before stop: those the fleet had reason
// to fill.
func usage(ws []window, before time.Time) (full []window, served, refused int) {
	for _, w := range ws {
		refused += w.refused
		if !w.end().After(before) {
			full = append(full, w)
			served += w.served
		}
	}
	return full, served, refused
}

func checkWalks(t *testing.T, reps []childReport) {
	t.Helper()
	for i, r := range reps {
		assert.Empty(t, r.Problems, "member %d", i)
		assert.Positive(t, r.Walks, "member %d", i)
	}
}

// Four processes on one token: on Redis they use the whole budget and are
// never refused, one walker each or five each with slow answers (twenty in
// flight at the start of a window, answered in any order); each on a Budget
// of its own, they meet refusals.
func TestFleetSharesOneBudget(t *testing.T) {
	t.Parallel()
	redisSrv := sharedRedis(t)
	for _, tc := range []struct {
		mode    string
		walkers int           // per process
		latency time.Duration // of each answer
	}{{"redis", 1, 0}, {"redis", 5, 200 * time.Millisecond}, {"local", 1, 0}} {
		mode := tc.mode
		t.Run(fmt.Sprintf("%s/walkers=%d/latency=%v", tc.mode, tc.walkers, tc.latency), func(t *testing.T) {
			t.Parallel()
			f := newFleet(t, redisSrv, auditlogtest.WithFaults(auditlogtest.Faults{Latency: tc.latency}))
			for range 4 {
				f.start(childConfig{Mode: mode, Walkers: tc.walkers})
			}
			f.waitWindows(6)
			stopAt := time.Now()
			reps := f.stop()
			checkWalks(t, reps)
			full, served, refused := usage(windowsOf(f.srv.Requests()), stopAt)
			require.GreaterOrEqual(t, len(full), 5, "windows the fleet walked through")
			share := float64(served) / float64(len(full)*fleetLimit)
			walks := 0
			for _, r := range reps {
				walks += r.Walks
			}
			t.Logf("%s: %d windows, %d of %d requests served (%.1f%%), %d refused (403/429), %d walks",
				mode, len(full), served, len(full)*fleetLimit, 100*share, refused, walks)
			switch mode {
			case "redis":
				assert.Zero(t, refused, "refusals")
				assert.GreaterOrEqual(t, share, 0.95, "share of the budget used")
				for _, r := range reps {
					assert.Zero(t, r.RateLimitErrors)
					assert.Zero(t, r.Down, "no outage")
				}
			case "local":
				// Why this package exists: four Budgets each believe the
				// remaining count is theirs.
				assert.Positive(t, refused, "refusals")
			}
		})
	}
}

// A secondary limit met by one process holds all four until GitHub's time.
func TestFleetSharesAPause(t *testing.T) {
	t.Parallel()
	f := newFleet(t, sharedRedis(t))
	for range 4 {
		// Requests spread over the window, so no process is ever committed
		// to a long wait that the pause would have to cut short.
		f.start(childConfig{Mode: "redis", Walkers: 1, Burst: 1})
	}
	ws := f.waitWindows(2)
	time.Sleep(time.Until(ws[1].start.Add(fleetWindow / 3)))
	const retryAfter = 2 * time.Second
	f.srv.Script(auditlogtest.Fault{Kind: auditlogtest.FaultSecondary403, RetryAfter: retryAfter}, 1)
	f.waitWindows(5)
	reps := f.stop()
	checkWalks(t, reps)

	reqs := f.srv.Requests()
	var refusedAt time.Time
	var after []time.Duration // arrival of every request after the refusal, from it
	for _, r := range reqs {
		switch {
		case r.Fault == auditlogtest.FaultSecondary403.String():
			refusedAt = r.Time
		case !refusedAt.IsZero():
			after = append(after, r.Time.Sub(refusedAt))
		}
	}
	require.False(t, refusedAt.IsZero(), "the secondary limit was met")
	require.NotEmpty(t, after)
	// Requests already on their way when the refusal arrived may follow it
	// by a moment; then nothing until GitHub's time, from any process.
	const inFlight = 250 * time.Millisecond
	var early, held int
	firstAfterPause := time.Duration(-1)
	for _, d := range after {
		switch {
		case d < inFlight:
			early++
		case d < retryAfter:
			held++
		case firstAfterPause < 0:
			firstAfterPause = d
		}
	}
	t.Logf("secondary limit at %s: %d requests within %v (already on their way), %d during the pause, first after it %v later",
		refusedAt.Format("15:04:05.000"), early, inFlight, held, firstAfterPause)
	assert.Zero(t, held, "requests sent during the pause")
	assert.LessOrEqual(t, early, 3, "requests already on their way: at most one per other process")
	assert.Less(t, firstAfterPause, retryAfter+time.Second, "the fleet resumes when GitHub said")
	_, _, refused := usage(windowsOf(reqs), time.Now())
	assert.Zero(t, refused, "refusals other than the injected one")
	for _, r := range reps {
		assert.Zero(t, r.RateLimitErrors)
	}
}

// A process killed mid-run holds budget with its claims only until they
// expire, and not past them: every window that opens after the kill is used
// in full, the one the claims expire in too.
func TestFleetOutlivesACrashedProcess(t *testing.T) {
	t.Parallel()
	redisSrv := sharedRedis(t)
	f := newFleet(t, redisSrv)
	const ttl = time.Second
	victim := f.start(childConfig{Mode: "redis", Walkers: 8, ClaimTTL: ttl})
	for range 3 {
		f.start(childConfig{Mode: "redis", Walkers: 4, ClaimTTL: ttl})
	}
	ws := f.waitWindows(2)
	time.Sleep(time.Until(ws[1].start.Add(fleetWindow / 3)))
	f.kill(victim)
	killedAt := time.Now()

	rdb := redisSrv.Client(t, "")
	claimsKey := bucketKeys(f.key, auditlog.BudgetKey(auditlog.Enterprise(f.srv.Enterprise())))[1]
	orphans, err := rdb.ZRangeWithScores(context.Background(), claimsKey, 0, -1).Result()
	require.NoError(t, err)
	var held int
	var expiry time.Time
	for _, z := range orphans {
		if strings.HasPrefix(z.Member.(string), victim.id+"-") {
			held++
			if e := time.UnixMicro(int64(z.Score)); e.After(expiry) {
				expiry = e
			}
		}
	}
	require.Positive(t, held, "the killed process held claims (in flight or waiting)")

	t.Logf("killed with %d claims in Redis, the last expiring %v after the kill", held, expiry.Sub(killedAt).Round(time.Millisecond))
	assert.LessOrEqual(t, expiry.Sub(killedAt), fleetWindow+ttl+time.Second, "a claim lives for its wait and the TTL")

	// Let three windows open after the last claim expired (two of them full).
	var after int
	for after < 3 {
		ws = f.waitWindows(len(ws) + 1)
		after = 0
		for _, w := range ws {
			if w.start.After(expiry) {
				after++
			}
		}
	}
	stopAt := time.Now()
	reps := f.stop()
	checkWalks(t, reps)
	left, err := rdb.ZRange(context.Background(), claimsKey, 0, -1).Result()
	require.NoError(t, err)
	for _, id := range left {
		assert.False(t, strings.HasPrefix(id, victim.id+"-"), "claim %s of the killed process outlived its expiry", id)
	}
	ws, _, refused := usage(windowsOf(f.srv.Requests()), stopAt)
	assert.Zero(t, refused)
	var opened, served, since int
	for i, w := range ws {
		t.Logf("window %d at %+v from the kill: %d served", i, w.start.Sub(killedAt).Round(time.Millisecond), w.served)
		if w.start.After(expiry) {
			opened++
			served += w.served
		}
		if w.start.After(killedAt) {
			// The window the claims expire in too: a request waiting while
			// the count is run down by claims that will never be answered
			// asks again, rather than being committed to the reset, and
			// takes the place they give back when they expire.
			since++
			assert.GreaterOrEqual(t, w.served, fleetLimit*95/100, "window %d, %v after the kill (the claims expired %v after it)",
				i, w.start.Sub(killedAt).Round(time.Millisecond), expiry.Sub(killedAt).Round(time.Millisecond))
		}
	}
	require.GreaterOrEqual(t, opened, 2)
	require.GreaterOrEqual(t, since, 3)
	assert.GreaterOrEqual(t, float64(served)/float64(opened*fleetLimit), 0.95,
		"%d of %d requests served in the %d windows opened after the claims expired", served, opened*fleetLimit, opened)
}

// redis-server stopped and restarted (empty) mid-run: every process paces on
// its share while Redis is away and rejoins when it is back; no refusal
// storm, and every walk completes exactly once.
func TestFleetSurvivesARedisRestart(t *testing.T) {
	t.Parallel()
	redisSrv := startRedis(t)
	f := newFleet(t, redisSrv)
	for range 4 {
		f.start(childConfig{Mode: "redis", Walkers: 2, Timeout: 100 * time.Millisecond})
	}
	ws := f.waitWindows(2)
	time.Sleep(time.Until(ws[1].start.Add(fleetWindow / 3)))
	redisSrv.Stop()
	downAt := time.Now()
	time.Sleep(2*fleetWindow + fleetWindow/2) // across two windows' resets
	require.NoError(t, redisSrv.Restart())
	upAt := time.Now()
	f.waitWindows(len(windowsOf(f.srv.Requests())) + 3)
	stopAt := time.Now()
	reps := f.stop()
	checkWalks(t, reps)

	ws, served, refused := usage(windowsOf(f.srv.Requests()), stopAt)
	for i, w := range ws {
		t.Logf("window %d at %+v from the stop: %d served, %d refused", i, w.start.Sub(downAt).Round(time.Millisecond), w.served, w.refused)
	}
	t.Logf("Redis down for %v: %d refusals in %d windows, %.1f%% of the budget used",
		upAt.Sub(downAt).Round(time.Millisecond), refused, len(ws), 100*float64(served)/float64(len(ws)*fleetLimit))
	// Each process learns the true count from each response, so a refusal
	// can only meet a request already on its way when the count reached 0.
	assert.LessOrEqual(t, refused, 4, "refusals")
	for i, r := range reps {
		assert.Zero(t, r.RateLimitErrors, "member %d", i)
		assert.Positive(t, r.Down, "member %d logged the outage", i)
		assert.Positive(t, r.Back, "member %d logged the return", i)
	}
}
