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
tools: ## Provision into .tools/: the pinned Node 24, servers, helm, the real node (kubelet, containerd, CoreDNS; apt packages) and the base images.
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
test: deps image ## Run every test: unit, integration against the real local servers, and the real-node tier (e2e).
	npm test
	npm run test:e2e

.PHONY: test-unit
test-unit: deps ## Run the unit tests only (no servers).
	npm run test:unit

.PHONY: e2e
e2e: deps image ## Run the real-node tier: the image, the cluster tier, and Ferry installed by its chart on a real kubelet.
	npm run test:e2e

.PHONY: test-integration
test-integration: deps ## Run the integration tests against the local bed.
	npm run test:integration

##@ Build

.PHONY: build
build: deps ## Compile api/, operator/ and worker/ to dist/ (what the image runs).
	npx tsc -p tsconfig.build.json

# The image `make image` builds, and the local base it builds on (tools/install.sh
# makes the base from debootstrap + the pinned Node, as no registry is reachable).
IMAGE ?= localhost/ferry/ferry:dev
NODE_VERSION := $(shell sed -n 's/^NODE_VERSION=//p' tools/install.sh)
BASE_IMAGE ?= localhost/ferry/node-base:$(NODE_VERSION)-bookworm
.PHONY: image
image: tools ## Build $(IMAGE) from the Dockerfile with podman on the local base; export it to .tools/images/.
	@bash tools/image/ferry-image.sh $(IMAGE) $(BASE_IMAGE)

.PHONY: docker-build
docker-build: ## Build $(IMAGE) with a Docker engine on the upstream node base (needs a registry).
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
