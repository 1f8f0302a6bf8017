"""The bulk API inside a component under the harness: `build/bulk-driver.wasm` feeds it requests.

The driver runs `kvbatch_bulk` (the code the Spin component serves) over the harness's
`wasi:keyvalue@0.2.0-draft2`, with batch served by the provider component, so a fault the
host injects in the middle of a `set-many` reaches the API as a failing Spin store would.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional

import pytest

from bulk_helpers import AUTH, TOKEN

from kvbatch_host.backends import MemoryBackend
from kvbatch_host import HostKvError
from kvbatch_host import Harness
from kvbatch_host import StoreRegistry

pytestmark = pytest.mark.component

SECRET = "disk full on /dev/sdb1 (node kv-7)"


class PoisonedSets(MemoryBackend):
    """Fails the `fail_at`-th `set` and every later `set` of that key: a key the store cannot write."""

    def __init__(self, fail_at: int) -> None:
        super().__init__()
        self.fail_at = fail_at
        self.sets = 0
        self.poisoned: set[str] = set()

    def set(self, store: str, key: str, value: bytes) -> None:
        self.sets += 1
        if self.sets == self.fail_at:
            self.poisoned.add(key)
        if key in self.poisoned:
            raise HostKvError("other", SECRET)
        super().set(store, key, value)


def request(method: str, target: str, body: Any = None, headers: Optional[Dict[str, str]] = None) -> Dict[str, Any]:
    raw = body if isinstance(body, bytes) else (b"" if body is None else json.dumps(body).encode())
    return {"method": method, "target": target, "headers": AUTH if headers is None else headers,
            "body": base64.b64encode(raw).decode()}


def drive(harness: Harness, driver: Path, *requests: Dict[str, Any]) -> List[Dict[str, Any]]:
    """Runs the driver on `requests`; returns each response with its body decoded."""
    result = harness.run_command(driver, [TOKEN, *(json.dumps(r) for r in requests)], capture=True)
    assert result.exit_code == 0 and result.trap is None, (result.trap, result.stdout, result.stderr)
    responses = [json.loads(line) for line in result.stdout.splitlines()]
    for response in responses:
        response["body"] = base64.b64decode(response["body"]).decode()
    assert len(responses) == len(requests)
    return responses


@pytest.fixture
def driver(built: Callable[..., Path]) -> Path:
    return built("bulk-driver")


def test_set_many_with_a_host_fault_mid_batch_is_207_and_the_store_agrees_with_every_outcome(
        harness_for: Callable[..., Harness], driver: Path) -> None:
    backend = PoisonedSets(fail_at=3)
    backend.set_many("default", [(f"k{i}", b"old") for i in range(6)])  # preload: not counted
    items = {f"k{i}": "new" for i in range(6)}
    [response] = drive(harness_for(backend), driver, request("POST", "/stores/default/set-many", {"items": items, "encoding": "text"}))
    assert response["status"] == 207
    outcome = json.loads(response["body"])
    assert outcome["failed"] == {"k2": "the store reported an error"}
    assert sorted(outcome["succeeded"]) == ["k0", "k1", "k3", "k4", "k5"]
    for key in outcome["succeeded"]:
        assert backend.get("default", key) == b"new"
    assert backend.get("default", "k2") == b"old"
    assert "sdb1" not in response["body"]


def test_read_list_export_and_import_inside_a_component(harness_for: Callable[..., Harness], driver: Path) -> None:
    backend = MemoryBackend()
    backend.set_many("default", [("user:1", b"ann"), ("user:2", b"\xff\x00"), ("order:1", b"x")])
    dump_lines = [json.dumps({"key": "user:3", "value": "cy"})]
    responses = drive(
        harness_for(backend), driver,
        request("POST", "/stores/default/get-many", {"keys": ["user:1", "user:9"], "encoding": "text"}),
        request("GET", "/stores/default/keys?prefix=user:&limit=1"),
        request("GET", "/stores/default/export?prefix=user:&encoding=text"),
        request("POST", "/stores/default/import?encoding=text", "\n".join(dump_lines).encode()),
        request("POST", "/stores/default/delete-many", {"keys": ["order:1", "never"]}),
    )
    assert [r["status"] for r in responses] == [200, 200, 200, 200, 200]
    got, keys, export, imported, deleted = (r["body"] for r in responses)
    assert json.loads(got)["values"] == {"user:1": "ann"} and json.loads(got)["missing"] == ["user:9"]
    assert json.loads(keys)["keys"] == ["user:1"] and json.loads(keys)["cursor"]
    assert [json.loads(line) for line in export.splitlines()] == [
        {"key": "user:1", "value": "ann"}, {"key": "user:2", "value": "/wA=", "encoding": "base64"}]
    assert json.loads(imported)["succeeded"] == ["user:3"]
    assert json.loads(deleted)["succeeded"] == ["order:1", "never"]
    assert sorted(k for k, _ in backend.all_items("default")) == ["user:1", "user:2", "user:3"]


def test_auth_and_store_grants_inside_a_component(built: Callable[..., Path], driver: Path) -> None:
    registry = StoreRegistry(allowed={"default", "ghost"}).add("default", MemoryBackend()).add("other", MemoryBackend())
    harness = Harness(registry, batch="provider", provider_path=built("provider"))
    responses = drive(
        harness, driver,
        request("POST", "/stores/default/get-many", {"keys": ["a"]}, headers={}),
        request("POST", "/stores/default/get-many", {"keys": ["a"]}, headers={"Authorization": "Bearer nope"}),
        request("POST", "/stores/other/get-many", {"keys": ["a"]}),
        request("POST", "/stores/ghost/get-many", {"keys": ["a"]}),
        request("POST", "/stores/default/get-many", b"{oops"),
    )
    assert [r["status"] for r in responses] == [401, 401, 403, 404, 400]


def test_a_full_batch_of_1000_items_round_trips_inside_a_component(harness_for: Callable[..., Harness], driver: Path) -> None:
    values = {f"item:{i:04d}": bytes([i % 256]) * 100 for i in range(1000)}
    items = [{"key": k, "value": base64.b64encode(v).decode()} for k, v in values.items()]
    backend = MemoryBackend()
    wrote, read = drive(harness_for(backend), driver,
                        request("POST", "/stores/default/set-many", {"items": items}),
                        request("POST", "/stores/default/get-many", {"keys": list(values)}))
    assert (wrote["status"], read["status"]) == (200, 200)
    assert len(json.loads(wrote["body"])["succeeded"]) == 1000
    assert {k: base64.b64decode(v) for k, v in json.loads(read["body"])["values"].items()} == values
    assert dict(backend.all_items("default")) == values


@pytest.mark.parametrize("rule, status, failed", [
    ("op=set,key=k4,error=other:disk full", 207, {"k4": "the store reported an error"}),   # k4 can never be written
    ("op=set,batch=set-many,position=2,error=other:disk full", 200, {}),                  # once, mid-batch: settled key by key
    ("op=set,key=k1,in-doubt=other:timeout,times=1", 200, {}),                            # applied, then err: verified by reading
])
def test_fault_layer_rules_mid_batch_give_the_reported_outcomes_inside_a_component(
        harness_for: Callable[..., Harness], driver: Path, rule: str, status: int, failed: Dict[str, str]) -> None:
    from kvbatch_host.faults import FaultLayer, FaultPlan

    inner = MemoryBackend()
    inner.set_many("default", [(f"k{i}", b"old") for i in range(6)])
    layer = FaultLayer(inner, FaultPlan.parse([rule]))
    items = {f"k{i}": "new" for i in range(6)}
    [response] = drive(harness_for(layer, batch="native"), driver,
                       request("POST", "/stores/default/set-many", {"items": items, "encoding": "text"}))
    outcome = json.loads(response["body"])
    assert layer.fired, "the rule fired"
    assert (response["status"], outcome["failed"]) == (status, failed)
    for key in outcome["succeeded"]:
        assert inner.get("default", key) == b"new"
    for key in failed:
        assert inner.get("default", key) == b"old"


def test_hostile_bodies_are_400s_inside_a_component_not_traps(harness_for: Callable[..., Harness], driver: Path) -> None:
    deep = "[" * 2000 + "]" * 2000
    cursor = base64.urlsafe_b64encode(deep.encode()).decode().rstrip("=")
    backend = MemoryBackend()
    responses = drive(
        harness_for(backend), driver,
        request("POST", "/stores/default/get-many", ('{"keys": ' + deep + "}").encode()),
        request("POST", "/stores/default/import", ('{"key": ' + deep + "}").encode()),
        request("GET", f"/stores/default/keys?cursor={cursor}"),
        request("POST", "/stores/default/set-many", b'{"items": {"k": "\\ud800"}, "encoding": "text"}'),
        request("GET", "/stores/default/keys?limit=%C2%B2"),
    )
    assert [r["status"] for r in responses] == [400, 400, 400, 400, 400], [r["body"] for r in responses]
    assert "max_json_depth" in responses[0]["body"] and "lone surrogate" in responses[3]["body"]
    assert list(backend.all_items("default")) == []
