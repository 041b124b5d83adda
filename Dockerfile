# syntax=docker/dockerfile:1
# wardops operator image: `docker build -t ghcr.io/wardops/wardops:0.1.0 .`
# Backup image (the operator's default for BackupPolicy Jobs, which run
# `/wardops backup|forget|restore`): the same binary plus a pinned restic,
# `docker build --target backup -t ghcr.io/wardops/wardops-backup:0.1.0 .`
# tests/dockerfile.rs lints this file with hadolint and runs the build stage's
# cargo command on the host, so keep exactly one form of it.

# ---- build ---------------------------------------------------------------------
# Debian bookworm, the same glibc as the distroless runtime below.
FROM docker.io/library/rust:1.95.0-bookworm AS build
WORKDIR /src

# Dependency layer: the manifests and the lock file with stub sources, so that the
# dependencies are compiled once and reused until Cargo.toml or Cargo.lock change.
COPY Cargo.toml Cargo.lock ./
COPY operator/Cargo.toml operator/Cargo.toml
COPY tests/Cargo.toml tests/Cargo.toml
RUN mkdir -p operator/src tests/src \
    && echo 'fn main() {}' > operator/src/main.rs \
    && touch operator/src/lib.rs tests/src/lib.rs \
    && cargo build --release --locked --package wardops --bin wardops \
    && rm -rf operator/src target/release/.fingerprint/wardops-* \
        target/release/deps/wardops-* target/release/deps/libwardops-* target/release/wardops

# The operator itself (the stub's fingerprint is gone, so cargo rebuilds it).
# The runbook text `kubectl wardops explain-reason` prints is compiled in. The
# build script links the functions the operator runs packed together and strips
# the symbol table (operator/build.rs, operator/symbol-order.txt).
COPY docs docs
COPY operator/src operator/src
COPY operator/build.rs operator/symbol-order.txt operator/
RUN cargo build --release --locked --package wardops --bin wardops

# ---- restic --------------------------------------------------------------------
# The pinned restic, built from the Go module proxy as tests/backup/build.sh
# builds the one the tests run (static, no VCS stamp).
FROM docker.io/library/golang:1.26.8-bookworm AS restic
ENV CGO_ENABLED=0 GOFLAGS=-buildvcs=false
RUN go install -trimpath -ldflags "-s -w" github.com/restic/restic/cmd/restic@v0.18.1

# ---- backup --------------------------------------------------------------------
# The runtime below plus restic: `wardops backup|forget|restore` find it at
# WARDOPS_RESTIC. Non-root like the operator.
FROM gcr.io/distroless/cc-debian12:nonroot AS backup
LABEL org.opencontainers.image.title="wardops-backup" \
      org.opencontainers.image.description="wardops with restic: the BackupPolicy and Restore Jobs" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.source="https://example.invalid/wardops"
COPY --from=build --chown=0:0 --chmod=0555 /src/target/release/wardops /wardops
COPY --from=restic --chown=0:0 --chmod=0555 /go/bin/restic /usr/local/bin/restic
ENV WARDOPS_RESTIC=/usr/local/bin/restic
USER 65532:65532
ENTRYPOINT ["/wardops"]

# ---- runtime -------------------------------------------------------------------
# Distroless: glibc, libgcc and CA certificates, no shell, no package manager.
FROM gcr.io/distroless/cc-debian12:nonroot
LABEL org.opencontainers.image.title="wardops" \
      org.opencontainers.image.description="Kubernetes operator for a city's ward and commune public-service instances" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.source="https://example.invalid/wardops"
COPY --from=build --chown=0:0 --chmod=0555 /src/target/release/wardops /wardops
# The distroless `nonroot` user, by number so that runAsNonRoot can verify it.
USER 65532:65532
ENTRYPOINT ["/wardops", "run"]
