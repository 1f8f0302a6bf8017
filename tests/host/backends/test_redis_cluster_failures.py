"""A node failing mid-batch on a real Redis Cluster: per-key truth in the event log, and the
library's report against what the cluster holds afterwards.

* a master paused (SIGSTOP) past the client timeout: its keys are in doubt (`applied: null`,
  reported `unknown`), the other masters' keys are exact; resumed, every key holds its old or
  its new value and every `succeeded` key its new one;
* a master killed (SIGKILL) in the middle of a `set-many` of 3,000 keys, its replica promoted:
  after the failover, 0 keys are misreported;
* a replica paused: its master's writes, not confirmed by `WAIT`, are in doubt, not applied.
"""

from __future__ import annotations

import threading
import time
from typing import Any, Dict, Iterator, List, Optional, Tuple

import pytest

import kvbatch
from kvbatch_host import faults
from kvbatch_host.backends.redis_cluster import ClusterBatchError, RedisClusterBackend
from kvbatch_host import EventLog
from kvbatch_host import HarnessBucket
from kvbatch_host import Harness
from kvbatch_host import StoreRegistry

pytestmark = pytest.mark.redis

PAUSE_TIMEOUT_S = 0.25
"""The client timeout in the pause tests (`?timeout=`): a paused master costs this per command."""


def library_over(backend: RedisClusterBackend, retry: kvbatch.RetryPolicy) -> Tuple[kvbatch.Bucket, EventLog]:
    """The guest library on the host, over host-native batch on `backend`, every operation logged."""
    registry = StoreRegistry().add("default", backend)
    events = EventLog()
    faults.install(registry, None, events)
    harness = Harness(registry, batch="native")
    return kvbatch.Bucket(HarnessBucket(harness), retry=retry), events


def misreported(result: kvbatch.BatchResult, new: Dict[str, bytes], old: Dict[str, bytes],
                held: Dict[str, Optional[bytes]]) -> List[str]:
    """Keys whose reported outcome the store contradicts (with the reason)."""
    wrong = []
    for key in result.succeeded:
        if held[key] != new[key]:
            wrong.append(f"{key}: succeeded, holds {held[key]!r}")
    for key in (*result.failed, *result.not_attempted):
        if held[key] != old.get(key):
            wrong.append(f"{key}: {result.outcome(key)}, holds {held[key]!r} (old {old.get(key)!r})")
    for key in result.unknown:
        if held[key] not in (old.get(key), new[key]):
            wrong.append(f"{key}: unknown, holds a third value {held[key]!r}")
    return wrong


# -- a master paused past the client timeout --------------------------------------------------------


@pytest.fixture
def paused_setup(redis_cluster: Any, namespace: str) -> Iterator[Tuple[Any, RedisClusterBackend, Any]]:
    """A backend with a short client timeout, and the master it will find paused (resumed after,
    whatever happens, and the cluster healthy again)."""
    url = f"{redis_cluster.url}?namespace={namespace}&timeout={PAUSE_TIMEOUT_S}"
    backend = RedisClusterBackend(url)
    master = redis_cluster.masters()[1]
    try:
        yield redis_cluster, backend, master
    finally:
        master.resume()
        redis_cluster.wait_healthy()
        backend.close()


def test_a_paused_master_leaves_its_keys_in_doubt_in_the_event_log_and_the_rest_applied(paused_setup: Any) -> None:
    cluster, backend, master = paused_setup
    keys = [f"k{i:03d}" for i in range(150)]
    owners = cluster.slot_owners()
    on_paused = {key for key in keys if owners[backend.slot("default", key)] == master.port}
    assert 20 < len(on_paused) < 130
    events = EventLog()
    layer = faults.FaultLayer(backend, events=events)
    backend.get_many("default", keys)  # connections open: the paused master is sent the MSET (a new
    master.pause()                     # connection would fail before sending: refused, applied false)
    started = time.monotonic()
    with pytest.raises(ClusterBatchError) as caught:
        layer.set_many("default", [(key, b"new") for key in keys])
    took = time.monotonic() - started
    applied = {e.key: e.applied for e in events if e.op == "set"}
    assert applied == {key: (None if key in on_paused else True) for key in keys}
    assert f"{len(on_paused)} of 150 keys failed ({len(on_paused)} in doubt" in caught.value.message
    assert took < 10 * PAUSE_TIMEOUT_S + 2, "the other masters were answered while the paused one timed out"
    master.resume()
    cluster.wait_healthy()
    held = dict(zip(keys, backend.get_many("default", keys)))
    assert all(held[key] == b"new" for key in keys if key not in on_paused)
    assert all(held[key] in (None, b"new") for key in on_paused)


def test_a_paused_master_makes_the_library_report_its_keys_unknown_and_the_others_exact(paused_setup: Any) -> None:
    cluster, backend, master = paused_setup
    keys = [f"user:{i:02d}" for i in range(30)]
    old = {key: b"old" for key in keys[::2]}
    backend.set_many("default", list(old.items()))
    new = {key: b"new-" + key.encode() for key in keys}
    owners = cluster.slot_owners()
    on_paused = {key for key in keys if owners[backend.slot("default", key)] == master.port}
    assert 3 <= len(on_paused) <= 20
    bucket, events = library_over(backend, kvbatch.NO_RETRY)
    master.pause()
    result = bucket.set_many(new)
    assert set(result.unknown) == on_paused, "the paused master's keys are unknown, never guessed"
    assert set(result.succeeded) == set(keys) - on_paused
    assert not result.failed and not result.not_attempted
    master.resume()
    cluster.wait_healthy()
    held = dict(zip(keys, backend.get_many("default", keys)))
    assert misreported(result, new, old, held) == []


# -- a master killed mid set-many, its replica promoted ----------------------------------------------


KILL_KEYS = 3000


@pytest.mark.parametrize("ride_out", [True, False], ids=["retries-ride-out-the-failover", "no-retries"])
def test_a_master_killed_mid_set_many_is_reported_exactly_after_failover(redis_cluster_replicated: Any,
                                                                         namespace: str, ride_out: bool) -> None:
    cluster = redis_cluster_replicated
    backend = RedisClusterBackend(f"{cluster.url}?namespace={namespace}")
    victim = cluster.masters()[0]
    slot = next(s for s, port in cluster.slot_owners().items() if port == victim.port)
    keys = [f"user:{i:05d}" for i in range(KILL_KEYS)]
    old = {key: b"old" for key in keys[::3]}
    new = {key: b"new-%05d" % i for i, key in enumerate(keys)}
    killer: Optional[threading.Thread] = None
    try:
        backend.set_many("default", list(old.items()))
        # Retries ride out the failover (~1 s node timeout, then the replica's election); without
        # them the dead shard's keys are settled while it is down.
        retry = (kvbatch.RetryPolicy(attempts=12, base_delay=0.2, max_delay=1.0, jitter=0.0, budget=60.0)
                 if ride_out else kvbatch.NO_RETRY)
        bucket, events = library_over(backend, retry)

        def kill_soon(progress: kvbatch.Progress) -> None:
            nonlocal killer
            if killer is None and progress.done >= KILL_KEYS // 3:
                killer = threading.Thread(target=victim.kill)  # lands while the next chunks are in flight
                killer.start()

        result = bucket.set_many(new, progress=kill_soon)
        assert killer is not None
        killer.join()
        promoted = cluster.wait_failover(victim, slot)
        assert promoted.port != victim.port
        fresh = RedisClusterBackend(f"{cluster.url}?namespace={namespace}")
        held = dict(zip(keys, fresh.get_many("default", keys)))
        fresh.close()

        wrong = misreported(result, new, old, held)
        assert wrong == [], f"{len(wrong)} misreported: {wrong[:5]}"
        assert result.total == KILL_KEYS
        if ride_out:
            assert result.all_succeeded, f"{len(result.unknown)} unknown, {len(result.failed)} failed"
        else:
            assert len(result.succeeded) < KILL_KEYS, "no key of the dead shard can succeed before its failover"
        writes = [e for e in events if e.op == "set" and e.key is not None]
        by_applied = {flag: sum(1 for e in writes if e.applied is flag) for flag in (True, False, None)}
        assert by_applied[False] + by_applied[None] > 0, "the kill landed after the batch: nothing failed"
        for key in keys:
            key_writes = [e for e in writes if e.key == key]
            if key_writes and all(e.applied is False for e in key_writes):
                assert held[key] == old.get(key), f"{key}: the log says never applied, the cluster holds {held[key]!r}"
        print(f"\nSIGKILL mid set-many of {KILL_KEYS} ({'retries' if ride_out else 'no retries'}): {len(result.succeeded)} succeeded, {len(result.failed)} failed, "
              f"{len(result.unknown)} unknown, {result.stats.retries} retries; set events applied "
              f"true {by_applied[True]}, false {by_applied[False]}, null {by_applied[None]}; 0 misreported")
    finally:
        if killer is not None:
            killer.join()
        if victim.pid is None:
            cluster.restart(victim)  # rejoins as a replica of the promoted node
        backend.close()


# -- a replica that does not confirm a write -------------------------------------------------------


def test_a_write_its_masters_replica_did_not_confirm_is_in_doubt_not_applied(redis_cluster_replicated: Any,
                                                                            namespace: str) -> None:
    """Redis replicates asynchronously: a master acknowledges a write its replica may never get,
    and a failover then drops it. The backend asks each master to WAIT for its replicas; with one
    replica paused, its master's keys are in doubt (`applied` None), the others' applied."""
    import redis as redis_py

    cluster = redis_cluster_replicated
    backend = RedisClusterBackend(f"{cluster.url}?namespace={namespace}&timeout={PAUSE_TIMEOUT_S * 2}")
    replica = cluster.node(next(port for port, role in cluster.roles().items() if role != "master"))
    with redis_py.Redis(host="127.0.0.1", port=replica.port) as client:
        master_port = int(client.execute_command("ROLE")[2])
    with redis_py.Redis(host="127.0.0.1", port=master_port) as client:  # (a replica restarted by a failover test syncs first)
        deadline = time.monotonic() + 20
        while not any(int(r[1]) == replica.port for r in client.execute_command("ROLE")[2]):
            assert time.monotonic() < deadline, "the replica never connected to its master"
            time.sleep(0.1)
    keys = [f"user:{i:04d}" for i in range(300)]
    owners = cluster.slot_owners()
    on_master = {key for key in keys if owners[backend.slot("default", key)] == master_port}
    assert on_master and len(on_master) < len(keys)
    replica.pause()
    try:
        with pytest.raises(ClusterBatchError) as raised:
            backend.set_many("default", [(key, b"new") for key in keys])
    finally:
        replica.resume()
        backend.close()
    applied = raised.value.applied_by_key
    assert {key for key, flag in applied.items() if flag is None} == on_master
    assert {key for key, flag in applied.items() if flag is True} == set(keys) - on_master
    assert "replica(s) confirmed it" in str(raised.value)
