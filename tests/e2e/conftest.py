"""Session fixtures for the end-to-end tests: a test PKI, the echo upstream, the built filter, and a pool of real
Envoy processes, one per distinct configuration (started on first use, stopped at the end of the session).

A missing Envoy or a missing filter build is a test failure, never a skip: `make test-e2e` must not pass vacuously.
"""

from __future__ import annotations

import json
import sys
from collections import OrderedDict
from pathlib import Path
from typing import Mapping, Union

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

import echo  # noqa: E402
import harness  # noqa: E402
import wasmhost  # noqa: E402

MAX_LIVE_ENVOYS = 8


@pytest.fixture(scope="session")
def envoy_bin() -> Path:
    try:
        return harness.envoy_binary()
    except harness.EnvoyMissing as e:
        pytest.fail(str(e), pytrace=False)


@pytest.fixture(scope="session")
def certs(tmp_path_factory) -> Path:
    return harness.gen_certs(tmp_path_factory.mktemp("certs"))


@pytest.fixture(scope="session")
def upstream():
    server = echo.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def wasm() -> Path:
    if not harness.WASM.is_file():
        pytest.fail(f"filter not built: {harness.WASM} is missing; run `make build`", pytrace=False)
    return harness.WASM


@pytest.fixture(scope="session")
def wasm_host():
    """One `wasmhost` process (tests/wasmhost) for the session: the module is compiled once."""
    try:
        host = wasmhost.WasmHost()
    except FileNotFoundError as e:
        pytest.fail(str(e), pytrace=False)
    yield host
    host.close()


class EnvoyPool:
    """Envoys cached by EnvoyParams; at most MAX_LIVE_ENVOYS run at once (least recently used stops first)."""

    def __init__(self, workdir: Path, certs: Path, upstream_port: int) -> None:
        self.workdir = workdir
        self.certs = certs
        self.upstream_port = upstream_port
        self.live: OrderedDict[harness.EnvoyParams, harness.Envoy] = OrderedDict()
        self.count = 0
        self.last: Union[harness.Envoy, None] = None  # for the log tail of a failed test

    def get(self, params: harness.EnvoyParams, wasm: Union[Path, None]) -> harness.Envoy:
        envoy = self.live.get(params)
        if envoy is not None and envoy.alive():
            self.live.move_to_end(params)
            self.last = envoy
            return envoy
        if envoy is not None:  # died: drop it and start afresh
            envoy.cleanup()
            del self.live[params]
        while len(self.live) >= MAX_LIVE_ENVOYS:
            _, oldest = self.live.popitem(last=False)
            oldest.cleanup()
        self.count += 1
        config = harness.bootstrap(
            certs=self.certs,
            upstream_port=self.upstream_port,
            wasm_path=wasm if params.filter_config is not None else None,
            filter_config=params.filter_config,
            accept_untrusted=params.accept_untrusted,
            require_client_certificate=params.require_client_certificate,
            xfcc=params.xfcc,
        )
        path = harness.write_config(config, self.workdir / f"envoy-{self.count}.json")
        envoy = harness.Envoy(
            path, self.workdir, token=params.token_env, component_log_level=params.component_log_level,
            binary=harness.envoy_binary(params.version),
        ).start()
        self.live[params] = envoy
        self.last = envoy
        return envoy

    def close(self) -> None:
        for envoy in self.live.values():
            envoy.cleanup()
        self.live.clear()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """A failed test that used a pooled Envoy shows that Envoy's log tail (the filter's warnings and errors)."""
    outcome = yield
    report = outcome.get_result()
    if report.when == "call" and report.failed and "envoy_pool" in item.fixturenames:
        pool = item.funcargs.get("envoy_pool") or _POOL.get("pool")
        if pool is not None and pool.last is not None:
            report.sections.append(("Envoy log (last 40 lines)", pool.last.log_tail()))


_POOL: dict = {}


@pytest.fixture(scope="session")
def envoy_pool(envoy_bin, certs, upstream, tmp_path_factory):
    pool = EnvoyPool(tmp_path_factory.mktemp("envoy"), certs, upstream.port)
    _POOL["pool"] = pool
    yield pool
    pool.close()
    _POOL.clear()


@pytest.fixture(scope="session")
def envoy_for(envoy_pool, wasm):
    """envoy_for(filter_config, **options) -> a running Envoy with the filter; options as in EnvoyParams."""

    def get(filter_config: Union[Mapping, str], **options) -> harness.Envoy:
        text = filter_config if isinstance(filter_config, str) else json.dumps(filter_config, sort_keys=True)
        return envoy_pool.get(harness.EnvoyParams(text, **options), wasm)

    return get


@pytest.fixture(scope="session")
def envoy_without_filter(envoy_pool) -> harness.Envoy:
    """The same listener and route without the wasm filter: the baseline that shows what the filter changes."""
    return envoy_pool.get(harness.EnvoyParams(None), None)
