"""End to end: the built filter in a real Envoy 1.40 (V8), an echo upstream, TLS clients with test certificates.

The request and configuration tables live in cases.py (shared with the Wasm host's Envoy and Kong profiles).
"""

from __future__ import annotations

import shutil
import time
import uuid
from pathlib import Path
from typing import Optional

import harness
import pytest
from cases import (
    BAAS,
    CASES,
    FORGED_XSSL,
    INVALID_CONFIGS,
    OWNED_PREFIXES,
    SIGN_KEY,
    SIGNED_BAAS,
    TOKEN,
    VALID_CONFIGS,
    Case,
    assert_owned,
    baas,
    config_text,
    parse_xfcc,
    signatures_verify_per_path,
)
from harness import ClientCert, TLSRejected


def send(envoy: harness.Envoy, certs: Path, cert: Optional[str], headers: list, *, h2: bool = False,
         path: str = "/") -> harness.Response:
    return harness.send(envoy.port, certs, cert, headers, h2=h2, path=path)


def test_without_filter_forged_headers_reach_upstream(envoy_without_filter, certs):
    """The baseline (and a harness self-check needing no filter build): Envoy alone strips nothing."""
    resp = harness.https_request(envoy_without_filter.port, FORGED_XSSL, client=ClientCert.named(certs, "alice"))
    assert resp.status == 200
    got = harness.select(resp.upstream_headers(), OWNED_PREFIXES)
    assert ("x-ssl-client-cn", "forged-admin") in got
    assert ("x_ssl_client_cn", "forged-admin") in got
    assert ("x-ssl-client-certauth-validated", "1") in got


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_upstream_headers(case: Case, envoy_for, certs, upstream):
    envoy = envoy_for(case.config, **case.envoy)
    headers = case.send(certs) if callable(case.send) else case.send
    path = f"/{case.id}/{uuid.uuid4().hex}"
    resp = send(envoy, certs, case.cert, headers, h2=case.h2, path=path)
    assert resp.status == case.status, resp.body[:500]
    if case.expect is None:
        assert resp.body == case.body
        assert not [r for r in upstream.requests if r["path"] == path], "the upstream was reached"
        return
    assert resp.json()["path"] == path
    assert_owned(resp, case.expect(certs))
    check = case.check_for("envoy")
    if check is not None:
        check(certs, resp)


@pytest.mark.parametrize("xfcc", ["SANITIZE_SET_NO_CHAIN", "SANITIZE_SET"], ids=["no-chain", "chain"])
@pytest.mark.parametrize("name", ["bob", "carol", "dave"])
def test_envoy_xfcc_field_is_envoys_own_header(name, xfcc, envoy_for, certs):
    """The `envoy.xfcc` field (preset envoy-xfcc) byte for byte against the XFCC Envoy itself writes with
    SANITIZE_SET and subject, cert, uri, dns, with and without chain, for certificates with no `,;="\\`, `%` or
    space in a SAN (dave presents an intermediate; bob and carol get the CA after them from the client's store)."""
    envoy = envoy_for({"headers": {"x-client-xfcc": "envoy.xfcc"}}, xfcc=xfcc)
    resp = send(envoy, certs, name, [])
    got = dict(resp.upstream_headers())
    assert got["x-client-xfcc"] == got["x-forwarded-client-cert"], got
    assert ('Chain="' in got["x-client-xfcc"]) == (xfcc == "SANITIZE_SET"), got


@pytest.mark.parametrize("h2", [False, True], ids=["h1", "h2"])
@pytest.mark.parametrize("name", ["bob", "dave", "rogue"])
def test_envoy_chain_is_what_the_test_clients_present(name, h2, envoy_for, certs):
    """The host facts the chain cases stand on, probed on real Envoy and on the Wasm host's Envoy profile alike:
    Envoy's XFCC `Chain=` is every certificate the client presented, leaf first (certinfo.presented: dave's file
    chain; for bob, the CA OpenSSL's client adds from its store; rogue's issuer is in no store, so rogue alone), and
    its Cert= and Chain= are what the emulator writes (wasmhost.envoy_xfcc)."""
    from urllib.parse import unquote

    import certinfo as ci
    import wasmhost as wh

    envoy = envoy_for({}, accept_untrusted=True)
    got = dict(send(envoy, certs, name, [], h2=h2).upstream_headers())["x-forwarded-client-cert"]
    [(_, emulated)] = wh.envoy_xfcc(certs, name, [], "SANITIZE_SET")

    def pairs(xfcc: str) -> dict:
        return {k: xfcc.split(f';{k}="')[1].split('"')[0] for k in ("Cert", "Chain")}

    assert pairs(got) == pairs(emulated), (got, emulated)
    chain = unquote(pairs(got)["Chain"])
    assert chain == "".join(ci.pem(der) for der in ci.presented(certs / f"{name}.crt")), chain


def test_envoy_own_xfcc_misreads_a_san_with_a_semicolon(envoy_for, certs):
    """Why preset envoy-xfcc quotes SANs: Envoy writes inject.crt's URI SAN `https://ok.example/?a=1;Hash=00` raw,
    so its own header does not parse (xfcc-parser stops at the SAN's `=`: "TrailingSequence"), and a laxer parser
    reads a second Hash out of it. Through the filter the same certificate parses back exactly (the case table's
    preset-envoy-xfcc-inject-parsed)."""
    envoy = envoy_for({}, xfcc="SANITIZE_SET_NO_CHAIN")
    xfcc = dict(send(envoy, certs, "inject", []).upstream_headers())["x-forwarded-client-cert"]
    assert ";URI=https://ok.example/?a=1;Hash=00;" in xfcc, xfcc
    parsed = parse_xfcc(xfcc)
    assert "elements" not in parsed and "TrailingSequence" in parsed["error"], parsed


# ----------------------------------------------------------------------------------------------------------------
# Other request-level behaviour


@pytest.mark.parametrize("h2", [False, True], ids=["h1", "h2"])
def test_non_utf8_header_value(h2, envoy_for, certs):
    """A non-UTF-8 byte in a header must neither kill the VM (the SDK's String API panics on it) nor stop the
    stripping; a second request on a fresh connection proves the VM is alive."""
    envoy = envoy_for(BAAS)
    headers = [
        ("x-latin1", b"caf\xe9"),
        ("X-SSL-Client-CN", "forged-admin"),
        ("x_ssl_client_cn", b"forg\xe9d"),
        ("x-ssl-client-uid", b"\xff\xfe"),
    ]
    resp = send(envoy, certs, "alice", headers, h2=h2)
    assert resp.status == 200, resp.body[:500]
    assert_owned(resp, baas("alice")(certs))
    assert ("x-latin1", "caf\xe9") in resp.upstream_headers()
    again = send(envoy, certs, "alice", [("X-SSL-Client-CN", "forged-admin")], h2=h2)
    assert again.status == 200, again.body[:500]
    assert_owned(again, baas("alice")(certs))


@pytest.mark.parametrize("h2", [False, True], ids=["h1", "h2"])
def test_keepalive_every_request_filtered(h2, envoy_for, certs):
    """Every request on a reused connection is stripped and gets the identity, not only the first."""
    envoy = envoy_for(BAAS)
    requests = [FORGED_XSSL, [("x-ssl-client-cn", "forged-admin")], FORGED_XSSL[::-1]]
    client = ClientCert.named(certs, "alice")
    if h2:
        responses = harness.curl_requests(envoy.port, requests, client=client)
    else:
        responses = harness.https_requests(envoy.port, requests, client=client)
    assert [r.status for r in responses] == [200, 200, 200]
    if h2:
        assert [r.new_connection for r in responses] == [True, False, False]
    for resp in responses:
        assert_owned(resp, baas("alice")(certs))


def test_signatures_verify_on_repeated_and_new_paths(envoy_for, certs):
    """Signing reuses an identity's state per request target: a signature for a path seen before, one with a query,
    and one for a target the memo no longer holds all verify (http-message-signatures) at the upstream."""
    envoy = envoy_for(SIGNED_BAAS, token_env=SIGN_KEY)
    signatures_verify_per_path(certs, lambda path: send(envoy, certs, "alice", [], path=path))


def test_audit_mode_and_metrics_in_envoy_stats(envoy_for, certs):
    """`mode: audit` forwards what `required` would refuse and says so (a bounded log line, a counter); every
    counter is in /stats and /stats/prometheus (README, "Metrics and audit"). A configuration of its own: a fresh
    Envoy, so the counts are this test's."""
    config = {"mode": "audit", "preset": "baas", "validate_token": TOKEN,
              "headers": {"x-ssl-client-verify": "verify", "x-ssl-audit-test": "static:1"}}
    envoy = envoy_for(config, require_client_certificate=False, component_log_level="wasm:info")
    for cert, forged in [("alice", FORGED_XSSL), ("alice", []), (None, FORGED_XSSL)]:
        resp = send(envoy, certs, cert, forged)
        assert resp.status == 200, resp.body
    assert_owned(resp, {"x-ssl-validate-token": TOKEN, "x-ssl-client-verify": "NONE", "x-ssl-audit-test": "1"})
    stripped = len({n.lower() for n, _ in FORGED_XSSL})  # distinct names: the filter removes each once
    want = {
        "verdict.verified": 2, "verdict.no_certificate": 1, "audit.would_refuse": 1, "identity_cache.miss": 1,
        "identity_cache.hit": 1, "headers_stripped": 2 * stripped,
    }
    deadline = time.monotonic() + 5
    while True:
        stats = dict(line.split(": ", 1) for line in envoy.admin_get("/stats?filter=mtls_headers").splitlines())
        got = {k.removeprefix("wasmcustom.mtls_headers."): int(v) for k, v in stats.items()}
        if all(got.get(k) == v for k, v in want.items()) or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert {k: got.get(k) for k in want} == want, stats
    prometheus = envoy.admin_get("/stats/prometheus")
    assert "mtls_headers_audit_would_refuse{} 1" in prometheus.splitlines(), prometheus[-2000:]
    assert "audit: mode `required` would refuse this request: no client certificate" in envoy.log()


def test_reply_details_name_the_reason(envoy_for, certs):
    """%RESPONSE_CODE_DETAILS% says why the filter answered (README, "Local replies")."""
    envoy = envoy_for({"mode": "required"}, require_client_certificate=False)
    assert send(envoy, certs, None, []).status == 403
    deadline = time.monotonic() + 5
    while "access 403 mtls_headers_certificate_required" not in envoy.log() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert "access 403 mtls_headers_certificate_required" in envoy.log(), envoy.log_tail()


def test_log_names_no_secrets(envoy_for, certs):
    """The filter may warn about stripped headers by name, never with their values; never the token or a PEM."""
    envoy = envoy_for(BAAS, component_log_level="wasm:debug")
    marker = f"forged-{uuid.uuid4().hex}"
    for h2 in (False, True):
        resp = send(envoy, certs, "alice", [("X-SSL-Client-CN", marker), ("x_ssl_validate_token", marker)], h2=h2)
        assert resp.status == 200
    send(envoy, certs, "alice", [])
    log = envoy.log()
    assert marker not in log
    assert TOKEN not in log
    assert "BEGIN CERTIFICATE" not in log and "BEGIN%20CERTIFICATE" not in log


REFUSED = [(None, "handshake failure"), ("rogue", "unknown ca"), ("expired", "certificate expired")]


@pytest.mark.parametrize("how", ["tls1.2", "tls1.3", "h2"])
@pytest.mark.parametrize("cert,alert", REFUSED, ids=["no-cert", "rogue", "expired"])
def test_handshake_refused(cert, alert, how, envoy_for, certs, upstream):
    """require_client_certificate + trusted_ca: no certificate, an untrusted CA or an expired certificate never gets
    a request through. TLS 1.2 fails inside the handshake with a precise alert; TLS 1.3 fails on the first read."""
    envoy = envoy_for(BAAS)
    path = f"/refused/{uuid.uuid4().hex}"
    client = ClientCert.named(certs, cert)
    with pytest.raises(TLSRejected) as err:
        if how == "h2":
            harness.curl_request(envoy.port, FORGED_XSSL, client=client, path=path)
        else:
            harness.https_request(envoy.port, FORGED_XSSL, client=client, path=path, tls12=how == "tls1.2")
    if how == "tls1.2":
        assert alert in str(err.value).lower()
    assert not [r for r in upstream.requests if r["path"] == path]


# ----------------------------------------------------------------------------------------------------------------
# Configuration: `envoy --mode validate` runs the filter's on_vm_start/on_configure


def validate(filter_config: str, certs: Path, wasm: Path, workdir: Path, env: Optional[dict] = None) -> tuple[int, str]:
    config = harness.bootstrap(certs=certs, upstream_port=9, wasm_path=wasm, filter_config=filter_config)
    path = harness.write_config(config, workdir / "envoy.json")
    token = (env or {}).get(harness.TOKEN_ENV)
    return harness.envoy_validate(path, workdir, token=token)


@pytest.mark.parametrize("case", INVALID_CONFIGS, ids=lambda c: c["id"])
def test_invalid_config_refused(case, certs, wasm, tmp_path):
    rc, out = validate(config_text(case), certs, wasm, tmp_path, case.get("env"))
    assert rc != 0, out
    assert f"field `{case['field']}`" in out, f"the error should name {case['field']!r}:\n{out}"
    token = case.get("config", {}).get("validate_token") if isinstance(case.get("config"), dict) else None
    if token:
        assert token not in out, "the token leaked into the log"


@pytest.mark.parametrize("case", VALID_CONFIGS, ids=lambda c: c["id"])
def test_valid_config_accepted(case, certs, wasm, tmp_path):
    rc, out = validate(config_text(case), certs, wasm, tmp_path, case.get("env"))
    assert rc == 0, out


def _shipped_dir(tmp_path: Path, certs: Path, wasm: Path) -> Path:
    shutil.copytree(certs, tmp_path / "certs")
    shutil.copy(wasm, tmp_path / "mtls_headers.wasm")
    shutil.copy(harness.REPO / "envoy" / "envoy.yaml", tmp_path / "envoy.yaml")
    return tmp_path


def test_shipped_envoy_yaml_validates(certs, wasm, tmp_path):
    workdir = _shipped_dir(tmp_path, certs, wasm)
    rc, out = harness.envoy_validate(workdir / "envoy.yaml", workdir, token="demo-token")
    assert rc == 0, out


def test_shipped_envoy_yaml_needs_the_token(certs, wasm, tmp_path):
    """The shipped config reads the BaaS token from the environment; without it the filter must refuse to load."""
    workdir = _shipped_dir(tmp_path, certs, wasm)
    rc, out = harness.envoy_validate(workdir / "envoy.yaml", workdir, token=None)
    assert rc != 0, out


def test_shipped_envoy_yaml_serves(certs, wasm, tmp_path, upstream, envoy_bin):
    """The file users copy, run as is but for its ports: forged headers out, alice's identity in."""
    workdir = _shipped_dir(tmp_path, certs, wasm)
    text = harness.localize_shipped_config((workdir / "envoy.yaml").read_text(), upstream_port=upstream.port)
    (workdir / "envoy.yaml").write_text(text)
    with harness.Envoy(workdir / "envoy.yaml", workdir, token="demo-token") as envoy:
        resp = harness.https_request(envoy.port, FORGED_XSSL, client=ClientCert.named(certs, "alice"))
        assert resp.status == 200, resp.body[:500]
        assert_owned(resp, baas("alice", "demo-token")(certs))
