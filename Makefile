# IntelliDox — the front door. `make help` lists the targets.
SHELL := /bin/bash
GO    ?= go
# The Go release with the latest security fixes (govulncheck is clean with
# it); the go command fetches it from the module proxy once.
export GOTOOLCHAIN := go1.26.10
APPS  := api extractor scanner

.DEFAULT_GOAL := help

.PHONY: help
help: ## List the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z0-9_-]+:.*## / {printf "  \033[1m%-10s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

.PHONY: build
build: ## Build the apps and tools into bin/
	@echo "build: $(APPS) launcher intellidox"
	@$(GO) build -o bin/ $(addprefix ./apps/,$(APPS)) ./cmd/launcher ./cmd/intellidox

.PHONY: web
web: ## Build the web app into web/dist (served by the api at /)
	@echo "web: npm ci && npm run build"
	@cd web && { [ -d node_modules ] || npm ci --no-audit --no-fund; } && npm run build --silent

.PHONY: infra
infra: ## Install (if missing) and start Redis, PostgreSQL, versitygw, clamd and daprd
	@scripts/infra.sh up

.PHONY: run
run: infra build web ## Run the whole system locally (Ctrl-C stops it)
	@if command -v dapr >/dev/null && [ -z "$$INTELLIDOX_LAUNCHER" ]; then \
		export DAPR_API_TOKEN=$$(od -An -N24 -tx1 /dev/urandom | tr -d ' \n') APP_API_TOKEN=$$(od -An -N24 -tx1 /dev/urandom | tr -d ' \n'); \
		echo "run: dapr run -f .   (Dapr API tokens for this run; through Dapr send the header dapr-api-token: $$DAPR_API_TOKEN)"; \
		dapr run -f .; \
	else \
		echo "run: bin/launcher -f dapr.yaml"; bin/launcher -f dapr.yaml; \
	fi

.PHONY: test
test: infra ## Run every test: unit, integration, end-to-end on local and AWS-emulated components; ends with the skipped tests and why
	@GO=$(GO) scripts/test.sh

.PHONY: bench
bench: infra ## Benchmark a private stack; writes docs/BENCHMARKS.md and docs/benchmarks.json (about 5 min)
	@echo "bench: go test -tags bench ./cmd/bench (its own PostgreSQL, Redis, versitygw, clamd and sidecars on free ports)"
	@$(GO) test -tags bench -run '^TestSuite$$' -count=1 -timeout 15m -v ./cmd/bench

# Compare two commits: `make bench-micro` on each, then
# `go run golang.org/x/perf/cmd/benchstat@latest .bench/micro-OLD.txt .bench/micro-NEW.txt`.
BENCH_MICRO ?= .bench/micro-$(shell git rev-parse --short HEAD 2>/dev/null || echo wip).txt
.PHONY: bench-micro
bench-micro: ## Go benchmarks of the hot paths, 6 runs each, into .bench/ for benchstat
	@mkdir -p .bench
	@echo "bench-micro: go test -bench → $(BENCH_MICRO)"
	@$(GO) test -run '^$$' -bench . -benchmem -count 6 ./internal/extract ./internal/verdict ./internal/contract ./internal/scan/clamav | tee $(BENCH_MICRO)

.PHONY: lint
lint: ## gofmt, go vet and the web app's type check
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); exit 1; }
	@$(GO) vet ./...
	@cd web && npx tsc --noEmit

.PHONY: chaos
chaos: infra ## Chaos tests at full size: 200 files per fault, 3 rounds of each (docs/chaos.md)
	@echo "chaos: go test ./e2e/chaos, CHAOS_N=200 (kill workers, Redis restart, PostgreSQL outage, clamd stop)"
	@CHAOS_N=200 $(GO) test -run Chaos -count=1 -timeout 60m -v ./e2e/chaos

.PHONY: vulncheck
vulncheck: ## govulncheck against the Go vulnerability database (fetched through the module proxy)
	@scripts/vulncheck.sh

.PHONY: daprd
daprd: ## Find or build the pinned daprd (bin/daprd)
	@scripts/daprd.sh

.PHONY: k8s-build
k8s-build: ## Build (once, cached) Kubernetes, etcd, helm, CoreDNS and the Dapr control plane into bin/k8s
	@scripts/k8s-build.sh

.PHONY: images
images: ## Build every image of deploy/images.yaml without a Docker daemon (buildah, vfs)
	@scripts/images.sh

.PHONY: k8s-dryrun
k8s-dryrun: ## kubectl apply --dry-run=server of every overlay against a real kube-apiserver with the Dapr CRDs
	@scripts/k8s-dryrun.sh

.PHONY: k8s-up
k8s-up: ## Start a single-node Kubernetes cluster here (docs/k8s-local.md); builds and images are cached
	@scripts/k8s.sh up

.PHONY: k8s-deploy
k8s-deploy: ## Install Dapr (official chart, mTLS) and IntelliDox (deploy/overlays/local-k8s) on it
	@scripts/k8s-deploy.sh

.PHONY: k8s-down
k8s-down: ## Stop the local cluster and remove everything it made (processes, mounts, bridge, iptables rules)
	@scripts/k8s.sh down

.PHONY: k8s-test
k8s-test: ## images + cluster + Dapr + deploy + the end-to-end suite and cluster checks on it
	@scripts/k8s-test.sh

.PHONY: clean
clean: ## Stop local infrastructure started by infra and remove build output
	@scripts/infra.sh down
	@rm -rf bin/api bin/extractor bin/scanner bin/launcher
