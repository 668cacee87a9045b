package bench

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/ghaudit/auditlog/bench/internal/fakeproc"
)

// fakeEnv, when set in the environment, makes the test binary serve the
// fake (the JSON of a fakeproc.Config) instead of running tests: the
// benchmarks start the out-of-process fake by running themselves.
const fakeEnv = "GHAUDIT_BENCH_FAKESERVER"

var benchEvents = flag.Int("bench-events", envInt("BENCH_EVENTS", 20_000),
	"events walked by BenchmarkWalkMemory (1000000 for the full-size figure; env BENCH_EVENTS)")

func envInt(name string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(name)); err == nil && n > 0 {
		return n
	}
	return def
}

func TestMain(m *testing.M) {
	if cfg := os.Getenv(fakeEnv); cfg != "" {
		var c fakeproc.Config
		if err := json.Unmarshal([]byte(cfg), &c); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		if err := fakeproc.Serve(c, os.Stdin, os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	code := m.Run()
	stopFakes()
	os.Exit(code)
}

var (
	fakesMu sync.Mutex
	fakes   = map[fakeproc.Config]*fakeproc.Process{}
)

// outOfProcessFake returns a fake serving cfg in a child process, started on
// first use and shared by every benchmark run of the process (generating a
// million events takes over a minute).
func outOfProcessFake(tb testing.TB, cfg fakeproc.Config) *fakeproc.Process {
	tb.Helper()
	fakesMu.Lock()
	defer fakesMu.Unlock()
	if p, ok := fakes[cfg]; ok {
		return p
	}
	js, _ := json.Marshal(cfg)
	start := time.Now()
	p, err := fakeproc.Start(os.Args[0], []string{"-test.run=^$"}, []string{fakeEnv + "=" + string(js)})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Logf("fake with %d events in a child process, ready in %v", cfg.Events, time.Since(start).Round(time.Millisecond))
	fakes[cfg] = p
	return p
}

func stopFakes() {
	fakesMu.Lock()
	defer fakesMu.Unlock()
	for cfg, p := range fakes {
		p.Stop()
		delete(fakes, cfg)
	}
}
