"""The listening address of `kvbatch serve` for a manifest with several components: picks the
component a request's route leads to (`routes.RouteTable`, as Spin's HTTP trigger picks it) and
forwards the request, body and headers unchanged, to that component's `wasmtime serve` on its
private loopback port, where the serve front composed into the component sets Spin's `spin-*`
headers. A path no route matches is answered 404; paths under `/.well-known/spin/` belong to the
server, as in Spin (`health` answers "OK"). A manifest with one component needs no router: its
`wasmtime serve` listens on the address itself.
"""

from __future__ import annotations

import http.client
import socket
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Dict, Optional, Tuple
from urllib.parse import urlsplit

from kvbatch_host.errors import ConfigError
from kvbatch_host.serve.routes import RouteTable
from kvbatch_host.serve.store_server import listen_backlog, log_request_error

Backend = Tuple[str, int]
"""A `wasmtime serve` address (host, port)."""

HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "te", "trailer", "upgrade"}
WELL_KNOWN = "/.well-known/spin/"
MAX_BODY_BYTES = 64 * 1024 * 1024
"""Request bodies above this are refused before forwarding (the component's own limit is lower: 413 from it)."""
LISTEN_BACKLOG = 256
"""Pending connections the listening socket queues (Python's default of 5 overflows under 8 concurrent clients)."""


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = listen_backlog()

    def handle_error(self, request: Any, client_address: Any) -> None:
        log_request_error(lambda line: print(line, file=sys.stderr), "router", client_address)


class Router:
    """Listens on `listen` (host, port); forwards each request to the `wasmtime serve` its route leads to."""

    def __init__(self, listen: Tuple[str, int], table: RouteTable[Backend]) -> None:
        self.table = table
        router = self
        local = threading.local()

        def connection(backend: Backend) -> http.client.HTTPConnection:
            pool: Optional[Dict[Backend, http.client.HTTPConnection]] = getattr(local, "conns", None)
            if pool is None:
                pool = local.conns = {}
            conn = pool.get(backend)
            if conn is None:
                conn = pool[backend] = http.client.HTTPConnection(*backend, timeout=300)
                conn.connect()
                assert conn.sock is not None
                conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            return conn

        def drop(backend: Backend) -> None:
            stale = getattr(local, "conns", {}).pop(backend, None)
            if stale is not None:
                stale.close()

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body go in two writes: without it, 40 ms of delayed ACK

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's signature
                pass

            def _plain(self, status: int, text: str) -> None:
                data = text.encode()
                self.send_response(status)
                self.send_header("content-type", "text/plain")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _forward(self) -> None:
                target = urlsplit(self.path)
                path = target.path or "/"
                routed = None if path.startswith(WELL_KNOWN) else router.table.match(path)
                length = int(self.headers.get("content-length") or 0)
                if length > MAX_BODY_BYTES:
                    self._plain(413, f"request body over {MAX_BODY_BYTES} bytes")
                    self.close_connection = True
                    return
                body = self.rfile.read(length) if length else b""
                if routed is None:
                    if path == WELL_KNOWN + "health":
                        self._plain(200, "OK")
                    else:
                        self._plain(404, "Not Found")
                    return
                backend = routed.target
                host = self.headers.get("host") or "%s:%d" % router.address
                headers = [(k, v) for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP]
                for attempt in (1, 2):  # a kept-alive connection wasmtime closed is retried once on a fresh one
                    try:
                        conn = connection(backend)
                        conn.putrequest(self.command, self.path, skip_host=True, skip_accept_encoding=True)
                        conn.putheader("host", host)
                        for key, value in headers:
                            if key.lower() not in ("host", "content-length"):
                                conn.putheader(key, value)
                        conn.putheader("content-length", str(len(body)))
                        conn.endheaders(body)
                        response = conn.getresponse()
                        data = response.read()
                        break
                    except (http.client.HTTPException, OSError):
                        drop(backend)
                        if attempt == 2:
                            self._plain(502, "kvbatch serve: wasmtime serve did not answer")
                            return
                self.send_response(response.status, response.reason)
                for key, value in response.getheaders():
                    if key.lower() not in HOP_BY_HOP and key.lower() != "content-length":
                        self.send_header(key, value)
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = _forward

        try:
            self.httpd = _Server(listen, Handler)
        except OSError as err:
            reason = "address already in use" if err.errno in (98, 48) else (err.strerror or str(err))
            raise ConfigError(f"cannot listen on {listen[0]}:{listen[1]}: {reason}") from None
        self.thread: Optional[threading.Thread] = None

    @property
    def address(self) -> Tuple[str, int]:
        host, port = self.httpd.server_address[:2]
        return str(host), int(port)

    def start(self) -> "Router":
        self.thread = threading.Thread(target=self.httpd.serve_forever, name="kvbatch-router", daemon=True)
        self.thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def free_port() -> int:
    """A loopback port free right now (for the private `wasmtime serve` address)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
