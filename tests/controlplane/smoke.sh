#!/usr/bin/env bash
# Checks that a control plane started by up.sh behaves as the tests expect:
# nodes, PodSecurity, Deployments Ready through kwok, Jobs that complete and
# fail, CronJobs, the isolated pool, server-side apply, CEL validation in CRDs,
# kubectl explain, the audit log. Cleans up after itself. Takes about 1-2 min
# (a CronJob fires on the minute).
#
#   tests/controlplane/up.sh && tests/controlplane/smoke.sh
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
state=${WARDOPS_TESTENV_DIR:-$repo/.testenv}
[[ -f $state/env ]] || { echo "no $state/env: run $here/up.sh first" >&2; exit 1; }
# shellcheck source=/dev/null
source "$state/env"

ns=smoke-$$
ok() { printf '[smoke] ok: %s\n' "$*" >&2; }
fail() { printf '[smoke] FAIL: %s\n' "$*" >&2; exit 1; }
cleanup() {
  kubectl delete namespace "$ns" --ignore-not-found --wait=false >/dev/null 2>&1 || true
  kubectl delete crd widgets.smoke.wardops.io --ignore-not-found --wait=false >/dev/null 2>&1 || true
}
trap cleanup EXIT

# --- nodes ----------------------------------------------------------------------
ready=$(kubectl get nodes -l type=kwok -o 'jsonpath={range .items[*]}{.status.conditions[?(@.type=="Ready")].status}{"\n"}{end}' | grep -c True || true)
[[ $ready == 3 ]] || fail "expected 3 Ready kwok nodes, got $ready"
ok "3 Ready nodes"

# --- PodSecurity: restricted namespace admits a compliant pod, rejects others --
kubectl create namespace "$ns" >/dev/null
kubectl label namespace "$ns" pod-security.kubernetes.io/enforce=restricted >/dev/null
kubectl -n "$ns" wait --for=jsonpath='{.metadata.name}'=default serviceaccount/default --timeout=60s >/dev/null

# pod_spec INDENT: the fields of a pod spec that restricted admits, each line
# after a newline and INDENT spaces (to follow "spec:" in a heredoc).
pod_spec() {
  local pad
  pad=$(printf '%*s' "$1" '')
  printf '\n%s' \
    "securityContext:" \
    "  runAsNonRoot: true" \
    "  runAsUser: 10001" \
    "  seccompProfile: {type: RuntimeDefault}" \
    "containers:" \
    "- name: main" \
    "  image: registry.invalid/wardops/smoke:1" \
    "  securityContext:" \
    "    allowPrivilegeEscalation: false" \
    "    capabilities: {drop: [ALL]}" \
    "  resources:" \
    "    requests: {cpu: 10m, memory: 16Mi}" | sed "s/^/$pad/"
}

if kubectl -n "$ns" run privileged --image=registry.invalid/x:1 \
  --overrides='{"spec":{"containers":[{"name":"privileged","image":"registry.invalid/x:1","securityContext":{"privileged":true}}]}}' \
  >/dev/null 2>&1; then
  fail "a privileged pod was admitted in a restricted namespace"
fi
ok "PodSecurity restricted rejects a privileged pod"

kubectl -n "$ns" apply --server-side --field-manager=smoke -f - >/dev/null <<EOF
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:$(pod_spec 6)
EOF
kubectl -n "$ns" rollout status deployment/web --timeout=60s >/dev/null || fail "deployment not available"
running=$(kubectl -n "$ns" get pods -l app=web -o 'jsonpath={range .items[*]}{.status.phase}/{.status.conditions[?(@.type=="Ready")].status}{"\n"}{end}' | grep -c 'Running/True' || true)
[[ $running == 2 ]] || fail "expected 2 Running+Ready pods, got $running"
ok "Deployment (server-side apply, restricted PodSecurity): 2 pods Running and Ready"

# --- isolated pool ----------------------------------------------------------------
kubectl -n "$ns" apply -f - >/dev/null <<EOF
apiVersion: v1
kind: Pod
metadata: {name: isolated}
spec:
  nodeSelector: {wardops.io/pool: isolated}
  tolerations:
  - {key: wardops.io/pool, operator: Equal, value: isolated, effect: NoSchedule}$(pod_spec 2)
EOF
kubectl -n "$ns" wait --for=condition=Ready pod/isolated --timeout=60s >/dev/null || fail "isolated pod not Ready"
node=$(kubectl -n "$ns" get pod isolated -o 'jsonpath={.spec.nodeName}')
[[ $node == kwok-isolated-0 ]] || fail "isolated pod landed on $node"
if kubectl -n "$ns" get pods -l app=web -o 'jsonpath={.items[*].spec.nodeName}' | grep -q isolated; then
  fail "a pod without the toleration landed on the isolated pool"
fi
ok "isolated pool: tolerating pod on kwok-isolated-0, others kept off"

# --- storage: a PVC binds (default StorageClass), a pod mounting it runs ------
kubectl -n "$ns" apply -f - >/dev/null <<EOF
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: data}
spec:
  accessModes: [ReadWriteOnce]
  resources: {requests: {storage: 1Gi}}
---
apiVersion: v1
kind: Pod
metadata: {name: with-volume}
spec:
  volumes:
  - {name: data, persistentVolumeClaim: {claimName: data}}$(pod_spec 2)
    volumeMounts: [{name: data, mountPath: /data}]
EOF
kubectl -n "$ns" wait --for=jsonpath='{.status.phase}'=Bound pvc/data --timeout=60s >/dev/null || fail "PVC not Bound"
kubectl -n "$ns" wait --for=condition=Ready pod/with-volume --timeout=60s >/dev/null || fail "pod with a PVC not Ready"
ok "PVC bound by the default StorageClass; pod mounting it Ready"

# --- Jobs -------------------------------------------------------------------------
job() { # NAME EXTRA-POD-LABELS
  cat <<EOF
apiVersion: batch/v1
kind: Job
metadata: {name: $1}
spec:
  backoffLimit: 0
  template:
    metadata: {labels: {app: $1$2}}
    spec:
      restartPolicy: Never$(pod_spec 6)
EOF
}
job ok "" | kubectl -n "$ns" apply -f - >/dev/null
job broken ", wardops.io/test-fail: \"true\"" | kubectl -n "$ns" apply -f - >/dev/null
kubectl -n "$ns" wait --for=condition=Complete job/ok --timeout=60s >/dev/null || fail "job did not complete"
ok "Job completes"
kubectl -n "$ns" wait --for=condition=Failed job/broken --timeout=60s >/dev/null || fail "job with wardops.io/test-fail=true did not fail"
ok "Job with a wardops.io/test-fail=true pod fails"

kubectl -n "$ns" apply -f - >/dev/null <<EOF
apiVersion: batch/v1
kind: CronJob
metadata: {name: tick}
spec:
  schedule: "* * * * *"
  jobTemplate:
    spec:
      backoffLimit: 0
      template:
        spec:
          restartPolicy: Never$(pod_spec 10)
EOF
deadline=$((SECONDS + 100))
until kubectl -n "$ns" get jobs -o 'jsonpath={range .items[?(@.metadata.ownerReferences[0].kind=="CronJob")]}{.status.succeeded}{"\n"}{end}' | grep -q '^1$'; do
  ((SECONDS < deadline)) || fail "no CronJob-created Job completed within 100s"
  sleep 2
done
ok "CronJob-created Job completes"

# --- CRD with CEL validation, server-side apply, explain --------------------------
kubectl apply --server-side --field-manager=smoke -f - >/dev/null <<'EOF'
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: widgets.smoke.wardops.io}
spec:
  group: smoke.wardops.io
  names: {kind: Widget, plural: widgets}
  scope: Namespaced
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            properties:
              min: {type: integer}
              max: {type: integer}
            x-kubernetes-validations:
            - rule: "self.min <= self.max"
              message: "min must not exceed max"
EOF
kubectl wait --for=condition=Established crd/widgets.smoke.wardops.io --timeout=30s >/dev/null
widget() { printf 'apiVersion: smoke.wardops.io/v1\nkind: Widget\nmetadata: {name: w}\nspec: {min: %s, max: %s}\n' "$1" "$2"; }
deadline=$((SECONDS + 30))
until widget 1 2 | kubectl -n "$ns" apply --server-side --field-manager=smoke -f - >/dev/null 2>&1; do
  ((SECONDS < deadline)) || fail "valid Widget not accepted"
  sleep 1
done
if err=$(widget 3 2 | kubectl -n "$ns" apply --server-side --field-manager=smoke -f - 2>&1); then
  fail "CEL rule did not reject min > max"
fi
grep -q "min must not exceed max" <<<"$err" || fail "unexpected error: $err"
ok "CRD with CEL validation (server-side apply)"

kubectl explain pods.spec.securityContext >/dev/null || fail "kubectl explain"
ok "kubectl explain"

# --- audit log --------------------------------------------------------------------
grep -q "\"userAgent\":\"kubectl/" "$WARDOPS_TESTENV_AUDIT_LOG" || fail "no userAgent in the audit log"
grep -q "\"namespace\":\"$ns\"" "$WARDOPS_TESTENV_AUDIT_LOG" || fail "no event for $ns in the audit log"
ok "audit log has userAgent and objectRef"

echo "[smoke] all checks passed" >&2
