#!/usr/bin/env bash
# The kubectl plugin's release archive and its krew manifest, in target/dist/
# (or WARDOPS_DIST_DIR):
#   kubectl-wardops_v<version>_linux_<arch>.tar.gz
#     kubectl-wardops            the wardops binary under the plugin's name
#     (krew cannot unpack links, and puts only `bin` on PATH: for kubectl's own
#     completion of `kubectl wardops <TAB>`, docs/cli.md links
#     kubectl_complete-wardops to it)
#   wardops.yaml                 plugins/krew/wardops.yaml with one platform per
#                                archive found in the directory (URL, sha256)
# and validates the manifest with krew's validate-krew-manifest (tests/krew/build.sh).
# Usage: scripts/dist.sh [BINARY]   (default: a release build of this tree)
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
log() { printf '[dist] %s\n' "$*" >&2; }

version=v$(awk -F'"' '/^\[workspace.package\]/{p=1} p && /^version *=/{print $2; exit}' Cargo.toml)
out=${WARDOPS_DIST_DIR:-$repo/target/dist}
releases=${WARDOPS_RELEASES_URL:-https://github.com/wardops/wardops/releases/download}
binary=${1:-}
if [[ -z $binary ]]; then
  # Unpacked relocations: the plugin runs on users' machines, and packed ones
  # (operator/build.rs) need glibc 2.36; this binary needs 2.34 (RHEL 9).
  WARDOPS_PACK_RELOCS=off cargo build --release --locked -p wardops --bin wardops
  binary=target/release/wardops
fi
case "$(uname -m)" in
  x86_64) arch=amd64 ;;
  aarch64 | arm64) arch=arm64 ;;
  *) log "unsupported machine $(uname -m)"; exit 1 ;;
esac
mkdir -p "$out"
archive="kubectl-wardops_${version}_linux_${arch}.tar.gz"
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
install -m 0755 "$binary" "$stage/kubectl-wardops"
tar -C "$stage" --owner=0 --group=0 --numeric-owner --mtime=@0 --sort=name \
  -czf "$out/$archive" kubectl-wardops
log "$out/$archive"

manifest_version=$(awk '/^  version:/{print $2; exit}' plugins/krew/wardops.yaml)
if [[ $manifest_version != "$version" ]]; then
  log "plugins/krew/wardops.yaml says $manifest_version, Cargo.toml $version"; exit 1
fi
{
  sed -n '/^apiVersion:/,$p' plugins/krew/wardops.yaml
  echo "  platforms:"
  for a in "$out"/kubectl-wardops_"${version}"_linux_*.tar.gz; do
    file=$(basename "$a")
    platform_arch=${file%.tar.gz}; platform_arch=${platform_arch##*_}
    cat <<PLATFORM
    - selector:
        matchLabels:
          os: linux
          arch: $platform_arch
      uri: $releases/$version/$file
      sha256: $(sha256sum "$a" | cut -d' ' -f1)
      bin: kubectl-wardops
      files:
        - from: kubectl-wardops
          to: .
PLATFORM
  done
} > "$out/wardops.yaml"
krew_bin=$(bash tests/krew/build.sh | tail -n 1)
"$krew_bin/validate-krew-manifest" -manifest "$out/wardops.yaml" -skip-install
log "$out/wardops.yaml (valid)"
