package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/ghaudit/auditlog"
	"github.com/ghaudit/auditlog/auditlogtest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// cli runs the command in-process with the given environment.
func cli(t *testing.T, vars map[string]string, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(context.Background(), args, func(k string) string { return vars[k] }, strings.NewReader(stdin), &out, &errb)
	return code, out.String(), errb.String()
}

func TestDemoRunsTheWholeLifecycle(t *testing.T) {
	code, out, errOut := cli(t, nil, "", "demo")
	require.Equal(t, 0, code, errOut)
	assert.Contains(t, errOut, "in-process fake GitHub")
	for _, want := range []string{"$ streams create", "$ streams list", "$ streams update 1", "$ streams pause 1", "$ streams resume 1", "$ streams delete 1", "deleted stream 1", "ID  TYPE"} {
		assert.Contains(t, out, want)
	}
	assert.NotContains(t, out+errOut, "demo-hec-token", "secrets are never printed")
	// Every create shows its row, the Datadog one too.
	dd := out[strings.Index(out, "$ streams create -vendor datadog"):strings.Index(out, "$ streams list")]
	assert.Regexp(t, `\n2\s+Datadog\s+EU1\s+true`, dd)
	// After the delete only the Datadog stream is left.
	last := out[strings.LastIndex(out, "$ streams list"):]
	assert.Contains(t, last, "Datadog")
	assert.NotContains(t, last, "Splunk")
}

func TestCommandsAgainstAServer(t *testing.T) {
	srv := auditlogtest.NewServer(auditlogtest.WithRateLimit(auditlog.ResourceAuditLogStreaming, 100, time.Hour))
	defer srv.Close()
	vars := map[string]string{"GITHUB_TOKEN": srv.Token(), "GITHUB_API_URL": srv.URL(), "SPLUNK_TOKEN": "hec-secret-1"}
	ent := []string{"-enterprise", srv.Enterprise()}

	code, out, errOut := cli(t, vars, "", append(ent, "create", "-vendor", "splunk", "-domain", "http-inputs-acme.splunkcloud.com", "-port", "8088")...)
	require.Equal(t, 0, code, errOut)
	assert.Contains(t, out, "Splunk")
	assert.Equal(t, "hec-secret-1", srv.StreamSecrets(1)["encrypted_token"], "the fake unsealed the secret from the environment")

	// A secret piped on stdin when the variable is unset.
	code, _, errOut = cli(t, vars, "dd-key-from-stdin\n", append(ent, "create", "-vendor", "datadog", "-site", "EU1", "-disabled")...)
	require.Equal(t, 0, code, errOut)
	assert.Equal(t, "dd-key-from-stdin", srv.StreamSecrets(2)["encrypted_token"])

	code, out, errOut = cli(t, vars, "", append(ent, "list")...)
	require.Equal(t, 0, code, errOut)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	require.Len(t, lines, 3, out)
	assert.Regexp(t, `^ID\s+TYPE\s+DETAILS\s+ENABLED`, lines[0])
	assert.Regexp(t, `^1\s+Splunk\s+http-inputs-acme.splunkcloud.com\s+true`, lines[1])
	assert.Regexp(t, `^2\s+Datadog\s+EU1\s+false`, lines[2])

	vars["SPLUNK_TOKEN"] = "hec-secret-2"
	code, _, errOut = cli(t, vars, "", append(ent, "update", "1", "-vendor", "splunk", "-domain", "http-inputs-acme.splunkcloud.com", "-port", "443")...)
	require.Equal(t, 0, code, errOut)
	assert.Equal(t, "hec-secret-2", srv.StreamSecrets(1)["encrypted_token"])

	code, out, errOut = cli(t, vars, "", append(ent, "pause", "1", "-vendor", "splunk", "-domain", "http-inputs-acme.splunkcloud.com")...)
	require.Equal(t, 0, code, errOut)
	assert.Regexp(t, `\n1\s+Splunk\s+\S+\s+false`, out)

	code, out, errOut = cli(t, vars, "", append(ent, "get", "1")...)
	require.Equal(t, 0, code, errOut)
	assert.Contains(t, out, "false")

	code, out, errOut = cli(t, vars, "", append(ent, "delete", "1")...)
	require.Equal(t, 0, code, errOut)
	assert.Contains(t, out, "deleted stream 1")

	code, out, errOut = cli(t, vars, "", append(ent, "list")...)
	require.Equal(t, 0, code, errOut)
	assert.NotContains(t, out, "Splunk")

	code, _, errOut = cli(t, vars, "", append(ent, "get", "1")...)
	assert.Equal(t, 1, code)
	assert.Contains(t, errOut, "404 Not Found")
	assert.NotContains(t, errOut, srv.Token())
}

func TestErrorsNameTheFieldAndNeverTheSecret(t *testing.T) {
	vars := map[string]string{"GITHUB_TOKEN": "ghp_never_printed", "GITHUB_API_URL": "http://127.0.0.1:1", "HEC_TOKEN": "hec-never-printed"}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"list"}, "-enterprise is required"},
		{[]string{"-enterprise", "acme", "create"}, "-vendor is required"},
		{[]string{"-enterprise", "acme", "create", "-vendor", "ftp"}, "-vendor is not one of"},
		{[]string{"-enterprise", "acme", "create", "-vendor", "splunk", "-domain", "x.example.com"}, "SPLUNK_TOKEN is not set"},
		{[]string{"-enterprise", "acme", "create", "-vendor", "hec", "-domain", "x.example.com", "-port", "0", "-path", "/c"}, "Port"},
		{[]string{"-enterprise", "acme", "create", "-vendor", "splunk", "-domain", "x", "hunter2"}, "never from arguments"},
		{[]string{"-enterprise", "acme", "get", "abc"}, "positive integer"},
		{[]string{"-enterprise", "acme", "update", "-vendor", "splunk"}, "needs the stream ID first"},
		{[]string{"-enterprise", "acme", "frobnicate"}, "unknown command"},
	} {
		code, out, errOut := cli(t, vars, "", tc.args...)
		assert.Equal(t, 2, code, "%v: %s", tc.args, errOut)
		assert.Contains(t, errOut, tc.want, "%v", tc.args)
		assert.NotContains(t, out+errOut, "never-printed", "%v", tc.args)
		assert.NotContains(t, out+errOut, "never_printed", "%v", tc.args)
	}
}

// TestEveryCommandHelp: every command's -h (and "help COMMAND") prints that
// command's usage on stdout and exits 0, with no banner about the token
// before it, whether or not GITHUB_TOKEN is set.
func TestEveryCommandHelp(t *testing.T) {
	for _, vars := range []map[string]string{nil, {"GITHUB_TOKEN": "ghp_never_printed", "GITHUB_API_URL": "http://127.0.0.1:1"}} {
		for _, args := range [][]string{{"-h"}, {"--help"}, {"help"}} {
			code, out, errOut := cli(t, vars, "", args...)
			assert.Equal(t, 0, code, "%v", args)
			assert.Contains(t, out, "usage: streams [-enterprise SLUG]", "%v", args)
			assert.Empty(t, errOut, "%v", args)
		}
		for _, c := range commands {
			for _, args := range [][]string{{c.name, "-h"}, {c.name, "--help"}, {"help", c.name}, {"-enterprise", "acme", c.name, "-h"}} {
				code, out, errOut := cli(t, vars, "", args...)
				assert.Equal(t, 0, code, "%v: %s", args, errOut)
				assert.True(t, strings.HasPrefix(out, "usage: streams [global flags] "+c.name), "%v: %s", args, out)
				assert.Empty(t, errOut, "%v: no banner, no error", args)
				if c.vendor {
					assert.Contains(t, out, "-vendor string")
					assert.Contains(t, out, "azure-event-hubs  -name")
				}
			}
		}
		code, out, _ := cli(t, vars, "", "update", "7", "-h")
		assert.Equal(t, 0, code)
		assert.Contains(t, out, "usage: streams [global flags] update ID")
	}
}

// TestVendorTableIsAligned: every row of the vendor table starts its
// settings and secrets columns at the same place.
func TestVendorTableIsAligned(t *testing.T) {
	_, out, _ := cli(t, nil, "", "-h")
	table := out[strings.Index(out, "vendors and their settings"):]
	table = table[strings.Index(table, "\n")+1 : strings.Index(table, "\n\n")]
	rows := strings.Split(table, "\n")
	require.Len(t, rows, len(vendors))
	for i, row := range rows {
		v := vendors[i]
		assert.Equal(t, strings.Index(rows[0], vendors[0].settings), strings.Index(row, v.settings), row)
		assert.Equal(t, strings.Index(rows[0], vendors[0].secrets), strings.Index(row, v.secrets), row)
	}
}

// TestServerTextIsEscaped: what a hostile server sends (stream details, an
// error message) reaches the terminal with its control characters escaped.
func TestServerTextIsEscaped(t *testing.T) {
	const esc = "\x1b[2J\x1b[31mALERT: re-enter your token\u2028\x85forged"
	mux := http.NewServeMux()
	mux.HandleFunc("GET /enterprises/acme/audit-log/streams", func(w http.ResponseWriter, _ *http.Request) {
		b, _ := json.Marshal([]map[string]any{{"id": 1, "stream_type": "Splunk\x07", "stream_details": esc, "enabled": true}})
		w.Write(b)
	})
	mux.HandleFunc("GET /enterprises/acme/audit-log/streams/1", func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusNotFound)
		b, _ := json.Marshal(map[string]string{"message": esc})
		w.Write(b)
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	vars := map[string]string{"GITHUB_TOKEN": "ghp_never_printed", "GITHUB_API_URL": srv.URL}
	code, out, errOut := cli(t, vars, "", "-enterprise", "acme", "list")
	require.Equal(t, 0, code, errOut)
	code, _, errOut2 := cli(t, vars, "", "-enterprise", "acme", "get", "1")
	require.Equal(t, 1, code)
	for _, s := range []string{out, errOut + errOut2} {
		assert.NotContains(t, s, "\x1b")
		assert.NotContains(t, s, "\x07")
		assert.NotContains(t, s, "\u2028")
		assert.NotContains(t, s, "\x85")
	}
	assert.Contains(t, out, `\u001B[2J`)
	assert.Contains(t, out, `Splunk\u0007`)
	assert.Equal(t, 2, strings.Count(out, "\n"), "one header and one row: no forged lines")
}

// TestStrayArgumentsAreNeverEchoed: an argument a command does not expect
// may be a secret pasted in the wrong place; no message repeats it.
func TestStrayArgumentsAreNeverEchoed(t *testing.T) {
	vars := map[string]string{"GITHUB_TOKEN": "ghp_token", "GITHUB_API_URL": "http://127.0.0.1:1", "SPLUNK_TOKEN": "x"}
	const stray = "ghp_stray_secret"
	for _, args := range [][]string{
		{"-enterprise", "acme", stray},
		{"-enterprise", "acme", "list", stray},
		{"-enterprise", "acme", "get", stray},
		{"-enterprise", "acme", "get", "1", stray},
		{"-enterprise", "acme", "delete", "1", "--", stray},
		{"-enterprise", "acme", "create", "-vendor", "splunk", "-domain", "x.example", stray},
		{"-enterprise", "acme", "create", "-vendor", "splunk", "-port", stray},
		{"-enterprise", "acme", "create", "-vendor", "splunk", "-ssl-verify=" + stray},
		{"-enterprise", "acme", "create", "-vendor", stray},
		{"-enterprise", "acme", "create", "-token=" + stray},
		{"-enterprise", "acme", "create", "-" + stray},
		{"-enterprise", "acme", "update", "1", "-vendor", "splunk", stray},
		{"-" + stray, "list"},
		{"help", stray},
	} {
		code, out, errOut := cli(t, vars, "", args...)
		assert.Equal(t, 2, code, "%v: %s", args, errOut)
		assert.NotEmpty(t, errOut, "%v", args)
		assert.NotContains(t, out+errOut, stray, "%v", args)
		assert.NotContains(t, out+errOut, "stray_secret", "%v", args)
	}
}
