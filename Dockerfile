# syntax=docker/dockerfile:1
# wardops operator image: `docker build -t ghcr.io/wardops/wardops:0.1.0 .`
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
COPY operator/src operator/src
RUN cargo build --release --locked --package wardops --bin wardops

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
