# Ferry — run `make` for the list of targets.
SHELL := /usr/bin/env bash
.DEFAULT_GOAL := help

# Everything runs under the project's own Node 24 and binaries (make tools).
export PATH := $(CURDIR)/.tools/bin:$(PATH)

##@ General

.PHONY: help
help: ## Show this help.
	@awk 'BEGIN {FS = ":.*##"; printf "Usage: make <target>\n"} /^[a-zA-Z_-]+:.*?##/ { printf "  \033[36m%-16s\033[0m %s\n", $$1, $$2 } /^##@/ { printf "\n\033[1m%s\033[0m\n", substr($$0, 5) }' $(MAKEFILE_LIST)

##@ Setup

.PHONY: tools
tools: ## Build/install the pinned Node 24, kube-apiserver, kubectl, etcd, nats-server, versitygw and helm into .tools/.
	@bash tools/install.sh

node_modules/.installed: package.json package-lock.json | tools
	npm ci --no-audit --no-fund
	@touch $@

.PHONY: deps
deps: node_modules/.installed ## Install the npm dependencies (npm ci).

##@ Development

.PHONY: lint
lint: deps ## Type-check, lint and check formatting.
	npx tsc --noEmit
	npx eslint .
	npx prettier --check .

.PHONY: format
format: deps ## Format the sources with prettier.
	npx prettier --write .

.PHONY: bed
bed: deps ## Start the local control plane in .bed/ (foreground; Ctrl-C stops it).
	node test/bed/cli.ts up

.PHONY: bed-down
bed-down: ## Stop the local control plane started by `make bed`.
	node test/bed/cli.ts down

##@ Helm

.PHONY: chart-crds
chart-crds: ## Copy crds/ into the Helm chart (helm/ferry/crds/); a test fails when the copy is stale.
	cp crds/*.yaml helm/ferry/crds/

.PHONY: helm-lint
helm-lint: ## Lint the Helm chart with its defaults and every ci/ values file.
	helm lint --strict helm/ferry
	for f in helm/ferry/ci/*-values.yaml; do helm lint --strict helm/ferry -f $$f || exit 1; done

##@ Run

.PHONY: demo
demo: deps ## Run the main job locally on the embedded bed.
	node demo/main.ts

##@ Test

.PHONY: test
test: deps ## Run every test: unit, and integration against the real local servers.
	npm test

.PHONY: test-unit
test-unit: deps ## Run the unit tests only (no servers).
	npm run test:unit

.PHONY: test-integration
test-integration: deps ## Run the integration tests against the local bed.
	npm run test:integration

##@ Build

.PHONY: build
build: deps ## Compile api/, operator/ and worker/ to dist/ (what the image runs).
	npx tsc -p tsconfig.build.json

IMAGE ?= ferry:dev
.PHONY: docker-build
docker-build: ## Build the container image $(IMAGE) (needs a Docker engine).
	docker build -t $(IMAGE) .

.PHONY: generate
generate: deps ## Regenerate the TypeScript API types from crds/ and copy the CRDs into the chart.
	node api/generate.ts
	cp crds/*.yaml helm/ferry/crds/

##@ Benchmarks

.PHONY: bench-tools
bench-tools: tools ## Build the benchmarks' peer tool (rclone, pinned) into .tools/; not needed by the tests.
	@bash tools/install.sh bench

.PHONY: bench
bench: deps bench-tools ## Run the benchmarks: planning, resume, transfer/economy/resume side by side with rclone, and the Node relay floor.
	node bench/planning.ts 1000000
	node bench/resume.ts 1000000
	node bench/transfer.ts
	node bench/relayFloor.ts
