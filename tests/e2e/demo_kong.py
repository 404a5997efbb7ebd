"""`make demo-kong`: `make demo` on Kong 3.9.3's real proxy-wasm host (nginx 1.25.3 + ngx_wasm_module 9136e463,
built by `make kong-host`), the filter attached from Lua the way Kong's runloop does, behind the pre-function code
and with the filter configuration of kong/kong.yml. Kong itself is not run (it cannot be installed here).

Prints what the client sent and what the echo upstream received: once through kong/clear-owned-headers.lua and the
filter, once through the filter alone (nginx's `proxy_wasm` directive), which refuses what it cannot remove.
"""

from __future__ import annotations

import json
import signal
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import echo  # noqa: E402
import harness  # noqa: E402
import ngxhost  # noqa: E402
import yaml  # noqa: E402
from demo import FORGED, SHOWN, TOKEN, forged_request, show  # noqa: E402

DEMO = harness.REPO / "build" / "demo-kong"


def main() -> int:
    if not harness.WASM.is_file():
        print(f"{harness.WASM} is missing: run `make build` first", file=sys.stderr)
        return 1
    certs = harness.gen_certs(DEMO / "certs")
    kong_yml = yaml.safe_load((harness.REPO / "kong" / "kong.yml").read_text())
    route = kong_yml["services"][0]["routes"][0]
    config = json.dumps(route["filter_chains"][0]["filters"][0]["config"])
    (lua,) = kong_yml["plugins"][0]["config"]["access"]
    upstream = echo.start()
    hosts = []
    try:
        env = {harness.TOKEN_ENV: TOKEN}
        kong = ngxhost.NgxWasmHost(certs, upstream.port, config, attach="lua", pre_lua=lua, env=env).start()
        hosts.append(kong)
        print(f"nginx {ngxhost.nginx_binary()}")
        print("  Kong 3.9.3's host: nginx 1.25.3, ngx_wasm_module 9136e463, Wasmtime 26.0.0, lua-nginx-module 0.10.26")
        print(f"  listener https://localhost:{kong.port} (ssl_verify_client optional), "
              f"upstream 127.0.0.1:{upstream.port}")
        print(f"  kong/kong.yml route `{route['name']}`: {config}, token from {harness.TOKEN_ENV}={TOKEN}")
        print("  attached from Lua in the access phase (resty.wasmx.proxy_wasm), after kong.yml's pre-function code")

        resp = forged_request(kong.port, certs)
        if resp is None:
            return 1
        show("upstream received (x-ssl*, x_ssl*):", harness.select(resp.upstream_headers(), SHOWN))
        print("\nThe forged headers are gone; the X-SSL-* values come from the verified certificate.")

        bare = ngxhost.NgxWasmHost(certs, upstream.port, config, attach="directive", env=env).start()
        hosts.append(bare)
        alice = harness.ClientCert.named(certs, "alice")
        resp = harness.https_request(bare.port, FORGED, client=alice, path="/demo")
        print(f"\nWithout the pre-function (nginx `proxy_wasm` directive), the same request: {resp.status} "
              f"{resp.body.decode(errors='replace').strip()}")
        print("ngx_wasm_module cannot remove a request header, so the filter refuses instead of forwarding it.")
        return 0 if resp.status == 400 else 1
    except (ngxhost.HostError, ngxhost.HostMissing) as e:
        print(e, file=sys.stderr)
        return 1
    finally:
        for h in hosts:
            h.stop()
        upstream.stop()


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(130)
