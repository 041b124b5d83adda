#!/usr/bin/env bash
# Benchmarks: pure builders (no cluster), then reconciles on a local control
# plane that this script starts (and stops, unless it was already running).
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
bash scripts/prereqs.sh
cargo bench --locked -p wardops --bench build
# The connector gateway: latency and throughput through it ÷ direct, and its RSS.
cargo bench --locked -p wardops --bench gateway
# wardops backup ÷ plain restic backup of the same tree (restic and versitygw from
# tests/backup/build.sh; size in WARDOPS_BENCH_BACKUP_MIB).
backup_bin=$(bash tests/backup/build.sh | tail -n 1)
WARDOPS_RESTIC="$backup_bin/restic" WARDOPS_S3_SERVER="$backup_bin/versitygw" \
  cargo bench --locked -p wardops --bench backup
was_up=0
[[ -f .testenv/pids/kube-apiserver.pid ]] && kill -0 "$(cat .testenv/pids/kube-apiserver.pid)" 2>/dev/null && was_up=1
bash tests/controlplane/up.sh
[[ $was_up == 1 ]] || trap 'bash tests/controlplane/down.sh' EXIT
cargo build --locked -p wardops --bin wardops
cargo build --locked --release -p wardops --bin wardops
# shellcheck disable=SC1091
source .testenv/env
kubectl apply --server-side -f crds/ >/dev/null
kubectl wait --for=condition=Established --timeout=60s -f crds/ >/dev/null
cargo bench --locked -p wardops-tests --bench reconcile
# Caches, requests and memory at a city's scale; set WARDOPS_BENCH_BASELINE to another
# wardops binary (e.g. a release build of 0.1.0) to measure it in the same run.
cargo bench --locked -p wardops-tests --bench caches
