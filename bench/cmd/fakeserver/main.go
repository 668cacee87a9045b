// Command fakeserver runs auditlogtest with generated events in its own
// process, prints {"url","token","enterprise"} as one JSON line on stdout,
// and serves until stdin is closed. The memory benchmark starts the same
// server from its own test binary; this command is for poking at it by hand:
//
//	go run ./cmd/fakeserver -events 1000000 </dev/tty
package main

import (
	"flag"
	"log"
	"os"
	"time"

	"github.com/ghaudit/auditlog/bench/internal/fakeproc"
)

func main() {
	var cfg fakeproc.Config
	flag.IntVar(&cfg.Events, "events", 1_000_000, "generated events")
	flag.Int64Var(&cfg.Seed, "seed", 1, "generator seed")
	flag.IntVar(&cfg.Limit, "limit", 1<<30, "audit_log requests per window")
	flag.DurationVar(&cfg.Window, "window", time.Hour, "rate-limit window")
	flag.Parse()
	if err := fakeproc.Serve(cfg, os.Stdin, os.Stdout); err != nil {
		log.Fatal(err)
	}
}
