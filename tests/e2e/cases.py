"""The request and configuration tables shared by every host the filter runs in: real Envoy (test_envoy.py) and
the Wasm test host on its Envoy and Kong profiles (test_wasm_host.py).

Every request case names the exact set of identity headers the upstream must receive (names starting with one of
OWNED_PREFIXES, `_` read as `-`): forged copies gone, the real values present once, nothing else.
Expected values come from OpenSSL (certinfo.py), never from the code under test. Configurations judged valid or
invalid come from tests/cases/configs.json, which the filter's unit tests and Kong's schema test read too.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable, Optional, Union
from urllib.parse import quote

import certinfo as ci
import harness

TOKEN = "t0ken-from-config"
ENV_TOKEN = "t0ken-from-env"
# x-client also covers the gcp preset's X-Client-Cert-*.
OWNED_PREFIXES = ("x-ssl", "x-cert", "cf-", "x-client", "x-amzn-mtls", "x-forwarded-tls-client-cert", "ssl-client",
                  "x-mtls-headers", "client-cert")
# Owned only by the configurations that map it (preset envoy-xfcc); Envoy itself writes it for the others.
XFCC = "x-forwarded-client-cert"
# Owned when `sign` is set (and cleared by the Kong pre-function code then).
SIGNATURE_NAMES = ("signature", "signature-input")
# Every name the case table's configurations own beyond OWNED_PREFIXES: what the tests' Kong pre-function clears.
OWNED_NAMES = (XFCC, *SIGNATURE_NAMES)

BAAS = {"preset": "baas", "validate_token": TOKEN}
BAAS_ENV = {"preset": "baas", "validate_token_env": harness.TOKEN_ENV}
CLOUDFLARE = {"preset": "cloudflare"}
# The BaaS preset has no verification status header; add one to see FAILED:/NONE.
BAAS_VERIFY = {"preset": "baas", "validate_token": TOKEN, "headers": {"x-ssl-client-verify": "verify"}}
BAAS_VERIFY_REQUIRED = {**BAAS_VERIFY, "mode": "required", "reject_body": "denied\n"}
CUSTOM_UTF8 = {
    "utf8": True,
    "headers": {
        "x-client-dn": "subject_dn",
        "x-client-issuer": "issuer_dn",
        "x-client-org": "subject.O",
        "x-client-cn": "subject.CN",
        "x-client-ou": "subject.OU",
        "x-client-spiffe": "spiffe_id",
        "x-client-san-dns": "san_dns",
        "x-client-san-uri": "san_uri",
        "x-client-san-email": "san_email",
        "x-client-san-ip": "san_ip",
        "x-client-static": "static:hello world",
        "x-client-verify": "verify",
        "x-client-validated": "validated",
    },
}
CUSTOM_ESCAPED = {
    "headers": {
        "x-client-dn": "subject_dn",
        "x-client-dn-legacy": "subject_dn_legacy",
        "x-client-issuer-legacy": "issuer_dn_legacy",
        "x-client-org": "subject.O",
        "x-client-ou": "subject.OU",
        "x-client-uid": "subject.0.9.2342.19200300.100.1.1",
        "x-client-serialnumber": "subject.serialNumber",
        "x-client-email": "subject.emailAddress",
        "x-client-country": "subject.C",
        "x-client-issuer-cn": "issuer.CN",
        "x-client-sha256": "fingerprint_sha256",
        "x-client-not-before": "not_before",
        "x-client-not-after": "not_after",
    }
}

FORGED_XSSL = [
    ("X-SSL-Client-CN", "forged-admin"),
    ("x-ssl-client-cn", "forged-admin"),
    ("x-ssl-client-cn", "forged-admin-2"),
    ("X_SSL_CLIENT_CN", "forged-admin"),
    ("x-ssl-anything", "forged"),
    ("X-Ssl-Client-Certauth-Validated", "1"),
    ("x_ssl_client_certauth_validated", "1"),
    ("X-SSL-Validate-Token", "forged-token"),
    ("X-SSL-Client-Serial", "00"),
    ("x-SSL_issuer-DN", "CN=forged"),
]
FORGED_CLOUDFLARE = [
    ("X-Cert-Subject-DN", "CN=forged-admin"),
    ("x_cert_subject_dn", "CN=forged-admin"),
    ("X-CERT-VERIFY", "SUCCESS"),
    ("Cf-Client-Cert-Sha256", "00" * 32),
    ("cf_client_cert_der_base64", "AAAA"),
]
# Not owned by any configuration used here: must reach the upstream untouched.
KEPT = [("X-Custom", "keep-1"), ("foo-x-ssl-client-cn", "keep-2"), ("X-Forwarded-SSL", "keep-3")]
FORGED_CUSTOM = [("X-Client-Org", "Evil Corp"), ("x_client_org", "Evil Corp"), ("X-Client-Verify", "SUCCESS")]


class StartsWith:
    def __init__(self, prefix: str) -> None:
        self.prefix = prefix

    def __eq__(self, other) -> bool:
        return isinstance(other, str) and other.startswith(self.prefix)

    def __repr__(self) -> str:
        return f"StartsWith({self.prefix!r})"


Expected = dict[str, Union[str, StartsWith]]


def _drop_none(d: dict) -> Expected:
    return {k: v for k, v in d.items() if v is not None}


def baas(name: str, token: str = TOKEN) -> Callable[[Path], Expected]:
    def expected(certs: Path) -> Expected:
        c = certs / f"{name}.crt"
        return _drop_none(
            {
                "x-ssl-client-certauth-validated": "1",
                "x-ssl-client-serial": ci.serial(c),
                "x-ssl-client-cn": ci.attribute(c, "CN"),
                "x-ssl-client-uid": ci.attribute(c, "UID"),  # absent attribute: header absent
                "x-ssl-issuer-dn": ci.dn_header(c, "issuer"),
                "x-ssl-validate-token": token,
            }
        )

    return expected


def with_headers(base: Callable[[Path], Expected], **extra: Union[str, StartsWith]) -> Callable[[Path], Expected]:
    def expected(certs: Path) -> Expected:
        return {**base(certs), **{k.replace("_", "-"): v for k, v in extra.items()}}

    return expected


def cloudflare(name: str) -> Callable[[Path], Expected]:
    def expected(certs: Path) -> Expected:
        c = certs / f"{name}.crt"
        return {
            "cf-client-cert-der-base64": ci.der_base64(c),
            "cf-client-cert-sha256": ci.fingerprint(c, "sha256"),
            "x-cert-issuer-dn": ci.dn_header(c, "issuer"),
            "x-cert-subject-dn": ci.dn_header(c, "subject"),
            "x-cert-issuer-dn-l": ci.dn_legacy_header(c, "issuer"),
            "x-cert-subject-dn-l": ci.dn_legacy_header(c, "subject"),
            "x-cert-serial": ci.serial(c),
            "x-cert-finger": ci.fingerprint(c, "sha1"),
            "x-cert-verify": "SUCCESS",
            "x-cert-notbe": ci.not_before(c),
            "x-cert-notaf": ci.not_after(c),
        }

    return expected


def custom_utf8(certs: Path) -> Expected:
    c = certs / "alice.crt"
    sans = ci.sans(c)
    return {
        "x-client-dn": ci.dn_header(c, "subject", utf8=True),
        "x-client-issuer": ci.dn_header(c, "issuer", utf8=True),
        "x-client-org": ci.attribute(c, "O", utf8=True),
        "x-client-cn": ci.attribute(c, "CN", utf8=True),
        "x-client-ou": ci.attribute(c, "OU", utf8=True),  # "Dev, Ops": attribute values keep their commas
        "x-client-spiffe": "spiffe://example.org/ns/prod/sa/alice",
        "x-client-san-dns": ci.san_header(sans["dns"]),
        "x-client-san-uri": ci.san_header(sans["uri"]),
        "x-client-san-email": ci.san_header(sans["email"]),
        "x-client-san-ip": ci.ip_header(sans["ip"]),
        "x-client-static": "hello world",
        "x-client-verify": "SUCCESS",
        "x-client-validated": "1",
    }


def custom_escaped(certs: Path) -> Expected:
    c = certs / "alice.crt"
    return {
        "x-client-dn": ci.dn_header(c, "subject"),
        "x-client-dn-legacy": ci.dn_legacy_header(c, "subject"),
        "x-client-issuer-legacy": ci.dn_legacy_header(c, "issuer"),
        "x-client-org": ci.attribute(c, "O"),
        "x-client-ou": ci.attribute(c, "OU"),
        "x-client-uid": ci.attribute(c, "UID"),
        "x-client-serialnumber": ci.attribute(c, "serialNumber"),
        "x-client-email": ci.attribute(c, "emailAddress"),
        "x-client-country": ci.attribute(c, "C"),
        "x-client-issuer-cn": ci.attribute(c, "CN", which="issuer"),
        "x-client-sha256": ci.fingerprint(c, "sha256"),
        "x-client-not-before": ci.not_before(c),
        "x-client-not-after": ci.not_after(c),
    }


# Values HTTP or a `,` split would misread (issue 9): edge spaces, a URI SAN with a comma, a UTF-8 DNS SAN.
CUSTOM_ODD = {
    "headers": {
        "x-client-dn": "subject_dn",
        "x-client-dn-legacy": "subject_dn_legacy",
        "x-client-cn": "subject.CN",
        "x-client-org": "subject.O",
        "x-client-spiffe": "spiffe_id",
        "x-client-san-dns": "san_dns",
        "x-client-san-uri": "san_uri",
        "x-client-san-ip": "san_ip",
    }
}


def custom_odd(certs: Path) -> Expected:
    c = certs / "odd.crt"
    sans = ci.sans(c)
    assert ci.dn(c, "subject").endswith("O=Example\\ ") and len(sans["uri"]) == 1, "scripts/gen-certs.sh odd changed"
    return {
        "x-client-dn": ci.dn_header(c, "subject"),  # CN=\ admin\ ,O=Example\20
        "x-client-dn-legacy": ci.dn_legacy_header(c, "subject"),  # /O=Example /CN= admin\x20
        "x-client-cn": ci.attribute(c, "CN"),  # \20admin\20
        "x-client-org": ci.attribute(c, "O"),
        # No spiffe_id: the one URI SAN is https://ok.example/p,spiffe://..., sent as ...p%2Cspiffe://...
        "x-client-san-dns": ci.san_header(sans["dns"]),  # caf%C3%A9.example,ok.example
        "x-client-san-uri": ci.san_header(sans["uri"]),
        "x-client-san-ip": ci.ip_header(sans["ip"]),  # ::1
    }


# Issue 11's further fields, on a certificate with two OUs, a long serial, UPN and directoryName SANs.
CUSTOM_MORE = {
    "headers": {
        "x-client-ou-0": "subject.OU",
        "x-client-ou-1": "subject.OU.1",
        "x-client-ou-2": "subject.OU.2",
        "x-client-serial-dec": "serial_decimal",
        "x-client-serial-colon": "serial_colon",
        "x-client-sha1-colon": "fingerprint_sha1_colon",
        "x-client-sha256-colon": "fingerprint_sha256_colon",
        "x-client-sha1-b64": "fingerprint_sha1_base64",
        "x-client-sha256-b64": "fingerprint_sha256_base64",
        "x-client-x5t": "x5t_s256",
        "x-client-pin": "pin_sha256",
        "x-client-nb-rfc3339": "not_before_rfc3339",
        "x-client-na-rfc3339": "not_after_rfc3339",
        "x-client-nb-unix": "not_before_unix",
        "x-client-na-unix": "not_after_unix",
        "x-client-upn": "san_upn",
        "x-client-dirname": "san_dirname",
        "x-client-spiffe": "spiffe_id",
        "x-client-present": "present",
    }
}


def custom_more(certs: Path) -> Expected:
    c = certs / "carol.crt"
    sans = ci.sans(c)
    assert len(sans["upn"]) == 1 and len(sans["dirname"]) == 1, "scripts/gen-certs.sh carol changed"
    return {
        "x-client-ou-0": ci.attribute(c, "OU"),
        "x-client-ou-1": ci.attribute(c, "OU", index=1),
        "x-client-serial-dec": ci.serial_decimal(c),
        "x-client-serial-colon": ci.serial_colon(c),
        "x-client-sha1-colon": ci.fingerprint_colon(c, "sha1"),
        "x-client-sha256-colon": ci.fingerprint_colon(c, "sha256"),
        "x-client-sha1-b64": ci.fingerprint_base64(c, "sha1"),
        "x-client-sha256-b64": ci.fingerprint_base64(c, "sha256"),
        "x-client-x5t": ci.x5t_s256(c),
        "x-client-pin": ci.pin_sha256(c),
        "x-client-nb-rfc3339": ci.rfc3339(ci.not_before(c)),
        "x-client-na-rfc3339": ci.rfc3339(ci.not_after(c)),
        "x-client-nb-unix": str(ci.unix_time(ci.not_before(c))),
        "x-client-na-unix": str(ci.unix_time(ci.not_after(c))),
        "x-client-upn": ci.san_header(sans["upn"]),
        "x-client-dirname": ci.san_header(sans["dirname"]),
        "x-client-spiffe": "spiffe://example.org/ns/prod/sa/carol",
        "x-client-present": "1",
    }


# ----------------------------------------------------------------------------------------------------------------
# Presets in other products' formats (README, Presets): each expectation is built here from OpenSSL's values and the
# anchor's documented format, not from the filter's code.


pem_text = ci.leaf_pem


def aws_alb(name: str) -> Callable[[Path], Expected]:
    def expected(certs: Path) -> Expected:
        c = certs / f"{name}.crt"
        nb, na = ci.rfc3339(ci.not_before(c)), ci.rfc3339(ci.not_after(c))
        return {
            "x-amzn-mtls-clientcert-serial-number": ci.serial(c),
            "x-amzn-mtls-clientcert-issuer": ci.dn_header(c, "issuer"),
            "x-amzn-mtls-clientcert-subject": ci.dn_header(c, "subject"),
            "x-amzn-mtls-clientcert-validity": f"NotBefore={nb};NotAfter={na}",
            "x-amzn-mtls-clientcert-leaf": quote(pem_text(c), safe="+=/"),
        }

    return expected


def ingress_nginx(name: str) -> Callable[[Path], Expected]:
    def expected(certs: Path) -> Expected:
        c = certs / f"{name}.crt"
        return {
            "ssl-client-verify": "SUCCESS",
            "ssl-client-subject-dn": ci.dn_header(c, "subject"),
            "ssl-client-issuer-dn": ci.dn_header(c, "issuer"),
            "ssl-client-cert": quote(pem_text(c), safe=""),
        }

    return expected


def _traefik_escape(value: str) -> str:
    return "".join("\\" + ch if ch in '\\",;' else ch for ch in value)


def _traefik_name(c: Path, which: str) -> str:
    parts = []
    # Go's pkix.Name: every C, ST, L, O, (subject) OU in order, then the last serialNumber as SN and the last CN.
    for attr in ["C", "ST", "L", "O"] + (["OU"] if which == "subject" else []):
        i = 0
        while (v := ci.attribute(c, attr, which=which, utf8=True, index=i)) is not None:
            parts.append(f"{attr}={_traefik_escape(v)}")
            i += 1
    for attr, label in [("serialNumber", "SN"), ("CN", "CN")]:
        values = []
        while (v := ci.attribute(c, attr, which=which, utf8=True, index=len(values))) is not None:
            values.append(v)
        if values:
            parts.append(f"{label}={_traefik_escape(values[-1])}")
    return ",".join(parts)


def traefik(name: str) -> Callable[[Path], Expected]:
    def expected(certs: Path) -> Expected:
        from urllib.parse import quote_plus
        c = certs / f"{name}.crt"
        sans = ci.sans(c)
        san_list = sans["dns"] + sans["email"] + [ci.ip_header([ip]) for ip in sans["ip"]] + sans["uri"]
        fields = [f'Subject="{_traefik_name(c, "subject")}"', f'Issuer="{_traefik_name(c, "issuer")}"',
                  f'SerialNumber="{ci.serial_decimal(c)}"', f'NB="{ci.unix_time(ci.not_before(c))}"',
                  f'NA="{ci.unix_time(ci.not_after(c))}"']
        if san_list:
            fields.append('SAN="' + ",".join(_traefik_escape(v) for v in san_list) + '"')
        # Go's url.QueryEscape is Python's quote_plus with nothing extra kept.
        return {
            "x-forwarded-tls-client-cert": ci.der_base64(c),
            "x-forwarded-tls-client-cert-info": quote_plus(";".join(fields), safe=""),
        }

    return expected


def gcp(name: str) -> Callable[[Path], Expected]:
    def expected(certs: Path) -> Expected:
        c = certs / f"{name}.crt"
        sans = ci.sans(c)
        b64 = lambda v: base64.b64encode(v.encode()).decode()
        spiffe = [u for u in sans["uri"] if u.startswith("spiffe://")] if len(sans["uri"]) == 1 else []
        uris = [u for u in sans["uri"] if u not in spiffe]
        limited = {
            "x-client-cert-serial-number": (ci.serial(c), 50, "serial_number"),
            "x-client-cert-spiffe": (spiffe[0] if spiffe else None, 2048, "spiffe_id"),
            "x-client-cert-uri-sans": (",".join(map(b64, uris)) or None, 512, "uri_sans"),
            "x-client-cert-dnsname-sans": (",".join(map(b64, sans["dns"])) or None, 512, "dnsname_sans"),
            "x-client-cert-issuer-dn": (base64.b64encode(ci.name_der(c, "issuer")).decode(), 512, "issuer_dn"),
            "x-client-cert-subject-dn": (base64.b64encode(ci.name_der(c, "subject")).decode(), 512, "subject_dn"),
        }
        out = {
            "x-client-cert-present": "true",
            "x-client-cert-chain-verified": "true",
            "x-client-cert-hash": ci.fingerprint_base64(c, "sha256"),
            "x-client-cert-valid-not-before": ci.rfc3339(ci.not_before(c))[:-1] + "+00:00",
            "x-client-cert-valid-not-after": ci.rfc3339(ci.not_after(c))[:-1] + "+00:00",
            "x-client-cert-leaf": f":{ci.der_base64(c)}:",
        }
        errors = []
        for header, (value, limit, var) in limited.items():
            if value is not None and len(value) > limit:
                errors.append(f"client_cert_{var}_exceeded_size_limit")
            elif value is not None:
                out[header] = value
        if errors:
            out["x-client-cert-error"] = ",".join(errors)
        return out

    return expected


def _xfcc_value(value: str, always: bool = False) -> str:
    if not always and not any(ch in value for ch in ',;="\\'):
        return value
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def envoy_xfcc(c: Path, chain: bool = False) -> str:
    """The XFCC element of README's `envoy-xfcc` preset, from OpenSSL's values (SANs as `san_dns` elements); with
    `chain`, the `Chain=` of every certificate the test clients present (certinfo.presented)."""
    sans = ci.sans(c)
    out = f"Hash={ci.fingerprint(c, 'sha256')};Cert={_xfcc_value(quote(pem_text(c), safe=''), True)}"
    if chain:
        pems = "".join(ci.pem(der) for der in ci.presented(c))
        out += f";Chain={_xfcc_value(quote(pems, safe=''), True)}"
    out += f";Subject={_xfcc_value(ci.dn_header(c, 'subject'), True)}"
    out += "".join(f";URI={_xfcc_value(ci.san_header([u]))}" for u in sans["uri"]) or ";URI="
    out += "".join(f";DNS={_xfcc_value(ci.san_header([d]))}" for d in sans["dns"])
    return out


def upstream_xfcc_is(name: str, chain: bool = False) -> Callable[[Path, harness.Response], None]:
    def check(certs: Path, resp: harness.Response) -> None:
        xfcc = [v for n, v in resp.upstream_headers() if n == "x-forwarded-client-cert"]
        assert xfcc == [_as_received(envoy_xfcc(certs / f"{name}.crt", chain))], xfcc

    return check


XFCC_PARSE = harness.REPO / "target" / "debug" / "xfcc-parse"


def parse_xfcc(value: str) -> dict:
    """The value through crates.io `xfcc-parser` (tests/wasmhost/src/xfcc_parse.rs, built by `make wasmhost`)."""
    import subprocess

    out = subprocess.run([str(XFCC_PARSE)], input=value.encode("latin-1"), capture_output=True, check=True)
    return json.loads(out.stdout)


def xfcc_parses_as_the_certificate(name: str) -> Callable[[Path, harness.Response], None]:
    """The upstream's one XFCC, read by someone else's parser, names exactly this certificate."""
    from urllib.parse import unquote

    def check(certs: Path, resp: harness.Response) -> None:
        c = certs / f"{name}.crt"
        xfcc = [v for n, v in resp.upstream_headers() if n == XFCC]
        assert len(xfcc) == 1, xfcc
        parsed = parse_xfcc(xfcc[0])
        assert "elements" in parsed and len(parsed["elements"]) == 1, parsed
        e = parsed["elements"][0]
        sans = ci.sans(c)
        assert e["hash"] == ci.fingerprint(c, "sha256") and unquote(e["cert"]) == pem_text(c), e
        assert e["subject"].encode("latin-1").decode("utf-8") == ci.dn_header(c, "subject"), e
        assert e["uri"] == [ci.san_header([u]) for u in sans["uri"]] or (e["uri"] == [] and not sans["uri"]), e
        assert e["dns"] == [ci.san_header([d]) for d in sans["dns"]], e

    return check


POLICY_HEADERS = {"x-client-verify": "verify", "x-client-spiffe": "spiffe_id"}

# ----------------------------------------------------------------------------------------------------------------
# Signed identity (README, "Signed identity"): verified by PyPI http-message-signatures, someone else's RFC 9421.

# The key reaches every host through the variable the token tests use (Envoy's vm_config environment, nginx `env`).
SIGN_KEY = "k3y-0f-at-least-32-bytes-for-hmac-sha256"
SIGNED_BAAS = {**BAAS_VERIFY, "sign": {"key_env": harness.TOKEN_ENV, "keyid": "test-key"}}
FORGED_SIGNATURE = [("Signature", "mtls=:AAAA:"), ("signature-input", 'mtls=("@method");created=1'),
                    ("Signature_Input", "x")]


class _Message:
    """What http-message-signatures reads from a request: method, absolute URL, headers."""

    def __init__(self, method: str, url: str, headers: dict) -> None:
        self.method, self.url, self.headers = method, url, headers


def upstream_message(resp) -> _Message:
    """The request as the upstream received it: the Host header and the echoed path (the Wasm test host: the
    pseudo-headers it forwards)."""
    headers = {n.lower(): v for n, v in resp.upstream_headers()}
    pseudo = getattr(resp, "pseudo", None)
    if pseudo:
        return _Message("GET", f"https://{pseudo[':authority']}{pseudo[':path']}", headers)
    return _Message("GET", f"https://{headers['host']}{resp.json()['path']}", headers)


def verify_signature(message: _Message, covered: list[str]):
    import http_message_signatures as hms

    class Keys(hms.HTTPSignatureKeyResolver):
        def resolve_public_key(self, key_id: str):
            assert key_id == "test-key"
            return SIGN_KEY.encode()

        resolve_private_key = resolve_public_key

    verifier = hms.HTTPMessageVerifier(signature_algorithm=hms.algorithms.HMAC_SHA256, key_resolver=Keys())
    return verifier.verify(message, expect_tag="mtls-headers", require_components=covered)


def signature_verifies(certs: Path, resp) -> None:
    """Every header the filter owns and sent is covered, with @method @authority @path; changing one breaks it."""
    import http_message_signatures as hms

    received = [n.lower().replace("_", "-") for n, _ in resp.upstream_headers()]
    assert [n for n in received if n in SIGNATURE_NAMES] in (["signature", "signature-input"],
                                                              ["signature-input", "signature"]), received
    message = upstream_message(resp)
    covered = [n for n in message.headers if n.startswith("x-ssl")] + ["@method", "@authority", "@path"]
    [result] = verify_signature(message, covered)
    assert result.parameters["alg"] == "hmac-sha256" and result.parameters["keyid"] == "test-key", result
    first = covered[0]
    changed = [
        (f"header {first}", _Message(message.method, message.url, {**message.headers, first: message.headers[first] + "x"})),
        ("path", _Message(message.method, message.url.replace("?", "x?", 1) if "?" in message.url else message.url + "x",
                          message.headers)),
        ("authority", _Message(message.method, message.url.replace("://", "://evil."), message.headers)),
        ("method", _Message("POST", message.url, message.headers)),
    ]
    for what, tampered in changed:
        try:
            verify_signature(tampered, covered)
        except hms.InvalidSignature:
            continue
        raise AssertionError(f"a changed {what} still verifies")


# A verified identity remembers the signature state of its recent request targets (src/core/sign.rs `Targets`,
# eight): the same path again, with a query (not part of `@path`), more paths than it keeps, then the first ones.
MEMO_PATHS = ["/memo/a", "/memo/a", "/memo/a?q=1", "/memo/b", *(f"/memo/p{i}" for i in range(9)), "/memo/a", "/memo/b"]


def signatures_verify_per_path(certs: Path, send: Callable[[str], "harness.Response"]) -> None:
    """`send(path)` is alice's request to a signing filter; every signature verifies for the path it was sent to."""
    for path in MEMO_PATHS:
        resp = send(path)
        assert resp.status == 200 and resp.json()["path"] == path, (path, resp.status, resp.body[:300])
        signature_verifies(certs, resp)


# ----------------------------------------------------------------------------------------------------------------
# Size budget (README, "Size budget"), the documented rules applied here to OpenSSL's values.

FLAG = "x-mtls-headers-dropped"


def _line(name: str, value: str) -> int:
    return len(name) + len(value.encode("utf-8")) + 4


def budgeted(sent: list[tuple[str, str, str]], header_max: int = 8192, total_max: int = 16384) -> Expected:
    """`sent`: (name, value, class) in the order the filter writes them; class "chain", "body", "detail", "kept", or
    "xfcc" (an envoy.xfcc header: "chain" while it has a Chain= pair, then "body"). Chains go first, then bodies,
    then details: each over `header_max` in order, then the largest while the total is over `total_max`; XFCC
    first loses its Chain= pair, then its Cert= pair."""
    sent = list(sent)
    dropped = []

    def class_of(value: str, c: str) -> str:
        return c if c != "xfcc" else "chain" if ';Chain="' in value else "body"

    for cls in ("chain", "body", "detail"):
        while True:
            mine = [i for i, (n, v, c) in enumerate(sent) if class_of(v, c) == cls]
            over = [i for i in mine if _line(*sent[i][:2]) > header_max]
            total = sum(_line(n, v) for n, v, _ in sent)
            if over:
                i = over[0]
            elif total > total_max and mine:
                i = max(mine, key=lambda i: _line(*sent[i][:2]))
            else:
                break
            name, value, c = sent[i]
            pair = next((p for p in (";Chain=", ";Cert=") if c == "xfcc" and f'{p}"' in value), None)
            if pair:
                start = value.index(f'{pair}"')
                end = value.index('"', start + len(pair) + 1) + 1
                sent[i] = (name, value[:start] + value[end:], c)
                dropped.append(f"{name}:{pair[1:-1].lower()}")
            else:
                del sent[i]
                dropped.append(name)
    out = {n: v for n, v, _ in sent}
    if dropped:
        out[FLAG] = ", ".join(dropped)
    return out


BUDGET_BODIES = {"preset": "cloudflare", "headers": {"x-client-pem": "cert_pem_urlencoded",
                                                      "x-client-rfc9440": "client_cert_rfc9440"}}


def cloudflare_with_bodies(certs: Path) -> list[tuple[str, str, str]]:
    c = certs / "large.crt"
    classes = {"cf-client-cert-der-base64": "body", "cf-client-cert-sha256": "kept", "x-cert-serial": "kept",
               "x-cert-finger": "kept", "x-cert-verify": "kept"}
    return [(n, v, classes.get(n, "detail")) for n, v in cloudflare("large")(certs).items()] + [
        ("x-client-pem", quote(pem_text(c), safe=""), "body"),
        ("x-client-rfc9440", f":{ci.der_base64(c)}:", "body"),
    ]


def rfc9440(name: str, chain: bool = True) -> Callable[[Path], Expected]:
    """Preset rfc9440: the leaf, and with `chain` (a host that gives it) the certificates presented after it."""
    def expected(certs: Path) -> Expected:
        c = certs / f"{name}.crt"
        after = ci.presented(c)[1:] if chain else []
        return _drop_none({
            "client-cert": f":{ci.der_base64(c)}:",
            "client-cert-chain": ", ".join(f":{base64.b64encode(d).decode()}:" for d in after) or None,
        })

    return expected


# Preset rfc9440 and envoy.xfcc with large.crt, which the test clients present with the CA after it: over the
# default per-header budget with its Chain=, and over a 8000-byte total with the chain header too.
RFC9440_XFCC = {"preset": "rfc9440", "headers": {"x-client-xfcc": "envoy.xfcc"}, "max_total_bytes": 8000}


def rfc9440_xfcc_budgeted(chain: bool) -> Callable[[Path], Expected]:
    def expected(certs: Path) -> Expected:
        c = certs / "large.crt"
        sent = [(n, v, "chain" if n == "client-cert-chain" else "body") for n, v in rfc9440("large", chain)(certs).items()]
        return budgeted(sent + [("x-client-xfcc", envoy_xfcc(c, chain), "xfcc")], total_max=8000)

    return expected


def upstream_xfcc_is_large_without_cert(certs: Path, resp) -> None:
    xfcc = [v for n, v in resp.upstream_headers() if n == XFCC]
    [(_, want)] = [(n, v) for n, v in budgeted([(XFCC, envoy_xfcc(certs / "large.crt"), "xfcc")], 4000).items()
                   if n == XFCC]
    assert xfcc == [want] and "Cert=" not in want and "Hash=" in want, xfcc


def nothing(_certs: Path) -> Expected:
    return {}


def xfcc_element(certs: Path, name: str) -> str:
    """An XFCC element as Envoy would write it for `name`'s certificate (what a forger would copy)."""
    c = certs / f"{name}.crt"
    return (
        f'By=spiffe://evil.example/proxy;Hash={ci.fingerprint(c, "sha256")};'
        f'Cert="{quote(c.read_text(), safe="")}";Subject="CN=admin,O=mtls-headers";URI=spiffe://evil.example/admin'
    )


# ----------------------------------------------------------------------------------------------------------------
# The request table


@dataclass
class Case:
    id: str
    config: dict
    expect: Optional[Callable[[Path], Expected]]  # None: a local reply, the upstream is never reached
    cert: Optional[str] = "alice"
    send: list = field(default_factory=list)  # headers; a callable(certs) -> list for certificate-dependent ones
    h2: bool = False
    status: int = 200
    body: Optional[bytes] = None  # the local reply's body
    envoy: dict = field(default_factory=dict)  # EnvoyParams options
    check: Optional[Callable[[Path, harness.Response], None]] = None
    # Kong has no XFCC and reads the certificate from nginx: where that changes the outcome, Kong's expectation.
    kong_expect: Optional[Callable[[Path], Expected]] = None
    kong_check: Optional[Callable[[Path, harness.Response], None]] = None
    envoy_only_check: bool = False

    def expected_for(self, host: str) -> Optional[Callable[[Path], Expected]]:
        return self.kong_expect if host == "kong" and self.kong_expect is not None else self.expect

    def check_for(self, host: str) -> Optional[Callable[[Path, harness.Response], None]]:
        if host == "kong":
            return None if self.envoy_only_check else self.kong_check or self.check
        return self.check


def upstream_xfcc_is_alice(certs: Path, resp: harness.Response) -> None:
    xfcc = [v for n, v in resp.upstream_headers() if n == "x-forwarded-client-cert"]
    assert len(xfcc) == 1, xfcc
    assert f"Hash={ci.fingerprint(certs / 'alice.crt', 'sha256')}" in xfcc[0]
    assert "evil.example" not in xfcc[0] and ci.fingerprint(certs / "bob.crt", "sha256") not in xfcc[0]


def kept_headers_survive(_certs: Path, resp: harness.Response) -> None:
    received = resp.upstream_headers()
    for name, value in KEPT:
        assert (name.lower(), value) in received, f"{name} was removed: {received}"


UNTRUSTED = {"accept_untrusted": True}
NO_CERT_OK = {"require_client_certificate": False}
FAILED = StartsWith("FAILED:")

CASES = [
    # Presets and mappings, verified certificate.
    Case("baas-alice", BAAS, baas("alice")),
    Case("baas-bob-no-uid", BAAS, baas("bob"), cert="bob"),
    Case("baas-token-from-env", BAAS_ENV, baas("alice", ENV_TOKEN), envoy={"token_env": ENV_TOKEN}),
    Case("cloudflare-alice", CLOUDFLARE, cloudflare("alice")),
    Case("custom-utf8", CUSTOM_UTF8, custom_utf8),
    Case("custom-escaped", CUSTOM_ESCAPED, custom_escaped),
    Case("preset-aws-alb", {"preset": "aws-alb"}, aws_alb("alice"), send=[("X-Amzn-Mtls-Clientcert-Subject", "CN=admin")]),
    Case("preset-ingress-nginx", {"preset": "ingress-nginx"}, ingress_nginx("alice"),
         send=[("ssl-client-verify", "SUCCESS"), ("SSL_CLIENT_SUBJECT_DN", "CN=admin")]),
    Case("preset-traefik-alice", {"preset": "traefik"}, traefik("alice"),
         send=[("X-Forwarded-Tls-Client-Cert-Info", "Subject%3D%22CN%3Dadmin%22")]),
    Case("preset-traefik-carol", {"preset": "traefik"}, traefik("carol"), cert="carol"),
    Case("preset-gcp-carol", {"preset": "gcp"}, gcp("carol"), cert="carol",
         send=[("X-Client-Cert-Present", "true"), ("x_client_cert_spiffe", "spiffe://evil.example/admin")]),
    Case("preset-gcp-alice", {"preset": "gcp"}, gcp("alice")),
    Case("preset-gcp-large-over-limits", {"preset": "gcp"}, gcp("large"), cert="large"),
    Case("preset-gcp-no-cert", {"preset": "gcp"}, lambda _: {
        "x-client-cert-present": "false", "x-client-cert-chain-verified": "false",
        "x-client-cert-error": "client_cert_not_provided"}, cert=None, envoy=NO_CERT_OK,
        send=[("X-Client-Cert-Chain-Verified", "true")]),
    # Envoy gives the chain (XFCC Chain=, SANITIZE_SET with chain: the harness's default); ngx_wasm_module never.
    Case("preset-envoy-xfcc-carol", {"preset": "envoy-xfcc"}, nothing, cert="carol",
         send=lambda certs: [("X-Forwarded-Client-Cert", xfcc_element(certs, "alice"))],
         check=upstream_xfcc_is("carol", chain=True), kong_check=upstream_xfcc_is("carol")),
    Case("preset-envoy-xfcc-alice-h2", {"preset": "envoy-xfcc"}, nothing, h2=True,
         send=lambda certs: [("x-forwarded-client-cert", xfcc_element(certs, "bob"))],
         check=upstream_xfcc_is("alice", chain=True), kong_check=upstream_xfcc_is("alice")),
    Case("preset-envoy-xfcc-dave-intermediate", {"preset": "envoy-xfcc"}, nothing, cert="dave",
         check=upstream_xfcc_is("dave", chain=True), kong_check=upstream_xfcc_is("dave")),
    Case("preset-envoy-xfcc-no-chain-given", {"preset": "envoy-xfcc"}, nothing, cert="dave",
         envoy={"xfcc": "SANITIZE_SET_NO_CHAIN"}, check=upstream_xfcc_is("dave")),
    Case("preset-rfc9440-dave-intermediate", {"preset": "rfc9440"}, rfc9440("dave"), cert="dave",
         kong_expect=rfc9440("dave", chain=False),
         send=[("Client-Cert", ":AAAA:"), ("client_cert_chain", ":AAAA:"), ("Client-Cert-Chain", ":AAAA:")]),
    Case("preset-rfc9440-bob-chain-from-the-store", {"preset": "rfc9440"}, rfc9440("bob"), cert="bob",
         kong_expect=rfc9440("bob", chain=False), h2=True),
    Case("preset-rfc9440-no-chain-given", {"preset": "rfc9440"}, rfc9440("dave", chain=False), cert="dave",
         envoy={"xfcc": "SANITIZE_SET_NO_CHAIN"}),
    # A forwarded XFCC whose Chain= starts with another certificate than the connection's: no identity at all.
    Case("preset-rfc9440-forward-only-foreign-chain", {"preset": "rfc9440"}, nothing, cert="bob",
         envoy={"xfcc": "FORWARD_ONLY"}, kong_expect=rfc9440("bob", chain=False),
         send=lambda certs: [("x-forwarded-client-cert", f'Hash=00;Chain="{quote(ci.leaf_pem(certs / "alice.crt"), safe="")}"')]),
    # Values with `,;="\\` (alice's DN escapes, inject's URI SAN): quoted, and parsed back by crates.io xfcc-parser.
    Case("preset-envoy-xfcc-alice-parsed", {"preset": "envoy-xfcc"}, nothing,
         check=xfcc_parses_as_the_certificate("alice")),
    Case("preset-envoy-xfcc-inject-parsed", {"preset": "envoy-xfcc"}, nothing, cert="inject",
         check=xfcc_parses_as_the_certificate("inject")),
    # Policy (README, "Policy"): a verified certificate the policy refuses is FAILED:<reason>, in `required` a reply.
    Case("policy-spiffe-trusted", {"trusted_spiffe_domains": ["example.org"], "headers": POLICY_HEADERS},
         lambda _: {"x-client-verify": "SUCCESS", "x-client-spiffe": "spiffe://example.org/ns/prod/sa/carol"},
         cert="carol"),
    Case("policy-spiffe-other-domain", {"trusted_spiffe_domains": ["prod.example"], "headers": POLICY_HEADERS},
         lambda _: {"x-client-verify": "FAILED:SPIFFE trust domain not trusted"}, cert="carol",
         send=[("X-Client-Spiffe", "spiffe://prod.example/admin")]),
    Case("policy-spiffe-not-an-svid", {"trusted_spiffe_domains": ["example.org"], "headers": POLICY_HEADERS},
         lambda _: {"x-client-verify": "FAILED:not an X.509-SVID"}, cert="bob"),
    Case("policy-spiffe-required", {"trusted_spiffe_domains": ["prod.example"], "headers": POLICY_HEADERS,
                                    "mode": "required", "reject_body": "denied\n"},
         None, cert="carol", status=403, body=b"denied\n"),
    Case("policy-san-allow", {"san_allow": {"dns": ["*.EXAMPLE.com"]}, "headers": POLICY_HEADERS},
         lambda _: {"x-client-verify": "SUCCESS", "x-client-spiffe": "spiffe://example.org/ns/prod/sa/alice"}),
    Case("policy-san-allow-refused", {"san_allow": {"dns": ["*.example.com"], "uri": ["spiffe://example.org/*"]},
                                      "headers": POLICY_HEADERS},
         lambda _: {"x-client-verify": "FAILED:no SAN matches san_allow"}, cert="bob"),
    Case("policy-min-remaining-validity", {"min_remaining_validity": 4294967295, "headers": POLICY_HEADERS},
         lambda _: {"x-client-verify": "FAILED:certificate expires within min_remaining_validity"}),
    # mode audit forwards what `required` would refuse (the count and the log line: test_envoy.py, test_ngx_wasm.py).
    Case("audit-no-cert", {"mode": "audit", "headers": POLICY_HEADERS}, lambda _: {"x-client-verify": "NONE"},
         cert=None, envoy=NO_CERT_OK, send=[("X-Client-Verify", "SUCCESS")]),
    Case("signed-baas-alice", SIGNED_BAAS, with_headers(baas("alice"), x_ssl_client_verify="SUCCESS"),
         envoy={"token_env": SIGN_KEY}, send=FORGED_XSSL + FORGED_SIGNATURE, check=signature_verifies),
    Case("signed-baas-alice-h2", SIGNED_BAAS, with_headers(baas("alice"), x_ssl_client_verify="SUCCESS"), h2=True,
         envoy={"token_env": SIGN_KEY}, send=FORGED_SIGNATURE, check=signature_verifies),
    Case("signed-no-cert", SIGNED_BAAS, lambda _: {"x-ssl-validate-token": TOKEN, "x-ssl-client-verify": "NONE"},
         cert=None, envoy={"token_env": SIGN_KEY, **NO_CERT_OK}, send=FORGED_SIGNATURE, check=signature_verifies),
    Case("budget-bodies-over-the-header-budget", {**BUDGET_BODIES, "max_header_bytes": 2048},
         lambda certs: budgeted(cloudflare_with_bodies(certs), 2048), cert="large", send=[(FLAG, "none")]),
    Case("budget-total-drops-the-largest-bodies", {**BUDGET_BODIES, "max_total_bytes": 6000},
         lambda certs: budgeted(cloudflare_with_bodies(certs), 8192, 6000), cert="large"),
    Case("budget-default-fits", BUDGET_BODIES, lambda certs: budgeted(cloudflare_with_bodies(certs)), cert="large"),
    Case("budget-xfcc-keeps-the-hash", {"preset": "envoy-xfcc", "max_header_bytes": 4000},
         lambda _: {FLAG: f"{XFCC}:cert"}, cert="large", check=upstream_xfcc_is_large_without_cert,
         envoy={"xfcc": "SANITIZE_SET_NO_CHAIN"}),
    Case("budget-the-chain-goes-first", RFC9440_XFCC, rfc9440_xfcc_budgeted(True), cert="large",
         kong_expect=rfc9440_xfcc_budgeted(False)),
    Case("custom-more-fields", CUSTOM_MORE, custom_more, cert="carol",
         send=[("X-Client-Present", "1"), ("x_client_x5t", "forged"), ("X-Client-Pin", "forged")]),
    Case("custom-odd-values", CUSTOM_ODD, custom_odd, cert="odd",
         send=FORGED_XSSL + [("X-Client-Org", "Evil Corp"), ("x_client_cn", "admin")]),
    # Forged headers: every spelling and duplicate goes, the real value comes once.
    Case("forged-baas-h1", BAAS, baas("alice"), send=FORGED_XSSL + KEPT, check=kept_headers_survive),
    Case("forged-baas-h2", BAAS, baas("alice"), send=FORGED_XSSL + KEPT, h2=True, check=kept_headers_survive),
    Case("forged-cloudflare-h1", CLOUDFLARE, cloudflare("alice"), send=FORGED_XSSL + FORGED_CLOUDFLARE),
    Case("forged-cloudflare-h2", CLOUDFLARE, cloudflare("alice"), send=FORGED_XSSL + FORGED_CLOUDFLARE, h2=True),
    Case("forged-custom-h1", CUSTOM_UTF8, custom_utf8, send=FORGED_XSSL + FORGED_CUSTOM),
    Case("forged-custom-h2", CUSTOM_UTF8, custom_utf8, send=FORGED_XSSL + FORGED_CUSTOM, h2=True),
    # ACCEPT_UNTRUSTED listener: Envoy lets unverified certificates in; connection.peer_certificate_valid = 0.
    Case("untrusted-listener-alice", BAAS_VERIFY, with_headers(baas("alice"), x_ssl_client_verify="SUCCESS"),
         send=FORGED_XSSL, envoy=UNTRUSTED),
    Case("rogue-optional", BAAS_VERIFY, lambda _: {"x-ssl-validate-token": TOKEN, "x-ssl-client-verify": FAILED},
         cert="rogue", send=FORGED_XSSL, envoy=UNTRUSTED),
    Case("rogue-optional-h2", BAAS_VERIFY, lambda _: {"x-ssl-validate-token": TOKEN, "x-ssl-client-verify": FAILED},
         cert="rogue", send=FORGED_XSSL, envoy=UNTRUSTED, h2=True),
    Case("rogue-required", BAAS_VERIFY_REQUIRED, None, cert="rogue", send=FORGED_XSSL, envoy=UNTRUSTED,
         status=403, body=b"denied\n"),
    Case("rogue-required-h2", BAAS_VERIFY_REQUIRED, None, cert="rogue", send=FORGED_XSSL, envoy=UNTRUSTED,
         status=403, body=b"denied\n", h2=True),
    Case("expired-optional", BAAS_VERIFY, lambda _: {"x-ssl-validate-token": TOKEN, "x-ssl-client-verify": FAILED},
         cert="expired", send=FORGED_XSSL, envoy=UNTRUSTED),
    Case("expired-required", BAAS_VERIFY_REQUIRED, None, cert="expired", envoy=UNTRUSTED, status=403,
         body=b"denied\n"),
    Case("untrusted-listener-alice-required", BAAS_VERIFY_REQUIRED,
         with_headers(baas("alice"), x_ssl_client_verify="SUCCESS"), envoy=UNTRUSTED),
    # A listener that does not require a client certificate: verify NONE.
    Case("no-cert-optional", BAAS_VERIFY, lambda _: {"x-ssl-validate-token": TOKEN, "x-ssl-client-verify": "NONE"},
         cert=None, send=FORGED_XSSL, envoy=NO_CERT_OK),
    Case("no-cert-present", {"headers": {"x-client-present": "present", "x-client-verify": "verify"}},
         lambda _: {"x-client-present": "0", "x-client-verify": "NONE"}, cert=None,
         send=[("X-Client-Present", "1")], envoy=NO_CERT_OK),
    Case("no-cert-required", BAAS_VERIFY_REQUIRED, None, cert=None, send=FORGED_XSSL, envoy=NO_CERT_OK, status=403,
         body=b"denied\n"),
    Case("no-cert-listener-alice", BAAS_VERIFY, with_headers(baas("alice"), x_ssl_client_verify="SUCCESS"),
         envoy=NO_CERT_OK),
    # XFCC: a client-forged header is replaced by Envoy (SANITIZE_SET); the filter takes Cert= only when its
    # SHA-256 equals connection.sha256_peer_certificate_digest.
    Case("xfcc-source-forged-xfcc", {**BAAS, "source": "xfcc"}, baas("alice"),
         send=lambda certs: [("X-Forwarded-Client-Cert", xfcc_element(certs, "bob"))] + FORGED_XSSL,
         check=upstream_xfcc_is_alice, envoy_only_check=True),
    Case("xfcc-source-forged-xfcc-h2", {**BAAS, "source": "xfcc"}, baas("alice"), h2=True,
         send=lambda certs: [("x-forwarded-client-cert", xfcc_element(certs, "bob"))], check=upstream_xfcc_is_alice,
         envoy_only_check=True),
    Case("property-source-forged-xfcc", BAAS, baas("alice"),
         send=lambda certs: [("X-Forwarded-Client-Cert", xfcc_element(certs, "bob"))], check=upstream_xfcc_is_alice,
         envoy_only_check=True),
    # Misconfigured Envoy (FORWARD_ONLY passes the client's XFCC through): bob copies alice's public certificate
    # into a forged XFCC. Its digest is not bob's connection digest: no identity at all from XFCC ...
    Case("xfcc-source-forward-only-forgery", {**BAAS, "source": "xfcc"}, nothing, cert="bob",
         send=lambda certs: [("X-Forwarded-Client-Cert", xfcc_element(certs, "alice"))] + FORGED_XSSL,
         envoy={"xfcc": "FORWARD_ONLY"}, kong_expect=baas("bob")),  # Kong: `source` is Envoy's; nginx says bob
    # ... and the property source never looks at XFCC: bob stays bob.
    Case("property-source-forward-only-forgery", BAAS, baas("bob"), cert="bob",
         send=lambda certs: [("X-Forwarded-Client-Cert", xfcc_element(certs, "alice"))] + FORGED_XSSL,
         envoy={"xfcc": "FORWARD_ONLY"}),
]


# Envoy before 1.39 has no connection.peer_certificate_valid: on an ACCEPT_UNTRUSTED listener nothing tells a
# verified certificate from another, so nothing counts as verified; a listener that refuses unverified ones says so
# with `assume_verified_by_listener` (README, "Envoy before 1.39"). Before 1.38 there is no
# connection.peer_certificate either: `source: auto` takes the certificate from XFCC, checked against the digest.
UNAVAILABLE = "FAILED:verification status unavailable"


def for_envoy(case: Case, version: str) -> Case:
    """The case as it must come out on this Envoy version (the configuration an operator of it would write)."""
    v = harness.version_tuple(version)
    if v >= (1, 39):
        return case
    if case.envoy.get("accept_untrusted"):
        if case.config.get("mode") == "required":
            return replace(case, expect=None, status=403, body=case.config["reject_body"].encode())
        verify = "verify" in case.config.get("headers", {}).values()
        return replace(case, expect=lambda _: {"x-ssl-validate-token": TOKEN,
                                               **({"x-ssl-client-verify": UNAVAILABLE} if verify else {})})
    adjusted = replace(case, config={**case.config, "assume_verified_by_listener": True})
    if v < (1, 38) and case.id == "property-source-forward-only-forgery":
        # Without the property, `auto` reads the XFCC the client forged: its Cert= is not the connection's.
        adjusted = replace(adjusted, expect=nothing)
    if v < (1, 38) and case.id == "custom-odd-values":
        # Envoy writes URI SANs into XFCC unquoted: odd.crt's `https://ok.example/p,spiffe://...` splits Envoy's own
        # header into two elements, which the filter refuses ("more than one element"): no identity, fail closed.
        adjusted = replace(adjusted, expect=nothing)
    return adjusted


def _as_received(value: Union[str, StartsWith]) -> Union[str, StartsWith]:
    # The echo upstream decodes header bytes as latin-1; UTF-8 values arrive as their bytes.
    return value.encode("utf-8").decode("latin-1") if isinstance(value, str) else value


def assert_owned(resp: harness.Response, expected: Expected) -> None:
    got = harness.select(resp.upstream_headers(), OWNED_PREFIXES)
    want = {name: _as_received(value) for name, value in expected.items()}
    assert sorted(n for n, _ in got) == sorted(want), f"upstream identity headers: {got}\nexpected: {want}"
    for name, value in got:
        assert value == want[name], f"{name}: got {value!r}, expected {want[name]!r}"



# ----------------------------------------------------------------------------------------------------------------
# Configurations: tests/cases/configs.json

CONFIG_TABLE = json.loads((harness.REPO / "tests" / "cases" / "configs.json").read_text())


def config_text(case: dict) -> str:
    return case["raw"] if "raw" in case else json.dumps(case["config"])


INVALID_CONFIGS = CONFIG_TABLE["invalid"]
VALID_CONFIGS = CONFIG_TABLE["valid"]
