#!/usr/bin/env bash
# apicheck_selftest: shows, on a scratch copy of the repository, that
# scripts/apicheck.sh fails when an exported identifier is renamed without a
# changelog line, and passes once CHANGELOG.md names it. CI runs it.
set -euo pipefail
cd "$(dirname "$0")/.."

scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
git ls-files -z | xargs -0 cp --parents -t "$scratch"
cd "$scratch"

bash scripts/apicheck.sh >/dev/null || { echo "selftest: apicheck fails on the unchanged copy"; exit 1; }

# Rename an exported option in the SDK's own (non-test) sources.
grep -l 'WithUserAgent' -- *.go | grep -v '_test.go$' | xargs sed -i 's/\bWithUserAgent\b/WithAgent/g'
go build ./... # the renamed SDK still builds

if out=$(bash scripts/apicheck.sh 2>&1); then
  echo "selftest: apicheck passed although WithUserAgent was removed without a changelog line"; exit 1
fi
grep -q 'WithUserAgent: removed' <<<"$out" || { echo "selftest: apicheck failed without naming WithUserAgent:"; echo "$out"; exit 1; }

# Name it under Unreleased: now it passes.
awk '{ print } /^## \[Unreleased\]/ { print ""; print "- `WithUserAgent` is renamed `WithAgent`: rename the call." }' CHANGELOG.md >CHANGELOG.new
mv CHANGELOG.new CHANGELOG.md
bash scripts/apicheck.sh >/dev/null || { echo "selftest: apicheck still fails after the changelog names the change"; exit 1; }
echo "selftest: an unnamed rename fails apicheck; a named one passes"
