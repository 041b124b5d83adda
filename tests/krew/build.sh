#!/usr/bin/env bash
# Builds krew and its manifest validator from the Go module proxy into a cache
# outside the repository, keyed by version: the tests install the kubectl
# plugin from its release archive with the real `kubectl krew install`.
# Skips whatever is already built. Prints the bin directory on its last line.
set -euo pipefail
KREW_VERSION=${KREW_VERSION:-v0.4.3}
cache=${WARDOPS_TESTENV_CACHE:-$HOME/.cache/wardops-testenv}
bin="$cache/bin-krew-$KREW_VERSION"
mkdir -p "$bin" "$cache/src"
export CGO_ENABLED=0 GOFLAGS=-buildvcs=false
log() { printf '[build] %s\n' "$*" >&2; }
# One build at a time (tests and scripts/dist.sh may call this together).
exec 9>"$cache/.krew-build.lock"
flock 9

if [[ -x "$bin/kubectl-krew" && -x "$bin/validate-krew-manifest" ]]; then
  log "krew $KREW_VERSION: cached"
else
  log "krew $KREW_VERSION: building"
  dir="$cache/src/krew"
  rm -rf "$dir"; mkdir -p "$dir"; cd "$dir"
  go mod init wardops.local/testenv/krew >/dev/null 2>&1
  go get "sigs.k8s.io/krew/cmd/krew@$KREW_VERSION" "sigs.k8s.io/krew/cmd/validate-krew-manifest@$KREW_VERSION"
  nice -n 10 go build -trimpath -ldflags "-s -w" -o "$bin/kubectl-krew.tmp" sigs.k8s.io/krew/cmd/krew
  nice -n 10 go build -trimpath -ldflags "-s -w" -o "$bin/validate-krew-manifest" sigs.k8s.io/krew/cmd/validate-krew-manifest
  mv "$bin/kubectl-krew.tmp" "$bin/kubectl-krew"
fi
echo "$bin"
