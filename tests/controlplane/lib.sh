# shellcheck shell=bash
# Helpers shared by up.sh and down.sh. Sourced, not run.

# testenv_alive PIDDIR NAME: true if PIDDIR/NAME.pid names a live process that
# is really ours: its executable is called NAME and its command line mentions
# the state dir (PIDDIR's parent), so a recycled pid is never taken for ours.
testenv_alive() {
  local piddir=$1 name=$2 pid exe
  [[ -s $piddir/$name.pid ]] || return 1
  pid=$(<"$piddir/$name.pid")
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  exe=$(readlink "/proc/$pid/exe" 2>/dev/null) || return 1
  exe=${exe% (deleted)}
  [[ ${exe##*/} == "$name" ]] || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$(dirname "$piddir")/"
}
