# lnplaylive. `make run` and `make test` work on a fresh Debian machine with Go.
SHELL := /bin/bash
GO ?= go
TEMPORAL_CLI_VERSION := v1.5.1
BIN := $(CURDIR)/bin

.PHONY: record-histories build run test faults bench temporal deps vet clean schemas stack stack-bin stack-deps test-stack

build:
	$(GO) build -o $(BIN)/ ./cmd/...

# The Temporal CLI (dev server + Web UI). v1.9.x cannot be `go install`ed
# (its go.mod has a replace directive); v1.5.1 can, in about 3.5 minutes cold.
temporal: $(BIN)/temporal
$(BIN)/temporal:
	GOBIN=$(BIN) $(GO) install github.com/temporalio/cli/cmd/temporal@$(TEMPORAL_CLI_VERSION)

# What the tests need from Debian: OpenSSH's sshd for the SSH/SFTP tests;
# jq, which the bootstrap script uses on the VM (cloud-init installs it
# there); cloud-init, whose own schema check judges the VM's user data; the
# runtime libraries a Core Lightning or Bitcoin Core build made by hand
# needs (no build comes with the project: tests find one through
# LNPLAYLIVE_REAL_CLN and LNPLAYLIVE_REAL_BITCOIND, docs/TESTING.md);
# headless Chromium and poppler's pdfinfo, which render the printable
# hand-out sheet as a person would see it.
DEBS := openssh-server jq cloud-init libsodium23 libsqlite3-0 libpq5 libssl3 zlib1g chromium poppler-utils \
	libevent-2.1-7 libevent-core-2.1-7 libevent-pthreads-2.1-7 iproute2 util-linux
# axe-core, from npm: the storefront's browser test checks every page with it;
# lnmessage, Clams's connection library: a wallet's sync through our proxy.
AXE_VERSION := 4.14.1
LNMESSAGE_VERSION := 0.2.7
deps:
	@missing=$$(for p in $(DEBS); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "installing" $$missing; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	fi
	@if [ ! -f .data/npm/node_modules/axe-core/axe.min.js ] || [ ! -f .data/npm/node_modules/lnmessage/package.json ]; then \
		command -v npm >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq npm >/dev/null; }; \
		mkdir -p .data/npm && npm install --silent --no-save --no-audit --no-fund --prefix .data/npm axe-core@$(AXE_VERSION) lnmessage@$(LNMESSAGE_VERSION); \
	fi

# The production shape without containers (issue 16): Temporal's server and
# SQL schema tool at the version the CLI embeds, and the Web UI server, all
# built from their Go modules (no replace directives); PostgreSQL from
# Debian. Built once, cached in bin/.
TEMPORAL_SERVER_VERSION := v1.29.1
TEMPORAL_UI_VERSION := v2.42.1
STACK_BIN := $(BIN)/temporal-server $(BIN)/temporal-sql-tool $(BIN)/temporal-ui-server
stack-bin: $(STACK_BIN)
$(BIN)/temporal-server $(BIN)/temporal-sql-tool &:
	rm -rf $(BIN)/.temporal-server && mkdir -p $(BIN)/.temporal-server
	GOBIN=$(BIN)/.temporal-server $(GO) install go.temporal.io/server/cmd/server@$(TEMPORAL_SERVER_VERSION) go.temporal.io/server/cmd/tools/sql@$(TEMPORAL_SERVER_VERSION)
	mv $(BIN)/.temporal-server/server $(BIN)/temporal-server
	mv $(BIN)/.temporal-server/sql $(BIN)/temporal-sql-tool
	rmdir $(BIN)/.temporal-server
$(BIN)/temporal-ui-server:
	rm -rf $(BIN)/.temporal-ui && mkdir -p $(BIN)/.temporal-ui
	GOBIN=$(BIN)/.temporal-ui $(GO) install github.com/temporalio/ui-server/v2/cmd/server@$(TEMPORAL_UI_VERSION)
	mv $(BIN)/.temporal-ui/server $(BIN)/temporal-ui-server
	rmdir $(BIN)/.temporal-ui

stack-deps:
	@dpkg -s postgresql >/dev/null 2>&1 || { echo "installing postgresql"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null; }

# PostgreSQL + Temporal's four services + Web UI + two workers + codec
# server, on this machine; Ctrl-C stops it, .data/stack keeps the data.
stack: build stack-deps stack-bin
	./bin/lnplaylive-stack

# The system tests against that stack (they start their own, without the
# Web UI, so its build is not needed here).
test-stack: deps stack-deps temporal $(BIN)/temporal-server $(BIN)/temporal-sql-tool build
	mkdir -p .data; set -o pipefail; LNPLAYLIVE_STACK=1 LNPLAYLIVE_FAULTS_REPORT=$(CURDIR)/.data/stack-faults.md $(GO) test -count=1 -timeout 25m -run 'TestStack' -v ./e2e 2>&1 | \
		grep -E '^\s*(---|\|)|^(ok|FAIL|PASS)|_test\.go:[0-9]+: '

vet:
	$(GO) vet ./...
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo "gofmt needed"; exit 1; }

# CLN's schemas, which the stand-ins validate against, come from ../shared;
# a clone without it fetches them at the pinned tag (verified blob by blob).
schemas:
	@if [ -z "$$LNPLAYLIVE_SHARED" ] && [ ! -d ../shared/cln/schemas ]; then $(GO) run ./internal/testworld/clnschema/fetchschemas; fi

# Records workflow histories for the replay test (workflows/testdata), by
# name: make record-histories HISTORIES=order_provisioned_nodes_once
record-histories: deps temporal schemas
	LNPLAYLIVE_RECORD_HISTORIES=$(HISTORIES) $(GO) test -count=1 -run 'TestExpiryFreesTheSlotForTheNextOrder|TestAWarmPlaygroundIsClaimedInSecondsAndRefilled' ./e2e

# Ends by saying, for each package with real-build tests, whether they ran
# on a real Core Lightning / Bitcoin Core (LNPLAYLIVE_REAL_CLN,
# LNPLAYLIVE_REAL_BITCOIND) or skipped; the same when a test failed.
TIERS := $(CURDIR)/.data/tiers
test: deps temporal vet schemas
	@rm -rf $(TIERS)
	@status=0; LNPLAYLIVE_TIERS_DIR=$(TIERS) $(GO) test -count=1 -timeout 25m ./... || status=$$?; \
		./scripts/tiers.sh $(TIERS); exit $$status

# The whole fault suite (make test runs its fast scenarios); the report
# table is printed and written to .data/faults.md.
faults: deps temporal
	mkdir -p .data
	set -o pipefail; LNPLAYLIVE_FAULTS=all LNPLAYLIVE_FAULTS_REPORT=$(CURDIR)/.data/faults.md \
		$(GO) test -count=1 -timeout 30m -run 'TestFaults' -v ./e2e 2>&1 | tee .data/faults.log | \
		grep -E '^\s*(---|\|)|^(ok|FAIL)|_test\.go:[0-9]+: [a-zA-Z]'
	@cat .data/faults.md

# Speed and memory against floors measured in the same run; writes
# docs/BENCHMARKS.md. Not part of make test: a slow machine must not fail tests.
# LNPLAYLIVE_BENCH_ORDERS (default 10000) sizes the live-orders fill.
# Profiles of the run go to .data/bench.
bench: deps temporal stack-deps stack-bin
	mkdir -p .data/bench
	set -o pipefail; LNPLAYLIVE_BENCH=1 LNPLAYLIVE_BENCH_PROFILES=$(CURDIR)/.data/bench \
		$(GO) test -count=1 -timeout 60m -run 'TestBenchRealChain' -v ./infra/playground 2>&1 | tee .data/bench-realchain.log | \
		grep -E '^\s*bench_realchain_test\.go:[0-9]+: |^(ok|FAIL|--- )'
	set -o pipefail; LNPLAYLIVE_BENCH=1 LNPLAYLIVE_BENCH_PROFILES=$(CURDIR)/.data/bench \
		$(GO) test -count=1 -timeout 20m -run 'TestBenchStorefront' -v ./e2e 2>&1 | tee .data/bench-storefront.log | \
		grep -E '^\s*bench_storefront_test\.go:[0-9]+: |^\s*\||^(ok|FAIL|--- )'
	set -o pipefail; LNPLAYLIVE_BENCH=1 LNPLAYLIVE_BENCH_OUT=$(CURDIR)/docs/BENCHMARKS.md LNPLAYLIVE_BENCH_PROFILES=$(CURDIR)/.data/bench \
		$(GO) test -count=1 -timeout 30m -run 'TestBenchmarks' -v ./e2e 2>&1 | tee .data/bench.log | \
		grep -E '^\s*bench_(test|model_test)\.go:[0-9]+: |^(ok|FAIL|--- )'
	@echo "docs/BENCHMARKS.md written; profiles in .data/bench"

run: build temporal
	./scripts/run.sh

clean:
	rm -rf $(BIN) .data
