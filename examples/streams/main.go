// Command streams administers an enterprise's audit-log streams: list, get,
// create, update, pause, resume and delete, with a table on stdout.
//
//	export GITHUB_TOKEN=...            # admin:enterprise
//	export SPLUNK_TOKEN=...            # or typed at the prompt, never echoed
//	go run ./examples/streams -enterprise avocado-corp create -vendor splunk -domain http-inputs-acme.splunkcloud.com -port 443
//
// Secrets never come from flags: each vendor reads them from environment
// variables, or from stdin (without echo on a terminal) when the variable is
// unset. Without GITHUB_TOKEN the commands run against an in-process fake
// GitHub whose streams last only as long as the process; "streams demo" runs
// create, list, update, pause, resume and delete in one go.
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
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/ghaudit/auditlog"
	"github.com/ghaudit/auditlog/auditlogtest"
	"golang.org/x/term"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Getenv, os.Stdin, os.Stdout, os.Stderr))
}

const usage = `usage: streams [-enterprise SLUG] [-api-url URL] COMMAND [ARGS]

commands:
  list                        list the streams
  get ID                      show one stream
  create -vendor V [flags]    create a stream (-disabled to create it paused)
  update ID -vendor V [flags] replace a stream's whole configuration, secrets included
  pause ID -vendor V [flags]  pause a stream (GitHub needs the full settings again)
  resume ID -vendor V [flags] resume a stream
  delete ID                   delete a stream
  demo                        against the embedded fake: create, list, update, pause, resume, delete

vendors and their settings (secrets from the environment variable named, else stdin):
  splunk          -domain -port [-ssl-verify]         SPLUNK_TOKEN
  hec             -domain -port -path [-ssl-verify]   HEC_TOKEN
  datadog         -site                               DATADOG_API_KEY
  azure-blob      -container                          AZURE_SAS_URL
  azure-event-hubs -name                              AZURE_EVENT_HUBS_CONNECTION_STRING
  s3-oidc         -bucket -region -role-arn           (none)
  s3-keys         -bucket -region                     AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY
  gcs             -bucket                             GCS_JSON_CREDENTIALS

The token comes from GITHUB_TOKEN (admin:enterprise); without it every command
runs against an in-process fake GitHub.
`

// env is what the commands read from outside: variables, stdin and output.
type env struct {
	getenv func(string) string
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
	lines  *bufio.Reader // stdin when it is not a terminal
}

func run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) int {
	e := &env{getenv: getenv, stdin: stdin, stdout: stdout, stderr: stderr}
	fs := flag.NewFlagSet("streams", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, usage, "\nglobal flags:\n"); fs.PrintDefaults() }
	enterprise := fs.String("enterprise", "", "enterprise slug or ID (required with GITHUB_TOKEN)")
	apiURL := fs.String("api-url", "", "REST API root (default $GITHUB_API_URL, else https://api.github.com)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return 2
	}
	cmd, rest := fs.Arg(0), fs.Args()[1:]

	token := getenv("GITHUB_TOKEN")
	baseURL := *apiURL
	if baseURL == "" {
		baseURL = getenv("GITHUB_API_URL")
	}
	if token == "" || cmd == "demo" {
		srv := auditlogtest.NewServer()
		defer srv.Close()
		token, baseURL = srv.Token(), srv.URL()
		if *enterprise == "" {
			*enterprise = srv.Enterprise()
		}
		if cmd != "demo" {
			fmt.Fprintln(stderr, "streams: GITHUB_TOKEN is not set: using an in-process fake GitHub; its streams last only for this command (try \"streams demo\")")
		} else {
			fmt.Fprintln(stderr, "streams: demo against an in-process fake GitHub")
		}
	}
	if *enterprise == "" {
		fmt.Fprintln(stderr, "streams: -enterprise is required (the enterprise slug or ID)")
		return 2
	}
	opts := []auditlog.Option{auditlog.WithToken(token), auditlog.WithUserAgent("ghaudit-streams/" + auditlog.Version)}
	if baseURL != "" {
		opts = append(opts, auditlog.WithBaseURL(baseURL))
	}
	c, err := auditlog.NewClient(opts...)
	if err != nil {
		fmt.Fprintln(stderr, "streams:", err)
		return 2
	}
	if err := e.dispatch(ctx, c, *enterprise, cmd, rest); err != nil {
		fmt.Fprintf(stderr, "streams %s: %v\n", cmd, err)
		var input *auditlog.InputError
		if errors.As(err, &usageError{}) || errors.As(err, &input) {
			return 2
		}
		return 1
	}
	return 0
}

// usageError is a mistake in the command line.
type usageError struct{ msg string }

func (u usageError) Error() string { return u.msg }

func (e *env) dispatch(ctx context.Context, c *auditlog.Client, ent, cmd string, args []string) error {
	switch cmd {
	case "list":
		if len(args) > 0 {
			return usageError{"list takes no arguments"}
		}
		ss, err := c.ListStreams(ctx, ent)
		if err != nil {
			return err
		}
		return printStreams(e.stdout, ss...)
	case "get", "delete":
		if len(args) != 1 {
			return usageError{cmd + " takes one argument: the stream ID"}
		}
		id, err := parseID(args[0])
		if err != nil {
			return err
		}
		if cmd == "delete" {
			if err := c.DeleteStream(ctx, ent, id); err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "deleted stream %d\n", id)
			return nil
		}
		s, err := c.GetStream(ctx, ent, id)
		if err != nil {
			return err
		}
		return printStreams(e.stdout, *s)
	case "create":
		v, enabled, err := e.vendorFlags(cmd, args, true)
		if err != nil {
			return err
		}
		s, err := c.CreateStream(ctx, ent, auditlog.StreamConfig{Enabled: enabled, Vendor: v})
		if err != nil {
			return err
		}
		return printStreams(e.stdout, *s)
	case "update", "pause", "resume":
		if len(args) == 0 || strings.HasPrefix(args[0], "-") {
			return usageError{cmd + " needs the stream ID first, then -vendor and its settings"}
		}
		id, err := parseID(args[0])
		if err != nil {
			return err
		}
		v, enabled, err := e.vendorFlags(cmd, args[1:], cmd == "update")
		if err != nil {
			return err
		}
		var s *auditlog.Stream
		switch cmd {
		case "update":
			s, err = c.UpdateStream(ctx, ent, id, auditlog.StreamConfig{Enabled: enabled, Vendor: v})
		case "pause":
			s, err = c.PauseStream(ctx, ent, id, v)
		default:
			s, err = c.ResumeStream(ctx, ent, id, v)
		}
		if err != nil {
			return err
		}
		return printStreams(e.stdout, *s)
	case "demo":
		return e.demo(ctx, c, ent)
	default:
		return usageError{fmt.Sprintf("unknown command %q (list, get, create, update, pause, resume, delete, demo)", cmd)}
	}
}

func parseID(s string) (int64, error) {
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil || id < 1 {
		return 0, usageError{fmt.Sprintf("stream ID must be a positive integer, got %q", s)}
	}
	return id, nil
}

// vendorFlags parses -vendor and the settings of that vendor, and reads its
// secrets. withEnabled adds -disabled (create) or -enabled (update).
func (e *env) vendorFlags(cmd string, args []string, withEnabled bool) (auditlog.Vendor, bool, error) {
	fs := flag.NewFlagSet(cmd, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	vendor := fs.String("vendor", "", "splunk, hec, datadog, azure-blob, azure-event-hubs, s3-oidc, s3-keys or gcs")
	domain := fs.String("domain", "", "splunk, hec: host name")
	port := fs.Int("port", 443, "splunk, hec: port")
	path := fs.String("path", "", "hec: path of the collector endpoint")
	sslVerify := fs.Bool("ssl-verify", true, "splunk, hec: verify the server's TLS certificate")
	site := fs.String("site", "US", "datadog: site (US, US3, US5, EU1, US1-FED, AP1)")
	container := fs.String("container", "", "azure-blob: container name")
	name := fs.String("name", "", "azure-event-hubs: instance name")
	bucket := fs.String("bucket", "", "s3-oidc, s3-keys, gcs: bucket")
	region := fs.String("region", "", "s3-oidc, s3-keys: region")
	roleARN := fs.String("role-arn", "", "s3-oidc: ARN of the IAM role GitHub assumes")
	enabled := true
	if withEnabled {
		if cmd == "create" {
			fs.BoolFunc("disabled", "create the stream paused", func(string) error { enabled = false; return nil })
		} else {
			fs.BoolVar(&enabled, "enabled", true, "whether the stream runs after the update")
		}
	}
	if err := fs.Parse(args); err != nil {
		return nil, false, usageError{err.Error()}
	}
	if fs.NArg() > 0 {
		return nil, false, usageError{fmt.Sprintf("unexpected argument %q (secrets come from the environment or stdin, never from arguments)", fs.Arg(0))}
	}
	var v auditlog.Vendor
	var err error
	secret := func(envVar, what string) auditlog.Secret {
		if err != nil {
			return auditlog.Secret{}
		}
		var s string
		s, err = e.secret(envVar, what)
		return auditlog.NewSecret(s)
	}
	switch *vendor {
	case "splunk":
		v = auditlog.Splunk{Domain: *domain, Port: *port, SSLVerify: *sslVerify, Token: secret("SPLUNK_TOKEN", "Splunk HEC token")}
	case "hec":
		v = auditlog.HTTPSEventCollector{Domain: *domain, Port: *port, Path: *path, SSLVerify: *sslVerify, Token: secret("HEC_TOKEN", "HTTPS Event Collector token")}
	case "datadog":
		v = auditlog.Datadog{Site: auditlog.DatadogSite(*site), Token: secret("DATADOG_API_KEY", "Datadog API key")}
	case "azure-blob":
		v = auditlog.AzureBlobStorage{Container: *container, SASURL: secret("AZURE_SAS_URL", "Azure Blob Storage SAS URL")}
	case "azure-event-hubs":
		v = auditlog.AzureEventHubs{Name: *name, ConnectionString: secret("AZURE_EVENT_HUBS_CONNECTION_STRING", "Azure Event Hubs connection string")}
	case "s3-oidc":
		v = auditlog.AmazonS3OIDC{Bucket: *bucket, Region: *region, RoleARN: *roleARN}
	case "s3-keys":
		v = auditlog.AmazonS3AccessKeys{Bucket: *bucket, Region: *region,
			AccessKeyID: secret("AWS_ACCESS_KEY_ID", "AWS access key ID"), SecretAccessKey: secret("AWS_SECRET_ACCESS_KEY", "AWS secret access key")}
	case "gcs":
		v = auditlog.GoogleCloudStorage{Bucket: *bucket, JSONCredentials: secret("GCS_JSON_CREDENTIALS", "Google Cloud service account JSON key")}
	case "":
		return nil, false, usageError{"-vendor is required (splunk, hec, datadog, azure-blob, azure-event-hubs, s3-oidc, s3-keys or gcs)"}
	default:
		return nil, false, usageError{fmt.Sprintf("-vendor %q is not one of splunk, hec, datadog, azure-blob, azure-event-hubs, s3-oidc, s3-keys, gcs", *vendor)}
	}
	if err != nil {
		return nil, false, err
	}
	return v, enabled, nil
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

func printStreams(w io.Writer, ss ...auditlog.Stream) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tTYPE\tDETAILS\tENABLED\tCREATED\tUPDATED\tPAUSED")
	for _, s := range ss {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%v\t%s\t%s\t%s\n", s.ID, s.StreamType, s.StreamDetails, s.Enabled,
			stamp(s.CreatedAt), stamp(s.UpdatedAt), stamp(s.PausedAt))
	}
	return tw.Flush()
}

func stamp(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}

// demo walks through a stream's life in one process, with made-up secrets
// that the fake really unseals.
func (e *env) demo(ctx context.Context, c *auditlog.Client, ent string) error {
	step := func(title string) { fmt.Fprintf(e.stdout, "\n$ streams %s\n", title) }
	splunk := auditlog.Splunk{Domain: "http-inputs-acme.splunkcloud.com", Port: 443, Token: auditlog.NewSecret("demo-hec-token-1"), SSLVerify: true}

	step("create -vendor splunk -domain http-inputs-acme.splunkcloud.com -port 443   # SPLUNK_TOKEN from the environment")
	s, err := c.CreateStream(ctx, ent, auditlog.StreamConfig{Enabled: true, Vendor: splunk})
	if err != nil {
		return err
	}
	if err := printStreams(e.stdout, *s); err != nil {
		return err
	}
	dd := auditlog.Datadog{Site: auditlog.DatadogEU1, Token: auditlog.NewSecret("demo-datadog-key")}
	step("create -vendor datadog -site EU1   # DATADOG_API_KEY from the environment")
	if _, err := c.CreateStream(ctx, ent, auditlog.StreamConfig{Enabled: true, Vendor: dd}); err != nil {
		return err
	}

	step("list")
	ss, err := c.ListStreams(ctx, ent)
	if err != nil {
		return err
	}
	if err := printStreams(e.stdout, ss...); err != nil {
		return err
	}

	splunk.Token = auditlog.NewSecret("demo-hec-token-2")
	step(fmt.Sprintf("update %d -vendor splunk -domain http-inputs-acme.splunkcloud.com -port 443   # a new SPLUNK_TOKEN: rotation", s.ID))
	if s, err = c.UpdateStream(ctx, ent, s.ID, auditlog.StreamConfig{Enabled: true, Vendor: splunk}); err != nil {
		return err
	}
	if err := printStreams(e.stdout, *s); err != nil {
		return err
	}

	step(fmt.Sprintf("pause %d -vendor splunk ...", s.ID))
	if s, err = c.PauseStream(ctx, ent, s.ID, splunk); err != nil {
		return err
	}
	if err := printStreams(e.stdout, *s); err != nil {
		return err
	}
	step(fmt.Sprintf("resume %d -vendor splunk ...", s.ID))
	if s, err = c.ResumeStream(ctx, ent, s.ID, splunk); err != nil {
		return err
	}
	if err := printStreams(e.stdout, *s); err != nil {
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
	return printStreams(e.stdout, ss...)
}
