#!/usr/bin/env bash
# Runs every fuzz target of the SDK, one after another, for DURATION each
# (default 5m). New failing inputs land in testdata/fuzz/<Name>/; commit
# them with the fix. Usage: scripts/fuzz.sh [duration]   e.g. scripts/fuzz.sh 30s
set -euo pipefail
cd "$(dirname "$0")/.."
duration="${1:-5m}"
targets=$(go test -list '^Fuzz' . | grep '^Fuzz')
for t in $targets; do
  echo "== $t ($duration)"
  go test -run '^$' -fuzz "^${t}\$" -fuzztime "$duration" -parallel "${FUZZ_PARALLEL:-1}" .
done
