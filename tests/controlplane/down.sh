#!/usr/bin/env bash
# Stops the control plane that up.sh started: the processes named by the pid
# files in the state dir, newest first (TERM, then KILL after a timeout).
#
#   tests/controlplane/down.sh           # stop; keep etcd data and PKI
#   tests/controlplane/down.sh --purge   # stop and delete the state dir
#
# Environment: WARDOPS_TESTENV_DIR (default <repo>/.testenv),
# WARDOPS_TESTENV_STOP_TIMEOUT (seconds before KILL, default 20).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
state=${WARDOPS_TESTENV_DIR:-$repo/.testenv}
stop_timeout=${WARDOPS_TESTENV_STOP_TIMEOUT:-20}
purge=0
for arg in "$@"; do
  case $arg in
    --purge) purge=1 ;;
    -h | --help) sed -n '2,9p' "$0"; exit 0 ;;
    *) echo "usage: $0 [--purge]" >&2; exit 2 ;;
  esac
done

log() { printf '[down] %s\n' "$*" >&2; }

# shellcheck source=lib.sh
source "$here/lib.sh"

if [[ ! -d $state ]]; then
  log "no state dir $state: nothing to stop"
  exit 0
fi
state=$(cd "$state" && pwd)
exec 9>>"$state/.lock"
flock -w 600 9 || { log "another up.sh/down.sh holds $state/.lock"; exit 1; }
pids=$state/pids
components=(kwok kube-scheduler kube-controller-manager kube-apiserver etcd)

# orphans NAME: processes of ours whose pid file is gone (deleted by hand, or
# overwritten): executable NAME, command line naming this state dir.
orphans() {
  local name=$1 known=${2:-} p exe
  for p in /proc/[0-9]*; do
    [[ ${p#/proc/} == "$known" ]] && continue
    exe=$(readlink "$p/exe" 2>/dev/null) || continue
    exe=${exe% (deleted)}
    [[ ${exe##*/} == "$name" ]] || continue
    if tr '\0' ' ' <"$p/cmdline" 2>/dev/null | grep -qF -- "$state/"; then
      echo "${p#/proc/}"
    fi
  done
}

gone() { ! kill -0 "$1" 2>/dev/null || [[ $(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) == Z ]]; }

stop_pid() { # NAME PID
  local name=$1 pid=$2 deadline
  log "$name: stopping pid $pid"
  kill -TERM "$pid" 2>/dev/null || true
  deadline=$((SECONDS + stop_timeout))
  while ! gone "$pid"; do
    if ((SECONDS >= deadline)); then
      log "$name: still running after ${stop_timeout}s, sending KILL"
      kill -KILL "$pid" 2>/dev/null || true
      deadline=$((SECONDS + 10))
      while ! gone "$pid" && ((SECONDS < deadline)); do sleep 0.2; done
      gone "$pid" || { log "$name: pid $pid did not exit"; return 1; }
      break
    fi
    sleep 0.2
  done
}

# The hostPath provisioner's volumes of this control plane (directories
# /tmp/hostpath_pv/<uid>, shared with any other control plane on the machine),
# listed while the API server still runs, for --purge to remove.
volumes=()
if [[ $purge == 1 && -f $state/kubeconfig ]] && testenv_alive "$pids" kube-apiserver; then
  # kubectl sits beside the API server's binary (build.sh builds both).
  bin=$(dirname "$(readlink "/proc/$(<"$pids/kube-apiserver.pid")/exe")")
  mapfile -t volumes < <("$bin/kubectl" --kubeconfig "$state/kubeconfig" --request-timeout=30s \
    get persistentvolumes -o 'jsonpath={range .items[*]}{.spec.hostPath.path}{"\n"}{end}' 2>/dev/null |
    grep -E '^/tmp/hostpath_pv/[A-Za-z0-9-]+$' || true)
fi

failed=0
for c in "${components[@]}"; do
  known=
  if testenv_alive "$pids" "$c"; then
    known=$(<"$pids/$c.pid")
    stop_pid "$c" "$known" || failed=1
  elif [[ -e $pids/$c.pid ]]; then
    log "$c: not running (stale pid file)"
  fi
  for pid in $(orphans "$c" "$known"); do
    stop_pid "$c (pid file lost)" "$pid" || failed=1
  done
  [[ $failed == 1 ]] || rm -f "$pids/$c.pid"
done

if [[ $failed == 1 ]]; then
  log "some processes did not stop; state dir kept"
  exit 1
fi
log "stopped"

if [[ $purge == 1 ]]; then
  # Delete only what up.sh made: refuse a directory that does not look like one.
  if [[ -d $state/pki || -d $state/pids || -f $state/env ]]; then
    rm -rf -- "$state"
    ((${#volumes[@]} == 0)) || rm -rf -- "${volumes[@]}"
    log "purged $state (and ${#volumes[@]} hostPath volumes)"
  else
    log "refusing to purge $state: not a testenv state dir"
    exit 1
  fi
fi
