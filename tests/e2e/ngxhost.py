"""Kong 3.9.3's real proxy-wasm host: nginx 1.25.3 + ngx_wasm_module 9136e463 + Wasmtime 26.0.0 + OpenResty's Lua
pieces, built by `make kong-host` (scripts/build-kong-host.sh). Kong itself is not run (its Lua dependencies come
from LuaRocks); the filter is attached the two ways this host offers:

    attach="directive"   nginx's own `proxy_wasm mtls_headers '<json>'` in the location
    attach="lua"         Kong's way (kong/runloop/wasm.lua): the plan made and loaded per worker with
                         `resty.wasmx.proxy_wasm` new/load (the configuration as written: no lua-cjson here), and
                         `attach` in the access phase after `pre_lua` (Lua that runs first, as Kong's plugins do)

NgxWasmHost(...) starts nginx in the foreground (one worker, as the benchmarks want) with a TLS server
(`ssl_verify_client`, HTTP/2) and a plain-HTTP server, both proxying to the echo upstream. `.port`, `.plain_port`,
`.error_log()`, `stop()`; a context manager. A missing host raises HostMissing: the tests fail, never skip.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Optional, Sequence

import harness

DEFAULT_DIR = harness.REPO / ".tools" / "kong-host" / "nginx-1.25.3-ngxwasm-9136e463-wasmtime-26.0.0-lua-0.10.26"


class HostMissing(RuntimeError):
    pass


class HostError(RuntimeError):
    pass


def nginx_binary() -> Path:
    path = Path(os.environ.get("KONG_HOST_NGINX") or DEFAULT_DIR / "sbin" / "nginx")
    if not (path.is_file() and os.access(path, os.X_OK)):
        raise HostMissing(f"the Kong host is not built at {path}: run `make kong-host`")
    return path


def lua_quote(text: str) -> str:
    return "[==[" + text + "]==]"


class NgxWasmHost:
    def __init__(
        self,
        certs: Path,
        upstream_port: int,
        config: Optional[str],
        *,
        attach: str = "directive",
        pre_lua: str = "",
        verify_client: str = "optional",
        env: Optional[dict] = None,
        wasm: Path = harness.WASM,
        extra_location: str = "",
        log_level: str = "info",
    ) -> None:
        assert attach in ("directive", "lua")
        self.nginx = nginx_binary()
        self.root = self.nginx.parent.parent
        self.certs, self.upstream_port, self.config = certs, upstream_port, config
        self.attach, self.pre_lua, self.verify_client = attach, pre_lua, verify_client
        self.env = env or {}
        self.wasm, self.extra_location, self.log_level = wasm, extra_location, log_level
        self.dir = Path(tempfile.mkdtemp(prefix="ngxwasm-"))
        self.port, self.plain_port = harness.free_port(), harness.free_port()
        self.proc: Optional[subprocess.Popen] = None

    def _location(self) -> str:
        if self.config is None:
            attach = ""
        elif self.attach == "directive":
            # nginx reads backslash escapes inside a quoted string: keep the JSON text byte for byte.
            quoted = self.config.replace("\\", "\\\\").replace("'", "\\'")
            attach = f"proxy_wasm mtls_headers '{quoted}';"
        else:
            attach = "access_by_lua_block {\n" + self.pre_lua + "\n" + """
                local proxy_wasm = require "resty.wasmx.proxy_wasm"
                local ok, err = proxy_wasm.attach(_G.mtls_plan)
                if not ok then
                    ngx.log(ngx.CRIT, "failed attaching the filter chain: ", err)
                    return ngx.exit(500)
                end
            }"""
        return f"""
            {attach}
            {self.extra_location}
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            # The client's authority, as Kong's `preserve_host` keeps it (a signature covers @authority).
            proxy_set_header Host $http_host;
            proxy_pass http://echo;
        """

    def conf(self) -> str:
        d = self.dir
        env = "\n".join(f"env {name};" for name in self.env)
        init = ""
        if self.config is not None and self.attach == "lua":
            # The plan is made and loaded once per worker, as kong/runloop/wasm.lua does. Kong hands the filter
            # cjson.encode of a JSON object configuration (keys reordered); lua-cjson is not part of this build, so
            # the text goes as written (the emulator's Kong profile tests the re-encoding).
            init = f"""
    init_worker_by_lua_block {{
        local proxy_wasm = require "resty.wasmx.proxy_wasm"
        local config = {lua_quote(self.config)}
        local plan, err = proxy_wasm.new({{ {{ name = "mtls_headers", config = config }} }})
        if not plan then ngx.log(ngx.CRIT, "proxy_wasm.new: ", err) return end
        local ok, err = proxy_wasm.load(plan)
        if not ok then ngx.log(ngx.CRIT, "proxy_wasm.load: ", err) return end
        _G.mtls_plan = plan
    }}"""
        wasm_block = f"wasm {{ module mtls_headers {self.wasm}; }}" if self.config is not None else ""
        location = self._location()
        c = self.certs
        return f"""
daemon off;
master_process off;
worker_processes 1;
pid {d}/nginx.pid;
error_log {d}/error.log {self.log_level};
{env}
events {{ worker_connections 1024; }}
{wasm_block}
http {{
    access_log off;
    client_body_temp_path {d}/body;
    proxy_temp_path {d}/proxy;
    fastcgi_temp_path {d}/fastcgi;
    uwsgi_temp_path {d}/uwsgi;
    scgi_temp_path {d}/scgi;
    lua_package_path '{self.root}/lualib/?.lua;;';
    # Kong's nginx template sets both: headers spelled with underscores reach Lua, the filter and the upstream.
    underscores_in_headers on;
    large_client_header_buffers 4 32k;
    {init}
    upstream echo {{ server 127.0.0.1:{self.upstream_port}; keepalive 16; }}
    server {{
        listen 127.0.0.1:{self.port} ssl;
        http2 on;
        server_name localhost;
        ssl_certificate {c}/server.crt;
        ssl_certificate_key {c}/server.key;
        ssl_client_certificate {c}/ca.crt;
        ssl_verify_client {self.verify_client};
        ssl_verify_depth 2;
        location / {{ {location} }}
    }}
    server {{
        listen 127.0.0.1:{self.plain_port};
        location / {{ {location} }}
        # The filter's counters as ngx_wasm_module keeps them (`metrics` shm zone, names `pw:<filter>:<name>`).
        location = /metrics {{
            content_by_lua_block {{
                local metrics = require("resty.wasmx.shm").metrics
                for _, name in ipairs(metrics:get_keys(0)) do
                    local m = metrics:get_by_name(name, {{ prefix = false }})
                    if m then ngx.say(name, " ", m.value) end
                end
            }}
        }}
    }}
}}
"""

    def metrics(self) -> dict:
        """{name: value} of every counter in the host's `metrics` shm zone (the /metrics location above)."""
        import http.client

        conn = http.client.HTTPConnection("127.0.0.1", self.plain_port, timeout=10)
        conn.request("GET", "/metrics")
        text = conn.getresponse().read().decode()
        conn.close()
        return {name: int(value) for name, value in (line.rsplit(" ", 1) for line in text.splitlines())}

    def start(self) -> "NgxWasmHost":
        (self.dir / "logs").mkdir(exist_ok=True)  # nginx opens its compiled-in error log before reading the conf
        (self.dir / "nginx.conf").write_text(self.conf())
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **self.env}
        self.proc = subprocess.Popen(
            [str(self.nginx), "-p", str(self.dir), "-c", str(self.dir / "nginx.conf")],
            env=env, stdout=subprocess.DEVNULL, stderr=open(self.dir / "stderr.log", "wb"),
        )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise HostError(f"nginx exited with {self.proc.returncode}:\n{self.error_log()[-3000:]}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    with socket.create_connection(("127.0.0.1", self.plain_port), timeout=0.2):
                        pass
            except OSError:
                time.sleep(0.05)
                continue
            # The sockets listen before the worker initialises (and configures the filter, which may fail, and
            # with the directive then ends nginx): wait for the filter's own word, however loaded the machine.
            if self._initialised(deadline):
                return self
            break
        self.stop()
        raise HostError(f"nginx did not start serving on {self.port}:\n{self.error_log()[-3000:]}")

    def _initialised(self, deadline: float) -> bool:
        assert self.proc is not None
        if self.config is None or self.wasm != harness.WASM:
            time.sleep(0.3)  # no filter, or another module (the probe): nothing to wait for
            return self.proc.poll() is None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise HostError(f"nginx exited with {self.proc.returncode}:\n{self.error_log()[-3000:]}")
            log = self.error_log()
            # The directive ends nginx after a failed configuration; Kong's Lua attach keeps it serving 500s.
            if "configured: mode" in log or (self.attach == "lua" and "invalid configuration" in log):
                return True
            time.sleep(0.05)
        return False

    def error_log(self) -> str:
        text = ""
        for name in ("stderr.log", "error.log"):
            p = self.dir / name
            if p.exists():
                text += p.read_text(errors="replace")
        return text

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def __enter__(self) -> "NgxWasmHost":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
