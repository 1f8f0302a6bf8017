"""Retry with exponential backoff and jitter, bounded by attempts and by a time budget.

Sleeping is injected: a fake clock advances by each requested sleep, so nothing waits.
"""

from __future__ import annotations

import random
from typing import List

import pytest

import kvbatch
from kvbatch.testing import FaultyBucket, MemoryBucket

ITEMS = {f"k{i}": f"v{i}".encode() for i in range(4)}


class FakeTime:
    """A clock that only moves when `sleep` is called; records every sleep."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: List[float] = []

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    def clock(self) -> float:
        return self.now


def fail_writes(faulty: FaultyBucket, key: str, **options: object) -> FaultyBucket:
    """Makes every `set-many` naming `key`, and every single `set` of it, fail (reads still work)."""
    return faulty.fail("set_many", key=key, times=None, **options).fail("set", key=key, times=None, **options)  # type: ignore[arg-type]


def policy(fake: FakeTime, **options: object) -> kvbatch.RetryPolicy:
    options.setdefault("jitter", 0.0)
    return kvbatch.RetryPolicy(sleep=fake.sleep, clock=fake.clock, **options)  # type: ignore[arg-type]


def test_retries_that_eventually_succeed_report_success():
    fake = FakeTime()
    store = MemoryBucket()
    faulty = FaultyBucket(store).fail("*", key="k1", times=3)  # batch, then 2 single sets fail
    result = kvbatch.Bucket(faulty, retry=policy(fake, attempts=3, base_delay=0.1)).set_many(ITEMS)
    assert result.all_succeeded and store.data == ITEMS
    assert fake.sleeps == [0.1, 0.2]
    assert result.stats.retries == 2


def test_retries_that_exhaust_report_the_last_error():
    fake = FakeTime()
    faulty = fail_writes(FaultyBucket(MemoryBucket()), "k1", error=kvbatch.StoreError("still down"))
    result = kvbatch.Bucket(faulty, retry=policy(fake, attempts=4, base_delay=0.1)).set_many(ITEMS)
    assert result.failed == {"k1": kvbatch.StoreError("still down")}
    assert fake.sleeps == [0.1, 0.2, 0.4]
    assert faulty.counts["set"] == 4 + 3  # attribution of the first chunk, then k1 alone three more times


def test_only_keys_that_did_not_succeed_are_retried():
    fake = FakeTime()
    faulty = FaultyBucket(MemoryBucket()).fail("set", key="k1", times=1).fail("set", key="k2", times=1)
    faulty.fail("set_many", call=1)
    kvbatch.Bucket(faulty, retry=policy(fake, attempts=2)).set_many(ITEMS)
    retried = [keys for op, _, keys, _ in faulty.log][1 + len(ITEMS):]
    assert retried == [("k1", "k2")]  # one batch call with just the two keys


def test_backoff_doubles_up_to_max_delay():
    retry = kvbatch.RetryPolicy(base_delay=0.5, max_delay=3.0, jitter=0.0)
    assert [retry.delay(n) for n in range(1, 6)] == [0.5, 1.0, 2.0, 3.0, 3.0]


def test_jitter_shortens_each_delay_by_at_most_its_fraction():
    retry = kvbatch.RetryPolicy(base_delay=1.0, max_delay=100.0, jitter=0.25, rng=random.Random(7))
    delays = [retry.delay(3) for _ in range(200)]
    assert all(3.0 <= d <= 4.0 for d in delays)
    assert len(set(delays)) > 100  # actually random


def test_full_jitter_spans_zero_to_the_full_delay():
    retry = kvbatch.RetryPolicy(base_delay=1.0, jitter=1.0, rng=random.Random(3))
    delays = [retry.delay(1) for _ in range(500)]
    assert min(delays) < 0.1 and max(delays) > 0.9 and all(0 <= d <= 1.0 for d in delays)


def test_time_budget_stops_retrying_before_attempts_run_out():
    fake = FakeTime()
    faulty = fail_writes(FaultyBucket(MemoryBucket()), "k1")
    retry = policy(fake, attempts=10, base_delay=1.0, max_delay=100.0, budget=4.0)
    result = kvbatch.Bucket(faulty, retry=retry).set_many(ITEMS)
    assert fake.sleeps == [1.0, 2.0]  # the next delay (4 s) would end at 7 s > 4 s
    assert list(result.failed) == ["k1"]


def test_budget_is_shared_by_all_chunks_of_one_operation():
    fake = FakeTime()
    faulty = FaultyBucket(MemoryBucket()).fail("*", key="k0", times=None).fail("*", key="k3", times=None)
    retry = policy(fake, attempts=5, base_delay=1.0, budget=3.5)
    kvbatch.Bucket(faulty, chunk_size=2, retry=retry).set_many(ITEMS)
    assert fake.sleeps == [1.0, 2.0]  # all spent on the first chunk; the second gets no retry


def test_capability_errors_are_never_retried():
    fake = FakeTime()
    faulty = FaultyBucket(MemoryBucket()).fail("set_many", error=kvbatch.AccessDenied("s"), times=None)
    with pytest.raises(kvbatch.AccessDenied):
        kvbatch.Bucket(faulty, retry=policy(fake, attempts=5)).set_many(ITEMS)
    assert fake.sleeps == [] and faulty.counts["set_many"] == 1


def test_retry_on_decides_which_errors_are_transient():
    fake = FakeTime()
    faulty = fail_writes(FaultyBucket(MemoryBucket()), "k1", error=kvbatch.StoreError("bad value"))
    retry = policy(fake, attempts=5, retry_on=lambda e: "timeout" in str(e))
    result = kvbatch.Bucket(faulty, retry=retry).set_many(ITEMS)
    assert list(result.failed) == ["k1"] and fake.sleeps == []


def test_no_retry_tries_once():
    faulty = FaultyBucket(MemoryBucket()).fail("*", key="k1", times=None)
    kvbatch.Bucket(faulty, retry=kvbatch.NO_RETRY).set_many(ITEMS)
    assert faulty.counts["set"] == len(ITEMS)


def test_retry_can_be_given_per_call():
    fake = FakeTime()
    faulty = FaultyBucket(MemoryBucket()).fail("*", key="k1", times=None)
    bucket = kvbatch.Bucket(faulty, retry=kvbatch.NO_RETRY)
    bucket.set_many(ITEMS, retry=policy(fake, attempts=2, base_delay=0.3))
    assert fake.sleeps == [0.3]


@pytest.mark.parametrize("options, message", [
    (dict(attempts=0), "attempts must be an int >= 1"),
    (dict(base_delay=-1), "base_delay must be >= 0"),
    (dict(jitter=1.5), "jitter must be between 0 and 1"),
    (dict(budget=-1), "budget must be >= 0"),
])
def test_invalid_retry_policy_is_rejected(options, message):
    with pytest.raises(ValueError, match=message):
        kvbatch.RetryPolicy(**options)  # type: ignore[arg-type]


def test_elapsed_includes_the_time_slept_between_retries():
    fake = FakeTime()
    faulty = fail_writes(FaultyBucket(MemoryBucket()), "k1")
    bucket = kvbatch.Bucket(faulty, retry=policy(fake, attempts=3, base_delay=0.5), clock=fake.clock)
    result = bucket.set_many(ITEMS)
    assert result.stats.elapsed == sum(fake.sleeps) == 1.5
    assert bucket.stats.elapsed == 1.5
