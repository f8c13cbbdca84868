# Behalf — `make run` starts the suite, `make test` passes the tests. `make help` lists the rest.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
BIN := $(CURDIR)/.bin
export PATH := $(BIN):$(CURDIR)/$(VENV)/bin:$(PATH)

BUF_VERSION := v1.75.0
GRPCURL_VERSION := v1.9.4
HEALTH_PROBE_VERSION := v0.4.62
GHZ_VERSION := v0.93.0
KUSTOMIZE_VERSION := v5.8.0

GEN_DIR := sdk/python
PROTO_FILES := $(wildcard protos/behalf/v1/*.proto)

.PHONY: help
help: ## List the targets
	@grep -E '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  %-16s %s\n", $$1, $$2}'

# The workspace's distributions, each installed editable from its own folder (pyproject.toml).
# compat mode puts each folder on sys.path, where its `behalf/<name>/` joins the SDK's package.
WORKSPACE := sdk/python[cli,openai-agents,langchain] services/common services/registry \
	services/verifier services/mcp_gateway \
	services/dispatcher services/console
WORKSPACE_PYPROJECTS := pyproject.toml sdk/python/pyproject.toml \
	$(wildcard services/*/pyproject.toml)

# xds-protos ships an older copy of opentelemetry-proto's opentelemetry/proto/*_pb2.py files;
# whichever installs last wins, and the OTLP exporter needs opentelemetry-proto's (a superset).
OTEL_PROTO_LAST = $(PY) -m pip install --quiet --no-deps --force-reinstall -c constraints.txt \
	opentelemetry-proto

$(VENV)/.installed: $(WORKSPACE_PYPROJECTS) constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c constraints.txt --config-settings editable_mode=compat \
		$(foreach d,$(WORKSPACE),-e '$(d)') -e '.[dev]'
	$(OTEL_PROTO_LAST)
	touch $@

.PHONY: install
install: $(VENV)/.installed tools ## Install Python packages (pinned by constraints.txt) and Go tools

$(BIN)/buf:
	GOBIN=$(BIN) go install github.com/bufbuild/buf/cmd/buf@$(BUF_VERSION)
$(BIN)/grpcurl:
	GOBIN=$(BIN) go install github.com/fullstorydev/grpcurl/cmd/grpcurl@$(GRPCURL_VERSION)
$(BIN)/grpc-health-probe:
	GOBIN=$(BIN) go install github.com/grpc-ecosystem/grpc-health-probe@$(HEALTH_PROBE_VERSION)
$(BIN)/ghz:
	GOBIN=$(BIN) go install github.com/bojand/ghz/cmd/ghz@$(GHZ_VERSION)
$(BIN)/kustomize:
	GOBIN=$(BIN) go install sigs.k8s.io/kustomize/kustomize/v5@$(KUSTOMIZE_VERSION)

.PHONY: kcat
kcat: # Debian's kcat, a librdkafka client the tests use to list topics (needs root for apt-get)
	@command -v kcat >/dev/null || { [ "$$(id -u)" = 0 ] && apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq kcat >/dev/null; } || \
		echo "kcat not installed (apt-get needs root); its test will be skipped"

.PHONY: chromium
chromium: # Debian's Chromium, for the console's browser tests (needs root for apt-get)
	@command -v chromium >/dev/null || { [ "$$(id -u)" = 0 ] && apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } || \
		echo "chromium not installed (apt-get needs root); browser tests will be skipped"

.PHONY: tools
tools: $(BIN)/buf $(BIN)/grpcurl $(BIN)/grpc-health-probe $(BIN)/ghz $(BIN)/kustomize kcat chromium ## Install buf, grpcurl, grpc-health-probe, ghz, kustomize, kcat, chromium

.PHONY: protos
protos: $(VENV)/.installed ## Generate Python and TypeScript code from protos/
	$(PY) -m grpc_tools.protoc -I protos --python_out=$(GEN_DIR) --grpc_python_out=$(GEN_DIR) \
		--pyi_out=$(GEN_DIR) $(PROTO_FILES)
	cd sdk/typescript && { [ -d node_modules ] || npm ci --silent; } && npm run --silent gen

.PHONY: protos-check
protos-check: $(VENV)/.installed ## Fail when generated code is stale
	@tmp=$$(mktemp -d) && \
	$(PY) -m grpc_tools.protoc -I protos --python_out=$$tmp --grpc_python_out=$$tmp \
		--pyi_out=$$tmp $(PROTO_FILES) && \
	for f in $$tmp/behalf/v1/*; do \
		cmp -s $$f $(GEN_DIR)/behalf/v1/$$(basename $$f) || \
		{ echo "stale generated code: $(GEN_DIR)/behalf/v1/$$(basename $$f); run 'make protos'"; exit 1; }; \
	done; rm -rf $$tmp

# import-linter finds `behalf` with importlib; importing it first joins the services' portions
# to its __path__ (sdk/python/behalf/__init__.py), so the graph covers the whole workspace.
LINT_IMPORTS := $(PY) -c 'import sys, behalf; from importlinter.cli import lint_imports_command; \
	sys.argv[0] = "lint-imports"; lint_imports_command()'

.PHONY: lint
lint: $(VENV)/.installed $(BIN)/buf ## ruff, mypy (strict), import contracts, buf lint
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(LINT_IMPORTS) --no-cache
	cd protos && $(BIN)/buf lint

.PHONY: fmt
fmt: $(VENV)/.installed ## Format and fix with ruff
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

.PHONY: test
test: install protos-check lint ## Run the whole test suite against real PostgreSQL and Kafka
	$(PY) -m pytest -q --durations=15 $(PYTEST_ARGS)

.PHONY: test-faults
test-faults: install ## Fault suite only: kill Kafka, the registry, PostgreSQL, the dispatcher; input storm
	$(PY) -m pytest -q tests/faults $(PYTEST_ARGS)

.PHONY: test-unit
test-unit: $(VENV)/.installed ## Fast, pure tests only
	$(PY) -m pytest -q tests/unit $(PYTEST_ARGS)

.PHONY: run
run: install ## Start PostgreSQL, Kafka and the three services; print where they listen
	$(PY) deploy/local/devstack.py up

.PHONY: stop
stop: ## Stop what `make run` started
	@if [ -x $(PY) ]; then $(PY) deploy/local/devstack.py down; fi

.PHONY: deploy-check
deploy-check: install ## Validate Kubernetes manifests, Dockerfile, compose file and Envoy config offline
	deploy/validate.sh

.PHONY: bench-verify bench-tracing bench-scaleout bench-propagation bench-snapshot bench-webhooks bench-profile bench-approval-flood bench
bench-verify: install ## Verify vs a bare grpc.aio server and OPA under ghz, shared cores and a core of its own
	$(PY) bench/verify_bench.py
bench-tracing: install ## Verify with tracing off, every call sampled, one in ten (OTLP to a sink)
	$(PY) bench/verify_tracing_bench.py
bench-scaleout: install ## One verifier process vs two on one port (SO_REUSEPORT)
	$(PY) bench/scaleout_bench.py
bench-propagation: install ## DisableAgent returning -> three verifiers deny: p50/p99 over 300 trials
	$(PY) bench/propagation_bench.py
bench-snapshot: install ## Snapshot build time, memory, decide latency at 10k/100k/1M permissions
	$(PY) bench/snapshot_bench.py
bench-webhooks: install ## Signed webhook deliveries/s, decision->receipt latency, a hanging endpoint
	$(PY) bench/webhooks_bench.py
bench-profile: install ## py-spy profile of Verify under ghz load
	$(PY) bench/profile_verify.py
bench-approval-flood: install ## Tenant B's DisableAgent p50/p99 idle vs under tenant A's 500/s approval flood
	$(PY) bench/approval_flood_bench.py
bench: bench-verify bench-tracing bench-scaleout bench-propagation bench-snapshot bench-webhooks bench-profile bench-approval-flood ## Run every benchmark (docs/benchmarks.md)

.PHONY: constraints
constraints: ## Re-pin every installed package into constraints.txt
	$(PY) -m pip freeze --exclude-editable | grep -v '^-e' > constraints.txt
