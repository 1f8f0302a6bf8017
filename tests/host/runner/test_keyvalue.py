"""`wasi:keyvalue` as guests see it through the harness: list-keys paging over large buckets in
both versions, and compare-and-swap with a real conflict, on every backend."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List

import pytest

from kvbatch_host.backends import Backend, MemoryBackend, SqliteBackend
from kvbatch_host.backends.redis import RedisBackend
from kvbatch_host import Harness
from kvbatch_host import StoreRegistry

pytestmark = [pytest.mark.component, pytest.mark.both_paths]

BACKENDS = ["memory", "sqlite", pytest.param("redis", marks=pytest.mark.redis)]


@pytest.fixture
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    kind = request.param
    if kind == "memory":
        made: Backend = MemoryBackend()
    elif kind == "sqlite":
        made = SqliteBackend(str(tmp_path / "kv.db"))
    else:
        made = RedisBackend(request.getfixturevalue("redis_url"))
    yield made
    made.close()


def probe(built: Callable[[str], Path], backend: Backend, target: str, *args: str) -> List[Dict[str, Any]]:
    harness = Harness(StoreRegistry().add("default", backend), batch="native")
    result = harness.run_command(built(target), ["default", *args], capture=True)
    assert result.exit_code == 0, result.stdout + result.stderr
    return [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]


@pytest.mark.parametrize("backend", BACKENDS, indirect=True)
@pytest.mark.parametrize("target", ["probe", "probe-draft"])
def test_list_keys_cursor_lists_a_large_bucket_once_each_in_pages(built: Callable[[str], Path], backend: Backend,
                                                                  target: str) -> None:
    [listing] = probe(built, backend, target, "list", "2500")
    observed = listing["observed"]
    assert observed["written"] == observed["listed"] == observed["distinct"] == 2500
    assert observed["missing"] == 0
    assert observed["pages"] >= 3  # the harness pages at 1,000 keys


@pytest.mark.parametrize("backend", BACKENDS, indirect=True)
def test_a_swap_fails_with_cas_failed_after_another_write_and_succeeds_on_retry(built: Callable[[str], Path],
                                                                               backend: Backend) -> None:
    steps = {s["step"]: s for s in probe(built, backend, "probe", "cas", "probe:cas")}
    assert steps["cas current"]["observed"] == "v0"
    assert steps["cas swap after intervening write"]["ok"] is False
    assert steps["cas swap after intervening write"]["error"] == "cas-failed"
    assert steps["cas current on retry"]["observed"] == "intruder"
    assert steps["cas retry swap"]["ok"]
    assert steps["cas final value"]["observed"] == "mine"
    assert backend.get("default", "probe:cas") == b"mine"


@pytest.mark.parametrize("backend", [pytest.param("redis", marks=pytest.mark.redis)], indirect=True)
def test_the_probe_batch_scenarios_all_succeed_on_redis(built: Callable[[str], Path], backend: Backend) -> None:
    steps = probe(built, backend, "probe")
    assert all(step["ok"] for step in steps), steps
    by_name = {s["step"]: s["observed"] for s in steps}
    assert by_name["get-many present, missing and duplicate keys"] == ["1", None, "3", "1", "2"]
    assert by_name["increment twice"] == [5, 10]
