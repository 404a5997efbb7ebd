"""An HTTP/1.1 upstream that answers every request with what it received, as JSON.

    {"method": "GET", "path": "/", "headers": [["host", "localhost"], ...], "body": ""}

Header names are kept as received (Envoy sends them lower-case), duplicates and order kept; values (and the body)
are decoded as latin-1, so every byte survives: `value.encode("latin-1")` gives the bytes back. Keep-alive works.

As a module: `server = echo.start()` serves on a free port of 127.0.0.1 in a daemon thread; `server.port`,
`server.requests` (every answered request, in order, for "the upstream was never reached" checks), `server.stop()`.
As a script: `python echo.py PORT`.
"""

from __future__ import annotations

import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: the response always has Content-Length
    server_version = "echo"
    sys_version = ""

    def __getattr__(self, name: str):
        # BaseHTTPRequestHandler dispatches to do_<METHOD>; answer any method the same way.
        if name.startswith("do_"):
            return self._echo
        raise AttributeError(name)

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            body = b""
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    return body
                body += self.rfile.read(size)
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _echo(self) -> None:
        body = self._read_body()
        # http.client.parse_headers decodes header bytes as latin-1; items() keeps raw names, order and duplicates.
        record = {
            "method": self.command,
            "path": self.path,
            "headers": [[name, str(value)] for name, value in self.headers.items()],
            "body": body.decode("latin-1"),
        }
        self.server.requests.append(record)  # type: ignore[attr-defined]
        payload = json.dumps(record).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)

    def log_message(self, format: str, *args) -> None:  # noqa: A002 - signature of the base class
        pass


class EchoServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, port: int = 0, host: str = "127.0.0.1") -> None:
        super().__init__((host, port), _Handler)
        self.requests: list[dict] = []
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return self.server_address[1]

    def start(self) -> "EchoServer":
        self._thread = threading.Thread(target=self.serve_forever, name=f"echo:{self.port}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.shutdown()
        self.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)


def start(port: int = 0, host: str = "127.0.0.1") -> EchoServer:
    """Serves on host:port (0: a free port) in a daemon thread; raises OSError when the port is taken."""
    return EchoServer(port, host).start()


def main() -> None:
    if len(sys.argv) != 2:
        sys.exit("usage: echo.py PORT")
    server = EchoServer(int(sys.argv[1]))
    print(f"echo upstream on http://127.0.0.1:{server.port}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
