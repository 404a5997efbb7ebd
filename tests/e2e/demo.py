"""`make demo`: the shipped envoy/envoy.yaml in a real Envoy, one request with forged identity headers.

Creates build/demo (certs/ from scripts/gen-certs.sh, the built mtls_headers.wasm, envoy.yaml), starts the echo
upstream on 127.0.0.1:8080 and Envoy from build/demo with MTLS_HEADERS_VALIDATE_TOKEN=demo-token, sends one
HTTP/1.1 request with alice's certificate and forged X-SSL headers, and prints what the client sent and what the
upstream received. If a port of envoy.yaml (10000, 9901, 8080) is taken, a free one is used in a copy.
Everything is stopped on exit, error or Ctrl-C.
"""

from __future__ import annotations

import re
import shutil
import signal
import sys
from pathlib import Path
from typing import Optional

sys.path.insert(0, str(Path(__file__).resolve().parent))

import certinfo  # noqa: E402
import echo  # noqa: E402
import harness  # noqa: E402

DEMO = harness.REPO / "build" / "demo"
TOKEN = "demo-token"
FORGED = [
    ("X-SSL-Client-CN", "admin"),
    ("x_ssl_client_cn", "admin"),
    ("X-Ssl-Client-Certauth-Validated", "1"),
]
SHOWN = ("x-ssl", "x-forwarded-client-cert")


def readable(value: str) -> str:
    """OpenSSL's \\XX escapes of UTF-8 bytes, decoded for the reader: \\E5\\B1\\B1 -> 山."""
    raw = re.sub(rb"\\([0-9A-F]{2})", lambda m: bytes([int(m.group(1), 16)]), value.encode("latin-1"))
    return raw.decode("utf-8", errors="replace")


def show(title: str, headers: list[tuple[str, str]]) -> None:
    print(f"\n{title}")
    for name, value in headers:
        if harness.canon(name) == "x-forwarded-client-cert" and len(value) > 90:
            value = value[:90] + f"... ({len(value)} bytes)"
        elif readable(value) != value:
            value += f"   ({readable(value)})"
        print(f"    {name}: {value}")
    if not headers:
        print("    (none)")


def forged_request(port: int, certs: Path) -> Optional[harness.Response]:
    """alice's certificate and the forged headers, printed, then sent; the response when it is a 200."""
    client = harness.ClientCert.named(certs, "alice")
    print(f"\nclient certificate {client.cert.relative_to(harness.REPO)} (openssl -nameopt RFC2253):")
    print(f"    subject: {certinfo.dn(client.cert, 'subject')}")
    print(f"    issuer:  {certinfo.dn(client.cert, 'issuer')}")
    print(f"    serial:  {certinfo.serial(client.cert)}")
    show("client sent (HTTP/1.1 over mutual TLS):", FORGED)
    resp = harness.https_request(port, FORGED, client=client, path="/demo")
    print(f"\nresponse status: {resp.status}")
    if resp.status != 200:
        print(resp.body.decode(errors="replace"))
        return None
    return resp


def main() -> int:
    if not harness.WASM.is_file():
        print(f"{harness.WASM} is missing: run `make build` first", file=sys.stderr)
        return 1
    certs = harness.gen_certs(DEMO / "certs")
    shutil.copy(harness.WASM, DEMO / "mtls_headers.wasm")

    shipped = harness.REPO / "envoy" / "envoy.yaml"
    ports = {name: port if harness.port_is_free(port) else 0 for name, port in harness.SHIPPED_PORTS.items()}
    upstream = echo.start(ports["upstream"])
    envoy = None
    try:
        config = DEMO / "envoy.yaml"
        if ports == harness.SHIPPED_PORTS:
            shutil.copy(shipped, config)
        else:
            print(f"ports in use; envoy.yaml copy uses listener/admin/upstream ports "
                  f"{ports['listener'] or 'auto'}/{ports['admin'] or 'auto'}/{upstream.port}")
            config.write_text(
                harness.localize_shipped_config(
                    shipped.read_text(),
                    upstream_port=upstream.port,
                    listener_port=ports["listener"],
                    admin_port=ports["admin"],
                    listen="0.0.0.0",
                )
            )
        envoy = harness.Envoy(config, DEMO, token=TOKEN).start()
        print(f"Envoy {harness.envoy_binary()} running envoy/envoy.yaml from {DEMO.relative_to(harness.REPO)}")
        print(f"  listener https://localhost:{envoy.port}  admin http://{envoy.admin}  "
              f"upstream 127.0.0.1:{upstream.port}")
        print(f"  filter configuration: preset baas, token from MTLS_HEADERS_VALIDATE_TOKEN={TOKEN}")

        resp = forged_request(envoy.port, certs)
        if resp is None:
            return 1
        received = harness.select(resp.upstream_headers(), SHOWN)
        show("upstream received (x-ssl*, x_ssl*, x-forwarded-client-cert):", received)
        print("\nThe forged headers are gone; the X-SSL-* values come from the verified certificate.")
        return 0
    except harness.EnvoyError as e:
        print(e, file=sys.stderr)
        return 1
    finally:
        if envoy is not None:
            envoy.cleanup()
        upstream.stop()


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # run the cleanup in main's finally
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(130)
