#!/usr/bin/env bash
# The whole test suite: lint, then unit and integration tests against a real
# local control plane that this script starts and stops. `make test` runs it;
# so does CI (.ci/run).
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
log() { printf '\n[test] %s\n' "$*" >&2; }

bash scripts/prereqs.sh
# CI builds once from a clean clone: incremental state would only take disk
# (it was the larger half of target/ there).
if [[ ${CI:-} == true ]]; then export CARGO_INCREMENTAL=0; fi

# Start the control plane first (it builds the Go binaries once, cached under
# ~/.cache/wardops-testenv), and stop it whatever happens.
started_here=0
cleanup() {
  local rc=$?
  if [[ $started_here == 1 && -z ${WARDOPS_KEEP_TESTENV:-} ]]; then
    log "stopping the control plane"
    bash tests/controlplane/down.sh || true
  fi
  exit "$rc"
}
trap cleanup EXIT
log "starting the local control plane"
bash tests/controlplane/up.sh
started_here=1

log "cargo fmt --check"
cargo fmt --all -- --check
log "cargo clippy --all-targets -- -D warnings"
cargo clippy --workspace --all-targets --locked -- -D warnings
log "building wardops"
cargo build --workspace --locked --bins
log "restic and the S3 server for the backup tests (built once, cached)"
backup_bin=$(bash tests/backup/build.sh | tail -1)
export WARDOPS_RESTIC="$backup_bin/restic" WARDOPS_S3_SERVER="$backup_bin/versitygw"
log "unit and integration tests"
# shellcheck disable=SC1091
source .testenv/env
log_file=$(mktemp)
# The tests' temporary files (certificates, kubeconfigs, backup trees) go
# under target/, removed when they end, not left in /tmp.
test_tmp=$repo/target/test-tmp
rm -rf "$test_tmp" && mkdir -p "$test_tmp"
set +e
TMPDIR=$test_tmp cargo test --workspace --locked --no-fail-fast 2>&1 | tee "$log_file"
rc=${PIPESTATUS[0]}
set -e
rm -rf "$test_tmp"
# One summary line over every test binary (cargo prints one per binary).
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($i ~ /^passed;?$/) p += $(i-1); if ($i ~ /^failed;?$/) f += $(i-1) } }
     END { printf "\nwardops: %d passed, %d failed\n", p, f }' "$log_file"
rm -f "$log_file"
exit "$rc"
