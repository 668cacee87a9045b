package main

import (
	"bytes"
	"context"
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
		{[]string{"-enterprise", "acme", "create", "-vendor", "ftp"}, `-vendor "ftp"`},
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
