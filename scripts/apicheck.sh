#!/usr/bin/env bash
# apicheck: compare the exported API of each library module with the API
# recorded at each release under api/, and fail when an incompatible change
# is not named in CHANGELOG.md.
#
#   scripts/apicheck.sh               check (what CI runs)
#   scripts/apicheck.sh -record vX.Y.Z record the current API as release vX.Y.Z
#
# api/<module>/<version>.export is apidiff's export data of the module at
# that release. For each one, every incompatible change between it and the
# working tree must be named in a section of CHANGELOG.md above that
# release's heading ("## [Unreleased]" or a later release): the changed
# identifier in backticks, as apidiff names it without pointer syntax
# (`Client.Follow` for (*Client).Follow, `auditlogtest.Server.Events` for a
# subpackage), or the type it belongs to (`Splunk` covers Splunk.Format).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

APIDIFF_VERSION=v0.0.0-20261113113407-e3970619a1a4 # golang.org/x/exp; pinned with the export data format it writes
export PATH="$PATH:$(go env GOPATH)/bin"
if ! command -v apidiff >/dev/null || ! go version -m "$(command -v apidiff)" | grep -q "$APIDIFF_VERSION"; then
  go install "golang.org/x/exp/cmd/apidiff@$APIDIFF_VERSION"
fi

# The library modules: directory and module path. examples/ and bench/ are
# programs and benchmarks, with no API to keep.
modules=(".:github.com/ghaudit/auditlog" "redisbudget:github.com/ghaudit/auditlog/redisbudget")

name_of() { # the api/ directory of a module directory
  if [ "$1" = . ]; then echo auditlog; else basename "$1"; fi
}

if [ "${1:-}" = -record ]; then
  version=${2:?usage: apicheck.sh -record vX.Y.Z}
  for m in "${modules[@]}"; do
    dir=${m%%:*} path=${m#*:}
    mkdir -p "api/$(name_of "$dir")"
    (cd "$dir" && GOWORK=off apidiff -m -w "$root/api/$(name_of "$dir")/$version.export" "$path")
    echo "recorded api/$(name_of "$dir")/$version.export"
  done
  exit 0
fi

# newer_than V prints the changelog text above the heading of release V.
newer_than() {
  awk -v v="${1#v}" '$0 ~ "^## \\[" v "\\]" { exit } { print }' CHANGELOG.md
}

status=0
for m in "${modules[@]}"; do
  dir=${m%%:*} path=${m#*:}
  for base in api/"$(name_of "$dir")"/*.export; do
    [ -e "$base" ] || continue
    version=$(basename "$base" .export)
    if ! grep -q "^## \[${version#v}\]" CHANGELOG.md; then
      echo "apicheck: CHANGELOG.md has no section for $version, whose API is recorded in $base"
      status=1
      continue
    fi
    text=$(newer_than "$version")
    if ! report=$(cd "$dir" && GOWORK=off apidiff -m -incompatible "$root/$base" "$path" 2>"$root/.apidiff.err"); then
      echo "apicheck: apidiff failed on $path against $base:"; cat "$root/.apidiff.err"; rm -f "$root/.apidiff.err"
      status=1
      continue
    fi
    rm -f "$root/.apidiff.err"
    changes=$(sed -n 's/^- //p' <<<"$report")
    missing=""
    while IFS= read -r line; do
      [ -n "$line" ] || continue
      id=${line%%: *}
      id=${id#./}                          # ./auditlogtest.X: a subpackage
      id=$(printf '%s' "$id" | sed -E 's/\(\*?([A-Za-z0-9_]+)\)/\1/g') # (*Client).Follow -> Client.Follow
      parent=${id%.*}
      named=0
      grep -qF -- "\`$id\`" <<<"$text" && named=1
      if [ $named = 0 ] && [ "$parent" != "$id" ] && [[ $parent == *[A-Z]* ]]; then
        grep -qF -- "\`$parent\`" <<<"$text" && named=1
      fi
      [ $named = 1 ] || missing+="  $line"$'\n'
    done <<<"$changes"
    if [ -n "$missing" ]; then
      echo "apicheck: $path has incompatible changes since $version that CHANGELOG.md does not name"
      echo "(add a line under ## [Unreleased] naming each, in backticks, with its migration):"
      printf '%s' "$missing"
      status=1
    else
      echo "apicheck: $path since $version: $(grep -c . <<<"$changes" || true) incompatible changes, each named in CHANGELOG.md"
    fi
  done
done
exit $status
