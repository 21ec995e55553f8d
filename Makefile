# flagstream: `make test` is the test command (CI's .ci/run calls it).
SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

GO       ?= go
SERVICES := scripts/services.sh
RUN      := .run
# Every test, -race on; nothing may skip under make test.
TEST_TIMEOUT ?= 14m

# shellcheck, installed from Debian's packages when missing.
SHELLCHECK = { command -v shellcheck >/dev/null || bash -c '. scripts/apt.sh && apt_install shellcheck'; } && \
	shellcheck -x -P SCRIPTDIR scripts/*.sh

.PHONY: help demo up down services-status test test-unit bench build vet fmt

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-16s %s\n", $$1, $$2}'

demo: ## start everything on loopback and run a simulated experiment; prints the report and the dashboard address
	@scripts/demo.sh up

build: ## build the three commands into bin/
	$(GO) build -o bin/ ./cmd/...

up: ## install (if missing) and start Redis, NATS and ClickHouse on loopback under .run/
	@$(SERVICES) up >/dev/null
	@$(SERVICES) status

down: ## stop everything started under .run/ (data is kept; scripts/services.sh down --purge drops it)
	@scripts/demo.sh stop
	@$(SERVICES) down

services-status: ## show which local services run
	@$(SERVICES) status

vet: ## go vet, gofmt check and shellcheck of scripts/
	$(GO) vet ./...
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { echo "gofmt needed:"; gofmt -l $$(git ls-files '*.go'); exit 1; }
	@$(SHELLCHECK)

# test: start the services, then run every test (unit, integration, fuzz seed
# corpora) with the services' variables set. -v output goes to .run/test.log;
# the terminal gets failures, package results and a check that nothing skipped.
test: ## start the services and run every test with -race; fails if any test skips
	@mkdir -p $(RUN)
	@eval "$$($(SERVICES) up)"; \
	scripts/tools.sh; \
	chromium=$$(scripts/chromium.sh); \
	web=$$(scripts/web.sh); \
	export FLAGSTREAM_TEST_REDIS_URL=$$FLAGSTREAM_REDIS_URL \
	       FLAGSTREAM_TEST_NATS_URL=$$FLAGSTREAM_NATS_URL \
	       FLAGSTREAM_TEST_CLICKHOUSE_DSN=$$FLAGSTREAM_CLICKHOUSE_DSN \
	       FLAGSTREAM_TEST_CHROMIUM=$$chromium \
	       FLAGSTREAM_TEST_WEB=$$web \
	       FLAGSTREAM_TEST_NOSKIP=1; \
	$(GO) vet ./...; \
	$(SHELLCHECK); \
	status=0; \
	$(GO) test -race -count=1 -timeout $(TEST_TIMEOUT) -v ./... > $(RUN)/test.log 2>&1 || status=$$?; \
	grep -vE '^\s*(=== (RUN|PAUSE|CONT|NAME)|--- PASS:)' $(RUN)/test.log | grep -vE '^\s*$$' | \
	  grep -E '^(ok|FAIL|---|panic:|\s+\S+_test\.go:|WARNING: DATA RACE)|^\?|\[no test files\]' || true; \
	if grep -E -- '--- SKIP' $(RUN)/test.log; then echo "make test: the tests above skipped; under make test nothing may skip"; status=1; fi; \
	passed=$$(grep -cE -- '^\s*--- PASS' $(RUN)/test.log || true); failed=$$(grep -cE -- '^\s*--- FAIL' $(RUN)/test.log || true); \
	echo "full log: $(RUN)/test.log"; \
	echo "tests: $$passed passed, $$failed failed"; \
	exit $$status

test-unit: ## the tests that need no services (integration tests skip)
	$(GO) test -race -count=1 ./...

bench: ## start the services, run every Go benchmark, the wrk HTTP benchmark, ingest's backlog drain, the whole pipeline over HTTP, the event streams (10,000 SSE streams, one change); print tables (raw output in .run/bench*)
	@mkdir -p $(RUN)
	@eval "$$($(SERVICES) up)"; \
	export FLAGSTREAM_TEST_REDIS_URL=$$FLAGSTREAM_REDIS_URL \
	       FLAGSTREAM_TEST_NATS_URL=$$FLAGSTREAM_NATS_URL \
	       FLAGSTREAM_TEST_CLICKHOUSE_DSN=$$FLAGSTREAM_CLICKHOUSE_DSN \
	       FLAGSTREAM_TEST_NOSKIP=1; \
	$(GO) test -run '^$$' -bench . -benchmem -timeout 30m ./... | tee $(RUN)/bench.txt | grep -E '^(ok|FAIL|panic)' ; \
	awk -f scripts/benchtable.awk $(RUN)/bench.txt; \
	scripts/bench-http.sh; \
	scripts/bench-ingest.sh; \
	scripts/bench-pipeline.sh; \
	scripts/bench-sse.sh
