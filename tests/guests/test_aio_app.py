"""A Spin app on spin_sdk.key_value + kvbatch.aio, served by `kvbatch serve` (spin:key-value@3.0.0
over the serve adapter), answering per key over HTTP; faults mid-batch match the event log.

The served stack starts once for this module (memory: store, an event log, fault rules on
chosen keys); the first run builds build/aio-spin.wasm and the serve adapter and compiles the
composition (about two minutes), later runs reuse them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, Iterator

import httpx
import pytest

from kvbatch_host.faults import FaultPlan
from kvbatch_host.serve import aio_app, server
from kvbatch_host.setup import HostOptions

pytestmark = [pytest.mark.component, pytest.mark.wasmtime_cli]

FAULTS = [
    "op=set,key=fail-*,error=other:disk full",          # refused: nothing written
    "op=set,key=doubt-*,in-doubt=other:timeout",        # written, then an error: read back
    "op=get,key=broken,error=other:read failed",
]


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[server.Served]:
    directory = tmp_path_factory.mktemp("aio-served")
    options = HostOptions(stores=("memory:",), plan=FaultPlan.parse(FAULTS), events_path=str(directory / "events.jsonl"))
    running = server.start(aio_app.manifest(), ("127.0.0.1", 0), options)
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture
def client(served: server.Served) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=served.url, timeout=120) as http:
        yield http


def post(client: httpx.Client, path: str, body: Dict[str, Any]) -> Dict[str, Any]:
    answer = client.post("/aio" + path, json=body)
    assert answer.status_code == 200, answer.text
    data: Dict[str, Any] = answer.json()
    return data


def test_set_many_then_get_many_round_trip_with_one_outcome_per_key(client: httpx.Client):
    written = post(client, "/set-many", {"items": {"rt-a": "1", "rt-b": "2"}, "max_concurrency": 8})
    assert written["outcomes"] == {"rt-a": "succeeded", "rt-b": "succeeded"}
    read = post(client, "/get-many", {"keys": ["rt-a", "rt-b", "rt-none"]})
    assert read["values"] == {"rt-a": "1", "rt-b": "2"} and read["missing"] == ["rt-none"]
    assert set(read["outcomes"].values()) == {"succeeded"}


def test_a_fault_mid_batch_is_reported_per_key_as_the_event_log_records_it(client: httpx.Client,
                                                                         served: server.Served):
    assert served.events is not None
    mark = served.events.mark()
    items = {"ok-1": "a", "fail-1": "b", "ok-2": "c", "doubt-1": "d", "ok-3": "e"}
    report = post(client, "/set-many", {"items": items, "max_concurrency": 4})
    assert report["outcomes"] == {"ok-1": "succeeded", "fail-1": "failed", "ok-2": "succeeded",
                                  "doubt-1": "succeeded", "ok-3": "succeeded"}
    assert "disk full" in report["errors"]["fail-1"]
    sets = {e.key: e for e in served.events.since(mark) if e.op == "set"}
    assert set(sets) == set(items)  # one set per key: spin:key-value has no batch
    assert sets["fail-1"].applied is False and sets["fail-1"].fault == "error"
    assert sets["doubt-1"].applied is True and sets["doubt-1"].fault == "in-doubt"
    for key, outcome in report["outcomes"].items():  # the report is the truth the log shows
        assert (outcome == "succeeded") == bool(served.events.applied_writes(mark).get(key)), key


def test_a_failed_read_is_failed_for_that_key_only(client: httpx.Client):
    post(client, "/set-many", {"items": {"fine": "x"}})
    read = post(client, "/get-many", {"keys": ["fine", "broken"]})
    assert read["outcomes"] == {"fine": "succeeded", "broken": "failed"} and "read failed" in read["errors"]["broken"]


def test_the_completion_stream_answers_every_key_once_with_its_index(client: httpx.Client):
    keys = [f"stream-{i}" for i in range(20)]
    post(client, "/set-many", {"items": {k: "v" for k in keys}})
    streamed = post(client, "/stream-get", {"keys": keys, "max_concurrency": 8})
    assert sorted((index, key) for index, key, _ in streamed["completed"]) == list(enumerate(keys))


def test_calls_overlap_at_the_store_server_up_to_max_concurrency(client: httpx.Client, served: server.Served):
    keys = [f"overlap-{i}" for i in range(64)]
    served.instances[0].store_server.reset_peak()
    post(client, "/get-many", {"keys": keys, "max_concurrency": 8})
    assert 2 <= served.instances[0].store_server.peak_in_flight <= 8 + 1  # + the request that opened the store


def test_a_store_the_component_may_not_open_is_403_never_per_key(client: httpx.Client):
    answer = client.post("/aio/get-many", json={"keys": ["a"], "store": "secret"})
    assert answer.status_code == 403 and "access denied" in answer.json()["error"]


def test_get_keys_streams_every_key_of_the_store(client: httpx.Client):
    post(client, "/set-many", {"items": {"listed-1": "x", "listed-2": "y"}})
    keys = client.get("/aio/keys").json()["keys"]
    assert {"listed-1", "listed-2"} <= set(keys)


def test_the_app_ships_as_a_build_target():
    assert Path(aio_app.manifest().components["aio"].source).name == "aio-spin.wasm"
