"""`kvbatch serve` under load: the store server's worker pool and connection handling, listen
backlogs, the bounded concurrency of `wasmtime serve`, one-line disconnect logs, and the
`hey` runs `kvbatch bench` makes (never a timing check)."""

from __future__ import annotations

import http.client
import json
import shutil
import socket
import threading
from http.server import BaseHTTPRequestHandler
from typing import Iterator, List

import pytest

from kvbatch_host.backends import MemoryBackend
from kvbatch_host.backends.stores import StoreRegistry
from kvbatch_host.bench.serve_load import run_hey
from kvbatch_host.serve import router, server
from kvbatch_host.serve.store_server import SECRET_HEADER, PooledHTTPServer, StoreServer, listen_backlog

CORE_INSTANCES_PER_REQUEST = 45
"""Core instances of the served composition (build/spin.wasm with its stubs, the serve adapter and
the serve front): the `(core instance ... (instantiate` lines of `wasm-tools print` of it."""
WASMTIME_CORE_INSTANCE_LIMIT = 1000


@pytest.fixture
def store_server() -> Iterator[StoreServer]:
    registry = StoreRegistry(allowed={"default"}).add("default", MemoryBackend())
    served = StoreServer(registry, "s3cret").start()
    try:
        yield served
    finally:
        served.stop()
        registry.close()


def _post(url: str, op: str, payload: dict) -> http.client.HTTPResponse:
    host, port = url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    conn.request("POST", "/" + op, json.dumps(payload), {SECRET_HEADER: "s3cret", "content-type": "application/json"})
    return conn.getresponse()


def test_the_store_server_closes_each_connection_after_its_answer(store_server: StoreServer) -> None:
    response = _post(store_server.url, "set", {"store": "default", "key": "k", "value": "dg=="})
    assert response.status == 200 and json.loads(response.read()) == {"ok": None}
    assert response.getheader("connection") == "close"


def test_the_store_server_answers_many_connections_at_once_from_its_pool(store_server: StoreServer) -> None:
    answers: List[int] = []

    def call(i: int) -> None:
        answers.append(_post(store_server.url, "set", {"store": "default", "key": f"k{i}", "value": "dg=="}).status)

    threads = [threading.Thread(target=call, args=(i,)) for i in range(40)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert answers == [200] * 40
    assert store_server.registry.open("default").get("default", "k39") == b"v"


def test_listen_backlogs_queue_bursts_instead_of_dropping_them() -> None:
    assert listen_backlog() >= 128
    assert PooledHTTPServer.request_queue_size >= 128
    assert router._Server.request_queue_size >= 128


def test_wasmtime_serve_runs_fewer_requests_at_once_than_its_instance_limit_allows() -> None:
    assert 1 <= server.MAX_CONCURRENT_REQUESTS
    assert server.MAX_CONCURRENT_REQUESTS * CORE_INSTANCES_PER_REQUEST < WASMTIME_CORE_INSTANCE_LIMIT


def test_a_client_that_disconnects_is_logged_as_one_line() -> None:
    lines: List[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
            raise BrokenPipeError(32, "Broken pipe")

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            pass

    httpd = PooledHTTPServer(("127.0.0.1", 0), Handler, log=lines.append)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        with socket.create_connection(httpd.server_address[:2], timeout=5) as sock:
            sock.sendall(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n")
            sock.recv(100)
    finally:
        httpd.shutdown()
        httpd.server_close()
    assert len(lines) == 1 and "disconnected (BrokenPipeError)" in lines[0] and "\n" not in lines[0]


@pytest.mark.skipif(shutil.which("hey") is None, reason="hey (the load generator) is not installed")
def test_a_hey_run_counts_answers_errors_and_latencies(store_server: StoreServer) -> None:
    load = run_hey(store_server.url + "/get", 4, 42, body=json.dumps({"store": "default", "key": "k"}).encode(),
                   headers=(f"{SECRET_HEADER}: s3cret",))
    assert load.requested == 40 and load.ok == 40 and load.errors == 0 and load.non_2xx == 0
    assert load.p50_ms is not None and load.p99_ms is not None and load.p50_ms <= load.p99_ms


@pytest.mark.skipif(shutil.which("hey") is None, reason="hey (the load generator) is not installed")
def test_a_hey_run_counts_refused_connections_as_errors() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    load = run_hey(f"http://127.0.0.1:{port}/", 1, 3)
    assert load.errors == 3 and load.ok == 0 and load.rps is None
