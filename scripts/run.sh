#!/usr/bin/env bash
# Quick start: a local control plane on 127.0.0.1 with the wardops CRDs and the
# samples applied, and `wardops run` connected to it in the foreground.
# Ctrl-C stops the operator; `make down` stops the control plane.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
bash scripts/prereqs.sh
bash tests/controlplane/up.sh
cargo build --locked -p wardops --bin wardops
# The kubectl plugin: the same binary under its plugin names (docs/cli.md).
mkdir -p target/plugin
ln -sf ../debug/wardops target/plugin/kubectl-wardops
ln -sf ../debug/wardops target/plugin/kubectl_complete-wardops
# shellcheck disable=SC1091
source .testenv/env
kubectl apply --server-side -f crds/
kubectl wait --for=condition=Established --timeout=60s -f crds/
kubectl apply --server-side -f deploy/samples/
cat <<TXT

The control plane is up and the samples are applied. In another shell:
  source $repo/.testenv/env
  kubectl get wardops -A          # every wardops resource, with Ready and Reason
  kubectl describe ws one-stop -n phuong-hong-bang
  export PATH="$repo/target/plugin:\$PATH"
  kubectl wardops status -A       # the city at a glance (docs/cli.md)
Metrics: http://127.0.0.1:18080/metrics   Health: http://127.0.0.1:18081/readyz
Stop: Ctrl-C here, then \`make down\`.

TXT
exec ./target/debug/wardops run \
  --leader-election=false \
  --metrics-addr 127.0.0.1:18080 --health-addr 127.0.0.1:18081 \
  --log-format text --log-level info
