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

# Caches, requests, memory and reaction at a city's scale, against a raw baseline
# (the rendered children created by a plain parallel client) in the same run; set
# WARDOPS_BENCH_BASELINE to another wardops binary (e.g. a release build of 0.1.0)
# to measure it too. On a control plane of its own (state .testenv-bench, other
# ports; the bench stops, purges and starts it again before each phase, so that
# no phase runs on what an earlier one left: WARDOPS_BENCH_FRESH=0 keeps one;
# WARDOPS_BENCH_PAIRS=3 measures the convergence ratio three times, raw then
# wardops, and reports the median), sized for WARDOPS_BENCH_WARDS (default 1,000; 16,000 for a country,
# where WARDOPS_BENCH_RAW=0 skips the raw baseline to report the absolute time):
# a /16 service range, a general node per 400 pods (500 pods each) and an
# isolated one per 4,000 wards. The controller-manager's client limits are raised
# from 20/30 to 200/400 requests/s: at the defaults it, not the operator or the
# baseline, sets the pace of creating a ReplicaSet and a pod per ward. etcd may
# hold 8 GiB instead of 2: a country's run converges 16,000 wards twice. The
# controller-manager syncs each HorizontalPodAutoscaler every 5 minutes instead
# of 15 s: with no metrics server every sync fails, and in a country's run
# those failing syncs were the most frequent requests (a get of the scale and a
# list of pod metrics, 4,700 each in 5 minutes, against the operator's 1,374
# status patches).
wards=${WARDOPS_BENCH_WARDS:-1000}
bench_env=(
  WARDOPS_TESTENV_DIR="$repo/.testenv-bench"
  WARDOPS_TESTENV_APISERVER_PORT=17443 WARDOPS_TESTENV_ETCD_PORT=24790
  WARDOPS_TESTENV_ETCD_PEER_PORT=24800 WARDOPS_TESTENV_KCM_PORT=21257
  WARDOPS_TESTENV_SCHEDULER_PORT=21259 WARDOPS_TESTENV_KWOK_PORT=21247
  WARDOPS_TESTENV_SERVICE_CIDR=10.96.0.0/16
  WARDOPS_TESTENV_NODES=$((wards * 12 / 10 / 400 + 2))
  WARDOPS_TESTENV_ISOLATED_NODES=$((wards / 4000 + 1))
  WARDOPS_TESTENV_MAX_PODS=500
  WARDOPS_TESTENV_KCM_QPS=200 WARDOPS_TESTENV_KCM_BURST=400
  WARDOPS_TESTENV_ETCD_QUOTA_BYTES=$((8 * 1024 * 1024 * 1024))
  WARDOPS_TESTENV_HPA_SYNC_PERIOD=5m
)
env "${bench_env[@]}" bash tests/controlplane/down.sh --purge >/dev/null 2>&1 || true
env "${bench_env[@]}" bash tests/controlplane/up.sh
trap 'env "${bench_env[@]}" bash tests/controlplane/down.sh --purge; [[ $was_up == 1 ]] || bash tests/controlplane/down.sh' EXIT
(
  # shellcheck disable=SC1091
  source .testenv-bench/env
  kubectl apply --server-side -f crds/ >/dev/null
  kubectl wait --for=condition=Established --timeout=60s -f crds/ >/dev/null
  env "${bench_env[@]}" WARDOPS_BENCH_WARDS="$wards" cargo bench --locked -p wardops-tests --bench caches
)
