#!/usr/bin/env bash
# Starts a real local Kubernetes control plane for the integration tests, on
# 127.0.0.1 only: etcd, kube-apiserver, kube-controller-manager, kube-scheduler
# and kwok (fake nodes that make pods Running and Jobs complete).
#
#   tests/controlplane/up.sh            # build (cached) and start; idempotent
#   source "$REPO/.testenv/env"         # KUBECONFIG, WARDOPS_TESTENV_*, PATH
#   tests/controlplane/down.sh [--purge]
#
# Environment (all optional):
#   WARDOPS_TESTENV_DIR             state dir (default: <repo>/.testenv)
#   WARDOPS_TESTENV_ETCD_PORT       etcd client port       (default 23790)
#   WARDOPS_TESTENV_ETCD_PEER_PORT  etcd peer port         (default 23800)
#   WARDOPS_TESTENV_APISERVER_PORT  kube-apiserver         (default 16443)
#   WARDOPS_TESTENV_KCM_PORT        kube-controller-manager (default 20257)
#   WARDOPS_TESTENV_SCHEDULER_PORT  kube-scheduler         (default 20259)
#   WARDOPS_TESTENV_KWOK_PORT       kwok server            (default 20247)
#   WARDOPS_TESTENV_TIMEOUT         seconds to wait for each step (default 120)
#   Size and limits (tests/controlplane/README.md): WARDOPS_TESTENV_SERVICE_CIDR,
#   _POD_CIDR, _NODES, _ISOLATED_NODES, _MAX_PODS, _KCM_QPS, _KCM_BURST,
#   _MAX_REQUESTS_INFLIGHT, _MAX_MUTATING_REQUESTS_INFLIGHT, _ETCD_QUOTA_BYTES,
#   _HPA_SYNC_PERIOD
#   WARDOPS_TESTENV_PROFILING       true: kube-apiserver, the controller-manager
#                                   and the scheduler serve /debug/pprof (default false)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
state=${WARDOPS_TESTENV_DIR:-$repo/.testenv}
etcd_port=${WARDOPS_TESTENV_ETCD_PORT:-23790}
etcd_peer_port=${WARDOPS_TESTENV_ETCD_PEER_PORT:-23800}
api_port=${WARDOPS_TESTENV_APISERVER_PORT:-16443}
kcm_port=${WARDOPS_TESTENV_KCM_PORT:-20257}
sched_port=${WARDOPS_TESTENV_SCHEDULER_PORT:-20259}
kwok_port=${WARDOPS_TESTENV_KWOK_PORT:-20247}
timeout=${WARDOPS_TESTENV_TIMEOUT:-120}
host=127.0.0.1
# Sized for the test suite; a benchmark of a city sizes it up (README.md). Changing
# the service range or the nodes needs a fresh state: down.sh --purge first.
service_cidr=${WARDOPS_TESTENV_SERVICE_CIDR:-10.0.0.0/24}
pod_cidr=${WARDOPS_TESTENV_POD_CIDR:-10.244.0.0/16}
general_nodes=${WARDOPS_TESTENV_NODES:-2}
isolated_nodes=${WARDOPS_TESTENV_ISOLATED_NODES:-1}
max_pods=${WARDOPS_TESTENV_MAX_PODS:-110}
# Client and server limits, at Kubernetes' defaults; a benchmark of a city raises
# them (scripts/bench.sh says which and why).
kcm_qps=${WARDOPS_TESTENV_KCM_QPS:-20}
kcm_burst=${WARDOPS_TESTENV_KCM_BURST:-30}
max_inflight=${WARDOPS_TESTENV_MAX_REQUESTS_INFLIGHT:-400}
max_mutating=${WARDOPS_TESTENV_MAX_MUTATING_REQUESTS_INFLIGHT:-200}
# etcd's database size limit, at etcd's default (2 GiB); a country (16,000 wards,
# converged twice in one run) needs more.
etcd_quota=${WARDOPS_TESTENV_ETCD_QUOTA_BYTES:-2147483648}
# How often the controller-manager syncs each HorizontalPodAutoscaler, at
# Kubernetes' default (15s). With no metrics server here every sync fails (a
# get of the scale, a list of pod metrics answered 404, often a Warning Event);
# a benchmark of a country makes thousands of HPAs and lengthens it.
hpa_sync_period=${WARDOPS_TESTENV_HPA_SYNC_PERIOD:-15s}
# Go's profiler endpoints, off unless asked for (to see where a benchmark's
# control-plane CPU goes).
profiling=${WARDOPS_TESTENV_PROFILING:-false}

log() { printf '[up] %s\n' "$*" >&2; }
die() { printf '[up] ERROR: %s\n' "$*" >&2; exit 1; }
[[ $profiling == true || $profiling == false ]] || die "WARDOPS_TESTENV_PROFILING must be true or false, not '$profiling'"

# --- binaries -----------------------------------------------------------------
# build.sh has no lock of its own: serialise concurrent up.sh runs around it.
cache=${WARDOPS_TESTENV_CACHE:-$HOME/.cache/wardops-testenv}
mkdir -p "$cache"
bin=$(flock "$cache/.build.lock" "$here/build.sh" | tail -n 1)
for b in etcd kube-apiserver kube-controller-manager kube-scheduler kubectl kwok; do
  [[ -x $bin/$b ]] || die "missing binary $bin/$b (run $here/build.sh)"
done
command -v openssl >/dev/null || die "openssl is required"
command -v curl >/dev/null || die "curl is required"

mkdir -p "$state"
state=$(cd "$state" && pwd)
# One up.sh or down.sh at a time per state dir (tests running in parallel may
# all call up.sh: the first starts, the others wait, then find it running).
# The daemons do not inherit this descriptor (see start).
exec 9>>"$state/.lock"
flock -w 600 9 || die "another up.sh/down.sh holds $state/.lock"
pki=$state/pki
logs=$state/logs
pids=$state/pids
mkdir -p "$pki" "$logs" "$pids" "$state/etcd" "$state/kwok" "$state/kubeconfigs"
chmod 700 "$state" "$pki" "$state/etcd"
kubeconfig=$state/kubeconfig
audit_log=$logs/audit.log
kubectl=("$bin/kubectl" --kubeconfig "$kubeconfig")

# --- process helpers (shared with down.sh) ------------------------------------
# shellcheck source=lib.sh
source "$here/lib.sh"

port_in_use() { (exec 3<>"/dev/tcp/$host/$1") 2>/dev/null; }

# start NAME BINARY ARGS...: detached (own session), pid written by the process
# itself just before exec, output appended to logs/NAME.log.
start() {
  local name=$1; shift
  if testenv_alive "$pids" "$name"; then
    log "$name: already running (pid $(cat "$pids/$name.pid"))"
    return
  fi
  rm -f "$pids/$name.pid"
  printf '\n===== %s starting %s\n' "$(date -u +%FT%TZ)" "$name" >>"$logs/$name.log"
  # shellcheck disable=SC2016 # $$ and $@ expand in the child shell.
  # The child closes every inherited descriptor above 2 (a caller's pipe held
  # open by a daemon would make `up.sh | tee` wait for down.sh).
  setsid bash -c 'for fd in /proc/$$/fd/*; do fd=${fd##*/}; ((fd > 2)) && eval "exec $fd>&-" 2>/dev/null; done
    echo $$ >"$0.tmp" && mv "$0.tmp" "$0" && exec "$@"' "$pids/$name.pid" "$@" \
    </dev/null >>"$logs/$name.log" 2>&1 &
  local i
  for ((i = 0; i < 50; i++)); do
    [[ -s $pids/$name.pid ]] && break
    sleep 0.1
  done
  [[ -s $pids/$name.pid ]] || die "$name: did not start (see $logs/$name.log)"
  # The pid file is written just before the wrapper shell execs the binary:
  # wait for the exec, so later liveness checks see the binary, not the shell.
  for ((i = 0; i < 100; i++)); do
    testenv_alive "$pids" "$name" && break
    sleep 0.05
  done
  testenv_alive "$pids" "$name" || die "$name: exited at start (see $logs/$name.log)"
  log "$name: started (pid $(cat "$pids/$name.pid"), log $logs/$name.log)"
}

# wait_for WHAT NAME COMMAND...: retry COMMAND until it succeeds; fail early if
# the process NAME died, or after $timeout seconds.
wait_for() {
  local what=$1 name=$2; shift 2
  local deadline=$((SECONDS + timeout))
  until "$@" >/dev/null 2>&1; do
    if [[ -n $name ]] && ! testenv_alive "$pids" "$name"; then
      tail -n 30 "$logs/$name.log" >&2 || true
      die "$name exited while waiting for $what (log: $logs/$name.log)"
    fi
    if ((SECONDS >= deadline)); then
      [[ -n $name ]] && { tail -n 30 "$logs/$name.log" >&2 || true; }
      die "timed out after ${timeout}s waiting for $what; stop with $here/down.sh"
    fi
    sleep 0.5
  done
}

need_free_port() {
  local name=$1 port=$2
  testenv_alive "$pids" "$name" && return
  port_in_use "$port" && die "$name: port $host:$port is already in use by another process"
  return 0
}

# --- PKI ----------------------------------------------------------------------
# newkey NAME: RSA 2048, PKCS#8 PEM.
newkey() { openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$pki/$1.key" 2>/dev/null; chmod 600 "$pki/$1.key"; }

# cert NAME SUBJECT EXTFILE-CONTENT: certificate signed by the CA.
cert() {
  local name=$1 subj=$2 ext=$3
  [[ -s $pki/$name.crt && -s $pki/$name.key ]] && return
  newkey "$name"
  openssl req -new -key "$pki/$name.key" -subj "$subj" -out "$pki/$name.csr" 2>/dev/null
  printf '%s\n' "$ext" >"$pki/$name.ext"
  openssl x509 -req -in "$pki/$name.csr" -CA "$pki/ca.crt" -CAkey "$pki/ca.key" -CAcreateserial \
    -days 3650 -sha256 -extfile "$pki/$name.ext" -out "$pki/$name.crt" 2>/dev/null
  rm -f "$pki/$name.csr" "$pki/$name.ext"
}

make_pki() {
  if [[ ! -s $pki/ca.crt || ! -s $pki/ca.key ]]; then
    log "pki: creating a new CA in $pki"
    # A new CA invalidates every certificate signed by the old one.
    rm -f "$pki"/*.crt "$pki"/*.key "$pki"/*.srl
    newkey ca
    openssl req -x509 -new -key "$pki/ca.key" -subj "/CN=wardops-testenv-ca" -days 3650 -sha256 \
      -addext "basicConstraints=critical,CA:TRUE" \
      -addext "keyUsage=critical,keyCertSign,cRLSign,digitalSignature" \
      -out "$pki/ca.crt" 2>/dev/null
  fi
  local client="basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=clientAuth"
  cert apiserver "/CN=kube-apiserver" "basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local,IP:10.0.0.1"
  cert admin "/O=system:masters/CN=wardops-testenv-admin" "$client"
  cert controller-manager "/CN=system:kube-controller-manager" "$client"
  cert scheduler "/CN=system:kube-scheduler" "$client"
  # kwok writes node and pod status, node leases and deletes pods on any node:
  # it plays every kubelet, so it gets cluster-admin rather than a node identity.
  cert kwok "/O=system:masters/CN=kwok-controller" "$client"
  # Front proxy (aggregation layer): without it the controller-manager and the
  # scheduler log "missing content for CA bundle ...requestheader-client-ca-file"
  # every half minute, and aggregated APIs (e.g. metrics-server) cannot work.
  if [[ ! -s $pki/front-proxy-ca.crt || ! -s $pki/front-proxy-ca.key ]]; then
    rm -f "$pki/front-proxy-client.crt" "$pki/front-proxy-client.key"
    newkey front-proxy-ca
    openssl req -x509 -new -key "$pki/front-proxy-ca.key" -subj "/CN=wardops-testenv-front-proxy-ca" -days 3650 -sha256 \
      -addext "basicConstraints=critical,CA:TRUE" \
      -addext "keyUsage=critical,keyCertSign,cRLSign,digitalSignature" \
      -out "$pki/front-proxy-ca.crt" 2>/dev/null
  fi
  if [[ ! -s $pki/front-proxy-client.crt || ! -s $pki/front-proxy-client.key ]]; then
    newkey front-proxy-client
    openssl req -new -key "$pki/front-proxy-client.key" -subj "/CN=front-proxy-client" 2>/dev/null |
      openssl x509 -req -CA "$pki/front-proxy-ca.crt" -CAkey "$pki/front-proxy-ca.key" -CAcreateserial \
        -days 3650 -sha256 -extfile <(printf '%s\n' "$client") -out "$pki/front-proxy-client.crt" 2>/dev/null
  fi
  if [[ ! -s $pki/sa.key || ! -s $pki/sa.pub ]]; then
    newkey sa
    openssl pkey -in "$pki/sa.key" -pubout -out "$pki/sa.pub" 2>/dev/null
  fi
}

# --- kubeconfigs --------------------------------------------------------------
b64() { base64 -w0 <"$1"; }
write_kubeconfig() { # FILE USER CERTNAME
  local tmp=$1.tmp
  cat >"$tmp" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: wardops-testenv
  cluster:
    server: https://$host:$api_port
    certificate-authority-data: $(b64 "$pki/ca.crt")
users:
- name: $2
  user:
    client-certificate-data: $(b64 "$pki/$3.crt")
    client-key-data: $(b64 "$pki/$3.key")
contexts:
- name: wardops-testenv
  context:
    cluster: wardops-testenv
    user: $2
current-context: wardops-testenv
EOF
  chmod 600 "$tmp"
  mv "$tmp" "$1"
}

write_env() {
  local tmp=$state/env.tmp
  {
    echo "# Generated by tests/controlplane/up.sh. Source it: . $(printf '%q' "$state/env")"
    printf 'export KUBECONFIG=%q\n' "$kubeconfig"
    printf 'export WARDOPS_TESTENV_DIR=%q\n' "$state"
    printf 'export WARDOPS_TESTENV_BIN=%q\n' "$bin"
    printf 'export WARDOPS_TESTENV_APISERVER=%q\n' "https://$host:$api_port"
    printf 'export WARDOPS_TESTENV_AUDIT_LOG=%q\n' "$audit_log"
    # shellcheck disable=SC2016 # $PATH expands when the env file is sourced.
    printf 'case ":$PATH:" in *:%q:*) ;; *) export PATH=%q":$PATH" ;; esac\n' "$bin" "$bin"
  } >"$tmp"
  mv "$tmp" "$state/env"
}

readyz() {
  curl -fsS --max-time 5 --cacert "$pki/ca.crt" --cert "$pki/admin.crt" --key "$pki/admin.key" \
    "https://$host:$api_port/readyz"
}

report() {
  cat >&2 <<EOF
[up] control plane ready: https://$host:$api_port (state: $state)
[up]   export KUBECONFIG=$kubeconfig
[up]   or: source $state/env   (also puts kubectl and helm on PATH)
[up]   audit log: $audit_log
[up]   stop: $here/down.sh [--purge]
EOF
}

# --- already up? --------------------------------------------------------------
components=(etcd kube-apiserver kube-controller-manager kube-scheduler kwok)
all_alive=1
for c in "${components[@]}"; do testenv_alive "$pids" "$c" || all_alive=0; done
if [[ $all_alive == 1 && -s $kubeconfig ]] && readyz >/dev/null 2>&1; then
  write_env
  log "already running"
  report
  exit 0
fi

start_time=$SECONDS
make_pki
write_kubeconfig "$kubeconfig" wardops-testenv-admin admin
write_kubeconfig "$state/kubeconfigs/controller-manager" system:kube-controller-manager controller-manager
write_kubeconfig "$state/kubeconfigs/scheduler" system:kube-scheduler scheduler
write_kubeconfig "$state/kubeconfigs/kwok" kwok-controller kwok
write_env

# Audit: one event per request (RequestReceived omitted), Metadata level, which
# carries user, userAgent, verb and objectRef. Tests count the operator's writes
# by userAgent.
cat >"$state/audit-policy.yaml" <<EOF
apiVersion: audit.k8s.io/v1
kind: Policy
omitStages:
- RequestReceived
rules:
- level: Metadata
EOF

# --- etcd -----------------------------------------------------------------------
need_free_port etcd "$etcd_port"
need_free_port etcd "$etcd_peer_port"
start etcd "$bin/etcd" \
  --name wardops-testenv \
  --data-dir "$state/etcd" \
  --listen-client-urls "http://$host:$etcd_port" \
  --advertise-client-urls "http://$host:$etcd_port" \
  --listen-peer-urls "http://$host:$etcd_peer_port" \
  --initial-advertise-peer-urls "http://$host:$etcd_peer_port" \
  --initial-cluster "wardops-testenv=http://$host:$etcd_peer_port" \
  --unsafe-no-fsync \
  --quota-backend-bytes "$etcd_quota" \
  --log-level warn
etcd_health() { curl -fsS --max-time 3 "http://$host:$etcd_port/health" | grep -q '"health":"true"'; }
wait_for "etcd health" etcd etcd_health

# --- kube-apiserver -------------------------------------------------------------
# --endpoint-reconciler-type none: the apiserver would publish its advertise
# address, 127.0.0.1, as the endpoint of Service default/kubernetes, which
# Endpoints validation rejects (loopback), logging an error every 10 s. Nothing
# in this cluster runs for real, so that Service needs no endpoints.
# --audit-log-maxsize: in MB; 0 does not mean "never rotate" but the default,
# 100 MB, and a rotation mid-window made a benchmark of 1,000 wards read no
# request at all from its offset. A terabyte is never.
# --shutdown-send-retry-after: on TERM, stop 2 s after in-flight requests drain,
# instead of waiting up to --request-timeout (60 s) for open watches.
need_free_port kube-apiserver "$api_port"
start kube-apiserver "$bin/kube-apiserver" \
  --etcd-servers "http://$host:$etcd_port" \
  --bind-address "$host" \
  --advertise-address "$host" \
  --secure-port "$api_port" \
  --tls-cert-file "$pki/apiserver.crt" \
  --tls-private-key-file "$pki/apiserver.key" \
  --client-ca-file "$pki/ca.crt" \
  --authorization-mode Node,RBAC \
  --service-account-issuer https://kubernetes.default.svc.cluster.local \
  --service-account-key-file "$pki/sa.pub" \
  --service-account-signing-key-file "$pki/sa.key" \
  --service-cluster-ip-range "$service_cidr" \
  --endpoint-reconciler-type none \
  --requestheader-client-ca-file "$pki/front-proxy-ca.crt" \
  --requestheader-allowed-names front-proxy-client \
  --requestheader-username-headers X-Remote-User \
  --requestheader-group-headers X-Remote-Group \
  --requestheader-extra-headers-prefix X-Remote-Extra- \
  --proxy-client-cert-file "$pki/front-proxy-client.crt" \
  --proxy-client-key-file "$pki/front-proxy-client.key" \
  --allow-privileged=false \
  --audit-policy-file "$state/audit-policy.yaml" \
  --audit-log-path "$audit_log" \
  --audit-log-maxsize 1000000 \
  --shutdown-send-retry-after \
  --max-requests-inflight "$max_inflight" \
  --max-mutating-requests-inflight "$max_mutating" \
  --profiling="$profiling"
wait_for "kube-apiserver /readyz" kube-apiserver readyz

# --- controller-manager and scheduler ------------------------------------------
need_free_port kube-controller-manager "$kcm_port"
mkdir -p "$pki/kube-controller-manager-serving"
start kube-controller-manager "$bin/kube-controller-manager" \
  --kubeconfig "$state/kubeconfigs/controller-manager" \
  --authentication-kubeconfig "$state/kubeconfigs/controller-manager" \
  --authorization-kubeconfig "$state/kubeconfigs/controller-manager" \
  --bind-address "$host" \
  --secure-port "$kcm_port" \
  --cert-dir "$pki/kube-controller-manager-serving" \
  --leader-elect=false \
  --use-service-account-credentials \
  --service-account-private-key-file "$pki/sa.key" \
  --root-ca-file "$pki/ca.crt" \
  --cluster-signing-cert-file "$pki/ca.crt" \
  --cluster-signing-key-file "$pki/ca.key" \
  --service-cluster-ip-range "$service_cidr" \
  --controllers '*' \
  --enable-hostpath-provisioner \
  --kube-api-qps "$kcm_qps" \
  --kube-api-burst "$kcm_burst" \
  --horizontal-pod-autoscaler-sync-period "$hpa_sync_period" \
  --profiling="$profiling"

need_free_port kube-scheduler "$sched_port"
mkdir -p "$pki/kube-scheduler-serving"
start kube-scheduler "$bin/kube-scheduler" \
  --kubeconfig "$state/kubeconfigs/scheduler" \
  --authentication-kubeconfig "$state/kubeconfigs/scheduler" \
  --authorization-kubeconfig "$state/kubeconfigs/scheduler" \
  --bind-address "$host" \
  --secure-port "$sched_port" \
  --cert-dir "$pki/kube-scheduler-serving" \
  --leader-elect=false \
  --profiling="$profiling"

# --- kwok -----------------------------------------------------------------------
need_free_port kwok "$kwok_port"
nodes=()
for ((i = 0; i < general_nodes; i++)); do nodes+=("kwok-node-$i"); done
for ((i = 0; i < isolated_nodes; i++)); do nodes+=("kwok-isolated-$i"); done
if ! testenv_alive "$pids" kwok; then
  # kwok renews a node's lease only if it holds it, and a new kwok has a new
  # identity: it would wait for the previous one's leases to expire (40 s), with
  # pods left Pending meanwhile. No kwok is running, so these leases are stale.
  "${kubectl[@]}" -n kube-node-lease delete lease "${nodes[@]}" --ignore-not-found --wait=false >/dev/null
fi
# KWOK_WORKDIR keeps a developer's ~/.kwok/kwok.yaml out of the test cluster.
start kwok env KWOK_WORKDIR="$state/kwok" "$bin/kwok" \
  --kubeconfig "$state/kubeconfigs/kwok" \
  --config "$here/kwok.yaml" \
  --manage-nodes-with-annotation-selector kwok.x-k8s.io/node=fake \
  --server-address "$host:$kwok_port" \
  --cidr "$pod_cidr" \
  --node-lease-duration-seconds 40

kcm_healthz() { curl -fsSk --max-time 3 "https://$host:$kcm_port/healthz"; }
sched_healthz() { curl -fsSk --max-time 3 "https://$host:$sched_port/healthz"; }
kwok_healthz() { curl -fsS --max-time 3 "http://$host:$kwok_port/healthz"; }
wait_for "kube-controller-manager /healthz" kube-controller-manager kcm_healthz
wait_for "kube-scheduler /healthz" kube-scheduler sched_healthz
wait_for "kwok /healthz" kwok kwok_healthz

# --- fake nodes ---------------------------------------------------------------
# node NAME EXTRA-METADATA-LABEL-LINES SPEC-LINES: a Node manifest kwok manages.
node_manifest() {
  cat <<EOF
apiVersion: v1
kind: Node
metadata:
  name: $1
  annotations:
    kwok.x-k8s.io/node: fake
    node.alpha.kubernetes.io/ttl: "0"
  labels:
    type: kwok
    kubernetes.io/arch: amd64
    kubernetes.io/os: linux
    kubernetes.io/hostname: $1
$2
spec:
$3
status:
  allocatable: {cpu: "32", memory: 256Gi, pods: "$max_pods", ephemeral-storage: 1Ti}
  capacity: {cpu: "32", memory: 256Gi, pods: "$max_pods", ephemeral-storage: 1Ti}
EOF
}
mkdir -p "$state/nodes"
for n in "${nodes[@]}"; do
  case $n in
    kwok-isolated-*) node_manifest "$n" "    wardops.io/pool: isolated" "  taints:
  - {key: wardops.io/pool, value: isolated, effect: NoSchedule}" >"$state/nodes/$n.yaml" ;;
    *) node_manifest "$n" "" "  taints: []" >"$state/nodes/$n.yaml" ;;
  esac
done
# Create only, never update: status (allocatable) is taken on create and kwok owns it after.
for n in "${nodes[@]}"; do
  if ! "${kubectl[@]}" get node "$n" >/dev/null 2>&1; then
    "${kubectl[@]}" create -f "$state/nodes/$n.yaml" >/dev/null
  fi
done

# Ready, leased by this kwok, and the node controller has lifted its not-ready taint.
nodes_ready() {
  local out
  "${kubectl[@]}" -n kube-node-lease get lease "${nodes[@]}" >/dev/null || return 1
  out=$("${kubectl[@]}" get nodes "${nodes[@]}" -o \
    'jsonpath={range .items[*]}{.metadata.name}{" "}{.status.conditions[?(@.type=="Ready")].status}{" "}{.spec.taints[*].key}{"\n"}{end}') || return 1
  [[ $(grep -c ' True' <<<"$out") == "${#nodes[@]}" ]] || return 1
  ! grep -q 'node.kubernetes.io/not-ready\|node.kubernetes.io/unreachable' <<<"$out"
}
wait_for "nodes Ready" kwok nodes_ready
# Storage: the in-tree hostPath provisioner of the controller-manager (test use
# only) behind a default StorageClass, so that PVCs bind and pods that mount them
# can be scheduled. A volume is an empty directory /tmp/hostpath_pv/<uid>,
# removed when its PV is deleted (reclaimPolicy Delete).
cat >"$state/storageclass.yaml" <<EOF
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata:
  name: standard
  annotations:
    storageclass.kubernetes.io/is-default-class: "true"
provisioner: kubernetes.io/host-path
reclaimPolicy: Delete
volumeBindingMode: Immediate
EOF
"${kubectl[@]}" get storageclass standard >/dev/null 2>&1 ||
  "${kubectl[@]}" create -f "$state/storageclass.yaml" >/dev/null

wait_for "ServiceAccount default/default" kube-controller-manager "${kubectl[@]}" -n default get serviceaccount default

log "up in $((SECONDS - start_time))s"
"${kubectl[@]}" get nodes -L wardops.io/pool >&2
report
