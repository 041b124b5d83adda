#!/usr/bin/env bash
# checkov on what wardops ships: the Helm chart's default render and `wardops render`
# of the sample WardServices. Fails on any failed check that is not in
# scripts/checkov-baseline.json (checks accepted on purpose; see docs/classification.md
# and the closing notes of the issues that accepted them). `make checkov` runs it.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
command -v checkov >/dev/null 2>&1 || python3 -m pip install --quiet checkov \
  || python3 -m pip install --quiet --break-system-packages checkov
bin=$(bash tests/controlplane/build.sh helm | tail -n 1)
cargo build --locked -q -p wardops --bin wardops
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
"$bin/helm" template wardops charts/wardops > "$out/chart.yaml"
for f in deploy/samples/wardservice-*.yaml; do
  ./target/debug/wardops render -f "$f" > "$out/render-$(basename "$f")"
done
cd "$out"
checkov -d . --framework kubernetes --quiet --compact --skip-download --baseline "$repo/scripts/checkov-baseline.json"
