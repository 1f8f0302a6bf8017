"""The bad-input matrix: every case gets a clear error naming the problem (and the limit) and
nothing is written. Limits are listed in docs/reference/limits.md."""

from __future__ import annotations

import subprocess

import pytest

import kvbatch
from kvbatch_host import faults
from kvbatch_host.backends import MemoryBackend
from kvbatch_host import EventLog
from kvbatch_host import HarnessBucket
from kvbatch_host import Harness
from kvbatch_host import StoreRegistry

from bulk_helpers import AUTH, MemoryStores, api_for, call

from checkout import ROOT
KVBATCH = str(ROOT / ".venv/bin/kvbatch")


@pytest.fixture(scope="module")
def rig(built):
    backend = MemoryBackend()
    registry = StoreRegistry().add("default", backend)
    events = EventLog()
    faults.install(registry, events=events)
    harness = Harness(registry, batch="provider", provider_path=built("provider"))
    return kvbatch.Bucket(HarnessBucket(harness)), backend, events


def writes(events: EventLog, mark: int) -> list:
    return [e for e in events.since(mark) if e.is_write]


@pytest.mark.component
@pytest.mark.parametrize(
    "items, message",
    [
        ({"": b"v"}, "empty"),
        ({"k" * 257: b"v"}, "256"),
        ({"é" * 129: b"v"}, "256"),  # 258 bytes of UTF-8 in 129 characters
        ({"k": b"v" * (kvbatch.MAX_VALUE_BYTES + 1)}, "1048576"),
        ({"k": "not bytes"}, "bytes"),
        ({f"k{i}": b"" for i in range(kvbatch.MAX_KEYS_PER_CALL + 1)}, "100000"),
    ],
    ids=["empty-key", "key-over-limit", "key-over-limit-in-utf8", "value-over-limit", "value-not-bytes", "too-many-keys"],
)
def test_invalid_set_many_is_rejected_naming_the_limit_and_writes_nothing(rig, items, message):
    bucket, backend, events = rig
    mark = events.mark()
    with pytest.raises(kvbatch.ValidationError, match=message):
        bucket.set_many({"first-valid-key": b"v", **items})
    assert writes(events, mark) == []
    assert backend.get("default", "first-valid-key") is None


@pytest.mark.component
def test_a_million_keys_in_one_delete_is_rejected_before_anything_is_sent(rig):
    bucket, _, events = rig
    mark = events.mark()
    with pytest.raises(kvbatch.ValidationError, match="1000000 keys in one call; the limit is 100000"):
        bucket.delete_many(f"k{i}" for i in range(1_000_000))
    assert events.since(mark) == []


@pytest.mark.component
def test_key_and_value_exactly_at_the_limits_are_accepted(rig):
    bucket, backend, _ = rig
    key, value = "k" * kvbatch.MAX_KEY_BYTES, bytes(range(256)) * (kvbatch.MAX_VALUE_BYTES // 256)
    assert bucket.set_many({key: value}).all_succeeded
    assert backend.get("default", key) == value


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([KVBATCH, *args], capture_output=True, text=True, timeout=300)


@pytest.mark.component
@pytest.mark.parametrize(
    "args, message, code",
    [
        (["--store", "memory:", "--", "no-such"], "opened store 'no-such', which is not served (add --store no-such=URL", 2),
        (["--store", "memory:", "--allow-store", "other"], "which is served but not allowed (add --allow-store default)", 2),
        (["--store", "mysql://db"], "unknown store URL 'mysql://db'", 2),
        (["--store", "memory:", "--fault", "op=teleport,error=other"], "teleport", 2),
        (["--store", "memory:", "--fault", "op=set,position=-1,error=other"], "position", 2),
        (["--store", "memory:", "--fault", "op=set"], "effect", 2),
        (["--store", "memory:", "--fault", "op=set,latency=10h"], "latency", 2),
        (["--store", "memory:", "--fault", "op=set,error=bogus-kind"], "bogus-kind", 2),
    ],
    ids=["unknown-store", "store-not-granted", "bad-store-url", "unknown-op", "negative-position", "no-effect",
         "latency-over-limit", "unknown-error-kind"],
)
def test_cli_bad_configuration_names_the_problem(built, args, message, code):
    proc = run_cli("run", str(built("demo")), *args)
    assert proc.returncode == code, proc.stdout + proc.stderr
    assert message in proc.stdout + proc.stderr


def test_cli_malformed_fault_file_names_the_file_and_problem(tmp_path):
    plan = tmp_path / "plan.json"
    plan.write_text('[{"op": "set", "error": "other:x"}, {"op": "set", "nth": "many"}]')
    proc = run_cli("run", "x.wasm", "--store", "memory:", "--fault-file", str(plan))
    assert proc.returncode == 2
    assert "plan.json" in proc.stderr and "nth" in proc.stderr


@pytest.mark.parametrize(
    "method, target, body, headers, status, message",
    [
        ("POST", "/stores/default/set-many", {"items": []}, {}, 401, "Authorization"),
        ("POST", "/stores/default/set-many", {"items": []}, {"Authorization": "Bearer wrong-token-0123456789"}, 401, ""),
        ("POST", "/stores/secret/set-many", {"items": [{"key": "a", "value": "YQ=="}]}, AUTH, 403, ""),
        ("POST", "/stores/default/set-many", b"{not json", AUTH, 400, "JSON"),
        ("POST", "/stores/default/set-many", {"items": [{"key": "a", "value": "%%%"}]}, AUTH, 400, "base64"),
        ("POST", "/stores/default/set-many", {"items": [{"key": "a" * 300, "value": "YQ=="}]}, AUTH, 413, "256"),
        ("POST", "/stores/default/set-many", {"items": [{"key": f"k{i}", "value": ""} for i in range(1001)]}, AUTH, 413, "1000"),
    ],
    ids=["missing-token", "wrong-token", "store-not-granted", "malformed-json", "malformed-base64", "key-too-long",
         "too-many-items"],
)
def test_http_bad_requests_get_the_documented_status_and_write_nothing(method, target, body, headers, status, message):
    stores = MemoryStores(granted=("default",))
    response = call(api_for(stores), method, target, body, headers)
    assert response.status == status
    assert message in response.body.decode()
    assert "Traceback" not in response.body.decode()
    assert stores.data("default") == {}


def test_http_oversized_body_is_rejected_with_413_naming_the_limit():
    stores = MemoryStores(granted=("default",))
    body = b'{"items": [' + b" " * (9 * 1024 * 1024) + b"]}"
    response = call(api_for(stores), "POST", "/stores/default/set-many", body)
    assert response.status == 413 and str(8 * 1024 * 1024) in response.body.decode()
    assert stores.data("default") == {}


@pytest.mark.component
def test_several_one_mib_values_are_chunked_under_the_hostcall_data_limit(rig):
    """One `set-many` of 4 x 1 MiB would trap the harness; the library's 2 MiB chunks fit."""
    bucket, backend, _ = rig
    values = {f"big{i}": bytes([i]) * kvbatch.MAX_VALUE_BYTES for i in range(4)}
    result = bucket.set_many(values)
    assert result.all_succeeded and result.stats.chunks >= 2
    assert all(backend.get("default", k) == v for k, v in values.items())
