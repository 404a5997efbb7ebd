#!/usr/bin/env python3
"""`make bench-kong`: what mtls-headers costs on Kong's real proxy-wasm host, next to what nginx and Lua give.

Kong itself cannot be installed here, but its proxy-wasm host can: nginx 1.25.3 + ngx_wasm_module 9136e463 +
Wasmtime 26 + OpenResty's Lua pieces, built by `make kong-host` (scripts/build-kong-host.sh). One nginx under test
(`worker_processes 1`, `master_process off`: the process that answers is the worker, so its /proc CPU time is the
worker's and nothing else's), pinned to one core, has one mTLS server block per arm, identical but for what the
location does before `proxy_pass`:

    a   proxy_pass only                                         (the limit)
    b   nginx's own mapping: proxy_set_header X-SSL-... $ssl_client_... (what nginx gives without code)
    c   the BaaS mapping by hand in Lua, access_by_lua_block      (what Kong users write: pre-function plugins)
    d   mtls-headers baas, attached with the `proxy_wasm` directive
    d2  mtls-headers baas attached from Lua as Kong 3.9.3 does (resty.wasmx.proxy_wasm), after the shipped
        pre-function code kong/clear-owned-headers.lua
    f   the no-op proxy-wasm filter with the directive              (the fixed cost of any filter on this host)
    g   the no-op filter making the host calls (d) makes per request: the floor of (d)
    g2  (g), then the two headers (k) adds, at (k)'s lengths: the host's part of signing
    k   (d) with `sign` (RFC 9421 HMAC-SHA256): issue 11's signing cost on this host
    k2  (k) with a new path on every request (the signing memo of request targets misses)

Every location proxies over upstream keepalive to the same upstream, a second nginx (same binary, no Wasm) answering
`200 ok`, pinned with oha to the other core. `/echo` goes to tests/e2e/echo.py instead, for a one-request sanity
check per arm (forged X-SSL headers in, what reached the upstream out) before any load. Load, repeats, rotation,
CPU accounting and machine facts come from bench.py (the Envoy benchmark), so both measure the same way.

Outputs: tests/bench/results/kong-latest.json (every run's raw numbers) and the section of BENCHMARKS.md between
`<!-- bench-kong:begin -->` and `<!-- bench-kong:end -->` (appended once after the rest; the Envoy `bench` section is
never touched). `--smoke` (200 requests per arm, one repeat) writes into a temporary directory and touches neither.

    .venv/bin/python tests/bench/bench_kong.py [--duration 5] [--warmup 1] [--repeats 5] [--connections 64] [--smoke]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shlex
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Optional

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import bench  # noqa: E402  (oha, /proc accounting, summaries, machine facts: the Envoy benchmark's own code)
from bench import Arm, BenchError, LoadSpec, _f, _pct  # noqa: E402

import echo  # noqa: E402
import harness  # noqa: E402
import ngxhost  # noqa: E402  (tests/e2e: the Kong host's binary, and how the tests attach the filter)

REPO = bench.REPO
RESULTS = bench.RESULTS
REPORT = bench.REPORT
BEGIN, END = "<!-- bench-kong:begin -->", "<!-- bench-kong:end -->"
RESULT_NAME = "kong-latest.json"
TOKEN = bench.TOKEN
UPSTREAM_BODY = bench.UPSTREAM_BODY
BAAS_CONFIG = json.dumps({"preset": "baas", "validate_token": TOKEN})
# Arm (k): (d)'s configuration, signed (RFC 9421), the key in the VM's environment through nginx's `env` (as bench.py).
SIGNED_CONFIG = json.dumps({"preset": "baas", "validate_token": TOKEN, "sign": {"key_env": bench.SIGN_ENV}})
CLEAR_LUA = (REPO / "kong" / "clear-owned-headers.lua").read_text()
# ngx_wasm_module's local reply to a request that still carries an owned header (kong/README.md, "Forged headers").
REFUSED_PREFIX = b"bad request: client certificate headers must not come from the client"

# ----------------------------------------------------------------------------------------------------------------
# The arms

ARMS = [
    Arm("a", "proxy", "proxy_pass only"),
    Arm("b", "nginx", "nginx proxy_set_header map"),
    Arm("c", "lua", "Lua, BaaS by hand"),
    Arm("d", "baas", "mtls-headers baas, directive"),
    Arm("d2", "baas-kong", "mtls-headers baas, Kong Lua"),
    Arm("f", "noop", "no-op Wasm filter, directive"),
    Arm("g", "floor", "host-call floor of (d)"),
    Arm("g2", "floor_signed", "floor of (k): (g) + 2 headers"),
    Arm("k", "signed", "mtls-headers baas, signed"),
    Arm("k2", "signed_paths", "signed, a new path each request", random_path=True),
]
ARM = {a.key: a for a in ARMS}
DEFAULT_ARMS = "a,b,c,d,d2,f,g,g2,k,k2"

# Arm (g): the no-op filter making exactly the host calls mtls-headers' baas preset makes per request on this host
# once its identity cache is warm, the host detected and the connection seen verified (src/proxy.rs, src/peer.rs):
# the request header map, `ngx.connection`, the clock, six header writes.
FLOOR_CALLS = "map=1; props=ngx.connection; clock=1; set=6"
# Arm (g2): (g), then arm (k)'s two headers at (k)'s lengths (bench.py, arm (m)).
SIGNED_FLOOR_CALLS = FLOOR_CALLS + f"; signed={bench.SIGNED_LENGTHS[0]},{bench.SIGNED_LENGTHS[1]}"

# Arm (b): the BaaS headers from nginx's own variables. nginx has $ssl_client_verify, $ssl_client_serial,
# $ssl_client_s_dn and $ssl_client_i_dn (RFC 2253, as OpenSSL prints it), but no per-attribute variable: CN and UID
# come out of the subject by regular expression (`map`), with the Lua arm's fragility. A proxy_set_header name also
# hides the client's header of that exact name (nginx skips client headers named in proxy_set_header), and an empty
# value sends nothing, so the underscore spellings are cleared by name; what nginx cannot do is clear by prefix: any
# other client X-SSL-* header reaches the upstream.
NGINX_MAPS = r"""
    map $ssl_client_verify $bench_validated { SUCCESS 1; default ""; }
    map $ssl_client_s_dn $bench_cn { "~(^|,)CN=(?<cn>[^,]*)" $cn; default ""; }
    map $ssl_client_s_dn $bench_uid { "~(^|,)UID=(?<uid>[^,]*)" $uid; default ""; }"""
NGINX_SET = [
    ("X-SSL-Client-CertAuth-Validated", "$bench_validated"),
    ("X-SSL-Client-Serial", "$ssl_client_serial"),
    ("X-SSL-Client-CN", "$bench_cn"),
    ("X-SSL-Client-UID", "$bench_uid"),
    ("X-SSL-Issuer-DN", "$ssl_client_i_dn"),
    ("X-SSL-Validate-Token", TOKEN),
]
NGINX_CLEAR = [name.lower().replace("-", "_") for name, _ in NGINX_SET]

# Arm (c): the mapping written by hand in Lua, the way Kong users do with pre-function plugins: the shipped clear code
# (every x-ssl* / x_ssl* header, any case), then nginx's variables copied into headers. CN and UID by pattern out of
# the RFC 2253 subject, as in bench.py's Envoy Lua: an escaped comma truncates, multi-valued RDNs are not split.
LUA_MAP = r"""
local var = ngx.var
if var.ssl_client_verify == "SUCCESS" then
  ngx.req.set_header("X-SSL-Client-CertAuth-Validated", "1")
  ngx.req.set_header("X-SSL-Client-Serial", var.ssl_client_serial)
  local subject = "," .. var.ssl_client_s_dn
  local cn = string.match(subject, ",CN=([^,]*)")
  if cn ~= nil then
    ngx.req.set_header("X-SSL-Client-CN", cn)
  end
  local uid = string.match(subject, ",UID=([^,]*)")
  if uid ~= nil then
    ngx.req.set_header("X-SSL-Client-UID", uid)
  end
  ngx.req.set_header("X-SSL-Issuer-DN", var.ssl_client_i_dn)
end
ngx.req.set_header("X-SSL-Validate-Token", "bench-token")
"""

# Arm (d2): as tests/e2e/ngxhost.py's Lua attach (kong/runloop/wasm.lua): the plan is made and loaded once per worker,
# attached per request in the access phase after the pre-function code. Kong's runloop then also installs its Lua
# handlers for `kong.*` properties on every request (set_host_properties_handlers); the filter reads only ngx.*
# properties, which ngx_wasm_module answers itself, so the handlers here are Kong's shape without Kong's lookups.
LUA_ATTACH = """
local proxy_wasm = require "resty.wasmx.proxy_wasm"
local ok, err = proxy_wasm.attach(_G.mtls_plan)
if not ok then
  ngx.log(ngx.CRIT, "failed attaching the filter chain: ", err)
  return ngx.exit(500)
end
ok, err = proxy_wasm.set_host_properties_handlers(_G.mtls_props_get, _G.mtls_props_set)
if not ok then
  ngx.log(ngx.CRIT, "failed setting host property handlers: ", err)
  return ngx.exit(500)
end
"""


# ... and the plan it attaches, made once per worker. Kong hands the filter cjson.encode of the configuration object;
# lua-cjson is not part of this build, so the text goes as written (as in tests/e2e/ngxhost.py).
INIT_WORKER = f"""init_worker_by_lua_block {{
    local proxy_wasm = require "resty.wasmx.proxy_wasm"
    jit.off(proxy_wasm.set_host_properties_handlers)  -- as kong/runloop/wasm.lua does
    _G.mtls_props_get = function(key) return false end  -- no kong.* properties: declined
    _G.mtls_props_set = function(key, value) return false end
    local plan, err = proxy_wasm.new({{ {{ name = "mtls_headers", config = {ngxhost.lua_quote(BAAS_CONFIG)} }} }})
    if not plan then ngx.log(ngx.CRIT, "proxy_wasm.new: ", err) return end
    local ok, err = proxy_wasm.load(plan)
    if not ok then ngx.log(ngx.CRIT, "proxy_wasm.load: ", err) return end
    _G.mtls_plan = plan
}}"""


def _nginx_quote(text: str) -> str:
    """A single-quoted nginx string that reads back as `text` (nginx reads backslash escapes inside quotes)."""
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _lua_block(code: str) -> str:
    return "access_by_lua_block {\n" + code.strip("\n") + "\n}"


def arm_directives(key: str) -> str:
    """What the arm's locations do before the proxy directives every arm shares."""
    if key == "a":
        return ""
    if key == "b":
        lines = [f"proxy_set_header {n} {v};" for n, v in NGINX_SET]
        lines += [f'proxy_set_header {n} "";' for n in NGINX_CLEAR]
        return "\n".join(lines)
    if key == "c":
        return _lua_block(CLEAR_LUA + LUA_MAP)
    if key == "d":
        return f"proxy_wasm mtls_headers {_nginx_quote(BAAS_CONFIG)};"
    if key == "d2":
        return _lua_block(CLEAR_LUA + LUA_ATTACH)
    if key == "f":
        return "proxy_wasm noop;"
    if key == "g":
        return f"proxy_wasm noop {_nginx_quote(FLOOR_CALLS)};"
    if key == "g2":
        return f"proxy_wasm noop {_nginx_quote(SIGNED_FLOOR_CALLS)};"
    if key in ("k", "k2"):
        return f"proxy_wasm mtls_headers {_nginx_quote(SIGNED_CONFIG)};"
    raise ValueError(key)


# Every arm's locations end with these (after the arm's own proxy_set_header lines, which nginx requires in the same
# location: a location with any proxy_set_header inherits none).
PROXY = """proxy_http_version 1.1;
proxy_set_header Connection "";"""


def _indent(text: str, n: int) -> str:
    return "\n".join((" " * n + line) if line.strip() else line for line in text.splitlines())


def tested_conf(
    d: Path, root: Path, certs: Path, arms: list[Arm], ports: dict[str, int], upstream_port: int, echo_port: int
) -> str:
    """The nginx under test: one mTLS server per arm (same TLS settings), `/` to the fast upstream, `/echo` to the
    echo upstream, both with the arm's directives. Arm (a) also has `/tls`, which logs what a client negotiated."""
    c = certs
    init = _indent(INIT_WORKER, 4) if "d2" in ports else ""
    servers = []
    for arm in arms:
        body = _indent("\n".join(t for t in (arm_directives(arm.key), PROXY) if t), 12)
        probe = ""
        if arm.key == "a":
            probe = f"""
        location = /tls {{
            access_log {d}/tls.log tls;
            return 200 "ok\\n";
        }}"""
        servers.append(f"""
    # arm ({arm.key}) {arm.title}
    server {{
        listen 127.0.0.1:{ports[arm.key]} ssl;
        server_name localhost;
        ssl_certificate {c}/server.crt;
        ssl_certificate_key {c}/server.key;
        ssl_client_certificate {c}/ca.crt;
        ssl_verify_client on;
        ssl_verify_depth 2;
        location / {{
{body}
            proxy_pass http://ok;
        }}
        location /echo {{
{body}
            proxy_pass http://echo;
        }}{probe}
    }}""")
    return f"""
daemon off;
master_process off;
worker_processes 1;
pid {d}/nginx.pid;
error_log {d}/error.log notice;
env {bench.SIGN_ENV}={bench.SIGN_KEY};
events {{ worker_connections 1024; }}
wasm {{
    module mtls_headers {bench.WASM_FILTER};
    module noop {bench.WASM_NOOP};
}}
http {{
    access_log off;
    log_format tls '$ssl_protocol $ssl_cipher $ssl_curve';
    client_body_temp_path {d}/body;
    proxy_temp_path {d}/proxy;
    fastcgi_temp_path {d}/fastcgi;
    uwsgi_temp_path {d}/uwsgi;
    scgi_temp_path {d}/scgi;
    lua_package_path '{root}/lualib/?.lua;;';
    # Kong's nginx template: headers spelled with underscores reach Lua, the filter and the upstream.
    underscores_in_headers on;
    # oha's keep-alive connections live through every run (nginx's default closes one after 1000 requests, and a new
    # mTLS handshake per connection and second would be measured with the arm).
    keepalive_requests 1000000;
    keepalive_timeout 300s;
{NGINX_MAPS}
{init}
    upstream ok {{
        server 127.0.0.1:{upstream_port};
        keepalive 64;
        keepalive_requests 1000000;
        keepalive_timeout 300s;
    }}
    upstream echo {{ server 127.0.0.1:{echo_port}; keepalive 4; }}
{"".join(servers)}
}}
"""


def upstream_conf(d: Path, root: Path, port: int) -> str:
    """The fast upstream: plain HTTP/1.1, `200 ok` for every request, keep-alive without a request limit."""
    body = UPSTREAM_BODY.replace("\n", "\\n")  # nginx reads \n inside a quoted string as a newline
    return f"""
daemon off;
master_process off;
worker_processes 1;
pid {d}/nginx.pid;
error_log {d}/error.log notice;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {d}/body;
    proxy_temp_path {d}/proxy;
    fastcgi_temp_path {d}/fastcgi;
    uwsgi_temp_path {d}/uwsgi;
    scgi_temp_path {d}/scgi;
    # The binary has lua-nginx-module, which loads resty.core at start even with no Lua in the configuration.
    lua_package_path '{root}/lualib/?.lua;;';
    keepalive_requests 1000000;
    keepalive_timeout 300s;
    server {{
        listen 127.0.0.1:{port};
        location / {{ return 200 "{body}"; }}
    }}
}}
"""


# ----------------------------------------------------------------------------------------------------------------
# Processes


class PinnedNginx:
    """One nginx in the foreground (`daemon off; master_process off`), under `taskset -c CORE`, which execs nginx:
    the pid is nginx's own, and with no master it is the one process that answers requests."""

    def __init__(self, binary: Path, d: Path, conf: str, ports: list[int], core: Optional[int]) -> None:
        self.binary, self.dir, self.text, self.ports, self.core = binary, d, conf, ports, core
        self.proc: Optional[subprocess.Popen] = None

    def start(self, timeout: float = 20.0) -> "PinnedNginx":
        (self.dir / "logs").mkdir(parents=True, exist_ok=True)  # nginx opens its compiled-in log before the conf
        conf = self.dir / "nginx.conf"
        conf.write_text(self.text)
        test = subprocess.run(
            [str(self.binary), "-t", "-p", str(self.dir), "-c", str(conf)], capture_output=True, timeout=60
        )
        if test.returncode != 0:
            raise BenchError(f"nginx -t refused {conf}:\n{test.stderr.decode(errors='replace')[-3000:]}")
        prefix = [] if self.core is None else ["taskset", "-c", str(self.core)]
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
        with open(self.dir / "stderr.log", "wb") as err:
            self.proc = subprocess.Popen(
                prefix + [str(self.binary), "-p", str(self.dir), "-c", str(conf)],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=err,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise BenchError(f"nginx exited with {self.proc.returncode}:\n{self.log()[-3000:]}")
            try:
                for port in self.ports:
                    with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                        pass
            except OSError:
                time.sleep(0.05)
                continue
            # The sockets listen before the worker has run init_worker (and configured the filters).
            time.sleep(0.3)
            if self.proc.poll() is None:
                return self
        self.stop()
        raise BenchError(f"nginx did not listen on {self.ports} within {timeout:.0f} s:\n{self.log()[-3000:]}")

    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def cpu_seconds(self) -> float:
        return bench.proc_cpu_seconds(self.pid())

    def affinity(self) -> set[int]:
        return os.sched_getaffinity(self.pid())

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log(self) -> str:
        text = ""
        for name in ("stderr.log", "error.log"):
            p = self.dir / name
            if p.exists():
                text += p.read_text(errors="replace")
        return text

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


LOUD = ("emerg", "alert", "crit", "error", "warn")


def log_levels(text: str) -> dict[str, int]:
    """How many lines of each nginx level the error log has (a filter warning per request would be a cost)."""
    out: dict[str, int] = {}
    for line in text.splitlines():
        for level in ("emerg", "alert", "crit", "error", "warn", "notice"):
            if f"[{level}]" in line:
                out[level] = out.get(level, 0) + 1
                break
    return out


# ----------------------------------------------------------------------------------------------------------------
# Sanity check: one request per arm through /echo, with forged headers, before any load

# bench.py's two spellings of a forged CN, and one more owned name no arm maps: only a prefix rule clears it.
FORGED = bench.FORGED + [("X-SSL-Other", "forged")]


def _upstream_got(resp: harness.Response) -> list[tuple[str, str]]:
    return [(n.lower(), v) for n, v in resp.upstream_headers()]


def sanity_check(arm: Arm, port: int, certs: Path, echo_server) -> str:
    """Sends forged X-SSL headers with alice's certificate to /echo; raises BenchError unless the upstream received
    what this arm is meant to send. Arm (d) refuses such a request (this host cannot remove a header): that 400 is
    checked, then a request without forged headers. Returns a one-line summary for the report."""
    alice = certs / "alice.crt"
    client = harness.ClientCert.named(certs, "alice")
    problems: list[str] = []

    def want(cond: bool, what: str) -> None:
        if not cond:
            problems.append(what)

    def want_baas(got: list[tuple[str, str]]) -> None:
        for name, value in bench.expected_baas(alice).items():
            values = [v for n, v in got if n == name]
            want(values == [value], f"{name}: {value!r} (got {values!r})")

    note = ""
    if arm.key in ("d", "k", "k2"):
        reached = len(echo_server.requests)
        resp = harness.https_request(port, FORGED, client=client, path="/echo")
        want(resp.status == 400 and resp.body.startswith(REFUSED_PREFIX), f"400 refused (got {resp.status})")
        want(len(echo_server.requests) == reached, "the refused request does not reach the upstream")
        note = f"with forged headers: {resp.status} `{resp.body.decode(errors='replace').strip()}`, upstream not "
        note += "reached; without: "
        resp = harness.https_request(port, [], client=client, path="/echo")
    else:
        resp = harness.https_request(port, FORGED, client=client, path="/echo")
    if resp.status != 200:
        raise BenchError(f"arm {arm.key}: /echo answered {resp.status}: {resp.body[:300]!r}")
    got = _upstream_got(resp)
    names = [n for n, _ in got]
    forged = [(n, v) for n, v in got if v == "forged"]
    identity = [n for n in names if harness.canon(n).startswith("x-ssl") and (n, "forged") not in forged]
    if arm.key in ("a", "f", "g", "g2"):
        want(len(forged) == len(FORGED), "every forged header reaches the upstream (nothing strips them)")
        want(not identity, "no identity headers")
    elif arm.key == "b":
        want(forged == [("x-ssl-other", "forged")], "only the unmapped X-SSL-Other passes (no prefix rule in nginx)")
        want_baas(got)
    elif arm.key in ("c", "d", "d2", "k", "k2"):
        want(not forged, "no forged value")
        want_baas(got)
    if arm.key in ("k", "k2"):
        sig = [v for n, v in got if n in ("signature", "signature-input")]
        want(len(sig) == 2 and all(v.startswith("mtls=") for v in sig), f"signed ({sig})")
    if arm.key in ("k", "g2"):
        # (g2) must write what (k) sends.
        lengths = bench.signature_lengths(got)
        want(lengths == list(bench.SIGNED_LENGTHS), f"signature headers of {bench.SIGNED_LENGTHS} bytes ({lengths})")
    if problems:
        shown = "\n  ".join(f"{n}: {v}" for n, v in got)
        raise BenchError(
            f"arm {arm.key} ({arm.title}) sanity check failed: {'; '.join(problems)}\n  upstream got:\n  {shown}"
        )
    forged_names = ", ".join(sorted({n for n, _ in forged})) or "none"
    return (
        f"{note}{len(forged)} forged header(s) reached the upstream ({forged_names}); identity headers: "
        f"{', '.join(identity) or 'none'}"
    )


def tls_negotiated(oha: Path, core: Optional[int], port: int, certs: Path, log: Path, timeout: float) -> str:
    """What oha negotiates with this nginx (protocol, cipher, group), from one request to arm (a)'s `/tls`."""
    cmd = bench.oha_command(oha, core, port, certs, LoadSpec(None, 1, 1, []), path="/tls")
    bench.run_oha(cmd, timeout)
    lines = log.read_text().split("\n") if log.exists() else []
    return ", ".join(lines[0].split()) if lines and lines[0] else "unknown"


# ----------------------------------------------------------------------------------------------------------------
# Results

SUMMARY_FIELDS = (
    "ok_rps",
    "p50_ms",
    "p99_ms",
    "nginx_cpu_us_per_req",
    "nginx_core_util",
    "load_core_busy",
    "other_on_nginx_core",
    "nginx_core_softirq",
    "nginx_core_steal",
)

DERIVED = [
    ("d", "f", "mtls-headers baas (directive) above the no-op filter: the filter's own cost (target: at most 5 µs)"),
    ("d2", "f", "mtls-headers attached Kong's way, with the clear Lua, above the no-op filter (directive)"),
    ("d", "c", "mtls-headers baas (directive) above the Lua mapping"),
    ("d2", "c", "Kong's way above the Lua mapping: both run the same clear Lua, then the filter vs the mapping"),
    ("d2", "d", "Lua attach and the clear Lua above the directive"),
    ("g", "f", "the host calls (d) makes, alone: the proxy-wasm ABI's part of (d) − (f)"),
    ("d", "g", "mtls-headers' own code: (d) above a filter making the same host calls and nothing else"),
    ("k", "d", "RFC 9421 signing: signed baas above unsigned baas (target: at most 3 µs)"),
    ("k2", "d", "signing when every request has a new path (the identity's memo of request targets misses)"),
    ("g2", "g", "the host's part of signing: (g) plus two headers of (k)'s lengths, above (g)"),
    ("f", "a", "fixed cost of a Wasm filter in ngx_wasm_module + Wasmtime (no-op filter above proxy_pass only)"),
    ("b", "a", "nginx's own proxy_set_header mapping above proxy_pass only"),
    ("c", "a", "the Lua mapping (clear Lua + mapping) above proxy_pass only"),
]


def targets(summary: dict) -> list[dict]:
    """The issue's targets for this host, measured: a benchmark's report, never an assertion."""
    rows = []

    def rps(k: str) -> float:
        return summary[k]["ok_rps"]["median"]

    def cpu(k: str) -> float:
        return summary[k]["nginx_cpu_us_per_req"]["median"]

    for x in ("d", "d2"):
        if x in summary and "c" in summary:
            rows.append(
                {
                    "target": f"({x}) req/s within 10% of the Lua mapping (c)",
                    "measured": f"({x})÷(c) {rps(x) / rps('c'):.3f}; CPU/req {cpu(x) - cpu('c'):+.1f} µs",
                    "met": rps(x) >= 0.9 * rps("c"),
                }
            )
    # At most so many µs per request above a reference arm, by req/s and by CPU alike.
    for x, ref, limit, what in (
        ("d", "f", 5, "warm cache"),
        ("k", "d", 3, "warm cache (signing, issue 11)"),
    ):
        if x in summary and ref in summary:
            wall = 1e6 / rps(x) - 1e6 / rps(ref)
            rows.append(
                {
                    "target": f"({x}) − ({ref}) ≤ {limit} µs per request, {what}",
                    "measured": f"{wall:+.1f} µs (req/s), {cpu(x) - cpu(ref):+.1f} µs (CPU)",
                    "met": max(wall, cpu(x) - cpu(ref)) <= limit,
                }
            )
    return rows


def _arm_config_block(arms: list[Arm]) -> list[str]:
    lines = ["```nginx"]
    for arm in arms:
        body = arm_directives(arm.key).replace(CLEAR_LUA.rstrip("\n"), "-- kong/clear-owned-headers.lua, verbatim")
        lines.append(f"# ({arm.key}) {arm.title}" + ("" if body else ": nothing"))
        if body:
            lines.append(body)
        if arm.key == "d2":
            lines += ["# and in the http block:", INIT_WORKER]
        lines.append("")
    lines += [
        "# every arm, after its own lines: the same proxying",
        PROXY,
        "proxy_pass http://ok;   # upstream ok { server 127.0.0.1:PORT; keepalive 64; keepalive_requests 1000000; }",
        "```",
    ]
    return lines


def report_section(result: dict, arms: list[Arm]) -> str:
    m, cfg, s = result["machine"], result["config"], result["summary"]
    lines = [
        BEGIN,
        "<!-- Generated by tests/bench/bench_kong.py (`make bench-kong`); rewritten on every run. -->",
        "",
        "## Kong's proxy-wasm host (`make bench-kong`)",
        "",
        "The same questions on the host Kong 3.9.3 runs filters in: nginx 1.25.3 + ngx_wasm_module 9136e463 + Wasmtime "
        "26.0.0 + OpenResty's lua-nginx-module 0.10.26, as `make kong-host` builds it (Kong's own Lua is not part of "
        "it: the Lua arms run the same kind of code Kong's plugins and runloop run, inline). "
        "`make bench-kong-smoke` checks that the benchmark works (200 requests per arm) and writes nothing here.",
        "",
        "Setup (tests/bench/bench_kong.py): one nginx under test, `worker_processes 1`, `master_process off` (the one "
        f"process is the worker), pinned to core {cfg['nginx_core']}, with one server block per arm: "
        "`listen ... ssl`, the test PKI's P-256 server certificate, `ssl_verify_client on` against the test CA, "
        "HTTP/1.1 only, keep-alive without a request limit; every location proxies with `proxy_http_version 1.1` "
        "and upstream keepalive to the same upstream, a second nginx (same binary, no Wasm, `return 200 \"ok\\n\"`) "
        f"pinned with oha to core {cfg['load_core']}. The http block carries what Kong's template does "
        "(`underscores_in_headers on`), a `wasm {}` block with both modules, and the arms' `map`s.",
        "",
        "| arm | what the location does before proxying |",
        "|---|---|",
        "| (a) | nothing: `proxy_pass` only, the limit |",
        "| (b) | nginx's own mapping: `proxy_set_header` of the six BaaS headers from `$ssl_client_verify` (`map`), "
        "`$ssl_client_serial`, `$ssl_client_i_dn`, CN and UID by regex `map` over `$ssl_client_s_dn`, the token as "
        "text; `proxy_set_header x_ssl_client_cn \"\"` etc. hide the underscore spellings |",
        "| (c) | `access_by_lua_block`: kong/clear-owned-headers.lua, then the mapping from `ngx.var.ssl_client_*` "
        "with `ngx.req.set_header`, as a Kong user writes it in pre-function plugins |",
        f"| (d) | `proxy_wasm mtls_headers '{BAAS_CONFIG}'` |",
        "| (d2) | the same filter and configuration attached as Kong 3.9.3 does: `resty.wasmx.proxy_wasm` `new`/`load` "
        "in `init_worker_by_lua_block`, `attach` in `access_by_lua_block` after kong/clear-owned-headers.lua (Kong's "
        "global pre-function plugin in kong/kong.yml) |",
        "| (f) | `proxy_wasm noop` (tests/bench/noop, built like the filter): the fixed cost of any filter here |",
    ]
    if "g" in s:
        lines.append(f"| (g) | `proxy_wasm noop '{FLOOR_CALLS}'`: the host calls (d) makes, and nothing else |")
    if "g2" in s:
        lines.append(f"| (g2) | `proxy_wasm noop '{SIGNED_FLOOR_CALLS}'`: (g), then (k)'s two headers at their lengths |")
    if "k" in s:
        lines.append(
            f"| (k) | `proxy_wasm mtls_headers '{SIGNED_CONFIG}'`, the key from nginx's `env` (RFC 9421, HMAC-SHA256) |"
        )
    if "k2" in s:
        lines.append("| (k2) | (k), with each request to a new path (oha `--rand-regex-url`, `/r/` and 12 random letters) |")
    lines += [
        "",
        "What nginx alone cannot do in (b): remove client headers by prefix. `proxy_set_header` hides only the names "
        "it lists (the six and their underscore spellings here); any other `X-SSL-*` a client sends reaches the "
        "upstream (the sanity check's `X-SSL-Other`). nginx has no per-attribute variable, so CN and UID come out of "
        "the escaped RFC 2253 subject by regex, as fragile as the Lua pattern (`CN=Smith\\, John` gives `Smith\\`; "
        "multi-valued RDNs are not split); nor a UID, SAN, SHA-256 fingerprint or trusted-issuer check of its own.",
        "",
        "On this host the filter cannot remove a request header, so (d), attached by the directive with nothing in "
        "front, answers 400 to a request that carries an owned header (kong/README.md). The load carries none; (d2) "
        "is the deployable form, with the clear Lua in front.",
        "",
        "<details><summary>The arms' nginx directives</summary>",
        "",
        *_arm_config_block(arms),
        "",
        "</details>",
        "",
        f"### Last run: {result['finished']}",
        "",
        f"- Machine: {m['nproc']} vCPU, {m['cpu_model']}, {m['memory_gib']} GiB, Linux {m['kernel']}; load average "
        f"at start {' '.join(m['loadavg_start'])}, at end {' '.join(m.get('loadavg_end') or ['?'])}; cores busy in the "
        "second before: "
        + ", ".join(f"{c}: {_pct(v)}" for c, v in (m.get("busy_before") or {}).items()),
        f"- Host: {m['nginx']} (`{m['kong_host']}`), pinned to core {cfg['nginx_core']}; {m['oha']} and the upstream "
        f"nginx pinned to core {cfg['load_core']}",
        f"- {m['rustc']}; filter built at {m['commit']}; Python {m['python']}",
        "- Wasm: "
        + ", ".join(f"`{k}` {v:,} bytes (sha256 {m['wasm_sha256'].get(k, '?')}…)" for k, v in m["wasm_bytes"].items()),
        (
            f"- Command: `{cfg['make_command']}`, which runs `{cfg['command']}`"
            if cfg.get("make_command")
            else f"- Command: `{cfg['command']}`"
        ),
        f"- Load per run: `{cfg['oha_example']}`",
        f"- {cfg['repeats']} repeat(s) × {len(arms)} arms, each run after a discarded warm-up ({cfg['warmup_desc']}); "
        f"arm order rotated every repeat; TLS as oha negotiated it: {result.get('tls_negotiated') or 'unknown'}; "
        f"wall time {result['wall_s']:.0f} s",
        "",
        "Sanity check before the load, one request per arm to `/echo` with alice's certificate and forged "
        "`X-SSL-Client-CN`, `x_ssl_client_cn`, `X-SSL-Other` (what the echo upstream received):",
        "",
    ]
    for arm in arms:
        if arm.key in result["sanity"]:
            lines.append(f"- ({arm.key}) {arm.title}: {result['sanity'][arm.key]}")
    lines += [
        "",
        "| arm | req/s median (min–max) | p50 µs | p99 µs (min–max) | req/s ÷ (a) | req/s ÷ (c) | p99 ÷ (c) "
        "| nginx CPU µs/req (min–max) | nginx on its core | other load on it |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for arm in arms:
        e = s.get(arm.key)
        if not e:
            continue
        rps, p50, p99 = e["ok_rps"], e["p50_ms"], e["p99_ms"]
        cpu, util = e["nginx_cpu_us_per_req"], e["nginx_core_util"]
        lines.append(
            f"| ({arm.key}) {arm.title} | {_f(rps['median'], ',.0f')} "
            f"({_f(rps['min'], ',.0f')}–{_f(rps['max'], ',.0f')}) "
            f"| {_f(p50['median'] * 1000, '.0f')} | {_f(p99['median'] * 1000, '.0f')} "
            f"({_f(p99['min'] * 1000, '.0f')}–{_f(p99['max'] * 1000, '.0f')}) "
            f"| {_f(e.get('rps_vs_a'), '.3f')} | {_f(e.get('rps_vs_c'), '.3f')} | {_f(e.get('p99_vs_c'), '.3f')} "
            f"| {_f(cpu['median'], '.1f')} ({_f(cpu['min'], '.1f')}–{_f(cpu['max'], '.1f')}) "
            f"| {_pct(util['median'])} | {_pct(e['other_on_nginx_core']['median'])} |"
        )
    lines += [
        "",
        'Medians over the repeats; req/s counts `200` responses only. "nginx CPU µs/req" is the nginx under test\'s '
        "user+system CPU time during the run (/proc) divided by the requests it answered, a per-request cost that "
        'holds whether or not it is saturated; "nginx on its core" is that CPU time over the run\'s wall time (only '
        'near 100% is 1e6/rps a per-request cost too); "other load" is what else ran on that core meanwhile '
        "(/proc/stat): noise from other processes.",
    ]
    utils = [e["nginx_core_util"]["median"] for e in s.values() if e["nginx_core_util"]["median"] is not None]
    if utils and max(utils) < 0.9:
        lines += [
            "",
            f"**The nginx under test was not saturated** (it used {min(utils) * 100:.0f}–{max(utils) * 100:.0f}% of "
            f"its core): req/s is bounded by the round trip through oha, nginx and the upstream (core "
            f"{cfg['load_core']}), so 1e6/rps differences are added latency on that path; CPU/req is the cost.",
        ]
    lines += [
        "",
        "Per-request cost differences (µs, from the medians):",
        "",
        "| difference | from req/s: 1e6/rps(x) − 1e6/rps(ref) | from nginx CPU/req | nginx CPU/req, per repeat: "
        "median (min to max) | meaning |",
        "|---|---:|---:|---:|---|",
    ]
    for row in result["derived"]:
        lines.append(
            f"| ({row['x']}) − ({row['ref']}) | {_f(row['us_per_req_from_rps'], '+.1f')} "
            f"| {_f(row['us_per_req_nginx_cpu'], '+.1f')} | {bench.paired_text(row)} | {row['meaning']} |"
        )
    if result.get("targets"):
        lines += [
            "",
            "Issue targets, measured (benchmarks, not pass/fail tests):",
            "",
            "| target | measured | met |",
            "|---|---:|---|",
        ]
        for t in result["targets"]:
            lines.append(f"| {t['target']} | {t['measured']} | {'yes' if t['met'] else 'no'} |")
    levels = result.get("error_log_levels") or {}
    lines += [
        "",
        "The tested nginx's error log (level `notice`) over the whole run: "
        + (", ".join(f"{v} `{k}`" for k, v in levels.items()) or "empty")
        + ".",
        "",
        END,
    ]
    return "\n".join(lines)


def print_summary(result: dict, arms: list[Arm]) -> None:
    s = result["summary"]
    if result["config"]["smoke"]:
        print(
            "\nbench-kong: smoke run (200 requests per arm): these numbers show that the benchmark works, "
            "they measure nothing"
        )
    print("\narm                                  req/s (min-max)        p50 µs  p99 µs   ÷(a)   ÷(c)  CPU µs/req")
    for arm in arms:
        e = s.get(arm.key)
        if not e:
            continue
        print(
            f"({arm.key}) {arm.title:<30} {e['ok_rps']['median']:8,.0f} "
            f"({e['ok_rps']['min']:,.0f}-{e['ok_rps']['max']:,.0f})"
            f"  {e['p50_ms']['median'] * 1000:7.0f} {e['p99_ms']['median'] * 1000:7.0f}  "
            f"{_f(e.get('rps_vs_a'), '.3f'):>5}  {_f(e.get('rps_vs_c'), '.3f'):>5}  "
            f"{_f(e['nginx_cpu_us_per_req']['median'], '.1f'):>8}"
        )
    for row in result["derived"]:
        print(
            f"({row['x']})-({row['ref']}): {_f(row['us_per_req_from_rps'], '+.1f')} µs/req from req/s, "
            f"{_f(row['us_per_req_nginx_cpu'], '+.1f')} µs/req nginx CPU, per repeat {bench.paired_text(row)}  "
            f"— {row['meaning']}"
        )
    for t in result.get("targets", []):
        print(f"target {t['target']}: {t['measured']} -> {'met' if t['met'] else 'NOT met'}")


# ----------------------------------------------------------------------------------------------------------------
# Main


def parse_args(argv: Optional[list[str]] = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--duration", type=float, default=5.0, help="seconds per measured run (oha -z; default 5)")
    p.add_argument("--warmup", type=float, default=1.0, help="seconds of discarded warm-up per run (default 1)")
    p.add_argument("--repeats", type=int, default=5, help="runs per arm (default 5)")
    # As bench.py: enough connections to keep the one worker busy while oha and the upstream share the other core.
    p.add_argument("--connections", type=int, default=64, help="concurrent keep-alive connections (oha -c; 64)")
    p.add_argument(
        "--arms",
        default=DEFAULT_ARMS,
        help=f"comma-separated arms (default {DEFAULT_ARMS})",
    )
    p.add_argument(
        "--header",
        action="append",
        default=[],
        help="extra request header for the load (repeatable); an X-SSL one makes arm d answer 400",
    )
    p.add_argument("--nginx-core", type=int, default=0, help="core for the nginx under test (default 0)")
    p.add_argument("--load-core", type=int, default=1, help="core for oha and the upstream nginx (default 1)")
    p.add_argument("--no-pin", action="store_true", help="do not pin processes to cores (taskset)")
    p.add_argument(
        "--timeout", type=float, default=None, help="total seconds before giving up (default 540, smoke 120)"
    )
    p.add_argument(
        "--smoke",
        action="store_true",
        help="200 requests per arm, one repeat, results in a temporary directory; BENCHMARKS.md and "
        "tests/bench/results are left alone",
    )
    p.add_argument("--out", type=Path, default=None, help="results directory (default tests/bench/results)")
    p.add_argument(
        "--report", type=Path, default=None, help="the Markdown report to update (default BENCHMARKS.md; not smoke)"
    )
    p.add_argument("--oha", type=Path, default=Path(os.environ.get("OHA") or bench.OHA), help="oha binary")
    args = p.parse_args(argv)
    args.arm_keys = [k.strip() for k in args.arms.split(",") if k.strip()]
    bad = [k for k in args.arm_keys if k not in ARM]
    if bad or not args.arm_keys:
        p.error(f"--arms: unknown arm(s) {','.join(bad)}; choose from {','.join(ARM)}")
    if args.smoke:
        args.repeats = 1
    if args.timeout is None:
        args.timeout = 120.0 if args.smoke else 540.0
    if args.repeats < 1 or args.connections < 1 or args.duration <= 0 or args.warmup < 0:
        p.error("--repeats, --connections and --duration must be positive")
    return args


def nginx_version(binary: Path) -> str:
    """`nginx/1.25.3 + ngx_wasm_module-9136e463 + lua-nginx-module-0.10.26`, from `nginx -V`'s configure line."""
    out = bench._cmd_out([str(binary), "-V"])
    version = next((w.split(":", 1)[-1].strip() for w in out.splitlines() if "nginx version" in w), "nginx ?")
    modules = [
        Path(w.split("=", 1)[1]).name for w in out.split() if w.startswith("--add-module=") and "devel_kit" not in w
    ]
    return " + ".join([version, *modules])


def main(argv: Optional[list[str]] = None) -> int:
    args = parse_args(argv)
    started = time.monotonic()
    deadline = started + args.timeout

    def remaining(what: str) -> float:
        left = deadline - time.monotonic()
        if left <= 0:
            raise BenchError(f"total timeout ({args.timeout:.0f} s) reached before {what}")
        return left

    arms = [ARM[k] for k in ARM if k in args.arm_keys]
    nginx_core = None if args.no_pin else args.nginx_core
    load_core = None if args.no_pin else args.load_core
    if not args.no_pin:
        cpus = os.sched_getaffinity(0)
        if args.nginx_core not in cpus or args.load_core not in cpus or args.nginx_core == args.load_core:
            raise BenchError(f"need two distinct usable cores (have {sorted(cpus)}); use --no-pin or --nginx-core/"
                             "--load-core")
        # The script itself (and the echo upstream thread) stays off the tested nginx's core.
        os.sched_setaffinity(0, {args.load_core})
    try:
        binary = ngxhost.nginx_binary()
    except ngxhost.HostMissing as e:
        raise BenchError(str(e)) from e
    for path, how in ((bench.WASM_FILTER, "make build"), (bench.WASM_NOOP, "make noop"), (args.oha, "make bench")):
        if not path.exists():
            raise BenchError(f"{path} is missing: run `{how}`")

    if args.smoke:
        out = args.out or Path(tempfile.mkdtemp(prefix="mtls-bench-kong-smoke-"))
        report = args.report
        run_spec = LoadSpec(None, 200, args.connections, args.header)
        warm_spec: Optional[LoadSpec] = LoadSpec(None, 50, args.connections, args.header)
        warmup_desc = "50 requests"
    else:
        out = args.out or RESULTS
        report = args.report or REPORT
        run_spec = LoadSpec(args.duration, None, args.connections, args.header)
        warm_spec = LoadSpec(args.warmup, None, args.connections, args.header) if args.warmup > 0 else None
        warmup_desc = f"{args.warmup:g} s" if args.warmup > 0 else "none"
    out.mkdir(parents=True, exist_ok=True)

    work = Path(tempfile.mkdtemp(prefix="mtls-bench-kong-"))
    certs = harness.gen_certs(work / "certs")
    machine = bench.machine_facts(args.oha, envoy=False)
    machine["nginx"] = nginx_version(binary)
    machine["kong_host"] = str(binary.parent.parent.relative_to(REPO)) if binary.is_relative_to(REPO) else str(binary)
    # Other processes on the machine are noise: say how busy the cores were just before the benchmark.
    machine["busy_before"] = bench.busy_before()
    print(f"bench-kong: {len(arms)} arms × {args.repeats} repeat(s); results in {out}", flush=True)

    echo_server = echo.start()
    upstream: Optional[PinnedNginx] = None
    tested: Optional[PinnedNginx] = None
    runs: list[dict] = []
    sanity: dict[str, str] = {}
    tls = "unknown"
    try:
        up_port = harness.free_port()
        up_conf = upstream_conf(work / "upstream", binary.parent.parent, up_port)
        upstream = PinnedNginx(binary, work / "upstream", up_conf, [up_port], load_core)
        upstream.start(timeout=min(20.0, remaining("upstream start")))
        ports = {a.key: harness.free_port() for a in arms}
        conf = tested_conf(work / "tested", binary.parent.parent, certs, arms, ports, up_port, echo_server.port)
        tested = PinnedNginx(binary, work / "tested", conf, list(ports.values()), nginx_core)
        tested.start(timeout=min(30.0, remaining("nginx start")))
        if nginx_core is not None:
            print(
                f"bench-kong: nginx under test pid {tested.pid()} on cores {sorted(tested.affinity())}; upstream pid "
                f"{upstream.pid()} on {sorted(upstream.affinity())}",
                flush=True,
            )

        # The fast upstream answers through every arm, and every arm sends what it should.
        for arm in arms:
            resp = harness.https_request(ports[arm.key], [], client=harness.ClientCert.named(certs, "alice"))
            if resp.status != 200 or resp.body.decode(errors="replace") != UPSTREAM_BODY:
                raise BenchError(f"arm {arm.key}: / answered {resp.status} {resp.body[:200]!r}\n{tested.log()[-2000:]}")
            sanity[arm.key] = sanity_check(arm, ports[arm.key], certs, echo_server)
            print(f"bench-kong: sanity ({arm.key}) {arm.title}: {sanity[arm.key]}", flush=True)
        if "a" in ports:
            tls = tls_negotiated(args.oha, load_core, ports["a"], certs, work / "tested" / "tls.log",
                                 min(30.0, remaining("TLS probe")))

        per_run_timeout = (args.duration if not args.smoke else 30.0) + 30.0
        for rep in range(args.repeats):
            for pos, arm in enumerate(bench.rotated(arms, rep)):
                port = ports[arm.key]
                if warm_spec is not None:
                    cmd = bench.oha_command(args.oha, load_core, port, certs, warm_spec, random_path=arm.random_path)
                    data, _, _ = bench.run_oha(cmd, min(per_run_timeout, remaining(f"warm-up {arm.key}")))
                    bench.check_run(arm, bench.parse_oha(data), warmup=True)
                cmd = bench.oha_command(args.oha, load_core, port, certs, run_spec, random_path=arm.random_path)
                ngx_cpu0, up_cpu0, cores0 = tested.cpu_seconds(), upstream.cpu_seconds(), bench.core_times()
                t0 = time.monotonic()
                data, oha_cpu, _ = bench.run_oha(cmd, min(per_run_timeout, remaining(f"run {arm.key}")))
                wall = time.monotonic() - t0
                ngx_cpu, up_cpu, cores1 = (
                    tested.cpu_seconds() - ngx_cpu0,
                    upstream.cpu_seconds() - up_cpu0,
                    bench.core_times(),
                )
                if not tested.alive():
                    raise BenchError(f"the nginx under test died during arm {arm.key}:\n{tested.log()[-3000:]}")
                r = bench.parse_oha(data)
                bench.check_run(arm, r, warmup=False)
                r.update(
                    {
                        "arm": arm.key,
                        "repeat": rep,
                        "position": pos,
                        "wall_s": wall,
                        "nginx_cpu_s": ngx_cpu,
                        "nginx_cpu_us_per_req": ngx_cpu / r["ok"] * 1e6 if r["ok"] else None,
                        "nginx_core_util": ngx_cpu / wall if wall > 0 else None,
                        "upstream_cpu_s": up_cpu,
                        "oha_cpu_s": oha_cpu,
                        "nginx_core_busy": bench.core_busy(cores0, cores1, args.nginx_core),
                        "load_core_busy": bench.core_busy(cores0, cores1, args.load_core),
                        "nginx_core_softirq": bench.core_busy(cores0, cores1, args.nginx_core, (5, 6)),
                        "nginx_core_steal": bench.core_busy(cores0, cores1, args.nginx_core, (7,)),
                    }
                )
                if r["nginx_core_busy"] is not None and r["nginx_core_util"] is not None:
                    # Whatever else ran on the tested nginx's core during the run (noise from other processes).
                    r["other_on_nginx_core"] = max(0.0, r["nginx_core_busy"] - r["nginx_core_util"])
                runs.append(r)
                print(
                    f"bench-kong: repeat {rep + 1}/{args.repeats} ({arm.key}) {arm.title:<30} {r['ok_rps']:9,.0f} "
                    f"req/s  p50 {r['p50_ms'] * 1000:6.0f} µs  p99 {r['p99_ms'] * 1000:6.0f} µs  nginx CPU "
                    f"{r['nginx_cpu_us_per_req'] or 0:5.1f} µs/req, core {r['nginx_core_util'] * 100:3.0f}% "
                    f"(core {args.nginx_core} busy {(r['nginx_core_busy'] or 0) * 100:3.0f}%, core {args.load_core} "
                    f"busy {(r['load_core_busy'] or 0) * 100:3.0f}%: oha {oha_cpu / wall * 100:3.0f}%, upstream "
                    f"{up_cpu / wall * 100:3.0f}%)",
                    flush=True,
                )
        error_log = (tested.dir / "error.log").read_text(errors="replace")
        error_levels = log_levels(error_log)
        # What was logged above notice (the one refused sanity request of arm d, and anything unexpected).
        error_lines = [ln for ln in error_log.splitlines() if any(f"[{x}]" in ln for x in LOUD)][:20]
    finally:
        if tested is not None:
            tested.stop()
        if upstream is not None:
            upstream.stop()
        echo_server.stop()
        shutil.rmtree(work, ignore_errors=True)

    summary = bench.summarize(runs, arms, SUMMARY_FIELDS, rps_refs=("a", "c"), p99_refs=("a", "c"))
    derived = bench.derived_costs(summary, runs, DERIVED, "nginx_cpu_us_per_req", "us_per_req_nginx_cpu")
    machine["loadavg_end"] = Path("/proc/loadavg").read_text().split()[:3]
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
            "nginx_core": nginx_core,
            "load_core": load_core,
            "command": " ".join(
                shlex.quote(a) for a in [".venv/bin/python", "tests/bench/bench_kong.py", *(argv or sys.argv[1:])]
            ),
            "make_command": os.environ.get("BENCH_COMMAND"),
            "oha_example": " ".join(
                shlex.quote(str(a)).replace(str(work), "$PKI_DIR").replace(str(REPO) + "/", "")
                for a in bench.oha_command(args.oha, load_core, 0, certs, run_spec)
            ).replace(":0/", ":$PORT/"),
            "arm_directives": {a.key: arm_directives(a.key) for a in arms},
            "nginx_maps": NGINX_MAPS.strip(),
            "baas_config": BAAS_CONFIG,
            "floor_calls": FLOOR_CALLS,
        },
        "arms": {a.key: {"name": a.name, "title": a.title} for a in arms},
        "sanity": sanity,
        "tls_negotiated": tls,
        "error_log_levels": error_levels,
        "error_log_lines": error_lines,
        "runs": runs,
        "summary": summary,
        "derived": derived,
        "targets": targets(summary),
    }
    (out / RESULT_NAME).write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    if report is not None:
        bench.write_report(report, report_section(result, arms), BEGIN, END, append=True)
    print_summary(result, arms)
    print(
        f"bench-kong: wrote {out / RESULT_NAME}" + (f", {report}" if report is not None else "")
        + f" in {result['wall_s']:.0f} s",
        flush=True,
    )
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BenchError as e:
        print(f"bench-kong: error: {e}", file=sys.stderr)
        sys.exit(1)
