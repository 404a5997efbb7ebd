"""The built filter on Kong 3.9.3's real proxy-wasm host (ngx_wasm_module 9136e463 in nginx 1.25.3, Wasmtime 26;
ngxhost.py), attached both ways the host offers: nginx's `proxy_wasm` directive, and from Lua in the access phase
as Kong's runloop does, after the shipped pre-function code (kong/clear-owned-headers.lua). What the echo upstream
receives is the assertion. The host is built by `make kong-host`; without it these tests fail, never skip.
"""

from __future__ import annotations

import json
import subprocess
import uuid
from pathlib import Path
from typing import Optional

import harness
import ngxhost
import pytest
from cases import (
    BAAS,
    BAAS_ENV,
    CASES,
    ENV_TOKEN,
    FORGED_XSSL,
    INVALID_CONFIGS,
    OWNED_PREFIXES,
    TOKEN,
    OWNED_NAMES,
    SIGN_KEY,
    SIGNATURE_NAMES,
    SIGNED_BAAS,
    XFCC,
    Case,
    assert_owned,
    baas,
    config_text,
    signatures_verify_per_path,
)

KONG = harness.REPO / "kong"
SHIPPED_LUA = (KONG / "clear-owned-headers.lua").read_text()
# The same Lua with its knobs set to every prefix and name the case table's configurations own.
CASES_LUA = SHIPPED_LUA.replace(
    'local prefixes = { "x-ssl" }', "local prefixes = { " + ", ".join(f'"{p}"' for p in OWNED_PREFIXES) + " }"
).replace('local names = { ["x-mtls-headers-dropped"] = true }',
         "local names = { " + "".join(f'["{n}"] = true, ' for n in OWNED_NAMES) + "}")
assert CASES_LUA != SHIPPED_LUA
# ngx_wasm_module ends a local reply's body with one more newline.
REFUSED = b"bad request: client certificate headers must not come from the client\n\n"


class Pool:
    """One nginx per (configuration, attach, verification, environment), started on first use."""

    def __init__(self, certs: Path, upstream_port: int) -> None:
        self.certs, self.upstream_port, self.hosts = certs, upstream_port, {}

    def get(self, config: Optional[str], attach: str = "lua", *, pre_lua: Optional[str] = None,
            verify_client: str = "optional", env: Optional[dict] = None) -> ngxhost.NgxWasmHost:
        pre_lua = CASES_LUA if pre_lua is None and attach == "lua" else (pre_lua or "")
        key = (config, attach, pre_lua, verify_client, json.dumps(env or {}))
        if key not in self.hosts:
            self.hosts[key] = ngxhost.NgxWasmHost(self.certs, self.upstream_port, config, attach=attach,
                                                  pre_lua=pre_lua, verify_client=verify_client, env=env).start()
        return self.hosts[key]

    def close(self) -> None:
        for host in self.hosts.values():
            host.stop()


@pytest.fixture(scope="module")
def ngx(certs, upstream, wasm):
    pool = Pool(certs, upstream.port)
    yield pool
    pool.close()


def http_request(port: int) -> harness.Response:
    """Plain HTTP/1.1 to the host's non-TLS server."""
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("GET", "/plain", headers={"X-Custom": "keep"})
    r = conn.getresponse()
    resp = harness.Response(r.status, [(k, v) for k, v in r.getheaders()], r.read())
    conn.close()
    return resp


def owns_any(headers, config: dict) -> bool:
    xfcc = (XFCC,) if config.get("preset") == "envoy-xfcc" else ()
    signature = SIGNATURE_NAMES if "sign" in config else ()
    return bool(harness.select(headers, (*OWNED_PREFIXES, *xfcc, *signature)))


def test_host_is_the_pinned_build():
    out = subprocess.run([str(ngxhost.nginx_binary()), "-V"], capture_output=True, text=True).stderr
    assert "nginx/1.25.3" in out and "ngx_wasm_module-9136e463" in out and "lua-nginx-module-0.10.26" in out, out


# Which cases this host can produce: nginx has no XFCC (`source`), and with `ssl_verify_client optional` an
# untrusted or expired certificate never reaches a filter (nginx answers 400): those run with `optional_no_ca`.
def verify_for(case: Case) -> str:
    return "optional_no_ca" if case.cert in ("rogue", "expired") else "optional"


class Lowered:
    """nginx keeps the client's header casing on the way to the upstream; the shared checks compare lower case."""

    def __init__(self, resp: harness.Response) -> None:
        self.resp = resp

    def upstream_headers(self):
        return [(n.lower(), v) for n, v in self.resp.upstream_headers()]

    def json(self):
        return self.resp.json()


@pytest.mark.parametrize("attach", ["lua", "directive"])
@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_upstream_headers(case: Case, attach, ngx, certs, upstream):
    env = {harness.TOKEN_ENV: case.envoy["token_env"]} if "token_env" in case.envoy else None
    host = ngx.get(json.dumps(case.config), attach, verify_client=verify_for(case), env=env)
    headers = case.send(certs) if callable(case.send) else case.send
    path = f"/{case.id}/{uuid.uuid4().hex}"
    resp = harness.send(host.port, certs, case.cert, headers, h2=case.h2, path=path)
    reached = [r for r in upstream.requests if r["path"] == path]
    if case.cert == "expired":
        # `optional_no_ca` lets only untrusted-issuer errors through: nginx itself answers 400 to an expired
        # certificate, and no filter runs.
        assert resp.status == 400 and b"The SSL certificate error" in resp.body and not reached
        return
    if attach == "directive" and owns_any(headers, case.config):
        # Nothing cleared the client's copies first: the filter refuses rather than forward them.
        assert (resp.status, resp.body, reached) == (400, REFUSED, []), resp.body[:300]
        return
    expect = case.expected_for("kong")
    assert resp.status == case.status, resp.body[:500]
    if expect is None:
        # ngx_wasm_module ends a local reply's body with a newline of its own.
        assert resp.body == case.body + b"\n" and not reached
        return
    assert resp.json()["path"] == path
    assert_owned(resp, expect(certs))
    check = case.check_for("kong")
    if check is not None:
        check(certs, Lowered(resp))


# Every owned name, every spelling and duplicate, on every kind of connection.
SPOOF = [
    ("X-SSL-Client-CN", "forged-admin"), ("x-ssl-client-cn", "forged-2"), ("X_SSL_CLIENT_CN", "forged-3"),
    ("x-Ssl-Client-Serial", "00"), ("X-SSL-Issuer-DN", "CN=forged"), ("x_ssl_issuer_dn", "CN=forged"),
    ("X-SSL-Client-CertAuth-Validated", "1"), ("x_ssl_client_certauth_validated", "1"),
    ("X-SSL-Validate-Token", "forged"), ("x-ssl-client-uid", "admin"), ("X-SSL-Anything", "forged"),
    ("x-ssl-client-verify", "SUCCESS"), ("X-SSL-CLIENT-CN", "forged-4"),
]
CONNECTIONS = [("alice", "optional"), (None, "optional"), ("rogue", "optional_no_ca")]


@pytest.mark.parametrize("h2", [False, True], ids=["h1", "h2"])
@pytest.mark.parametrize("cert,verify", CONNECTIONS, ids=["verified", "no-cert", "unverified"])
def test_spoof_matrix(cert, verify, h2, ngx, certs, upstream):
    """The shipped pre-function code in front of the filter: no forged value reaches the upstream, the real
    identity does. Without it (the directive) the filter refuses: still no forged value upstream."""
    expected = baas(cert)(certs) if cert == "alice" else {"x-ssl-validate-token": TOKEN}
    lua = ngx.get(json.dumps(BAAS), "lua", pre_lua=SHIPPED_LUA, verify_client=verify)
    resp = harness.send(lua.port, certs, cert, SPOOF + [("X-Custom", "keep")], h2=h2)
    assert resp.status == 200, resp.body[:300]
    assert_owned(resp, expected)
    assert ("x-custom", "keep") in Lowered(resp).upstream_headers()

    direct = ngx.get(json.dumps(BAAS), "directive", verify_client=verify)
    path = f"/spoof/{uuid.uuid4().hex}"
    resp = harness.send(direct.port, certs, cert, SPOOF, h2=h2, path=path)
    assert (resp.status, resp.body) == (400, REFUSED)
    assert not [r for r in upstream.requests if r["path"] == path]
    log = direct.error_log()
    assert "which this host cannot remove" in log and "forged-admin" not in log


@pytest.mark.parametrize("attach", ["lua", "directive"])
def test_plain_http_settles_the_host_and_reads_no_unimplemented_property(attach, ngx, certs):
    host = ngx.get(json.dumps(BAAS), attach)
    for _ in range(3):
        resp = http_request(host.plain_port)
        assert resp.status == 200
        assert_owned(resp, {"x-ssl-validate-token": TOKEN})
    resp = harness.send(host.port, certs, "alice", [])
    assert_owned(resp, baas("alice")(certs))
    log = host.error_log()
    # ngx_wasm_module logs a read of a not-implemented property at alert level ("NYI - ... property").
    assert "NYI" not in log and "property not supported" not in log, log[-2000:]


# ingress-nginx's nginx.tmpl sets these four from nginx's own variables: the preset must send what nginx does.
INGRESS_NGINX = [("ssl-client-verify", "$ssl_client_verify"), ("ssl-client-subject-dn", "$ssl_client_s_dn"),
                 ("ssl-client-issuer-dn", "$ssl_client_i_dn"), ("ssl-client-cert", "$ssl_client_escaped_cert")]


@pytest.mark.parametrize("cert", ["alice", "bob", "carol"])
def test_ingress_nginx_preset_is_nginx_own_variables(cert, certs, upstream):
    """On nginx itself, next to the filter: `proxy_set_header x-nginx-<name> $ssl_client_...` for each header
    ingress-nginx sends. alice's DN has UTF-8 and an escaped comma; carol's has two OUs."""
    extra = "\n".join(f"proxy_set_header x-nginx-{name} {var};" for name, var in INGRESS_NGINX)
    host = ngxhost.NgxWasmHost(certs, upstream.port, json.dumps({"preset": "ingress-nginx"}),
                               extra_location=extra).start()
    try:
        got = dict(Lowered(harness.send(host.port, certs, cert, [])).upstream_headers())
    finally:
        host.stop()
    for name, _ in INGRESS_NGINX:
        assert got[name] == got[f"x-nginx-{name}"], (name, got)


@pytest.mark.parametrize("attach", ["lua", "directive"])
def test_audit_mode_and_metrics_in_the_shm_zone(attach, certs, upstream):
    """`mode: audit` on the real host: what `required` would refuse is forwarded, logged and counted; every
    counter is in ngx_wasm_module's `metrics` shm zone as `pw:mtls_headers:<name>` (what Kong's Prometheus plugin
    exports on a Kong whose version matches this ngx_wasm_module's `pw:` prefix)."""
    config = {"mode": "audit", "preset": "baas", "validate_token": TOKEN, "headers": {"x-ssl-client-verify": "verify"}}
    pre_lua = CASES_LUA if attach == "lua" else ""
    host = ngxhost.NgxWasmHost(certs, upstream.port, json.dumps(config), attach=attach, pre_lua=pre_lua).start()
    try:
        forged = FORGED_XSSL if attach == "lua" else []
        for cert in ["alice", "alice", None]:
            resp = harness.send(host.port, certs, cert, forged)
            assert resp.status == 200, resp.body[:300]
        assert_owned(resp, {"x-ssl-validate-token": TOKEN, "x-ssl-client-verify": "NONE"})
        got = {k.removeprefix("pw:mtls_headers:mtls_headers."): v for k, v in host.metrics().items()}
        want = {"verdict.verified": 2, "verdict.no_certificate": 1, "audit.would_refuse": 1,
                "identity_cache.miss": 1, "identity_cache.hit": 1}
        assert {k: got.get(k) for k in want} == want, host.metrics()
        assert "audit: mode `required` would refuse this request: no client certificate" in host.error_log()
    finally:
        host.stop()


@pytest.mark.parametrize("attach", ["lua", "directive"])
def test_signatures_verify_on_repeated_and_new_paths(attach, ngx, certs):
    """Signing reuses an identity's state per request target: a signature for a path seen before, one with a query,
    and one for a target the memo no longer holds all verify (http-message-signatures) at the upstream."""
    host = ngx.get(json.dumps(SIGNED_BAAS), attach, env={harness.TOKEN_ENV: SIGN_KEY})
    signatures_verify_per_path(certs, lambda path: harness.send(host.port, certs, "alice", [], path=path))


@pytest.mark.parametrize("attach", ["lua", "directive"])
def test_keep_alive_connections_keep_their_own_identity(attach, ngx, certs):
    """The filter remembers each verified connection (`ngx.connection`) and reads neither the verification nor
    the PEM again on its next requests: three keep-alive connections (alice, bob, and alice again, whose
    certificate is then cached), their requests interleaved, each request getting its own connection's identity."""
    import http.client

    host = ngx.get(json.dumps(BAAS), attach)
    conns = []
    for name in ("alice", "bob", "alice"):
        ctx = harness._tls_context(harness.ClientCert.named(certs, name), ["http/1.1"])
        conn = http.client.HTTPSConnection("localhost", host.port, context=ctx, timeout=10)
        conns.append((name, conn))
    try:
        for _ in range(3):
            for name, conn in conns:
                conn.request("GET", f"/keep-alive/{name}")
                r = conn.getresponse()
                resp = harness.Response(r.status, list(r.getheaders()), r.read())
                assert r.status == 200 and not r.will_close, (name, resp)
                assert_owned(resp, baas(name)(certs))
    finally:
        for _, conn in conns:
            conn.close()


def test_token_from_the_environment_needs_nginx_env(ngx, certs):
    host = ngx.get(json.dumps(BAAS_ENV), "lua", env={harness.TOKEN_ENV: ENV_TOKEN})
    assert_owned(harness.send(host.port, certs, "alice", FORGED_XSSL), baas("alice", ENV_TOKEN)(certs))


# The two raw-text entries (not JSON, not an object) are left to the emulator: their bytes do not survive the
# quoting of an nginx directive and a Lua string unchanged.
@pytest.mark.parametrize("case", [c for c in INVALID_CONFIGS if "raw" not in c], ids=lambda c: c["id"])
def test_invalid_configuration_fails_closed(case, ngx, certs, upstream):
    """Attached from Lua (Kong): the plan does not load and every request gets 500. With the directive nginx
    refuses to start. Either way the error names the field."""
    host = ngx.get(config_text(case), "lua", env=case.get("env"))
    resp = harness.send(host.port, certs, "alice", FORGED_XSSL)
    assert resp.status == 500
    assert f"field `{case['field']}`" in host.error_log()
    with pytest.raises(ngxhost.HostError, match=f"field `{case['field']}`"):
        ngxhost.NgxWasmHost(certs, upstream.port, config_text(case), env=case.get("env")).start()
