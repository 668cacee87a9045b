package main

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// -redis and GHAUDIT_REDIS_URL put the export's budget in Redis. A Redis
// that does not answer (nothing listens on port 1) shows it: the export
// says so, paces on its share of the budget and still finishes.
func TestRedisJoinsAFleet(t *testing.T) {
	const url = "redis://127.0.0.1:1/0"
	for name, tc := range map[string]struct {
		args []string
		env  string
	}{
		"flag": {args: []string{"-redis", url}},
		"env":  {env: url},
	} {
		t.Run(name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "events.ndjson")
			var stdout, stderr bytes.Buffer
			args := append([]string{"-demo-events", "200", "-include", "all", "-out", out, "-progress", "none", "-v"}, tc.args...)
			code := run(args, func(k string) string {
				if k == "GHAUDIT_REDIS_URL" {
					return tc.env
				}
				return ""
			}, &stdout, &stderr)
			require.Equal(t, exitOK, code, stderr.String())
			assert.Contains(t, stderr.String(), "redisbudget: Redis unavailable")
			assert.Equal(t, 200, bytes.Count(mustRead(t, out), []byte("\n")))
		})
	}
}

func TestRedisURLErrorHidesThePassword(t *testing.T) {
	for _, bad := range []string{"redis://user:hunter2-pw@host:notaport", "http://user:hunter2-pw@host", "redis://user:hunter2-pw@host/not-a-db"} {
		var stdout, stderr bytes.Buffer
		code := run([]string{"-demo-events", "0", "-redis", bad}, func(string) string { return "" }, &stdout, &stderr)
		assert.Equal(t, exitUsage, code, bad)
		assert.Contains(t, stderr.String(), "-redis", bad)
		assert.NotContains(t, stderr.String(), "hunter2-pw", bad)
	}
}

func TestFleetKeyIsPerTokenAndHost(t *testing.T) {
	const tok = "ghp_abcdefghijklmnopqrstuvwxyz0123456789"
	k := fleetKey("", tok)
	assert.Equal(t, k, fleetKey("https://api.github.com", tok), "the default host")
	assert.NotEqual(t, k, fleetKey("", tok+"x"), "another token")
	assert.NotEqual(t, k, fleetKey("https://api.octocorp.ghe.com", tok), "another host")
	assert.True(t, strings.HasPrefix(k, "ghaudit:api.github.com:"), k)
	assert.NotContains(t, k, tok[4:12])
}
