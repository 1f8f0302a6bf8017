"""The loopback store server behind the serve adapter (`kvbatch_guests/serve/wire.py` is its client).

Each keyvalue call of the served component arrives as `POST /<op>` with a JSON body and the
per-run secret in header `kvbatch-serve-secret`; it is answered `{"ok": ...}` or
`{"error": {"kind", "message"}}` with status 200 (protocol errors: 400/403/404). Values are
base64. Every store is opened through the `StoreRegistry`, so its allow-list (`access-denied`),
its backends and any fault layer in front of them apply; batch calls reach the backend (or the
fault layer) as one batch call.
"""

from __future__ import annotations

import base64
import hmac
import json
import selectors
import socket
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any, Callable, Dict, Optional, Tuple

from kvbatch_host.errors import HostKvError
from kvbatch_host.backends.stores import StoreRegistry

SECRET_HEADER = "kvbatch-serve-secret"
MAX_REQUEST_BYTES = 64 * 1024 * 1024
"""Largest request body the store server reads (a 1,000-item set-many of 1 MiB values is below it)."""


def _b64(value: Optional[bytes]) -> Optional[str]:
    return None if value is None else base64.b64encode(value).decode("ascii")


def _bytes(text: str) -> bytes:
    return base64.b64decode(text, validate=True)


def _call(registry: StoreRegistry, op: str, body: Dict[str, Any]) -> Any:
    """Performs one keyvalue operation; raises `HostKvError` as the store reports it, `KeyError` for an unknown op."""
    backend = registry.open(str(body["store"]))
    store = str(body["store"])
    if op == "open":
        return None
    if op == "get":
        return _b64(backend.get(store, body["key"]))
    if op == "set":
        backend.set(store, body["key"], _bytes(body["value"]))
        return None
    if op == "delete":
        backend.delete(store, body["key"])
        return None
    if op == "exists":
        return backend.exists(store, body["key"])
    if op == "list-keys":
        keys, cursor = backend.list_keys(store, body.get("cursor"))
        return {"keys": keys, "cursor": cursor}
    if op == "get-many":
        return [_b64(v) for v in backend.get_many(store, list(body["keys"]))]
    if op == "set-many":
        backend.set_many(store, [(str(k), _bytes(v)) for k, v in body["items"]])
        return None
    if op == "delete-many":
        backend.delete_many(store, list(body["keys"]))
        return None
    if op == "increment":
        return backend.increment(store, body["key"], int(body["delta"]))
    if op == "cas":
        expected = body.get("expected")
        return backend.compare_and_swap(store, body["key"], None if expected is None else _bytes(expected), _bytes(body["value"]))
    raise KeyError(op)


class StoreServer:
    """A `PooledHTTPServer` on 127.0.0.1 (a free port) answering the adapter's calls from `registry`."""

    def __init__(self, registry: StoreRegistry, secret: str, log: Callable[[str], None] = lambda line: None,
                 lock: Optional[threading.Lock] = None) -> None:
        """`lock` serialises store operations; store servers whose registries share backends share it."""
        self.registry = registry
        self.secret = secret
        self.log = log
        self.lock = lock or threading.Lock()
        self.counter_lock = threading.Lock()
        self.in_flight = 0
        """Requests received and not yet answered (`peak_in_flight`: the most at once, since start or reset)."""
        self.peak_in_flight = 0
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body go in two writes: without it, 40 ms of delayed ACK

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's signature
                pass

            def _answer(self, status: int, payload: Dict[str, Any]) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                # wasmtime's client opens a connection per request: closing it frees the worker at once
                self.send_header("connection", "close")
                self.close_connection = True
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self) -> None:  # noqa: N802 - the stdlib's name
                given = self.headers.get(SECRET_HEADER, "")
                if not hmac.compare_digest(given.encode(), server.secret.encode()):
                    self._answer(403, {"error": {"kind": "access-denied", "message": "wrong serve secret"}})
                    return
                length = int(self.headers.get("content-length") or 0)
                if length > MAX_REQUEST_BYTES:
                    self._answer(400, {"error": {"kind": "other", "message": f"request over {MAX_REQUEST_BYTES} bytes"}})
                    return
                op = self.path.lstrip("/")
                try:
                    body = json.loads(self.rfile.read(length))
                except ValueError as err:
                    self._answer(400, {"error": {"kind": "other", "message": f"malformed {op} request: {err}"}})
                    return
                self._answer(*server.answer(op, body))

        self.httpd = PooledHTTPServer(("127.0.0.1", 0), Handler, log=log)
        self.frames = FrameServer(self)
        self.thread: Optional[threading.Thread] = None

    def answer(self, op: str, body: Any) -> Tuple[int, Dict[str, Any]]:
        """Performs operation `op` with the request `body`: the status (200, or 400/404 for a request
        that is not one) and the answer, `{"ok": ...}` or `{"error": {"kind", "message"}}`."""
        self._begin()
        try:
            if not isinstance(body, dict):
                raise TypeError("the request is not a JSON object")
            with self.lock:  # one operation at a time: backends are not all thread-safe (SQLite)
                result = _call(self.registry, op, body)
        except HostKvError as err:
            if err.kind == "other":
                self.log(f"kvbatch serve: store {op} failed: {err.message}")
            return 200, {"error": {"kind": err.kind, "message": err.message}}
        except KeyError as err:
            return 404, {"error": {"kind": "other", "message": f"unknown operation or field {err}"}}
        except (ValueError, TypeError) as err:
            return 400, {"error": {"kind": "other", "message": f"malformed {op} request: {err}"}}
        except Exception as err:  # a backend's own failure: reported, never a crash of the server
            self.log(f"kvbatch serve: store {op} raised {type(err).__name__}: {err}")
            return 200, {"error": {"kind": "other", "message": f"the store failed: {type(err).__name__}"}}
        finally:
            self._end()
        return 200, {"ok": result}

    def _begin(self) -> None:
        with self.counter_lock:
            self.in_flight += 1
            self.peak_in_flight = max(self.peak_in_flight, self.in_flight)

    def _end(self) -> None:
        with self.counter_lock:
            self.in_flight -= 1

    def reset_peak(self) -> None:
        """Starts counting `peak_in_flight` afresh (from the requests in flight now)."""
        with self.counter_lock:
            self.peak_in_flight = self.in_flight

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def tcp_address(self) -> str:
        """The framed port's `HOST:PORT` (see `FrameServer`)."""
        return self.frames.address

    def start(self) -> "StoreServer":
        self.thread = threading.Thread(target=self.httpd.serve_forever, name="kvbatch-store-server", daemon=True)
        self.thread.start()
        self.frames.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.frames.stop()


def listen_backlog() -> int:
    """The listen backlog for a loopback server: the kernel's limit (`net.core.somaxconn`), at least 128,
    so a burst of connections waits in the queue instead of being dropped (Python's default is 5)."""
    try:
        with open("/proc/sys/net/core/somaxconn") as f:
            return max(128, int(f.read().split()[0]))
    except (OSError, ValueError, IndexError):
        return 1024


DISCONNECTS = (BrokenPipeError, ConnectionResetError, ConnectionAbortedError, TimeoutError)
"""What a client that went away raises in a handler: logged as one line, never a traceback."""


def log_request_error(log: Callable[[str], None], what: str, client_address: Any) -> None:
    """One line for the exception being handled in a request of `what` (`socketserver`'s
    `handle_error`, which would print a traceback)."""
    err = sys.exc_info()[1]
    client = "%s:%s" % tuple(client_address[:2]) if isinstance(client_address, tuple) else str(client_address)
    if isinstance(err, DISCONNECTS):
        log(f"kvbatch serve: {what}: client {client} disconnected ({type(err).__name__})")
    else:
        log(f"kvbatch serve: {what}: request from {client} failed: {type(err).__name__}: {err}")


class PooledHTTPServer(HTTPServer):
    """An `HTTPServer` whose requests run on a fixed pool of worker threads (no thread started per
    connection), with a listen backlog sized by `listen_backlog` and one-line error logs."""

    request_queue_size = listen_backlog()
    WORKERS = 8

    def __init__(self, address: Tuple[str, int], handler: Any, log: Callable[[str], None]) -> None:
        self.log = log
        self.pool = ThreadPoolExecutor(self.WORKERS, thread_name_prefix="kvbatch-store-server")
        super().__init__(address, handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        self.pool.submit(self._process, request, client_address)

    def _process(self, request: Any, client_address: Any) -> None:
        try:
            self.finish_request(request, client_address)
        except Exception:
            self.handle_error(request, client_address)
        finally:
            self.shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        log_request_error(self.log, "store server", client_address)

    def server_close(self) -> None:
        super().server_close()
        self.pool.shutdown(wait=False, cancel_futures=True)




FRAME_HEADER = 4
"""Bytes of a frame's big-endian payload length."""
SEND_TIMEOUT_S = 30.0
"""How long an answer may wait for a connection that does not read it before the connection is dropped."""


class FrameServer:
    """The store server's framed port on 127.0.0.1 (a free port): the serve adapter's kept-open connections.

    A frame is a 4-byte big-endian length and that many bytes of one JSON object. The client's
    first frame on a connection is `{"op": "hello", "secret": ...}`; every later frame is one
    operation, `{"op": ..., <the operation's fields>}`, as `StoreServer.answer` takes them. Each
    frame is answered by one frame, `{"ok": ...}` or `{"error": {"kind", "message"}}`, in order;
    a wrong secret or a malformed frame is answered with an error and the connection closed.
    One thread serves every connection (a selector; operations run one at a time anyway).
    """

    def __init__(self, server: StoreServer) -> None:
        self.server = server
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(listen_backlog())
        self.listener.setblocking(False)
        self.selector = selectors.DefaultSelector()
        self.selector.register(self.listener, selectors.EVENT_READ, None)
        self.wake_r, self.wake_w = socket.socketpair()
        self.selector.register(self.wake_r, selectors.EVENT_READ, "wake")
        self.buffers: Dict[socket.socket, bytearray] = {}
        self.trusted: Dict[socket.socket, bool] = {}
        self.stopping = False
        self.thread: Optional[threading.Thread] = None

    @property
    def address(self) -> str:
        host, port = self.listener.getsockname()[:2]
        return f"{host}:{port}"

    def start(self) -> "FrameServer":
        self.thread = threading.Thread(target=self._loop, name="kvbatch-store-frames", daemon=True)
        self.thread.start()
        return self

    def stop(self) -> None:
        self.stopping = True
        try:
            self.wake_w.send(b"x")
        except OSError:
            pass
        if self.thread is not None:
            self.thread.join(5)
        for conn in list(self.buffers):
            self._close(conn)
        self.selector.close()
        self.listener.close()
        self.wake_r.close()
        self.wake_w.close()

    def _loop(self) -> None:
        while not self.stopping:
            for key, _ in self.selector.select():
                if key.data == "wake":
                    return
                if key.fileobj is self.listener:
                    self._accept()
                else:
                    conn = key.fileobj
                    assert isinstance(conn, socket.socket)
                    self._readable(conn)

    def _accept(self) -> None:
        try:
            conn, _ = self.listener.accept()
        except OSError:
            return
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        conn.settimeout(SEND_TIMEOUT_S)  # reads happen only when the selector says data is there
        self.buffers[conn] = bytearray()
        self.trusted[conn] = False
        self.selector.register(conn, selectors.EVENT_READ, None)

    def _close(self, conn: socket.socket) -> None:
        self.buffers.pop(conn, None)
        self.trusted.pop(conn, None)
        try:
            self.selector.unregister(conn)
        except (KeyError, ValueError):
            pass
        conn.close()

    def _readable(self, conn: socket.socket) -> None:
        try:
            data = conn.recv(1 << 20)
        except OSError:
            data = b""
        if not data:
            self._close(conn)
            return
        buffer = self.buffers[conn]
        buffer += data
        while len(buffer) >= FRAME_HEADER:
            size = int.from_bytes(buffer[:FRAME_HEADER], "big")
            if size > MAX_REQUEST_BYTES:
                self._send(conn, {"error": {"kind": "other", "message": f"request over {MAX_REQUEST_BYTES} bytes"}})
                self._close(conn)
                return
            if len(buffer) < FRAME_HEADER + size:
                return
            payload = bytes(buffer[FRAME_HEADER:FRAME_HEADER + size])
            del buffer[:FRAME_HEADER + size]
            if not self._frame(conn, payload):
                self._close(conn)
                return

    def _frame(self, conn: socket.socket, payload: bytes) -> bool:
        """Answers one frame; False when the connection is to be closed."""
        try:
            message = json.loads(payload)
            if not isinstance(message, dict):
                raise ValueError("not a JSON object")
        except ValueError as err:
            self._send(conn, {"error": {"kind": "other", "message": f"malformed frame: {err}"}})
            return False
        op = str(message.pop("op", ""))
        if not self.trusted[conn]:
            given = str(message.get("secret", ""))
            if op != "hello" or not hmac.compare_digest(given.encode(), self.server.secret.encode()):
                self._send(conn, {"error": {"kind": "access-denied", "message": "wrong serve secret"}})
                return False
            self.trusted[conn] = True
            return self._send(conn, {"ok": None})
        _, answer = self.server.answer(op, message)
        return self._send(conn, answer)

    def _send(self, conn: socket.socket, message: Dict[str, Any]) -> bool:
        payload = json.dumps(message, separators=(",", ":")).encode()
        try:
            conn.sendall(len(payload).to_bytes(FRAME_HEADER, "big") + payload)
        except OSError as err:
            self.server.log(f"kvbatch serve: store server: an adapter connection went away ({type(err).__name__})")
            return False
        return True
