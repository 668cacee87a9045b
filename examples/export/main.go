// Command export backfills an enterprise's or an organization's audit log to
// NDJSON, one event per line exactly as GitHub sent it, and can then tail it
// forever.
//
//	GITHUB_TOKEN=... go run ./examples/export -enterprise avocado-corp -since 30d -out events.ndjson -checkpoint events.ckpt
//	GITHUB_TOKEN=... go run ./examples/export -org octo-org -since 30d -out octo.ndjson -checkpoint octo.ckpt
//
// -enterprise SLUG and -org LOGIN name the audit log: exactly one of them.
//
// With -parallel N it reads the -since/-until range (up to now when -until is
// not given) in N time slices at once (auditlog's Client.Backfill), which uses
// the whole hourly budget even when each request takes seconds; events are
// then written in no particular order.
//
// With -checkpoint it is exactly-once across restarts: after each page (with
// -parallel, each batch of events) the events are appended to -out and
// fsynced, then the checkpoint (cursor or backfill position, count, size of
// -out) is replaced atomically; on restart -out is truncated to the recorded
// size, dropping anything written after the last checkpoint, and the export
// goes on from the saved position (a finished export's position is the end,
// so running it again sends nothing). SIGINT and SIGTERM finish the page in
// hand, save the checkpoint and exit with status 130.
//
// -out is created 0600 (audit events name people and hashed tokens); a
// symlink in its place is refused, and a file that is not an earlier export
// of this tool is not replaced without -overwrite.
//
// With -redis URL (or $GHAUDIT_REDIS_URL) it joins a fleet: every export
// using the same token and Redis shares one rate budget (redisbudget).
//
// On a terminal a progress bar says what the export is doing, including
// the waits for the rate budget (until when, counting down), with an ETA
// that counts the budget's resets; otherwise a log line every -log-every
// pages, and one as each wait of a few seconds or more starts.
//
// Without GITHUB_TOKEN it runs against an in-process fake GitHub
// (auditlogtest) holding -demo-events generated events, so one command shows
// the whole job; -demo-rate-limit scales the fake's hourly budget down.
package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/ghaudit/auditlog"
	"github.com/ghaudit/auditlog/auditlogtest"
	"github.com/ghaudit/auditlog/redisbudget"
	"github.com/redis/go-redis/v9"
)

func main() {
	os.Exit(run(os.Args[1:], os.Getenv, os.Stdout, os.Stderr))
}

// Exit statuses.
const (
	exitOK          = 0
	exitError       = 1
	exitUsage       = 2
	exitInterrupted = 130
)

type options struct {
	enterprise string
	org        string
	phrase     string
	include    string
	order      string
	since      string
	until      string
	out        string
	checkpoint string
	apiURL     string
	perPage    int
	parallel   int
	follow     bool
	every      time.Duration
	lookBack   time.Duration
	rescan     time.Duration
	maxWait    time.Duration
	overwrite  bool
	demoEvents int
	demoLimit  demoLimit
	logEvery   int
	progress   string
	verbose    bool
	redisURL   string
}

func parseFlags(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("export", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.enterprise, "enterprise", "", "enterprise slug or ID: export the enterprise's audit log (with GITHUB_TOKEN, this or -org is required)")
	fs.StringVar(&o.org, "org", "", "organization login: export the organization's audit log instead (GET /orgs/{org}/audit-log)")
	fs.StringVar(&o.phrase, "phrase", "", "search phrase, e.g. 'action:repo actor:octocat'")
	fs.StringVar(&o.include, "include", "", "web, git or all (GitHub's default: web)")
	fs.StringVar(&o.order, "order", "", "asc or desc (GitHub's default: desc, newest first)")
	fs.StringVar(&o.since, "since", "", "only events at or after: 2006-01-02, RFC 3339, or an age like 36h or 30d")
	fs.StringVar(&o.until, "until", "", "only events at or before: same forms as -since")
	fs.StringVar(&o.out, "out", "", "output file (default stdout)")
	fs.StringVar(&o.checkpoint, "checkpoint", "", "checkpoint file, to resume exactly where a previous run stopped (needs -out)")
	fs.StringVar(&o.apiURL, "api-url", "", "REST API root (default $GITHUB_API_URL, else https://api.github.com)")
	fs.IntVar(&o.perPage, "per-page", auditlog.MaxPerPage, "events per request, 1 to 100")
	fs.IntVar(&o.parallel, "parallel", 0, fmt.Sprintf("read the -since/-until range in N time slices at once (1 to %d; needs -since): uses the whole budget when requests are slow; events come in no particular order. 0: one walk, in -order", auditlog.MaxBackfillParallel))
	fs.BoolVar(&o.follow, "follow", false, "after the backfill, tail the log forever")
	fs.DurationVar(&o.every, "every", auditlog.DefaultFollowEvery, "with -follow: pause between polls")
	fs.DurationVar(&o.lookBack, "look-back", auditlog.DefaultFollowLookBack, "with -follow: how late an event may arrive and still be caught")
	fs.DurationVar(&o.rescan, "rescan", 0, "with -follow: how often to re-read what the look-back has just closed (0: half the look-back)")
	fs.BoolVar(&o.overwrite, "overwrite", false, "replace an existing -out that is not this tool's export (a symlink is always refused)")
	fs.DurationVar(&o.maxWait, "max-wait", 65*time.Minute, "longest wait for rate budget or retries per request; the default sleeps through an exhausted hourly budget (0: never wait)")
	fs.IntVar(&o.demoEvents, "demo-events", 5000, "without GITHUB_TOKEN: size of the fake's generated dataset")
	o.demoLimit = demoLimit{1750, time.Hour}
	fs.Var(&o.demoLimit, "demo-rate-limit", "without GITHUB_TOKEN: the fake's audit-log budget, N requests per window (GitHub's: 1750/1h); a short window such as 60/10s shows the waits for the budget in seconds")
	fs.IntVar(&o.logEvery, "log-every", 10, "when stderr is not a terminal: a progress line every N pages")
	fs.StringVar(&o.progress, "progress", "auto", "auto (a bar on a terminal, else log lines), bar, log or none")
	fs.BoolVar(&o.verbose, "v", false, "log every request (never the token)")
	fs.StringVar(&o.redisURL, "redis", "", "join a fleet sharing the token's budget through Redis: redis://[user:password@]host:port[/db] (default $GHAUDIT_REDIS_URL)")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: export [flags]\n\nBackfill (and with -follow, tail) an enterprise's (-enterprise) or an organization's (-org)\naudit log to NDJSON. The token comes from GITHUB_TOKEN; without it export runs a demo\nagainst an in-process fake.\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected argument %q (every setting is a flag)", fs.Arg(0))
	}
	switch {
	case o.enterprise != "" && o.org != "":
		return o, errors.New("-enterprise and -org name two audit logs: give one of them")
	case o.perPage < 1 || o.perPage > auditlog.MaxPerPage:
		return o, fmt.Errorf("-per-page must be 1 to %d, got %d", auditlog.MaxPerPage, o.perPage)
	case o.parallel < 0 || o.parallel > auditlog.MaxBackfillParallel:
		return o, fmt.Errorf("-parallel must be 0 to %d, got %d", auditlog.MaxBackfillParallel, o.parallel)
	case o.parallel > 0 && o.since == "":
		return o, errors.New("-parallel needs -since: it slices a range of time")
	case o.parallel > 0 && o.order != "":
		return o, errors.New("-parallel writes events in no particular order: drop -order")
	case o.checkpoint != "" && o.out == "":
		return o, errors.New("-checkpoint needs -out FILE: stdout cannot be truncated on resume")
	case o.follow && o.until != "":
		return o, errors.New("-follow cannot be combined with -until")
	case o.every <= 0:
		return o, fmt.Errorf("-every must be positive, got %s", o.every)
	case o.maxWait < 0:
		return o, fmt.Errorf("-max-wait must not be negative, got %s", o.maxWait)
	case o.lookBack < 0:
		return o, fmt.Errorf("-look-back must not be negative, got %s", o.lookBack)
	case o.rescan < 0:
		return o, fmt.Errorf("-rescan must not be negative, got %s", o.rescan)
	case o.demoEvents < 0:
		return o, fmt.Errorf("-demo-events must not be negative, got %d", o.demoEvents)
	case o.logEvery < 1:
		return o, fmt.Errorf("-log-every must be at least 1, got %d", o.logEvery)
	}
	switch o.progress {
	case "auto", "bar", "log", "none":
	default:
		return o, fmt.Errorf("-progress must be auto, bar, log or none, got %q", o.progress)
	}
	return o, nil
}

// scope is the audit log the flags name: -org's, else -enterprise's.
func (o options) scope() auditlog.Scope {
	if o.org != "" {
		return auditlog.Organization(o.org)
	}
	return auditlog.Enterprise(o.enterprise)
}

// scopeText names the audit log, as the flags do, for messages.
func scopeText(enterprise, org string) string {
	if org != "" {
		return fmt.Sprintf("organization %q", org)
	}
	return fmt.Sprintf("enterprise %q", enterprise)
}

// parseTime reads -since/-until: a date, an RFC 3339 time, or an age before
// now ("36h", "30d").
func parseTime(flagName, s string, now time.Time) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t, nil
	}
	if days, ok := strings.CutSuffix(s, "d"); ok {
		if n, err := strconv.Atoi(days); err == nil && n >= 0 {
			return now.AddDate(0, 0, -n), nil
		}
	}
	if d, err := time.ParseDuration(s); err == nil && d >= 0 {
		return now.Add(-d), nil
	}
	return time.Time{}, fmt.Errorf("%s: %q is not a date (2006-01-02), an RFC 3339 time or an age (36h, 30d)", flagName, s)
}

// demoLimit is -demo-rate-limit: n requests per window.
type demoLimit struct {
	n   int
	per time.Duration
}

func (l *demoLimit) String() string {
	if l == nil || l.n == 0 {
		return ""
	}
	return fmt.Sprintf("%d/%s", l.n, l.per)
}

// Set reads N/DURATION. The fake reports resets in whole seconds, as GitHub
// does, so a window is at least a second.
func (l *demoLimit) Set(s string) error {
	ns, per, ok := strings.Cut(s, "/")
	n, err := strconv.Atoi(ns)
	if !ok || err != nil || n < 1 {
		return fmt.Errorf("want N/DURATION with N at least 1, such as 1750/1h or 60/10s")
	}
	d, err := time.ParseDuration(per)
	if err != nil || d < time.Second {
		return fmt.Errorf("want N/DURATION with a window of at least 1s, such as 1750/1h or 60/10s")
	}
	l.n, l.per = n, d
	return nil
}

// timeRange is the -since/-until range; a zero end is open.
type timeRange struct{ since, until time.Time }

// buildQuery turns the flags into a Query and the range. For one walk,
// -since and -until go through the Phrase builder and are appended to
// -phrase; with -parallel, the Backfill adds each slice's range itself.
func buildQuery(o options, now time.Time) (*auditlog.Query, timeRange, error) {
	var rng timeRange
	since, err := parseTime("-since", o.since, now)
	if err != nil {
		return nil, rng, err
	}
	until, err := parseTime("-until", o.until, now)
	if err != nil {
		return nil, rng, err
	}
	if !since.IsZero() && !until.IsZero() && until.Before(since) {
		return nil, rng, fmt.Errorf("-until (%s) is before -since (%s)", until.Format(time.RFC3339), since.Format(time.RFC3339))
	}
	rng = timeRange{since, until}
	if !since.IsZero() || !until.IsZero() {
		for _, term := range strings.Fields(o.phrase) {
			if key, _, ok := strings.Cut(strings.TrimPrefix(term, "-"), ":"); ok && strings.EqualFold(key, "created") {
				return nil, rng, errors.New("-phrase holds created: and -since/-until give a range too; GitHub would read the two as alternatives: use one or the other")
			}
		}
	}
	q := &auditlog.Query{
		Phrase:  o.phrase,
		Include: auditlog.Include(o.include),
		Order:   auditlog.Order(o.order),
		PerPage: o.perPage,
	}
	if o.parallel == 0 {
		// One created:A..B range, with * for an open end.
		created, err := auditlog.Phrase().Created(since, until).Build()
		if err != nil {
			return nil, rng, fmt.Errorf("-since/-until: %w", err)
		}
		q.Phrase = strings.TrimSpace(o.phrase + " " + created)
	}
	if err := q.Validate(); err != nil {
		return nil, rng, err
	}
	return q, rng, nil
}

func run(args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	o, err := parseFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	if err != nil {
		fmt.Fprintln(stderr, "export:", err)
		return exitUsage
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	now := time.Now()
	q, rng, err := buildQuery(o, now)
	if err != nil {
		fmt.Fprintln(stderr, "export:", err)
		return exitUsage
	}

	token := getenv("GITHUB_TOKEN")
	baseURL := o.apiURL
	if baseURL == "" {
		baseURL = getenv("GITHUB_API_URL")
	}
	var demo *auditlogtest.Server
	if token == "" {
		// The fake generates its dataset relative to its clock at start. Pin
		// that moment to the start of the UTC day, so a demo export that is
		// interrupted and resumed meets the same events again (exactly once
		// across restarts, within the day); after start, real time.
		day := time.Now().UTC().Truncate(24 * time.Hour)
		var started atomic.Bool
		clock := func() time.Time {
			if started.Load() {
				return time.Now()
			}
			return day
		}
		demo = auditlogtest.NewServer(
			auditlogtest.WithClock(clock),
			auditlogtest.WithGeneratedEvents(o.demoEvents, 1),
			// GitHub's budget, unless -demo-rate-limit scales it.
			auditlogtest.WithRateLimit(auditlog.ResourceAuditLog, o.demoLimit.n, o.demoLimit.per),
		)
		started.Store(true)
		defer demo.Close()
		token, baseURL = demo.Token(), demo.URL()
		if o.enterprise == "" && o.org == "" {
			o.enterprise = demo.Enterprise() // or -org with one of demo.Organizations()
		}
		fmt.Fprintf(stderr, "export: GITHUB_TOKEN is not set: running against an in-process fake GitHub with %d generated events (%s)\n",
			o.demoEvents, scopeText(o.enterprise, o.org))
		if o.org != "" && !demoHasOrg(demo, o.org) {
			fmt.Fprintf(stderr, "export: the fake has no organization %q (it has %s): it answers 404, as GitHub would\n",
				o.org, demoOrgs(demo))
		}
	}
	if o.enterprise == "" && o.org == "" {
		fmt.Fprintln(stderr, "export: -enterprise or -org is required (the enterprise's slug or ID, or the organization's login)")
		return exitUsage
	}

	// The progress display learns of waits and budgets through the hooks;
	// a window lasts an hour on GitHub (the display learns it from the
	// resets it sees).
	window := time.Hour
	if demo != nil {
		window = o.demoLimit.per
	}
	waits := newWaits(auditlog.BudgetKey(o.scope()), window)
	copts := []auditlog.Option{auditlog.WithToken(token), auditlog.WithUserAgent("ghaudit-export/" + auditlog.Version),
		auditlog.WithMaxWait(o.maxWait), auditlog.WithHooks(waits.hooks())}
	if baseURL != "" {
		copts = append(copts, auditlog.WithBaseURL(baseURL))
	}
	logger := slog.New(slog.DiscardHandler)
	if o.verbose {
		logger = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
		copts = append(copts, auditlog.WithLogger(logger))
	}
	if o.redisURL == "" {
		o.redisURL = getenv("GHAUDIT_REDIS_URL")
	}
	if o.redisURL != "" {
		ropts, err := redis.ParseURL(o.redisURL)
		if err != nil {
			// The URL may hold a password: say what is wrong, not what it was.
			fmt.Fprintln(stderr, "export: -redis (or GHAUDIT_REDIS_URL) is not a redis://, rediss:// or unix:// URL")
			return exitUsage
		}
		rdb := redis.NewClient(ropts)
		defer rdb.Close()
		l, err := redisbudget.New(rdb, fleetKey(baseURL, token), redisbudget.WithLogger(logger))
		if err != nil {
			fmt.Fprintln(stderr, "export:", err)
			return exitUsage
		}
		copts = append(copts, auditlog.WithLimiter(l))
	}
	client, err := auditlog.NewClient(copts...)
	if err != nil {
		fmt.Fprintln(stderr, "export:", err)
		return exitUsage
	}

	ex := &exporter{
		o: o, client: client, stderr: stderr, demo: demo, waits: waits,
		since: rng.since, upper: now,
	}
	if !rng.until.IsZero() {
		ex.upper = rng.until
	}
	err = ex.run(ctx, q, stdout)
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, errInterrupted):
		fmt.Fprintf(stderr, "export: interrupted after %d events; %s\n", ex.state.Events, ex.resumeHint())
		return exitInterrupted
	default:
		fmt.Fprintln(stderr, "export:", err)
		if ex.state.Events > 0 && o.checkpoint != "" {
			fmt.Fprintf(stderr, "export: %d events saved; %s\n", ex.state.Events, ex.resumeHint())
		}
		return exitError
	}
}

// fleetKey names the budget a fleet shares in Redis. GitHub counts it per
// token and egress IP, so every process exporting with this token against
// this API host gets the same key: the host and a fingerprint of the token,
// never the token itself.
func fleetKey(baseURL, token string) string {
	host := "api.github.com"
	if u, err := url.Parse(baseURL); err == nil && u.Host != "" {
		host = u.Host
	}
	sum := sha256.Sum256([]byte(token))
	return "ghaudit:" + host + ":" + hex.EncodeToString(sum[:8])
}

// errInterrupted ends a run stopped by SIGINT or SIGTERM after its checkpoint
// was saved.
var errInterrupted = errors.New("interrupted")

func (ex *exporter) resumeHint() string {
	if ex.o.checkpoint == "" {
		return "no -checkpoint was given, so a new run starts over"
	}
	return fmt.Sprintf("the same command resumes from %s", ex.o.checkpoint)
}

// demoHasOrg reports whether the demo's fake serves login's audit log.
func demoHasOrg(demo *auditlogtest.Server, login string) bool {
	for _, org := range demo.Organizations() {
		if strings.EqualFold(org.Login, login) {
			return true
		}
	}
	return false
}

// demoOrgs lists the logins of the demo's organizations, for a hint.
func demoOrgs(demo *auditlogtest.Server) string {
	var logins []string
	for _, org := range demo.Organizations() {
		logins = append(logins, org.Login)
	}
	if len(logins) == 0 {
		return "none"
	}
	slices.Sort(logins)
	return strings.Join(logins, ", ")
}
