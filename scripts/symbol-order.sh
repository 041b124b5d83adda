#!/usr/bin/env bash
# Regenerates operator/symbol-order.txt: the functions `wardops run` executes,
# hottest first, which operator/build.rs hands to the linker so that the
# release binary keeps them together (lld --symbol-ordering-file).
#
# Why: a process's code is mapped from its file, and on each page fault Linux
# maps the neighbouring pages already in the page cache too (fault-around,
# 64 KiB). Code that runs, scattered among code that never does (the CLI,
# render, the gateway, backups, error paths), keeps most of the binary
# resident. Packed together, the code that runs takes fewer pages.
#
# How: the release build, linked with its symbol table, runs twice under
# valgrind's callgrind against the local control plane. First over a
# namespace with no WardService (unrelated Secrets and ConfigMaps only):
# start, caches synced, /metrics and probes, idle; every
# function that ran is listed first, so that an operator with nothing to
# reconcile keeps only those pages resident. Then through what an operator
# does in a city: the samples applied and reconciled, a generated set of
# WardServices of every shape, spec edits, a credential rotation, an
# on-demand sync, a refused classification, deletions, /metrics and probes,
# leader election and a graceful stop; every function it executed that the
# first run did not follows. Each part is ordered by instructions executed,
# most first.
#
# Not part of `make test`: run it when the operator's code changed much, and
# whenever a dependency, its version or its features change: a symbol's name
# carries a hash of its crate's build, which mixes in every dependency's, so
# then nearly every name changes (`make symbol-order`, with `make run`'s
# operator stopped: this one would compete with it), and commit the file. A
# stale list costs only packing: names no longer in the binary are skipped
# by the linker. The samples stay
# applied, as `make run` leaves them; the namespace of the generated
# WardServices is deleted.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
log() { printf '[symbol-order] %s\n' "$*" >&2; }

bash scripts/prereqs.sh valgrind:valgrind
bash tests/controlplane/up.sh
# shellcheck disable=SC1091
source .testenv/env

work=$(mktemp -d)
# The build: the release profile, linked with its symbols and without an
# order (operator/build.rs); the next release build links the image's again.
log "release build with symbols"
WARDOPS_SYMBOL_ORDER=profile cargo build --release --locked -p wardops --bin wardops
binary=$work/wardops
cp "${CARGO_TARGET_DIR:-target}/release/wardops" "$binary"
ns_extra=symbol-order
ns_empty=symbol-order-empty
cleanup() {
  [[ -n ${op_pid:-} ]] && kill -TERM "$op_pid" 2>/dev/null && wait "$op_pid" 2>/dev/null
  kubectl delete namespace --ignore-not-found --wait=false "$ns_extra" "$ns_empty" >/dev/null 2>&1 || true
  kubectl delete lease -n default --ignore-not-found wardops-symbol-order >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
mport=18480 hport=18481
wait_for() { # seconds, command...
  local deadline=$((SECONDS + $1)); shift
  until "$@" >/dev/null 2>&1; do
    ((SECONDS < deadline)) || { log "timed out: $*"; tail -20 "$work/operator.log" >&2; exit 1; }
    sleep 2
  done
}
# The operator under callgrind, in the background (op_pid); its profile is
# written to $work/$1.out when it stops. The rest are `wardops run`'s flags.
run_profiled() {
  local profile=$1; shift
  valgrind --tool=callgrind --demangle=no --compress-strings=no --dump-instr=no \
    --callgrind-out-file="$work/$profile.out" \
    "$binary" run --metrics-addr "127.0.0.1:$mport" --health-addr "127.0.0.1:$hport" \
    --log-format json --log-level info "$@" >"$work/operator.log" 2>&1 &
  op_pid=$!
}
# A graceful stop of the operator under callgrind.
stop_profiled() {
  kill -TERM "$op_pid"
  wait "$op_pid" || true
  op_pid=""
}

kubectl apply --server-side -f crds/ >/dev/null
kubectl wait --for=condition=Established --timeout=60s -f crds/ >/dev/null
kubectl apply --server-side -f deploy/samples/ >/dev/null
kubectl create namespace "$ns_extra" --dry-run=client -o yaml | kubectl apply -f - >/dev/null
kubectl label namespace "$ns_extra" --overwrite wardops.io/classification=confidential >/dev/null
# The generated WardServices' database Secret, with the given password.
db_secret() {
  kubectl create secret generic extra-db -n "$ns_extra" --from-literal=password="$1" \
    --dry-run=client -o yaml | kubectl apply -f - >/dev/null
}
db_secret order-only
# WardServices of every shape the bench's city has: with and without storage,
# autoscaled, classified (on the isolated pool), with a Secret env var.
for i in $(seq 0 11); do
  extra=""
  ((i % 2 == 0)) && extra+=$'\n  storage:\n    size: 1Gi'
  ((i % 4 == 0)) && extra+=$'\n    reclaimPolicy: Retain'
  ((i % 5 == 0)) && extra+=$'\n  autoscaling:\n    minReplicas: 1\n    maxReplicas: 3'
  class=internal; ((i % 10 == 3)) && class=confidential
  kubectl apply --server-side -f - >/dev/null <<YAML
apiVersion: wardops.io/v1alpha1
kind: WardService
metadata:
  name: ward-$i
  namespace: $ns_extra
  labels: {symbol-order: ward}
spec:
  ward: {code: "$((30000 + i))", name: "Xã Thử Nghiệm $i", tier: commune}
  classification: $class
  image: registry.example.gov.vn/records:1.$i
  port: 8080
  config: {TIEU_DE: "Dịch vụ $i"}
  secretEnv:
    - name: DB_PASSWORD
      secretKeyRef: {name: extra-db, key: password}$extra
YAML
done

# An operator with nothing to reconcile: a namespace of unrelated Secrets
# and ConfigMaps only, more than a cache hands on at once (256) and more
# than an HTTP/2 stream's window (64 KiB), as in a city. It stops before its
# graceful stop would run. Without leader election, as one replica measured
# alone (`make bench`): its controllers subscribe at once and take the first
# listing's changes as they come.
python3 - "$ns_empty" >"$work/unrelated.yaml" <<'PY'
import sys
value = "x" * 2048
for i in range(300):
    for kind, field in (("Secret", "stringData"), ("ConfigMap", "data")):
        print(f"---\napiVersion: v1\nkind: {kind}\nmetadata: {{name: unrelated-{i}, namespace: {sys.argv[1]}}}")
        print(f"{field}: {{key: {value}}}")
PY
kubectl create namespace "$ns_empty" --dry-run=client -o yaml | kubectl apply -f - >/dev/null
kubectl apply --server-side -f "$work/unrelated.yaml" >/dev/null
log "wardops run under callgrind with nothing to reconcile (about a minute)"
run_profiled empty --watch-namespaces="$ns_empty" --leader-election=false
wait_for 600 curl -fsS "http://127.0.0.1:$hport/readyz"
wait_for 120 curl -fsS "http://127.0.0.1:$hport/healthz"
sleep 20
curl -fsS "http://127.0.0.1:$mport/metrics" >/dev/null
callgrind_control --dump "$op_pid" >/dev/null 2>&1
stop_profiled

log "wardops run under callgrind over the city (slow: minutes)"
run_profiled city --leader-election=true --lease-namespace=default --lease-name=wardops-symbol-order
wait_for 900 curl -fsS "http://127.0.0.1:$hport/readyz"
log "ready; waiting for the WardServices"
wait_for 900 kubectl wait --for=condition=Ready --timeout=5s wardservice --all -A
# A WardService above its namespace's classification: refused, an Event.
kubectl apply --server-side -f - >/dev/null <<YAML
apiVersion: wardops.io/v1alpha1
kind: WardService
metadata: {name: too-secret, namespace: $ns_extra}
spec:
  ward: {code: "39999", name: "Xã Mật", tier: commune}
  classification: secret
  image: registry.example.gov.vn/records:1.0
YAML
curl -fsS "http://127.0.0.1:$mport/metrics" >/dev/null
curl -fsS "http://127.0.0.1:$hport/healthz" >/dev/null

log "edits, a rotation, an on-demand sync, a refused classification, deletions"
kubectl patch wardservice ward-1 -n "$ns_extra" --type merge -p '{"spec":{"replicas":3,"config":{"TIEU_DE":"Đã sửa"}}}' >/dev/null
kubectl patch wardservice ward-2 -n "$ns_extra" --type merge -p '{"spec":{"image":"registry.example.gov.vn/records:2.0"}}' >/dev/null
db_secret order-rotated
for dc in $(kubectl get dataconnector -A -o jsonpath='{range .items[*]}{.metadata.namespace}/{.metadata.name}{"\n"}{end}'); do
  kubectl annotate dataconnector -n "${dc%/*}" "${dc#*/}" --overwrite wardops.io/sync-now=symbol-order >/dev/null
done
kubectl label wardservice ward-4 -n "$ns_extra" --overwrite wardops.io/backup=nightly >/dev/null
kubectl delete secret extra-db -n "$ns_extra" >/dev/null
sleep 20
db_secret order-back
kubectl delete wardservice ward-5 ward-6 too-secret -n "$ns_extra" --wait=false >/dev/null
wait_for 600 kubectl wait --for=condition=Ready --timeout=5s wardservice -l symbol-order=ward -n "$ns_extra"
kubectl delete deployment ward-7 -n "$ns_extra" --wait=false >/dev/null
sleep 30
curl -fsS "http://127.0.0.1:$mport/metrics" >/dev/null
wait_for 600 kubectl wait --for=condition=Ready --timeout=5s wardservice -l symbol-order=ward -n "$ns_extra"

log "graceful stop"
stop_profiled

# Every function of the binary callgrind saw run: those of the run with
# nothing to reconcile (its dump before the stop), then the city's; each
# part most instructions first (callgrind_annotate's exclusive counts). Names
# not in the binary's own symbol table (libc, the vDSO) are dropped.
nm --defined-only "$binary" | awk '$2 ~ /^[tTwW]$/ {print $3}' | sort -u >"$work/symbols"
callgrind_annotate --inclusive=no --threshold=100 "$work/empty.out.1" >"$work/ranked-empty"
callgrind_annotate --inclusive=no --threshold=100 "$work/city.out" >"$work/ranked-city"
python3 - "$work/symbols" "$work/ranked-empty" "$work/ranked-city" >operator/symbol-order.txt <<'PY'
import re, sys
known = set(open(sys.argv[1]).read().split())
seen = set()
for ranked in sys.argv[2:]:
    for line in open(ranked):
        # "  15,458 ( 1.04%)  file:function [object]"
        m = re.match(r"\s*[\d,]+ \(\s*[\d.]+%\)\s+(\S+)", line)
        name = m and m.group(1).rsplit(":", 1)[-1]
        if name in known and name not in seen:
            seen.add(name)
            print(name)
    print(f"[symbol-order] {len(seen)} functions after {ranked}", file=sys.stderr)
PY
log "operator/symbol-order.txt: $(wc -l <operator/symbol-order.txt) functions of $(wc -l <"$work/symbols")"
