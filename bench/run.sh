#!/usr/bin/env bash
# Reproduces every figure in BENCHMARKS.md: the benchmarks at -count 10,
# the million-event walk once, benchstat over both, and the machine they
# ran on. Results go to bench/results/. Takes about 15 minutes on 2 cores,
# most of it the budget runs (real time) and generating a million events.
set -euo pipefail
cd "$(dirname "$0")"
export PATH="$PATH:$(go env GOPATH)/bin"
command -v benchstat >/dev/null || go install golang.org/x/perf/cmd/benchstat@latest

out=results
mkdir -p "$out"
{
  go version
  grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //'
  echo "$(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo)"
} | tee "$out/machine.txt"

# Everything but the tail, 10 runs each (WalkMemory at its default 20,000 events).
go test -run '^$' -bench . -skip Follow -benchmem -count 10 -timeout 60m . | tee "$out/bench.txt"
# The published peak heap: a walk of 1,000,000 events, once per SDK.
go test -run '^$' -bench WalkMemory -benchmem -benchtime 1x -count 1 -timeout 60m . \
  -bench-events=1000000 | tee "$out/mem1m.txt"

# The tail at volume: 20 fake minutes at one per two wall-clock seconds, three times.
go test -run '^$' -bench Follow -benchtime 1x -count 3 -follow-scale 30 -timeout 30m . | tee "$out/follow.txt"

benchstat "$out/bench.txt" | tee "$out/benchstat.txt"
# Side by side, with go-github as the baseline of each comparison.
benchstat -col /sdk@'(go-github auditlog)' -filter '-.name:Budget' "$out/bench.txt" | tee "$out/benchstat-vs.txt"
