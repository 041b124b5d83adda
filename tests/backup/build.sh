#!/usr/bin/env bash
# Builds the pinned backup test tools from the Go module proxy into a cache
# outside the repository, keyed by version: restic (the backup program the
# `wardops backup|restore|forget` subcommands drive) and versitygw (a real
# S3-compatible server, posix backend, that the tests start on 127.0.0.1).
# Skips whatever is already built. Prints the bin directory on its last line.
set -euo pipefail
RESTIC_VERSION=${RESTIC_VERSION:-v0.18.1}
VERSITYGW_VERSION=${VERSITYGW_VERSION:-v1.8.0}
cache=${WARDOPS_TESTENV_CACHE:-$HOME/.cache/wardops-testenv}
bin="$cache/bin-restic-$RESTIC_VERSION-versitygw-$VERSITYGW_VERSION"
mkdir -p "$bin" "$cache/src"
export CGO_ENABLED=0 GOFLAGS=-buildvcs=false
log() { printf '[build] %s\n' "$*" >&2; }

# A fresh wrapper module per component, so that replace lines stay local.
wrapper() {
  local dir="$cache/src/$1"
  rm -rf "$dir"; mkdir -p "$dir"
  (cd "$dir" && go mod init "wardops.local/testenv/$1" >/dev/null 2>&1)
  echo "$dir"
}

build_restic() {
  [[ -x "$bin/restic" ]] && { log "restic $RESTIC_VERSION: cached"; return; }
  log "restic $RESTIC_VERSION: building"
  local dir; dir=$(wrapper restic); cd "$dir"
  go get "github.com/restic/restic/cmd/restic@$RESTIC_VERSION"
  nice -n 10 go build -trimpath -ldflags "-s -w" -o "$bin/restic.tmp" github.com/restic/restic/cmd/restic
  mv "$bin/restic.tmp" "$bin/restic"
}

build_versitygw() {
  [[ -x "$bin/versitygw" ]] && { log "versitygw $VERSITYGW_VERSION: cached"; return; }
  log "versitygw $VERSITYGW_VERSION: building"
  local dir; dir=$(wrapper versitygw); cd "$dir"
  go get "github.com/versity/versitygw/cmd/versitygw@$VERSITYGW_VERSION"
  nice -n 10 go build -trimpath -ldflags "-s -w" -o "$bin/versitygw.tmp" github.com/versity/versitygw/cmd/versitygw
  mv "$bin/versitygw.tmp" "$bin/versitygw"
}

only=${1:-all}
case "$only" in
  all) build_restic; build_versitygw ;;
  restic|versitygw) "build_$only" ;;
  *) echo "usage: $0 [all|restic|versitygw]" >&2; exit 2 ;;
esac
echo "$bin"
