"""build/spin.wasm served by `kvbatch serve` (the wasmtime CLI), held to the shared HTTP expectations
and to bounded loads at 32 connections (`hey`, as `kvbatch bench` drives it; never a timing check).

The served stack (store server, `wasmtime serve`, router) starts once for this module, in
process so the tests can read the stores and the event log; it is stopped by PID at the end.
`TestCommand` runs the `kvbatch serve` command itself as a subprocess.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Dict, Iterator, Mapping, Optional, Tuple

import httpx
import pytest
from http_expectations import *  # noqa: F401,F403 - the shared expectations are this module's tests
from http_expectations import AUTH, GRANTED, TOKEN, send

from kvbatch_host import FaultPlan
from kvbatch_host.bench.serve_load import run_hey
from kvbatch_host.serve import manifest as manifests
from kvbatch_host.serve import server
from kvbatch_host.setup import HostOptions

from served import KVBATCH, Command, children_of, write_manifest

pytestmark = [pytest.mark.component, pytest.mark.wasmtime_cli]

@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[server.Served]:
    directory = tmp_path_factory.mktemp("serve")
    manifest = manifests.load(write_manifest(directory), environ={"SPIN_VARIABLE_KVBATCH_TOKEN": TOKEN})
    running = server.start(manifest, ("127.0.0.1", 0), HostOptions(stores=("default=memory:", "backup=memory:"),
                                                                    events_path=str(directory / "events.jsonl")))
    try:
        yield running
    finally:
        [process] = running.processes
        running.stop()
        assert process.poll() is not None
        with pytest.raises(ProcessLookupError):
            os.kill(process.pid, 0)


class HttpDriver:
    """A real HTTP client against the served component; `items` reads the backend itself."""

    def __init__(self, running: server.Served) -> None:
        self.running = running
        self.client = httpx.Client(base_url=running.url, timeout=60)

    def request(self, method: str, path: str, body: Any = None,
                headers: Optional[Mapping[str, str]] = None) -> Tuple[int, Dict[str, str], bytes]:
        content = body if isinstance(body, bytes) else (None if body is None else json.dumps(body).encode())
        answer = self.client.request(method, path, content=content, headers=dict(headers or {}))
        return answer.status_code, dict(answer.headers), answer.content

    def items(self, store: str) -> Dict[str, bytes]:
        return dict(self.running.registry.backends[store].all_items(store))


@pytest.fixture
def driver(served: server.Served) -> Iterator[HttpDriver]:
    for name in GRANTED:
        backend = served.registry.backends[name]
        inner = getattr(backend, "inner", backend)
        inner.delete_many(name, [key for key, _ in inner.all_items(name)])
    for layer in served.layers:
        layer.use_plan(FaultPlan())
    http = HttpDriver(served)
    try:
        yield http
    finally:
        http.client.close()


def test_a_path_outside_the_route_is_404(driver: HttpDriver) -> None:
    status, _, _ = driver.request("GET", "/elsewhere/limits", headers=AUTH)
    assert status == 404


def test_one_component_is_served_by_wasmtime_on_the_listening_address_without_a_router(served: server.Served) -> None:
    [instance] = served.instances
    assert served.router is None
    assert served.url == "http://%s:%d" % instance.backend


def test_a_client_sent_spin_path_info_does_not_reroute_the_request(driver: HttpDriver) -> None:
    status, _, body = driver.request("GET", "/kv/limits", headers={**AUTH, "spin-path-info": "/stores/default/keys"})
    assert status == 200 and "max_batch_keys" in json.loads(body)


def test_a_fault_mid_set_many_is_207_matching_the_event_log_and_the_store(driver: HttpDriver, served: server.Served) -> None:
    layer = served.layers[0]
    mark = layer.events.mark()
    layer.use_plan(FaultPlan.parse(["op=set,key=f:2,error=other:disk full"]))
    items = {f"f:{i}": f"v{i}" for i in range(6)}
    status, _, body = send(driver, "POST", "/kv/stores/default/set-many", {"items": items, "encoding": "text"})
    assert status == 207
    assert body["failed"] and set(body["succeeded"]) | set(body["failed"]) | set(body["unknown"]) == set(items)
    applied = layer.events.applied_writes(mark, store="default")
    stored = driver.items("default")
    for key in body["succeeded"]:
        assert key in applied and stored[key] == items[key].encode()
    for key in body["failed"]:
        assert key not in applied and key not in stored
    assert list(body["failed"]) == ["f:2"] and body["unknown"] == {}
    refused = [e for e in layer.events.since(mark) if e.key == "f:2" and e.fault == "error"]
    assert refused[0].batch_op == "set-many" and all(e.applied is False for e in refused)


def test_twenty_concurrent_clients_lose_and_misreport_no_key(driver: HttpDriver, served: server.Served) -> None:
    def client(number: int) -> Dict[str, Any]:
        with httpx.Client(base_url=served.url, timeout=120) as http:
            items = {f"c{number}:{j}": f"{number}-{j}" for j in range(10)} | {"shared": f"{number}", f"pair:{number % 2}": f"{number}"}
            answer = http.post("/kv/stores/default/set-many", headers=AUTH, json={"items": items, "encoding": "text"})
            return {"status": answer.status_code, "body": answer.json(), "items": items}

    with ThreadPoolExecutor(20) as pool:
        results = list(pool.map(client, range(20)))
    stored = driver.items("default")
    for result in results:
        assert result["status"] == 200 and sorted(result["body"]["succeeded"]) == sorted(result["items"])
        for key, value in result["items"].items():
            if key.startswith("c"):
                assert stored[key] == value.encode()
    assert stored["shared"].decode() in {str(n) for n in range(20)}
    assert stored["pair:0"].decode() in {str(n) for n in range(0, 20, 2)}
    assert len(stored) == 20 * 10 + 3


# -- the command itself ------------------------------------------------------------------------


def test_sigterm_stops_the_command_and_everything_it_started(tmp_path: Path) -> None:
    command = Command(tmp_path, "--manifest", str(write_manifest(tmp_path)), "--store", "memory:")
    try:
        assert len(children_of(command.proc.pid)) == 1  # wasmtime serve
        assert httpx.get(command.url + "/kv/limits", headers=AUTH).status_code == 200
    finally:
        assert command.stop() == 0


def test_a_restart_keeps_the_sqlite_data(tmp_path: Path) -> None:
    manifest = str(write_manifest(tmp_path))
    first = Command(tmp_path, "--manifest", manifest)
    try:
        answer = httpx.post(first.url + "/kv/stores/default/set-many", headers=AUTH,
                            json={"items": {"kept": "across restarts"}, "encoding": "text"})
        assert answer.status_code == 200
    finally:
        first.stop()
    assert (tmp_path / ".kvbatch" / "spin.db").exists()
    second = Command(tmp_path, "--manifest", manifest)
    try:
        answer = httpx.post(second.url + "/kv/stores/default/get-many", headers=AUTH, json={"keys": ["kept"], "encoding": "text"})
        assert answer.json()["values"] == {"kept": "across restarts"}
    finally:
        second.stop()


def _run(cwd: Path, *args: str, env: Optional[Mapping[str, str]] = None) -> subprocess.CompletedProcess[str]:
    environ = dict(os.environ, SPIN_VARIABLE_KVBATCH_TOKEN=TOKEN)
    environ.update(env or {})
    return subprocess.run([KVBATCH, "serve", *args], cwd=cwd, env=environ, capture_output=True, text=True, timeout=180)


def test_a_port_in_use_is_one_line_and_exit_2(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = _run(tmp_path, "--manifest", str(write_manifest(tmp_path)), "--store", "memory:", "--listen", f"127.0.0.1:{port}")
    assert done.returncode == 2
    last = done.stderr.strip().splitlines()[-1]
    assert last == f"kvbatch: cannot listen on 127.0.0.1:{port}: address already in use"
    assert "Traceback" not in done.stderr


def test_a_bad_manifest_is_one_line_and_exit_2(tmp_path: Path) -> None:
    (tmp_path / "spin.toml").write_text("spin_manifest_version = 2\n[[trigger.http]\n")
    done = _run(tmp_path, "--manifest", str(tmp_path / "spin.toml"))
    assert done.returncode == 2 and done.stderr.count("\n") == 1
    assert done.stderr.startswith(f"kvbatch: manifest '{tmp_path / 'spin.toml'}' is not valid TOML")


def test_a_missing_required_variable_stops_the_start(tmp_path: Path) -> None:
    environ_unset = subprocess.run([KVBATCH, "serve", "--manifest", str(write_manifest(tmp_path))], cwd=tmp_path,
                                   env={k: v for k, v in os.environ.items() if k != "SPIN_VARIABLE_KVBATCH_TOKEN"},
                                   capture_output=True, text=True, timeout=60)
    assert environ_unset.returncode == 2
    assert environ_unset.stderr == ("kvbatch: no value for required variable 'kvbatch_token' "
                                    "(set SPIN_VARIABLE_KVBATCH_TOKEN, as for spin up)\n")


def test_a_listen_address_off_loopback_is_refused(tmp_path: Path) -> None:
    done = _run(tmp_path, "--listen", "0.0.0.0:3000")
    assert done.returncode == 2 and done.stderr.startswith("kvbatch: --listen '0.0.0.0:3000': kvbatch serve listens on loopback only")


@pytest.mark.redis
def test_a_redis_store_is_served_and_shared_by_concurrent_requests(tmp_path: Path, redis_url: str) -> None:
    manifest = manifests.load(write_manifest(tmp_path, ("default",)), environ={"SPIN_VARIABLE_KVBATCH_TOKEN": TOKEN})
    running = server.start(manifest, ("127.0.0.1", 0), HostOptions(stores=(f"default={redis_url}",)))
    try:
        def write(number: int) -> int:
            with httpx.Client(base_url=running.url, headers=AUTH, timeout=120) as http:
                return http.post("/kv/stores/default/set-many", json={"items": {f"r:{number}": str(number)}, "encoding": "text"}).status_code

        with ThreadPoolExecutor(8) as pool:
            assert list(pool.map(write, range(8))) == [200] * 8
        assert dict(running.registry.backends["default"].all_items("default")) == {f"r:{n}": str(n).encode() for n in range(8)}
    finally:
        running.stop()


def test_wasmtime_serve_does_not_outlive_a_killed_kvbatch_serve(tmp_path: Path) -> None:
    command = Command(tmp_path, "--manifest", str(write_manifest(tmp_path)), "--store", "memory:")
    children = children_of(command.proc.pid)
    command.proc.kill()
    command.proc.wait()
    for child in children:
        for _ in range(100):
            try:
                os.kill(child, 0)
            except ProcessLookupError:
                break
            threading.Event().wait(0.05)
        else:
            os.kill(child, signal.SIGKILL)
            pytest.fail(f"wasmtime serve (pid {child}) outlived kvbatch serve")


LOAD_CONNECTIONS = 32
LOAD_REQUESTS = 640


@pytest.mark.skipif(shutil.which("hey") is None, reason="hey (the load generator) is not installed")
def test_32_connections_of_get_many_are_all_answered_200(driver: HttpDriver) -> None:
    keys = [f"load:{i}" for i in range(10)]
    status, _, _ = send(driver, "POST", "/kv/stores/default/set-many",
                        {"items": {key: "x" * 100 for key in keys}, "encoding": "text"})
    assert status == 200
    load = run_hey(driver.running.url + "/kv/stores/default/get-many", LOAD_CONNECTIONS, LOAD_REQUESTS,
                   body=json.dumps({"keys": keys}).encode(), headers=(f"Authorization: Bearer {TOKEN}",))
    assert (load.ok, load.non_2xx, load.errors) == (LOAD_REQUESTS, 0, 0)


@pytest.mark.skipif(shutil.which("hey") is None, reason="hey (the load generator) is not installed")
def test_32_connections_of_set_many_are_all_answered_200_and_every_key_is_stored(driver: HttpDriver) -> None:
    items = {f"burst:{i}": f"v{i}" for i in range(20)}
    load = run_hey(driver.running.url + "/kv/stores/default/set-many", LOAD_CONNECTIONS, LOAD_REQUESTS,
                   body=json.dumps({"items": items, "encoding": "text"}).encode(),
                   headers=(f"Authorization: Bearer {TOKEN}",))
    assert (load.ok, load.non_2xx, load.errors) == (LOAD_REQUESTS, 0, 0)
    assert driver.items("default") == {key: value.encode() for key, value in items.items()}
