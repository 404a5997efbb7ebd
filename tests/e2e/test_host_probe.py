"""The emulator (tests/wasmhost) against the real hosts, probe for probe.

The filter relies on a few host facts: how a property path is joined, what each host answers for the properties it
reads, which ones a host does not implement (and logs), and what removing, replacing, adding and replacing the
whole request header map do to what the upstream receives. The Wasm test host encodes what we believe about them;
here the probe filter (tests/probe) replays the same operations on the emulator and on the real host (real Envoy,
and Kong's ngx_wasm_module host from ngxhost.py), and the two must agree on what the upstream receives, what the
probe reads and what the host logs. A host fact the filter depends on is also asserted by itself on the real host.
"""

from __future__ import annotations

import http.client
import re
from dataclasses import dataclass
from typing import Optional

import harness
import ngxhost
import pytest
import wasmhost as wh

PROBE = harness.REPO / "target" / "wasm32-wasip1" / "release" / "mtls_headers_probe.wasm"
# Envoy's pool keys an Envoy by its filter configuration: the probe ignores its own, this one names it apart.
PROBE_CONFIG = "probe"


@dataclass(frozen=True)
class Probe:
    id: str
    ops: str
    headers: tuple = ()
    cert: Optional[str] = "alice"  # None: no client certificate
    h2: bool = False
    plain: bool = False  # plain HTTP (Kong's plain server)


X_A = (("x-a", "client"),)
PROBES = [
    Probe("remove", "remove x-a", X_A),
    Probe("remove-then-add", "remove x-a; add x-a=filter", X_A),
    Probe("replace-single", "replace x-a=filter", X_A),
    Probe("replace-duplicated", "replace x-a=filter", (("x-a", "one"), ("x-a", "two"))),
    Probe("replace-underscore", "replace x_a=filter", (("x_a", "client"), ("x-a", "dash"))),
    Probe("add", "add x-a=filter", X_A),
    Probe("map-drop", "map-drop x-a", (("x-a", "client"), ("x-b", "keep"))),
    Probe("map-keep", "map-keep", (("x-b", "keep"),)),
    Probe("remove-h2", "remove x-a; add x-b=filter", X_A, h2=True),
    Probe("replace-duplicated-h2", "replace x-a=filter", (("x-a", "one"), ("x-a", "two")), h2=True),
]
KONG_PROBES = PROBES + [
    Probe("path-joining", "prop ngx.ssl_client_verify; prop-nul ngx.ssl_client_verify; prop ngx.nginx_version"),
    Probe("verified", "prop ngx.ssl_client_verify; prop ngx.ssl_client_s_dn; prop ngx.ssl_client_serial"),
    Probe("no-cert", "prop ngx.ssl_client_verify; prop ngx.ssl_client_raw_cert", cert=None),
    Probe("nyi", "prop connection.sha256_peer_certificate_digest; prop connection.subject_peer_certificate;"
                 "prop connection.peer_certificate; prop connection.peer_certificate_valid"),
    Probe("plain-http", "prop ngx.ssl_client_verify; prop ngx.nginx_version; prop connection.mtls", cert=None,
          plain=True),
]
ENVOY_PROBES = PROBES + [
    Probe("path-joining", "prop connection.mtls; prop-nul connection.mtls; prop ngx.nginx_version"),
    Probe("verified", "prop connection.peer_certificate_valid; prop connection.sha256_peer_certificate_digest;"
                      "prop connection.subject_peer_certificate"),
    Probe("rogue", "prop connection.mtls; prop connection.peer_certificate_valid", cert="rogue"),
    Probe("no-cert", "prop connection.mtls; prop connection.peer_certificate_valid;"
                     "prop connection.sha256_peer_certificate_digest", cert=None),
]
OPS = "probe-ops"


PROBED = ("x-a", "x_a", "x-b")


def observed(headers: list) -> list:
    """What the comparison reads of the upstream's headers: the probed ones and the probe's reports, as a sorted
    multiset (the emulator forwards a hidden header after the others, nginx where it was). In `probe-view`, the
    names the probe saw, only the probed ones too: what a proxy adds itself (x-request-id, x-forwarded-*, ...) and
    what clients add (connection) is not what is probed."""
    out = []
    for n, v in headers:
        n = n.lower()
        if n == "probe-view":
            v = ",".join(x for x in v.split(",") if x in PROBED)
        if n in PROBED or (n.startswith("probe-") and n != OPS):
            out.append((n, v))
    return sorted(out)


NYI = re.compile(r"\[(\w+)\].*?(NYI - \"[^\"]*\" property)")


def nyi_lines(log: str) -> list:
    return [f"[{m.group(1)}] {m.group(2)}" for m in NYI.finditer(log)]


def emulated(host: wh.WasmHost, certs, profile: str, probe: Probe) -> tuple[list, list]:
    conn = wh.connection(certs, probe.cert, tls=not probe.plain)
    headers = [(OPS, probe.ops), *probe.headers]
    out = host.run(wh.scenario(PROBE, profile, "", conn, [("/", probe.h2, headers)], pre_function=False))
    (x,) = out["exchanges"]
    assert x["forwarded"], x
    return observed([(n, v) for n, v in x["headers"] if not n.startswith(":")]), x["host_logs"]


@pytest.fixture(scope="module")
def probe_wasm():
    if not PROBE.is_file():
        pytest.fail(f"probe not built: {PROBE} is missing; run `make probe`", pytrace=False)
    return PROBE


@pytest.fixture(scope="module")
def kong_probe_host(certs, upstream, probe_wasm):
    try:
        host = ngxhost.NgxWasmHost(certs, upstream.port, PROBE_CONFIG, attach="directive", wasm=probe_wasm).start()
    except ngxhost.HostMissing as e:
        pytest.fail(str(e), pytrace=False)
    yield host
    host.stop()


def kong_real(host: ngxhost.NgxWasmHost, certs, probe: Probe) -> tuple[list, list]:
    before = len(host.error_log())
    headers = [(OPS, probe.ops), *probe.headers]
    if probe.plain:
        conn = http.client.HTTPConnection("127.0.0.1", host.plain_port, timeout=10)
        conn.putrequest("GET", "/")
        for n, v in headers:
            conn.putheader(n, v)
        conn.endheaders()
        r = conn.getresponse()
        resp = harness.Response(r.status, list(r.getheaders()), r.read())
        conn.close()
    else:
        resp = harness.send(host.port, certs, probe.cert, headers, h2=probe.h2)
    assert resp.status == 200, resp
    return observed(resp.upstream_headers()), nyi_lines(host.error_log()[before:])


@pytest.mark.parametrize("probe", KONG_PROBES, ids=lambda p: p.id)
def test_kong_emulator_matches_ngx_wasm_module(probe, kong_probe_host, wasm_host, certs):
    real = kong_real(kong_probe_host, certs, probe)
    assert emulated(wasm_host, certs, "kong", probe) == real


@pytest.mark.parametrize("probe", PROBES[:1] + KONG_PROBES[-5:], ids=lambda p: p.id)
def test_ngx_wasm_module_facts(probe, kong_probe_host, certs):
    """The facts the filter's Kong path is built on, each asserted on the real host by itself."""
    headers, logs = kong_real(kong_probe_host, certs, probe)
    got = dict(headers)
    if probe.id == "remove":
        # A removed header still reaches the upstream (kong/README.md, "Forged headers").
        assert ("x-a", "client") in headers and "x-a" not in got["probe-view"].split(",")
    elif probe.id == "path-joining":
        # Segments joined by NUL without a trailing one (src/proxy.rs); a trailing NUL names another property.
        assert got["probe-prop-0"] == "found:SUCCESS" and got["probe-prop-1"] == "missing"
        assert got["probe-prop-2"] == "found:1.25.3"
    elif probe.id == "nyi":
        # Declared but not implemented: logged per read; the filter never reads them on this host.
        assert got["probe-prop-0"] == "missing" and len(logs) == 2, logs
    elif probe.id in ("no-cert", "plain-http"):
        assert logs == []


def test_ngx_connection_names_one_tls_connection(kong_probe_host, wasm_host, certs):
    """The fact the filter's Kong memo of verified connections rests on (src/peer.rs, read_ngx): `ngx.connection`
    (nginx's `$connection`) is one decimal for every request of a connection, HTTP/1.1 keep-alive and HTTP/2
    streams alike, and another for the next connection. The emulator answers one value per scenario (one
    connection)."""
    ops = [(OPS, "prop ngx.connection")]

    def serials(responses) -> list[str]:
        out = []
        for r in responses:
            assert r.status == 200, r
            value = dict(r.upstream_headers())["probe-prop-0"]
            assert re.fullmatch(r"found:[0-9]+", value), value
            out.append(value)
        return out

    client = harness.ClientCert.named(certs, "alice")
    first = serials(harness.https_requests(kong_probe_host.port, [ops, ops, ops], client=client))
    second = serials(harness.https_requests(kong_probe_host.port, [ops, ops], client=client))
    streams = serials(harness.curl_requests(kong_probe_host.port, [ops, ops], client=client))
    assert len(set(first)) == 1 and len(set(second)) == 1 and len(set(streams)) == 1, (first, second, streams)
    assert len({first[0], second[0], streams[0]}) == 3, (first, second, streams)
    conn = wh.connection(certs, "alice")
    out = wasm_host.run(wh.scenario(PROBE, "kong", "", conn, [("/", False, ops), ("/", True, ops)],
                                    pre_function=False))
    emulated = [dict(x["headers"])["probe-prop-0"] for x in out["exchanges"]]
    assert len(set(emulated)) == 1 and re.fullmatch(r"found:[0-9]+", emulated[0]), emulated


@pytest.fixture(scope="module")
def envoy_probe(envoy_pool, probe_wasm):
    """One listener for every probe: an untrusted certificate and none are let through to the filter."""
    params = harness.EnvoyParams(PROBE_CONFIG, accept_untrusted=True, require_client_certificate=False)
    return envoy_pool.get(params, probe_wasm)


@pytest.mark.parametrize("probe", ENVOY_PROBES, ids=lambda p: p.id)
def test_envoy_emulator_matches_envoy(probe, envoy_probe, wasm_host, certs):
    envoy = envoy_probe
    resp = harness.send(envoy.port, certs, probe.cert, [(OPS, probe.ops), *probe.headers], h2=probe.h2)
    assert resp.status == 200, resp
    assert emulated(wasm_host, certs, "envoy", probe) == (observed(resp.upstream_headers()), [])
