# wardops: the two commands of the README are `make run` and `make test`.
SHELL := /bin/bash
PREFIX ?= $(HOME)/.local
.DEFAULT_GOAL := help

.PHONY: help run test down purge up crds lint bench build checkov plugin dist symbol-order

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-8s %s\n", $$1, $$2}'

run: ## Set up everything, start a local control plane, apply CRDs and samples, run the operator
	bash scripts/run.sh

test: ## Lint and run every test against a local control plane (started and stopped here)
	bash scripts/test.sh

up: ## Start only the local control plane (builds it once)
	bash scripts/prereqs.sh && bash tests/controlplane/up.sh

down: ## Stop the local control plane
	bash tests/controlplane/down.sh

purge: ## Stop the local control plane and delete its state
	bash tests/controlplane/down.sh --purge

build: ## Build the wardops binary
	cargo build --locked -p wardops --bin wardops

plugin: ## Install `kubectl wardops`: links kubectl-wardops and kubectl_complete-wardops to a release build in $(PREFIX)/bin (default ~/.local)
	cargo build --release --locked -p wardops --bin wardops
	mkdir -p "$(PREFIX)/bin"
	install -m 0755 target/release/wardops "$(PREFIX)/bin/wardops"
	ln -sf wardops "$(PREFIX)/bin/kubectl-wardops"
	ln -sf wardops "$(PREFIX)/bin/kubectl_complete-wardops"

dist: ## The kubectl plugin's release archive and its validated krew manifest, in target/dist/
	bash scripts/dist.sh

crds: ## Regenerate crds/ and charts/wardops/crds/ from the API types
	cargo run -q --locked -p wardops -- crds --write-dir crds
	cargo run -q --locked -p wardops -- crds --write-dir charts/wardops/crds
	cargo run -q --locked -p wardops -- crds --write-dir deploy/base/crds

lint: ## cargo fmt --check, clippy, helm lint, hadolint (helm comes from the control-plane build)
	bash scripts/prereqs.sh
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets --locked -- -D warnings
	"$$(flock $$HOME/.cache/wardops-testenv/.build.lock bash tests/controlplane/build.sh helm | tail -n 1)/helm" lint --strict charts/wardops
	hadolint Dockerfile

checkov: ## checkov on the chart and on `wardops render` of the samples; fails on a failure not in scripts/checkov-baseline.json
	bash scripts/checkov.sh

bench: ## Benchmarks (pure builders, and reconciles on the local control plane)
	bash scripts/bench.sh

symbol-order: ## Rewrite operator/symbol-order.txt: the functions the operator runs, which the release build packs together (valgrind, local control plane)
	bash scripts/symbol-order.sh
