"""Streaming: `iter_get_many` and `iter_set_many` yield a result per chunk as it completes, hold at
most one chunk, take their input lazily, and send nothing more once the loop stops."""

from __future__ import annotations

import gc
import tracemalloc
from typing import Iterator, List, Optional, Sequence, Tuple

import pytest

import kvbatch
from kvbatch.testing import FaultyBucket, MemoryBucket

NO_RETRY = kvbatch.RetryPolicy(attempts=1)


class Generated:
    """A `RawBucket` whose every key holds `size` bytes made up on demand: a store of any size
    that itself holds nothing. It records how far its reader got ahead of it."""

    name = "generated"
    has_native_batch = True

    def __init__(self, size: int) -> None:
        self.size = size
        self.answered = 0

    def get_many(self, keys: Sequence[str]) -> List[Optional[bytes]]:
        self.answered += len(keys)
        return [key.encode().ljust(self.size, b".") for key in keys]

    def get(self, key: str) -> Optional[bytes]:
        return self.get_many([key])[0]

    def set(self, key: str, value: bytes) -> None: ...
    def delete(self, key: str) -> None: ...
    def exists(self, key: str) -> bool: return True
    def set_many(self, items: Sequence[Tuple[str, bytes]]) -> None: ...
    def delete_many(self, keys: Sequence[str]) -> None: ...


class Counting:
    """A key or item source that counts what has been taken from it."""

    def __init__(self, count: int, value_size: int = 0) -> None:
        self.count, self.value_size, self.taken = count, value_size, 0

    def keys(self) -> Iterator[str]:
        for i in range(self.count):
            self.taken += 1
            yield f"key:{i:07d}"

    def items(self) -> Iterator[Tuple[str, bytes]]:
        for key in self.keys():
            yield key, key.encode().ljust(self.value_size, b"-")


def test_iter_get_many_yields_one_result_per_chunk_in_input_order():
    store = MemoryBucket({f"k{i}": b"%d" % i for i in range(5)})
    chunks = list(kvbatch.Bucket(store).iter_get_many([f"k{i}" for i in range(6)], chunk_size=2))
    assert [c.order for c in chunks] == [("k0", "k1"), ("k2", "k3"), ("k4", "k5")]
    assert chunks[2].values == {"k4": b"4"} and chunks[2].missing == ("k5",)


def test_iter_get_many_takes_keys_lazily_one_chunk_ahead_at_most():
    raw, source = Generated(10), Counting(1000)
    for result in kvbatch.Bucket(raw).iter_get_many(source.keys(), chunk_size=50):
        assert source.taken == raw.answered  # every key taken so far was read, and no more were taken
        assert result.total == 50


def test_nothing_is_sent_before_the_first_next_and_nothing_after_a_break():
    store = MemoryBucket({f"k{i}": b"v" for i in range(10)})
    stream = kvbatch.Bucket(store).iter_get_many([f"k{i}" for i in range(10)], chunk_size=3)
    assert store.calls == []
    for _ in stream:
        break
    assert store.count("get_many") == 1 and len(store.calls) == 1
    stream.close()
    assert list(stream) == []  # a closed stream stays closed
    assert len(store.calls) == 1


def test_a_large_read_is_held_one_chunk_at_a_time():
    # 20,000 keys of 4 KiB: 80 MiB if every value were held at once; one chunk of 100 is 400 KiB.
    raw, source = Generated(4096), Counting(20_000)
    found = 0
    gc.collect()
    tracemalloc.start()
    try:
        for result in kvbatch.Bucket(raw).iter_get_many(source.keys(), chunk_size=100):
            found += len(result.values)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert found == 20_000
    assert peak < 8 * 1024 * 1024, f"peak {peak} bytes: the stream held more than a few chunks"


def test_iter_get_many_is_not_bound_by_max_keys_per_call():
    raw = Generated(1)
    chunks = kvbatch.Bucket(raw, max_keys_per_call=10).iter_get_many(Counting(100).keys(), chunk_size=10)
    assert sum(c.total for c in chunks) == 100


def test_a_bad_key_raises_naming_its_position_in_the_whole_stream_after_earlier_chunks_were_read():
    store = MemoryBucket()
    stream = kvbatch.Bucket(store).iter_get_many(["a", "b", "c", ""], chunk_size=2)
    assert next(stream).order == ("a", "b")
    with pytest.raises(kvbatch.ValidationError, match="item 3: empty key"):
        next(stream)


def test_a_lone_string_is_refused_at_once():
    with pytest.raises(kvbatch.ValidationError, match="not a single str"):
        kvbatch.Bucket(MemoryBucket()).iter_get_many("abc")


def test_on_error_indices_count_over_the_whole_stream():
    faulty = FaultyBucket(MemoryBucket()).fail("*", key="k4", times=None)
    calls: List[Tuple[str, int]] = []
    list(kvbatch.Bucket(faulty, retry=NO_RETRY).iter_get_many([f"k{i}" for i in range(6)], chunk_size=2,
                                                               on_error=lambda k, i, e: calls.append((k, i))))
    assert calls == [("k4", 4)]


def test_stop_on_error_ends_the_read_stream_after_the_first_chunk_with_a_failure():
    faulty = FaultyBucket(MemoryBucket()).fail("*", key="k2", times=None)
    chunks = list(kvbatch.Bucket(faulty, retry=NO_RETRY).iter_get_many([f"k{i}" for i in range(6)], chunk_size=2,
                                                                        stop_on_error=True))
    assert len(chunks) == 2 and list(chunks[1].failed) == ["k2"]


def test_iter_set_many_writes_a_generator_and_yields_each_chunks_outcomes_in_order():
    store = MemoryBucket()
    results = list(kvbatch.Bucket(store).iter_set_many(Counting(5).items(), chunk_size=2))
    assert [r.order for r in results] == [("key:0000000", "key:0000001"), ("key:0000002", "key:0000003"),
                                          ("key:0000004",)]
    assert len(store.data) == 5 and all(r.all_succeeded for r in results)


class Watching(MemoryBucket):
    """A memory bucket that checks, at every write, how many items the source got ahead of it."""

    def __init__(self, source: Counting) -> None:
        super().__init__()
        self.source, self.written, self.most_ahead = source, 0, 0

    def set_many(self, items: Sequence[Tuple[str, bytes]]) -> None:
        super().set_many(items)
        self.written += len(items)
        self.most_ahead = max(self.most_ahead, self.source.taken - self.written)


def test_iter_set_many_buffers_at_most_one_chunk_of_a_generator():
    source = Counting(10_000, value_size=16)
    store = Watching(source)
    for result in kvbatch.Bucket(store).iter_set_many(source.items(), chunk_size=100):
        assert result.all_succeeded
    assert store.written == 10_000
    assert store.most_ahead <= 1  # never more than the item that did not fit in the chunk just written


def test_iter_set_many_cuts_a_chunk_before_an_item_that_would_pass_chunk_bytes():
    store = MemoryBucket()
    items = [(f"k{i}", b"x" * 40) for i in range(5)]  # 42 bytes each with the key
    results = list(kvbatch.Bucket(store).iter_set_many(items, chunk_size=10, chunk_bytes=100))
    assert [r.total for r in results] == [2, 2, 1]


def test_a_key_written_in_two_chunks_ends_with_its_last_value():
    store = MemoryBucket()
    list(kvbatch.Bucket(store).iter_set_many([("a", b"1"), ("b", b"2"), ("a", b"3")], chunk_size=2))
    assert store.data == {"a": b"3", "b": b"2"}


def test_breaking_out_of_iter_set_many_takes_and_sends_nothing_more():
    source = Counting(100)
    store = MemoryBucket()
    for _ in kvbatch.Bucket(store).iter_set_many(source.items(), chunk_size=10):
        break
    assert len(store.data) == 10 and source.taken == 10


def test_iter_set_many_with_only_if_absent_leaves_existing_keys():
    store = MemoryBucket({"b": b"old"})
    results = list(kvbatch.Bucket(store).iter_set_many({"a": b"1", "b": b"2"}, only_if="absent", chunk_size=1))
    assert [dict(r.failed) for r in results] == [{}, {"b": kvbatch.KeyExists("b")}]
    assert store.data == {"a": b"1", "b": b"old"}


def test_iter_set_many_refuses_only_if_without_cas_before_taking_anything():
    source = Counting(3)
    with pytest.raises(kvbatch.Unsupported):
        kvbatch.Bucket(MemoryBucket(cas=False)).iter_set_many(source.items(), only_if="present")
    assert source.taken == 0


def test_a_bad_item_raises_naming_its_position_after_earlier_chunks_were_written():
    store = MemoryBucket()
    stream = kvbatch.Bucket(store).iter_set_many([("a", b"1"), ("b", b"2"), ("c", "text")], chunk_size=2)
    next(stream)
    with pytest.raises(kvbatch.ValidationError, match="item 2: value for key 'c' is str"):
        next(stream)
    assert store.data == {"a": b"1", "b": b"2"}


def test_on_error_indices_of_iter_set_many_count_over_every_item():
    faulty = FaultyBucket(MemoryBucket()).fail("set_many", times=None).fail("set", key="k3", times=None)
    calls: List[Tuple[str, int]] = []
    list(kvbatch.Bucket(faulty, retry=NO_RETRY).iter_set_many([(f"k{i}", b"v") for i in range(5)], chunk_size=2,
                                                               on_error=lambda k, i, e: calls.append((k, i))))
    assert calls == [("k3", 3)]


def test_stop_on_error_ends_the_write_stream_after_the_first_chunk_that_did_not_fully_succeed():
    faulty = FaultyBucket(MemoryBucket()).fail("set_many", times=None).fail("set", key="k1", times=None)
    results = list(kvbatch.Bucket(faulty, retry=NO_RETRY).iter_set_many(
        ((f"k{i}", b"v") for i in range(6)), chunk_size=2, stop_on_error=True))
    assert len(results) == 1 and list(results[0].failed) == ["k1"]
    assert faulty.counts["set_many"] == 1


@pytest.mark.parametrize("position", range(6))
def test_an_opaque_fault_at_every_position_of_a_write_stream_is_attributed_exactly(position):
    store = MemoryBucket()
    bad = f"k{position}"
    faulty = FaultyBucket(store).fail("set_many", times=None, key=bad).fail("set", key=bad, times=None)
    results = list(kvbatch.Bucket(faulty, retry=NO_RETRY).iter_set_many(
        ((f"k{i}", b"v%d" % i) for i in range(6)), chunk_size=3))
    outcomes = {k: s for r in results for k, s in r.outcomes().items()}
    assert [k for k, s in outcomes.items() if s != "succeeded"] == [bad]
    assert store.data == {f"k{i}": b"v%d" % i for i in range(6) if i != position}


@pytest.mark.parametrize("position", range(6))
def test_a_read_fault_at_every_position_of_a_read_stream_fails_only_that_key(position):
    store = MemoryBucket({f"k{i}": b"v%d" % i for i in range(6)})
    bad = f"k{position}"
    faulty = FaultyBucket(store).fail("*", key=bad, times=None)
    results = list(kvbatch.Bucket(faulty, retry=NO_RETRY).iter_get_many((f"k{i}" for i in range(6)), chunk_size=4))
    assert [k for r in results for k in r.failed] == [bad]
    assert {k: v for r in results for k, v in r.values.items()} == {k: v for k, v in store.data.items() if k != bad}


def test_a_capability_error_ends_a_write_stream_with_the_chunks_partial_result():
    faulty = FaultyBucket(MemoryBucket()).fail("set_many", call=2, error=kvbatch.AccessDenied("s"))
    stream = kvbatch.Bucket(faulty).iter_set_many(((f"k{i}", b"v") for i in range(6)), chunk_size=2)
    assert next(stream).all_succeeded
    with pytest.raises(kvbatch.AccessDenied) as caught:
        next(stream)
    assert caught.value.partial.unknown == ("k2", "k3")


# -- every item taken from the caller's iterator is accounted for, on every exit path -------------

CUT = {"chunk_size": 10, "chunk_bytes": 100}  # items of 42 bytes: two a chunk, the third taken and held


def sized(count: int, prefix: str = "k") -> Iterator[Tuple[str, bytes]]:
    return ((f"{prefix}{i}", b"x" * 40) for i in range(count))


def test_after_a_break_the_stream_exposes_the_item_it_took_that_did_not_fit():
    store = MemoryBucket()
    stream = kvbatch.Bucket(store).iter_set_many(sized(5), **CUT)
    for result in stream:
        break
    assert result.order == ("k0", "k1") and "k2" not in store.data
    assert stream.unsent == (("k2", b"x" * 40),)


def test_a_stream_runs_with_nothing_unsent_once_it_is_exhausted():
    stream = kvbatch.Bucket(MemoryBucket()).iter_set_many(sized(5), **CUT)
    assert [r.total for r in stream] == [2, 2, 1] and stream.unsent == ()


def test_a_closed_stream_sends_nothing_more_and_keeps_what_it_took():
    store = MemoryBucket()
    stream = kvbatch.Bucket(store).iter_set_many(sized(5), **CUT)
    next(stream)
    stream.close()
    with pytest.raises(StopIteration):
        next(stream)
    assert sorted(store.data) == ["k0", "k1"] and [k for k, _ in stream.unsent] == ["k2"]


def test_stop_on_error_reports_the_item_taken_for_the_next_chunk_as_not_attempted():
    faulty = FaultyBucket(MemoryBucket()).fail("set_many", times=None).fail("set", key="k1", times=None)
    stream = kvbatch.Bucket(faulty, retry=NO_RETRY).iter_set_many(sized(5), stop_on_error=True, **CUT)
    results = list(stream)
    assert len(results) == 1 and results[0].outcomes() == {"k0": "succeeded", "k1": "failed", "k2": "not_attempted"}
    assert [k for k, _ in stream.unsent] == ["k2"]


def test_stop_on_error_reports_a_held_later_value_of_a_written_key_with_the_earlier_outcome():
    faulty = FaultyBucket(MemoryBucket()).fail("set_many", times=None).fail("set", key="k1", times=None)
    items = [("k0", b"x" * 40), ("k1", b"x" * 40), ("k1", b"y" * 40)]
    (result,) = list(kvbatch.Bucket(faulty, retry=NO_RETRY).iter_set_many(items, stop_on_error=True, **CUT))
    assert result.outcomes() == {"k0": "succeeded", "k1": "not_attempted"}
    assert result.earlier.outcome("k1") == "failed" and "k1" in result.duplicates


def test_a_capability_error_reports_the_item_taken_for_the_next_chunk_as_not_attempted():
    faulty = FaultyBucket(MemoryBucket()).fail("set_many", error=kvbatch.AccessDenied("s"))
    stream = kvbatch.Bucket(faulty).iter_set_many(sized(5), **CUT)
    with pytest.raises(kvbatch.AccessDenied) as caught:
        next(stream)
    assert caught.value.partial.outcomes() == {"k0": "unknown", "k1": "unknown", "k2": "not_attempted"}
    assert [k for k, _ in stream.unsent] == ["k2"]


def test_a_bad_item_reports_the_items_taken_for_its_chunk_as_not_attempted():
    store = MemoryBucket()
    items = [("k0", b"x" * 40), ("k1", b"x" * 40), ("k2", b"x" * 40), ("k3", b"x"), ("k4", "text")]
    stream = kvbatch.Bucket(store).iter_set_many(items, **CUT)
    next(stream)
    with pytest.raises(kvbatch.ValidationError, match="item 4") as caught:
        next(stream)
    assert caught.value.partial.outcomes() == {"k2": "not_attempted", "k3": "not_attempted"}
    assert [k for k, _ in stream.unsent] == ["k2", "k3"] and sorted(store.data) == ["k0", "k1"]


def test_an_error_from_the_callers_iterator_reports_the_items_taken_for_its_chunk():
    def items() -> Iterator[Tuple[str, bytes]]:
        yield "k0", b"v"
        yield "k1", b"v"
        raise OSError("the source went away")

    stream = kvbatch.Bucket(MemoryBucket()).iter_set_many(items(), chunk_size=5)
    with pytest.raises(OSError) as caught:
        next(stream)
    assert caught.value.partial.not_attempted == ("k0", "k1")  # type: ignore[attr-defined]
