#!/usr/bin/env bash
# Builds the pinned control-plane binaries from the Go module proxy into a cache
# outside the repository, keyed by version: etcd, kube-apiserver,
# kube-controller-manager, kube-scheduler, kubectl (one `go build`), kwok, helm.
# Skips whatever is already built. Prints the bin directory on its last line.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=versions.env
source "$here/versions.env"
cache=${WARDOPS_TESTENV_CACHE:-$HOME/.cache/wardops-testenv}
bin="$cache/bin-k8s-$KUBERNETES_VERSION-etcd-$ETCD_VERSION-kwok-$KWOK_VERSION-helm-$HELM_VERSION"
mkdir -p "$bin" "$cache/src"
export CGO_ENABLED=0 GOFLAGS=-buildvcs=false
log() { printf '[build] %s\n' "$*" >&2; }

# A fresh wrapper module per component, so that replace lines stay local.
wrapper() {
  local dir="$cache/src/$1"
  rm -rf "$dir"; mkdir -p "$dir"
  (cd "$dir" && go mod init "wardops.local/testenv/$1" >/dev/null 2>&1)
  echo "$dir"
}

build_kubernetes() {
  local want=(kube-apiserver kube-controller-manager kube-scheduler kubectl) missing=0
  for b in "${want[@]}"; do [[ -x "$bin/$b" ]] || missing=1; done
  [[ $missing == 0 ]] && { log "kubernetes $KUBERNETES_VERSION: cached"; return; }
  log "kubernetes $KUBERNETES_VERSION: building ${want[*]} (cold: 10-25 min on 2 cores)"
  local dir minor major commit date
  dir=$(wrapper kubernetes)
  cd "$dir"
  go mod download -json "k8s.io/kubernetes@$KUBERNETES_VERSION" >/dev/null
  local gomod
  gomod="$(go env GOMODCACHE)/cache/download/k8s.io/kubernetes/@v/$KUBERNETES_VERSION.mod"
  # Staging modules: k8s.io/X => ./staging/src/k8s.io/X becomes k8s.io/X@v0.MINOR.PATCH.
  local staging_version="v0.${KUBERNETES_VERSION#v1.}"
  local edits=()
  while read -r mod; do
    edits+=("-replace=$mod=$mod@$staging_version")
  done < <(grep -oE '^\s*k8s\.io/[a-z0-9-]+ => \./staging/src/k8s\.io/[a-z0-9-]+' "$gomod" | awk '{print $1}')
  [[ ${#edits[@]} -gt 10 ]] || { log "no staging replace lines found in $gomod"; exit 1; }
  go mod edit "${edits[@]}"
  go mod edit -go="$(awk '/^go /{print $2; exit}' "$gomod")"
  major=1; minor=$(echo "$KUBERNETES_VERSION" | cut -d. -f2)
  commit=0000000000000000000000000000000000000000
  date=$(date -u +%Y-%m-%dT%H:%M:%SZ)
  local ld=""
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ld+=" -X $pkg.gitVersion=$KUBERNETES_VERSION -X $pkg.gitMajor=$major -X $pkg.gitMinor=$minor"
    ld+=" -X $pkg.gitCommit=$commit -X $pkg.gitTreeState=clean -X $pkg.buildDate=$date"
  done
  local pkgs=() gets=()
  for b in "${want[@]}"; do pkgs+=("k8s.io/kubernetes/cmd/$b"); gets+=("k8s.io/kubernetes/cmd/$b@$KUBERNETES_VERSION"); done
  # `go get` of the packages (not just the module) records every go.sum entry the build needs.
  go get "${gets[@]}"
  # One go build so that the shared packages compile once.
  go build -trimpath -tags selinux,notest,grpcnotrace -ldflags "-s -w$ld" -o "$bin/" "${pkgs[@]}"
  log "kubernetes: built"
}

build_etcd() {
  [[ -x "$bin/etcd" ]] && { log "etcd $ETCD_VERSION: cached"; return; }
  log "etcd $ETCD_VERSION: building"
  local dir; dir=$(wrapper etcd); cd "$dir"
  go get "go.etcd.io/etcd/server/v3@$ETCD_VERSION"
  go build -trimpath -ldflags "-s -w" -o "$bin/etcd" go.etcd.io/etcd/server/v3
}

build_kwok() {
  [[ -x "$bin/kwok" ]] && { log "kwok $KWOK_VERSION: cached"; return; }
  log "kwok $KWOK_VERSION: building"
  local dir; dir=$(wrapper kwok); cd "$dir"
  go get "sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION"
  go build -trimpath -ldflags "-s -w -X sigs.k8s.io/kwok/pkg/consts.Version=$KWOK_VERSION" -o "$bin/kwok" sigs.k8s.io/kwok/cmd/kwok
}

build_helm() {
  [[ -x "$bin/helm" ]] && { log "helm $HELM_VERSION: cached"; return; }
  log "helm $HELM_VERSION: building"
  local dir; dir=$(wrapper helm); cd "$dir"
  go get "helm.sh/helm/v3/cmd/helm@$HELM_VERSION"
  local kminor; kminor=$(echo "$KUBERNETES_VERSION" | cut -d. -f2)
  go build -trimpath -ldflags "-s -w -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION \
    -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMinor=$kminor \
    -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMinor=$kminor" \
    -o "$bin/helm" helm.sh/helm/v3/cmd/helm
}

only=${1:-all}
case "$only" in
  all) build_etcd; build_kwok; build_helm; build_kubernetes ;;
  etcd|kwok|helm|kubernetes) "build_$only" ;;
  *) echo "usage: $0 [all|etcd|kwok|helm|kubernetes]" >&2; exit 2 ;;
esac
echo "$bin"
