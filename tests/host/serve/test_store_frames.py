"""The store server's framed port: what the serve adapter's kept-open connection relies on."""

from __future__ import annotations

import base64
import json
import socket
from typing import Any, Dict, Iterator, List

import pytest

from kvbatch_host.backends.memory import MemoryBackend
from kvbatch_host.backends.stores import StoreRegistry
from kvbatch_host.serve.store_server import FRAME_HEADER, StoreServer

SECRET = "s3cret"


@pytest.fixture
def store_server() -> Iterator[StoreServer]:
    registry = StoreRegistry(backends={"default": MemoryBackend(), "other": MemoryBackend()}, allowed={"default"})
    running = StoreServer(registry, SECRET).start()
    try:
        yield running
    finally:
        running.stop()


def frame(message: Dict[str, Any]) -> bytes:
    payload = json.dumps(message).encode()
    return len(payload).to_bytes(FRAME_HEADER, "big") + payload


def read_frames(conn: socket.socket, count: int) -> List[Dict[str, Any]]:
    data = b""
    answers: List[Dict[str, Any]] = []
    while len(answers) < count:
        while len(data) >= FRAME_HEADER and len(data) >= FRAME_HEADER + int.from_bytes(data[:FRAME_HEADER], "big"):
            size = int.from_bytes(data[:FRAME_HEADER], "big")
            answers.append(json.loads(data[FRAME_HEADER:FRAME_HEADER + size]))
            data = data[FRAME_HEADER + size:]
        if len(answers) >= count:
            break
        chunk = conn.recv(65536)
        if not chunk:
            break
        data += chunk
    return answers


def connect(server: StoreServer) -> socket.socket:
    host, port = server.tcp_address.rsplit(":", 1)
    return socket.create_connection((host, int(port)), timeout=10)


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def test_frames_sent_together_are_answered_in_order_on_one_connection(store_server: StoreServer) -> None:
    with connect(store_server) as conn:
        conn.sendall(frame({"op": "hello", "secret": SECRET})
                     + frame({"op": "set-many", "store": "default", "items": [["a", b64("1")], ["b", b64("2")]]})
                     + frame({"op": "get-many", "store": "default", "keys": ["b", "zz", "a"]}))
        assert read_frames(conn, 3) == [{"ok": None}, {"ok": None}, {"ok": [b64("2"), None, b64("1")]}]


def test_the_connection_stays_open_between_operations(store_server: StoreServer) -> None:
    with connect(store_server) as conn:
        conn.sendall(frame({"op": "hello", "secret": SECRET}))
        assert read_frames(conn, 1) == [{"ok": None}]
        for delta in (1, 2, 3):
            conn.sendall(frame({"op": "increment", "store": "default", "key": "n", "delta": delta}))
        assert read_frames(conn, 3) == [{"ok": 1}, {"ok": 3}, {"ok": 6}]


def test_a_wrong_secret_is_access_denied_and_the_connection_closed(store_server: StoreServer) -> None:
    with connect(store_server) as conn:
        conn.sendall(frame({"op": "hello", "secret": "guess"}) + frame({"op": "get", "store": "default", "key": "a"}))
        assert read_frames(conn, 2) == [{"error": {"kind": "access-denied", "message": "wrong serve secret"}}]
        assert conn.recv(1) == b""


def test_an_operation_before_the_secret_is_refused(store_server: StoreServer) -> None:
    with connect(store_server) as conn:
        conn.sendall(frame({"op": "get", "store": "default", "key": "a"}))
        assert read_frames(conn, 1)[0]["error"]["kind"] == "access-denied"
        assert conn.recv(1) == b""


def test_a_store_outside_the_grant_is_access_denied_and_the_connection_kept(store_server: StoreServer) -> None:
    with connect(store_server) as conn:
        conn.sendall(frame({"op": "hello", "secret": SECRET}) + frame({"op": "get", "store": "other", "key": "a"})
                     + frame({"op": "get", "store": "default", "key": "a"}))
        answers = read_frames(conn, 3)
        assert answers[1]["error"]["kind"] == "access-denied" and answers[2] == {"ok": None}


def test_a_frame_that_is_not_json_is_answered_and_the_connection_closed(store_server: StoreServer) -> None:
    with connect(store_server) as conn:
        conn.sendall(frame({"op": "hello", "secret": SECRET}) + (5).to_bytes(FRAME_HEADER, "big") + b"{nope")
        answers = read_frames(conn, 2)
        assert answers[1]["error"]["message"].startswith("malformed frame")
        assert conn.recv(1) == b""


def test_an_unknown_operation_is_an_error_answer(store_server: StoreServer) -> None:
    with connect(store_server) as conn:
        conn.sendall(frame({"op": "hello", "secret": SECRET}) + frame({"op": "frobnicate", "store": "default"}))
        assert "unknown operation" in read_frames(conn, 2)[1]["error"]["message"]
