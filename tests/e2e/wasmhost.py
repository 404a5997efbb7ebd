"""Client for the Wasm test host (tests/wasmhost, binary `wasmhost`): runs the built filter as Envoy or Kong
(ngx_wasm_module) would, and turns the shared request cases into what each host would hand the filter.

The host reads one JSON scenario per line and answers one JSON result per line; header bytes travel as latin-1
strings. What a real proxy does before the filter runs is done here: the TLS verification result per listener
(Envoy's ACCEPT_UNTRUSTED, nginx's ssl_verify_client), and Envoy's XFCC sanitising (SANITIZE_SET).
"""

from __future__ import annotations

import hashlib
import json
import time
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Union
from urllib.parse import quote

import certinfo as ci
import harness

BINARY = harness.REPO / "target" / "debug" / "wasmhost"
HOSTS = ("envoy", "kong")
ENGINES = ("wasm", "native")
# OpenSSL's X509_verify_cert_error_string for the test PKI's two bad certificates, as nginx reports them in
# $ssl_client_verify (FAILED:<reason>).
VERIFY_REASONS = {"rogue": "unable to get local issuer certificate", "expired": "certificate has expired"}


class WasmHost:
    """One long-lived `wasmhost` process; compiling the module happens once."""

    def __init__(self, binary: Path = BINARY) -> None:
        if not binary.is_file():
            raise FileNotFoundError(f"{binary} is missing: run `make wasmhost`")
        self.proc = subprocess.Popen(
            [str(binary)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, encoding="utf-8"
        )

    def run(self, scenario: dict) -> dict:
        assert self.proc.stdin and self.proc.stdout
        self.proc.stdin.write(json.dumps(scenario) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"wasmhost exited with {self.proc.wait()}")
        result = json.loads(line)
        if "error" in result:
            raise RuntimeError(result["error"])
        return result

    def close(self) -> None:
        if self.proc.stdin:
            self.proc.stdin.close()
        self.proc.wait(timeout=10)


def latin1(value: Union[str, bytes]) -> str:
    """Header bytes as the host protocol carries them: str values are sent as UTF-8 on the wire."""
    return (value if isinstance(value, bytes) else value.encode("utf-8")).decode("latin-1")


def peer_cert(certs: Path, name: str) -> dict:
    c = certs / f"{name}.crt"
    der = ci.der(c)
    return {
        "pem": ci.leaf_pem(c),
        "sha256": hashlib.sha256(der).hexdigest(),
        "sha1": hashlib.sha1(der).hexdigest(),
        "subject_dn": ci.dn(c, "subject"),
        "issuer_dn": ci.dn(c, "issuer"),
        "serial": ci.serial(c),
    }


def connection(certs: Path, cert: Optional[str], *, tls: bool = True) -> dict:
    """The TLS result the proxy hands the filter for a client presenting `cert` (None: no certificate)."""
    if cert is None or not tls:
        return {"tls": tls, "verify": "NONE", "cert": None}
    verify = f"FAILED:{VERIFY_REASONS[cert]}" if cert in VERIFY_REASONS else "SUCCESS"
    return {"tls": True, "verify": verify, "cert": peer_cert(certs, cert)}


def envoy_xfcc(certs: Path, cert: Optional[str], headers: list, mode: str) -> list:
    """Envoy's connection manager before any filter: SANITIZE_SET drops the client's XFCC and writes its own
    (Hash, Cert, Chain: every certificate the client presented, Subject) for a presented certificate;
    SANITIZE_SET_NO_CHAIN the same without Chain; FORWARD_ONLY passes the client's through. The same probe runs on
    real Envoy (test_envoy.py, test_envoy_xfcc_is_the_emulators)."""
    if not mode.startswith("SANITIZE_SET"):
        return headers
    out = [(n, v) for n, v in headers if n.lower() != "x-forwarded-client-cert"]
    if cert is not None:
        c = certs / f"{cert}.crt"
        value = f'Hash={ci.fingerprint(c, "sha256")};Cert="{quote(ci.leaf_pem(c), safe="")}"'
        if mode == "SANITIZE_SET":
            value += f';Chain="{quote("".join(ci.pem(d) for d in ci.presented(c)), safe="")}"'
        out.append(("x-forwarded-client-cert", value + f';Subject="{ci.dn(c, "subject")}"'))
    return out


@dataclass
class Result:
    """One request's outcome, shaped like harness.Response where the shared assertions need it."""

    forwarded: bool
    headers: list  # what the upstream receives: (lower-case name, latin-1 value)
    reply: Optional[dict]
    logs: list
    closed: bool = False  # the filter closed the stream: the client sees a reset
    pseudo: dict = field(default_factory=dict)  # the request's :authority, :path, ... as the host holds them

    @property
    def status(self) -> int:
        return self.reply["status"] if self.reply else 200

    @property
    def body(self) -> bytes:
        return self.reply["body"].encode("latin-1") if self.reply else b""

    def upstream_headers(self) -> list:
        return self.headers


# What the shipped Kong files do before the chain: the pre-function plugin clears every owned header (all
# spellings, all copies), since ngx_wasm_module cannot remove one (the filter refuses a request that still carries
# one). The Lua itself runs on the real host (test_ngx_wasm.py); here its effect on the names these tables own.
def kong_pre_function(headers: list) -> list:
    from cases import OWNED_NAMES, OWNED_PREFIXES

    owned = harness.select(headers, (*OWNED_PREFIXES, *OWNED_NAMES))
    return [h for h in headers if h not in owned]


def scenario(wasm: Path, host: str, config: str, conn: dict, requests: list, env: Optional[dict] = None,
             pre_function: bool = True, fail_local_reply: bool = False, engine: str = "wasm") -> dict:
    """`engine`: "wasm" runs the built .wasm; "native" the same adapter and core compiled natively, under the same
    host model (tests/wasmhost/src/native.rs)."""
    if host == "kong" and pre_function:
        requests = [(path, h2, kong_pre_function(headers)) for path, h2, headers in requests]
    return {
        "engine": engine,
        "wasm": str(wasm),
        "profile": host,
        "config": config,
        "env": env or {},
        "fail_local_reply": fail_local_reply,
        # The host clock is the real one: a signature's `created` is checked against it (cases.signature_verifies).
        "now": int(time.time()),
        "connection": conn,
        "requests": [
            {"path": path, "h2": h2, "headers": [[latin1(n), latin1(v)] for n, v in headers]}
            for path, h2, headers in requests
        ],
    }


def results(out: dict) -> list[Result]:
    return [
        Result(
            forwarded=x["forwarded"],
            headers=[(n.lower(), v) for n, v in x["headers"] if not n.startswith(":")],
            reply=x["reply"],
            logs=x["logs"],
            closed=x["closed"],
            pseudo={n: v for n, v in x["headers"] if n.startswith(":")},
        )
        for x in out["exchanges"]
    ]
