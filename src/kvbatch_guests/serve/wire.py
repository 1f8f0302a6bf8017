"""The serve adapter's wire to the `kvbatch serve` store server (see `adapter` for the protocol)."""

import json
import os
from binascii import a2b_base64, b2a_base64
from typing import Any, Dict, Optional

from componentize_py_types import Err
from wit_world.exports import store
from wit_world.imports import instance_network, network, streams, tcp, tcp_create_socket

SECRET_HEADER = "kvbatch-serve-secret"
STORE_ENV = "KVBATCH_SERVE_STORE"
SECRET_ENV = "KVBATCH_SERVE_SECRET"
VARIABLE_ENV_PREFIX = "KVBATCH_SERVE_VAR_"
STORES_ENV = "KVBATCH_SERVE_STORES"
TCP_ENV = "KVBATCH_SERVE_STORE_TCP"
"""The store server's framed port, `127.0.0.1:PORT` (the draft2 adapter's connection)."""

FRAME_HEADER = 4
"""Bytes of a frame's big-endian payload length (the payload: one JSON object)."""
READ_CHUNK = 65536
WRITE_AND_FLUSH_LIMIT = 4096
"""The most `blocking-write-and-flush` takes in one call (wasi:io/streams)."""


def _error(data: Dict[str, Any]) -> store.Error:
    kind = data.get("kind")
    if kind == "no-such-store":
        return store.Error_NoSuchStore()
    if kind == "access-denied":
        return store.Error_AccessDenied()
    return store.Error_Other(str(data.get("message", "the store failed")))


def _block(resource: Any) -> None:
    """Waits until `resource` (a stream or socket) is ready, releasing the pollable it gave."""
    pollable = resource.subscribe()
    pollable.block()
    pollable.__exit__(None, None, None)


class _Connection:
    """One open TCP connection to the store server's framed port, kept for the instance's life."""

    def __init__(self, socket: tcp.TcpSocket, reader: streams.InputStream, writer: streams.OutputStream) -> None:
        self.socket = socket
        self.reader = reader
        self.writer = writer
        self.buffer = bytearray()

    def close(self) -> None:
        for part in (self.reader, self.writer, self.socket):
            try:
                part.__exit__(None, None, None)
            except Exception:  # already gone with the connection
                pass

    def send(self, data: bytes) -> None:
        if len(data) <= WRITE_AND_FLUSH_LIMIT:  # one host call for the common small frame
            self.writer.blocking_write_and_flush(data)
            return
        view = memoryview(data)
        while view:
            allowed = self.writer.check_write()
            if allowed == 0:
                _block(self.writer)
                continue
            self.writer.write(bytes(view[:allowed]))
            view = view[allowed:]
        self.writer.flush()
        _block(self.writer)
        self.writer.check_write()  # raises the stream's error if the flush failed

    def receive(self) -> bytes:
        """The payload of the next frame."""
        while len(self.buffer) < FRAME_HEADER:
            self.buffer += self.reader.blocking_read(READ_CHUNK)
        size = int.from_bytes(self.buffer[:FRAME_HEADER], "big")
        while len(self.buffer) < FRAME_HEADER + size:
            self.buffer += self.reader.blocking_read(max(READ_CHUNK, FRAME_HEADER + size - len(self.buffer)))
        payload = bytes(self.buffer[FRAME_HEADER:FRAME_HEADER + size])
        del self.buffer[:FRAME_HEADER + size]
        return payload


_connection: Optional[_Connection] = None


def _frame(message: Dict[str, Any]) -> bytes:
    payload = json.dumps(message, separators=(",", ":")).encode()
    return len(payload).to_bytes(FRAME_HEADER, "big") + payload


def _address() -> network.IpSocketAddress:
    text = os.environ.get(TCP_ENV, "")
    host, _, port = text.rpartition(":")
    parts = host.split(".")
    if len(parts) != 4 or not all(p.isdigit() for p in parts) or not port.isdigit():
        raise Err(store.Error_Other(f"{TCP_ENV} is not set to the store server's IPv4 HOST:PORT"))
    a, b, c, d = (int(p) for p in parts)
    return network.IpSocketAddress_Ipv4(network.Ipv4SocketAddress(int(port), (a, b, c, d)))


def _connect() -> _Connection:
    """A new connection to the store server, the per-run secret sent as its first frame."""
    address = _address()
    socket = tcp_create_socket.create_tcp_socket(network.IpAddressFamily.IPV4)
    socket.start_connect(instance_network.instance_network(), address)
    while True:
        _block(socket)
        try:
            reader, writer = socket.finish_connect()
            break
        except Err as err:
            if err.value != network.ErrorCode.WOULD_BLOCK:
                socket.__exit__(None, None, None)
                raise
    connection = _Connection(socket, reader, writer)
    connection.send(_frame({"op": "hello", "secret": os.environ.get(SECRET_ENV, "")}))
    return connection


def _drop() -> None:
    """Closes this instance's connection, if any; the next call opens a new one."""
    global _connection
    if _connection is not None:
        _connection.close()
        _connection = None


def call(op: str, payload: Dict[str, Any]) -> Any:
    """Sends one operation to the store server over this instance's connection (opened on first
    use, kept open); returns the answer's `ok` member or raises `Err(store.Error)`. `payload`
    becomes the frame itself (its `op` member is set).

    The first frame on a connection carries the secret; the store server answers every frame
    with one frame, in order. A connection that fails is closed and the call reported as
    `other` (the operation may or may not have been applied: never retried); the next call
    opens a new one.
    """
    global _connection
    payload["op"] = op
    try:
        fresh = _connection is None
        if _connection is None:
            _connection = _connect()
        _connection.send(_frame(payload))
        if fresh:
            hello = json.loads(_connection.receive())
            if "error" in hello:
                raise Err(_error(hello["error"]))
        data = json.loads(_connection.receive())
    except Err as err:
        _drop()
        if isinstance(err.value, (store.Error_AccessDenied, store.Error_NoSuchStore, store.Error_Other)):
            raise
        raise Err(store.Error_Other(f"the store server connection failed: {err.value}")) from None
    except ValueError:
        _drop()
        raise Err(store.Error_Other("the store server answered a frame that is not JSON")) from None
    if "error" in data:
        raise Err(_error(data["error"]))
    return data.get("ok")


def granted_stores() -> frozenset:
    """The store names `kvbatch serve` grants this component (`$KVBATCH_SERVE_STORES`, comma-separated)."""
    return frozenset(name for name in os.environ.get(STORES_ENV, "").split(",") if name)


def b64(value: bytes) -> str:
    return b2a_base64(value, newline=False).decode("ascii")


def unb64(text: Optional[str]) -> Optional[bytes]:
    return None if text is None else a2b_base64(text)


class Bucket(store.Bucket):
    """An opened store: the name the store server knows it by."""

    def __init__(self, name: str) -> None:
        self.name = name

    def get(self, key: str) -> Optional[bytes]:
        return unb64(call("get", {"store": self.name, "key": key}))

    def set(self, key: str, value: bytes) -> None:
        call("set", {"store": self.name, "key": key, "value": b64(value)})

    def delete(self, key: str) -> None:
        call("delete", {"store": self.name, "key": key})

    def exists(self, key: str) -> bool:
        return bool(call("exists", {"store": self.name, "key": key}))

    def list_keys(self, cursor: Optional[str]) -> store.KeyResponse:
        page = call("list-keys", {"store": self.name, "cursor": cursor})
        return store.KeyResponse(list(page["keys"]), page["cursor"])


def bucket_name(bucket: store.Bucket) -> str:
    """The store name of a bucket this adapter opened."""
    assert isinstance(bucket, Bucket)
    return bucket.name
