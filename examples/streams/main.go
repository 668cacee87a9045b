// Command streams administers an enterprise's audit-log streams: list, get,
// create, update, pause, resume and delete, with a table on stdout.
//
//	export GITHUB_TOKEN=...            # admin:enterprise
//	export SPLUNK_TOKEN=...            # or typed at the prompt, never echoed
//	go run ./examples/streams -enterprise avocado-corp create -vendor splunk -domain http-inputs-acme.splunkcloud.com -port 443
//
// Secrets never come from flags or arguments: each vendor reads them from
// environment variables, or from stdin (without echo on a terminal) when the
// variable is unset; an argument a command does not expect is refused
// without being shown, in case it is a secret given by mistake. What the
// server sends is printed with control characters escaped. Without
// GITHUB_TOKEN the commands run against an in-process fake GitHub whose
// streams last only as long as the process; "streams demo" runs create,
// list, update, pause, resume and delete in one go. "streams COMMAND -h"
// shows a command's usage.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"
	"unicode"

	"github.com/ghaudit/auditlog"
	"github.com/ghaudit/auditlog/auditlogtest"
	"golang.org/x/term"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Getenv, os.Stdin, os.Stdout, os.Stderr))
}

// command is one subcommand: how it is called and what it takes.
type command struct {
	name, args, summary string
	id                  bool   // takes a stream ID
	vendor              bool   // takes -vendor and its settings
	enabledFlag         string // "disabled" (create) or "enabled" (update), "" for none
}

var commands = []command{
	{name: "list", summary: "list the streams"},
	{name: "get", args: "ID", summary: "show one stream", id: true},
	{name: "create", args: "-vendor V [settings]", summary: "create a stream (-disabled to create it paused)", vendor: true, enabledFlag: "disabled"},
	{name: "update", args: "ID -vendor V [settings]", summary: "replace a stream's whole configuration, secrets included", id: true, vendor: true, enabledFlag: "enabled"},
	{name: "pause", args: "ID -vendor V [settings]", summary: "pause a stream (GitHub needs the full settings again)", id: true, vendor: true},
	{name: "resume", args: "ID -vendor V [settings]", summary: "resume a stream (GitHub needs the full settings again)", id: true, vendor: true},
	{name: "delete", args: "ID", summary: "delete a stream", id: true},
	{name: "demo", summary: "against the embedded fake: create, list, update, pause, resume, delete"},
}

// vendors lists each -vendor value with its settings and the environment
// variables its secrets come from.
var vendors = []struct{ name, settings, secrets string }{
	{"splunk", "-domain -port [-ssl-verify]", "SPLUNK_TOKEN"},
	{"hec", "-domain -port -path [-ssl-verify]", "HEC_TOKEN"},
	{"datadog", "-site", "DATADOG_API_KEY"},
	{"azure-blob", "-container", "AZURE_SAS_URL"},
	{"azure-event-hubs", "-name", "AZURE_EVENT_HUBS_CONNECTION_STRING"},
	{"s3-oidc", "-bucket -region -role-arn", "(none)"},
	{"s3-keys", "-bucket -region", "AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY"},
	{"gcs", "-bucket", "GCS_JSON_CREDENTIALS"},
}

// table writes rows with aligned columns, indented by two spaces.
func table(w io.Writer, rows ...[]string) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, r := range rows {
		fmt.Fprintln(tw, "  "+strings.Join(r, "\t"))
	}
	tw.Flush()
}

func usage(w io.Writer, global *flag.FlagSet) {
	fmt.Fprint(w, "usage: streams [-enterprise SLUG] [-api-url URL] COMMAND [ARGS]\n\ncommands:\n")
	var rows [][]string
	for _, c := range commands {
		rows = append(rows, []string{strings.TrimSpace(c.name + " " + c.args), c.summary})
	}
	table(w, rows...)
	fmt.Fprint(w, "\n\"streams COMMAND -h\" shows a command's flags.\n\n")
	vendorTable(w)
	fmt.Fprint(w, "\nThe token comes from GITHUB_TOKEN (admin:enterprise); without it every command\nruns against an in-process fake GitHub.\n\nglobal flags:\n")
	global.SetOutput(w)
	global.PrintDefaults()
}

func vendorTable(w io.Writer) {
	fmt.Fprintln(w, "vendors and their settings (secrets from the environment variable named, else stdin):")
	rows := [][]string{}
	for _, v := range vendors {
		rows = append(rows, []string{v.name, v.settings, v.secrets})
	}
	table(w, rows...)
}

// env is what the commands read from outside: variables, stdin and output.
type env struct {
	getenv func(string) string
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
	lines  *bufio.Reader // stdin when it is not a terminal
}

// usageError is a mistake in the command line.
type usageError struct{ msg string }

func (u usageError) Error() string { return u.msg }

// errHelp asks for a command's usage, which has been printed.
var errHelp = errors.New("help")

func run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) int {
	e := &env{getenv: getenv, stdin: stdin, stdout: stdout, stderr: stderr}
	global := flag.NewFlagSet("streams", flag.ContinueOnError)
	global.SetOutput(io.Discard)
	enterprise := global.String("enterprise", "", "enterprise slug or ID (required with GITHUB_TOKEN)")
	apiURL := global.String("api-url", "", "REST API root (default $GITHUB_API_URL, else https://api.github.com)")
	fail := func(prefix string, err error) int {
		fmt.Fprintf(stderr, "%s: %s\n", prefix, clean(err.Error()))
		var input *auditlog.InputError
		if errors.As(err, &usageError{}) || errors.As(err, &input) {
			return 2
		}
		return 1
	}
	if err := global.Parse(args); errors.Is(err, flag.ErrHelp) {
		usage(stdout, global)
		return 0
	} else if err != nil {
		return fail("streams", flagError(global, "streams", err))
	}
	name, rest := global.Arg(0), global.Args()[min(1, global.NArg()):]
	switch {
	case name == "help" && len(rest) == 0:
		usage(stdout, global)
		return 0
	case name == "help":
		name, rest = rest[0], []string{"-h"}
	case name == "":
		usage(stderr, global)
		return 2
	}
	cmd, ok := lookup(name)
	if !ok {
		return fail("streams", usageError{"unknown command (not shown, in case it is a secret); run \"streams -h\" for the list"})
	}
	action, err := e.parse(cmd, rest)
	if errors.Is(err, errHelp) {
		return 0
	} else if err != nil {
		return fail("streams "+cmd.name, err)
	}

	token, baseURL := getenv("GITHUB_TOKEN"), *apiURL
	if baseURL == "" {
		baseURL = getenv("GITHUB_API_URL")
	}
	if token == "" || cmd.name == "demo" {
		srv := auditlogtest.NewServer()
		defer srv.Close()
		token, baseURL = srv.Token(), srv.URL()
		if *enterprise == "" {
			*enterprise = srv.Enterprise()
		}
		if cmd.name == "demo" {
			fmt.Fprintln(stderr, "streams: demo against an in-process fake GitHub")
		} else {
			fmt.Fprintln(stderr, "streams: GITHUB_TOKEN is not set: using an in-process fake GitHub; its streams last only for this command (try \"streams demo\")")
		}
	}
	if *enterprise == "" {
		return fail("streams", usageError{"-enterprise is required (the enterprise slug or ID)"})
	}
	opts := []auditlog.Option{auditlog.WithToken(token), auditlog.WithUserAgent("ghaudit-streams/" + auditlog.Version)}
	if baseURL != "" {
		opts = append(opts, auditlog.WithBaseURL(baseURL))
	}
	c, err := auditlog.NewClient(opts...)
	if err != nil {
		return fail("streams", err)
	}
	if err := action(ctx, c, auditlog.Enterprise(*enterprise)); err != nil {
		return fail("streams "+cmd.name, err)
	}
	return 0
}

func lookup(name string) (command, bool) {
	for _, c := range commands {
		if c.name == name {
			return c, true
		}
	}
	return command{}, false
}

// flagValue and flagName pick apart the flag package's errors, which quote
// the value given: only the name of a flag the command defines is shown.
var (
	flagValue = regexp.MustCompile(`^invalid (?:boolean )?value ".*" for (?:flag )?-([A-Za-z0-9-]+): `)
	flagName  = regexp.MustCompile(`^flag needs an argument: -([A-Za-z0-9-]+)$`)
)

func flagError(fs *flag.FlagSet, cmd string, err error) error {
	for _, re := range []*regexp.Regexp{flagValue, flagName} {
		if m := re.FindStringSubmatch(err.Error()); m != nil && fs.Lookup(m[1]) != nil {
			return usageError{fmt.Sprintf("-%s needs a valid value (value not shown); see \"%s -h\"", m[1], cmd)}
		}
	}
	return usageError{fmt.Sprintf("unknown or malformed flag (not shown, in case it is a secret); see \"%s -h\"", cmd)}
}

// action runs a parsed command against a client and an enterprise.
type action func(ctx context.Context, c *auditlog.Client, ent auditlog.Enterprise) error

// parse reads a command's flags and arguments. -h prints the command's
// usage to stdout and returns errHelp.
func (e *env) parse(cmd command, args []string) (action, error) {
	fs := flag.NewFlagSet(cmd.name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var vf vendorFlags
	if cmd.vendor {
		vf.define(fs, cmd.enabledFlag)
	}
	var positional []string // the ID may come before the flags or after
	if cmd.id && len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		positional, args = []string{args[0]}, args[1:]
	}
	if err := fs.Parse(args); errors.Is(err, flag.ErrHelp) {
		fmt.Fprintf(e.stdout, "usage: streams [global flags] %s %s\n\n%s.\n", cmd.name, cmd.args, cmd.summary)
		if cmd.vendor {
			fmt.Fprint(e.stdout, "\nflags:\n")
			fs.SetOutput(e.stdout)
			fs.PrintDefaults()
			fmt.Fprintln(e.stdout)
			vendorTable(e.stdout)
		}
		return nil, errHelp
	} else if err != nil {
		return nil, flagError(fs, "streams "+cmd.name, err)
	}
	positional = append(positional, fs.Args()...)
	want := 0
	if cmd.id {
		want = 1
	}
	switch {
	case len(positional) > want:
		return nil, usageError{fmt.Sprintf("unexpected argument (not shown: secrets come from the environment or stdin, never from arguments); see \"streams %s -h\"", cmd.name)}
	case len(positional) < want:
		return nil, usageError{fmt.Sprintf("%s needs the stream ID first; see \"streams %s -h\"", cmd.name, cmd.name)}
	}
	var id int64
	if cmd.id {
		var err error
		if id, err = strconv.ParseInt(positional[0], 10, 64); err != nil || id < 1 {
			return nil, usageError{"the stream ID must be a positive integer (argument not shown)"}
		}
	}
	return func(ctx context.Context, c *auditlog.Client, ent auditlog.Enterprise) error {
		var v auditlog.Vendor
		if cmd.vendor {
			var err error
			if v, err = e.vendor(&vf); err != nil {
				return err
			}
		}
		var s *auditlog.Stream
		var err error
		switch cmd.name {
		case "list":
			ss, err := c.ListStreams(ctx, ent)
			if err != nil {
				return err
			}
			printStreams(e.stdout, ss...)
			return nil
		case "get":
			s, err = c.GetStream(ctx, ent, id)
		case "create":
			s, err = c.CreateStream(ctx, ent, auditlog.StreamConfig{Enabled: vf.enabled, Vendor: v})
		case "update":
			s, err = c.UpdateStream(ctx, ent, id, auditlog.StreamConfig{Enabled: vf.enabled, Vendor: v})
		case "pause":
			s, err = c.PauseStream(ctx, ent, id, v)
		case "resume":
			s, err = c.ResumeStream(ctx, ent, id, v)
		case "delete":
			if err := c.DeleteStream(ctx, ent, id); err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "deleted stream %d\n", id)
			return nil
		case "demo":
			return e.demo(ctx, c, ent)
		}
		if err != nil {
			return err
		}
		printStreams(e.stdout, *s)
		return nil
	}, nil
}

// vendorFlags are the settings of every vendor; -vendor picks which apply.
type vendorFlags struct {
	vendor, domain, path, site, container, name, bucket, region, roleARN string
	port                                                                 int
	sslVerify, enabled                                                   bool
}

func (vf *vendorFlags) define(fs *flag.FlagSet, enabledFlag string) {
	fs.StringVar(&vf.vendor, "vendor", "", "splunk, hec, datadog, azure-blob, azure-event-hubs, s3-oidc, s3-keys or gcs")
	fs.StringVar(&vf.domain, "domain", "", "splunk, hec: host name")
	fs.IntVar(&vf.port, "port", 443, "splunk, hec: port")
	fs.StringVar(&vf.path, "path", "", "hec: path of the collector endpoint")
	fs.BoolVar(&vf.sslVerify, "ssl-verify", true, "splunk, hec: verify the server's TLS certificate")
	fs.StringVar(&vf.site, "site", "US", "datadog: site (US, US3, US5, EU1, US1-FED, AP1)")
	fs.StringVar(&vf.container, "container", "", "azure-blob: container name")
	fs.StringVar(&vf.name, "name", "", "azure-event-hubs: instance name")
	fs.StringVar(&vf.bucket, "bucket", "", "s3-oidc, s3-keys, gcs: bucket")
	fs.StringVar(&vf.region, "region", "", "s3-oidc, s3-keys: region")
	fs.StringVar(&vf.roleARN, "role-arn", "", "s3-oidc: ARN of the IAM role GitHub assumes")
	vf.enabled = true
	switch enabledFlag {
	case "disabled":
		fs.BoolFunc("disabled", "create the stream paused", func(string) error { vf.enabled = false; return nil })
	case "enabled":
		fs.BoolVar(&vf.enabled, "enabled", true, "whether the stream runs after the update")
	}
}

// vendor builds the vendor -vendor names, reading its secrets.
func (e *env) vendor(vf *vendorFlags) (auditlog.Vendor, error) {
	var err error
	secret := func(envVar, what string) auditlog.Secret {
		if err != nil {
			return auditlog.Secret{}
		}
		var s string
		s, err = e.secret(envVar, what)
		return auditlog.NewSecret(s)
	}
	var v auditlog.Vendor
	switch vf.vendor {
	case "splunk":
		v = auditlog.Splunk{Domain: vf.domain, Port: vf.port, SSLVerify: vf.sslVerify, Token: secret("SPLUNK_TOKEN", "Splunk HEC token")}
	case "hec":
		v = auditlog.HTTPSEventCollector{Domain: vf.domain, Port: vf.port, Path: vf.path, SSLVerify: vf.sslVerify, Token: secret("HEC_TOKEN", "HTTPS Event Collector token")}
	case "datadog":
		v = auditlog.Datadog{Site: auditlog.DatadogSite(vf.site), Token: secret("DATADOG_API_KEY", "Datadog API key")}
	case "azure-blob":
		v = auditlog.AzureBlobStorage{Container: vf.container, SASURL: secret("AZURE_SAS_URL", "Azure Blob Storage SAS URL")}
	case "azure-event-hubs":
		v = auditlog.AzureEventHubs{Name: vf.name, ConnectionString: secret("AZURE_EVENT_HUBS_CONNECTION_STRING", "Azure Event Hubs connection string")}
	case "s3-oidc":
		v = auditlog.AmazonS3OIDC{Bucket: vf.bucket, Region: vf.region, RoleARN: vf.roleARN}
	case "s3-keys":
		v = auditlog.AmazonS3AccessKeys{Bucket: vf.bucket, Region: vf.region,
			AccessKeyID: secret("AWS_ACCESS_KEY_ID", "AWS access key ID"), SecretAccessKey: secret("AWS_SECRET_ACCESS_KEY", "AWS secret access key")}
	case "gcs":
		v = auditlog.GoogleCloudStorage{Bucket: vf.bucket, JSONCredentials: secret("GCS_JSON_CREDENTIALS", "Google Cloud service account JSON key")}
	case "":
		return nil, usageError{"-vendor is required (splunk, hec, datadog, azure-blob, azure-event-hubs, s3-oidc, s3-keys or gcs)"}
	default:
		return nil, usageError{"-vendor is not one of splunk, hec, datadog, azure-blob, azure-event-hubs, s3-oidc, s3-keys, gcs (value not shown)"}
	}
	return v, err
}

// secret reads a secret from envVar or, when it is unset, from stdin: typed
// without echo on a terminal, else one line of piped input. It is never
// printed.
func (e *env) secret(envVar, what string) (string, error) {
	if s := e.getenv(envVar); s != "" {
		return s, nil
	}
	if f, ok := e.stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		fmt.Fprintf(e.stderr, "%s (%s is not set; input is not echoed): ", what, envVar)
		b, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(e.stderr)
		if err != nil {
			return "", fmt.Errorf("reading %s: %w", envVar, err)
		}
		if len(b) == 0 {
			return "", fmt.Errorf("%s: empty input", envVar)
		}
		return string(b), nil
	}
	if e.stdin != nil {
		if e.lines == nil {
			e.lines = bufio.NewReader(e.stdin)
		}
		line, err := e.lines.ReadString('\n')
		line = strings.TrimRight(line, "\r\n")
		if line != "" && (err == nil || errors.Is(err, io.EOF)) {
			return line, nil
		}
	}
	return "", usageError{fmt.Sprintf("%s is not set and no %s was given on stdin", envVar, what)}
}

// clean escapes what a terminal would act on in text from the server (or an
// error quoting it): control characters, line and paragraph separators and
// invisible format characters such as bidirectional overrides.
func clean(s string) string {
	var b strings.Builder
	for _, r := range s {
		if unicode.IsPrint(r) || r == ' ' {
			b.WriteRune(r)
		} else {
			fmt.Fprintf(&b, "\\u%04X", r)
		}
	}
	return b.String()
}

func printStreams(w io.Writer, ss ...auditlog.Stream) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tTYPE\tDETAILS\tENABLED\tCREATED\tUPDATED\tPAUSED")
	for _, s := range ss {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%v\t%s\t%s\t%s\n", s.ID, clean(string(s.StreamType)), clean(s.StreamDetails), s.Enabled,
			stamp(s.CreatedAt), stamp(s.UpdatedAt), stamp(s.PausedAt))
	}
	tw.Flush()
}

func stamp(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}

// demo walks through a stream's life in one process, with made-up secrets
// that the fake really unseals.
func (e *env) demo(ctx context.Context, c *auditlog.Client, ent auditlog.Enterprise) error {
	step := func(title string) { fmt.Fprintf(e.stdout, "\n$ streams %s\n", title) }
	show := func(s *auditlog.Stream, err error) (*auditlog.Stream, error) {
		if err == nil {
			printStreams(e.stdout, *s)
		}
		return s, err
	}
	splunk := auditlog.Splunk{Domain: "http-inputs-acme.splunkcloud.com", Port: 443, Token: auditlog.NewSecret("demo-hec-token-1"), SSLVerify: true}

	step("create -vendor splunk -domain http-inputs-acme.splunkcloud.com -port 443   # SPLUNK_TOKEN from the environment")
	s, err := show(c.CreateStream(ctx, ent, auditlog.StreamConfig{Enabled: true, Vendor: splunk}))
	if err != nil {
		return err
	}
	step("create -vendor datadog -site EU1   # DATADOG_API_KEY from the environment")
	dd := auditlog.Datadog{Site: auditlog.DatadogEU1, Token: auditlog.NewSecret("demo-datadog-key")}
	if _, err := show(c.CreateStream(ctx, ent, auditlog.StreamConfig{Enabled: true, Vendor: dd})); err != nil {
		return err
	}
	step("list")
	ss, err := c.ListStreams(ctx, ent)
	if err != nil {
		return err
	}
	printStreams(e.stdout, ss...)

	splunk.Token = auditlog.NewSecret("demo-hec-token-2")
	step(fmt.Sprintf("update %d -vendor splunk -domain http-inputs-acme.splunkcloud.com -port 443   # a new SPLUNK_TOKEN: rotation", s.ID))
	if s, err = show(c.UpdateStream(ctx, ent, s.ID, auditlog.StreamConfig{Enabled: true, Vendor: splunk})); err != nil {
		return err
	}
	step(fmt.Sprintf("pause %d -vendor splunk ...", s.ID))
	if s, err = show(c.PauseStream(ctx, ent, s.ID, splunk)); err != nil {
		return err
	}
	step(fmt.Sprintf("resume %d -vendor splunk ...", s.ID))
	if s, err = show(c.ResumeStream(ctx, ent, s.ID, splunk)); err != nil {
		return err
	}
	step(fmt.Sprintf("delete %d", s.ID))
	if err := c.DeleteStream(ctx, ent, s.ID); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "deleted stream %d\n", s.ID)
	step("list")
	if ss, err = c.ListStreams(ctx, ent); err != nil {
		return err
	}
	printStreams(e.stdout, ss...)
	return nil
}
