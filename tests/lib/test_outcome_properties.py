"""The outcome rules under random faults and racing writers, checked against a ledger of who wrote what.

Hypothesis drives conditional writes (`set_many(only_if=...)`, the builder's `insert`/`update`),
create-only copies (`copy_many(overwrite=False)`), write streams (`iter_set_many`, plain and
conditional) and the buffered writer through a `FaultyBucket` whose faults include swaps that
err after writing (in doubt), swaps and casts that err without writing, read-backs that fail,
and racing writers that write the **same** value as the library, a different one, or delete.
The store underneath is a `Ledger`: it remembers, for every key, whose write it holds.

The rules checked (the documentation's "Outcomes" page states them):

* a conditional write is `succeeded` only if its own swap answered ok and the key holds that
  write; it is `failed` only if the key does not hold a write of ours; `unknown` only if one of
  its swaps answered an error;
* a plain write (stream, writer) `succeeded` holds its new state, `failed`/`not_attempted` the
  state before it was sent, `unknown` one of the two;
* every item taken from a stream's iterator, and every key given to a writer, is answered;
  a discarded write never hides an earlier one that landed (`earlier`).

CI runs the default (`ci`) profile; the long form is one command:
`./dev.sh test tests/lib/test_outcome_properties.py --hypothesis-profile=long` (10,000 examples a test).
"""

from __future__ import annotations

from typing import Dict, List, Optional, Set, Tuple

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import kvbatch
from kvbatch.testing import FaultyBucket, MemoryBucket, MemoryCas

KEYS = [f"k{i}" for i in range(5)]
MINE = b"mine"
THEIRS = b"theirs"
OLD = b"old"
PROPERTY = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])


class LedgerCas(MemoryCas):
    def swap(self, value: bytes) -> bool:
        ok = super().swap(value)
        if ok:
            self.bucket.by[self.key] = "ours"  # type: ignore[attr-defined]
        return ok


class Ledger(MemoryBucket):
    """A memory store that remembers whose write each key holds: `ours` (the library), `theirs`
    (a racing writer) or absent (the initial state)."""

    def __init__(self, data: Dict[str, bytes]) -> None:
        super().__init__(data)
        self.by: Dict[str, str] = {}

    def cas(self, key: str) -> LedgerCas:
        self._log("cas", key)
        return LedgerCas(self, key)

    def set(self, key: str, value: bytes) -> None:
        super().set(key, value)
        self.by[key] = "ours"

    def set_many(self, items) -> None:  # type: ignore[no-untyped-def,override]
        super().set_many(items)
        self.by.update((key, "ours") for key, _ in items)

    def race(self, key: str, value: Optional[bytes]) -> None:
        """Another writer's write (`None`: its delete)."""
        if value is None:
            self.data.pop(key, None)
        else:
            self.data[key] = value
        self.by[key] = "theirs"


class Observed:
    """A `RawBucket` over a `FaultyBucket` that records what each compare-and-swap answered the library."""

    def __init__(self, inner: FaultyBucket) -> None:
        self.inner = inner
        self.name = inner.name
        self.has_native_batch = inner.has_native_batch
        self.has_cas = True
        self.answered_ok: Set[str] = set()
        self.erred: Set[str] = set()

    def __getattr__(self, name: str):  # type: ignore[no-untyped-def]
        return getattr(self.inner, name)

    def cas(self, key: str) -> "ObservedCas":
        return ObservedCas(self, key, self.inner.cas(key))


class ObservedCas:
    def __init__(self, owner: Observed, key: str, inner) -> None:  # type: ignore[no-untyped-def]
        self.owner, self.key, self.inner = owner, key, inner

    def current(self) -> Optional[bytes]:
        return self.inner.current()

    def swap(self, value: bytes) -> bool:
        try:
            ok = self.inner.swap(value)
        except kvbatch.KvError:
            self.owner.erred.add(self.key)
            raise
        if ok:
            self.owner.answered_ok.add(self.key)
        return ok

    def close(self) -> None:
        self.inner.close()


# -- strategies ----------------------------------------------------------------------------------

racer_values = st.sampled_from([MINE, THEIRS, None])  # the same value as ours, another one, a delete
races = st.lists(st.tuples(st.sampled_from(KEYS), st.sampled_from(["cas", "swap"]), st.integers(1, 3), racer_values),
                 max_size=4)
cas_faults = st.lists(st.one_of(
    st.tuples(st.just("swap"), st.sampled_from(KEYS), st.booleans(), st.integers(1, 3)),  # in doubt or not
    st.tuples(st.just("cas"), st.sampled_from(KEYS), st.just(False), st.integers(1, 3)),
    st.tuples(st.just("get"), st.sampled_from(KEYS), st.just(False), st.sampled_from([1, 2, 99])),  # read-backs
), max_size=4)
olds = st.dictionaries(st.sampled_from(KEYS), st.sampled_from([OLD, MINE]), max_size=5)


def rig(old: Dict[str, bytes], faults, racers) -> Tuple[Ledger, Observed]:  # type: ignore[no-untyped-def]
    store = Ledger(old)
    faulty = FaultyBucket(store)
    for op, key, in_doubt, times in faults:
        faulty.fail(op, key=key, in_doubt=in_doubt, times=times)
    for key, before, call, value in racers:
        faulty.before(before, lambda key=key, value=value: store.race(key, value), key=key, call=call)
    return store, Observed(faulty)


def conditional_problems(result: kvbatch.BatchResult, keys: List[str], mine: Dict[str, bytes], store: Ledger,
                         observed: Observed) -> List[str]:
    """Every breach of the conditional-write rules in `result` (keyed by the keys written)."""
    problems = []
    if sorted(result.order) != sorted(keys):
        problems.append(f"answered {sorted(result.order)} for {sorted(keys)}")
    for key in keys:
        status = result.outcome(key)
        holds_ours = store.by.get(key) == "ours"
        if status == "succeeded" and not (key in observed.answered_ok and holds_ours and store.data.get(key) == mine[key]):
            problems.append(f"{key}: succeeded without its own swap answering ok and holding it ({store.by.get(key)})")
        if status in ("failed", "not_attempted") and holds_ours:
            problems.append(f"{key}: {status}, but the store holds our write")
        if status == "unknown" and key not in observed.erred:
            problems.append(f"{key}: unknown without any swap that answered an error")
    return problems


def retry(attempts: int) -> kvbatch.RetryPolicy:
    return kvbatch.RetryPolicy(attempts=attempts, sleep=lambda s: None)


# -- conditional writes -------------------------------------------------------------------------

@PROPERTY
@given(old=olds, keys=st.lists(st.sampled_from(KEYS), min_size=1, unique=True), only_if=st.sampled_from(["absent", "present"]),
       faults=cas_faults, racers=races, chunk_size=st.integers(1, 5), attempts=st.integers(1, 3), verify=st.booleans())
def test_conditional_writes_report_only_what_their_own_swaps_prove(old, keys, only_if, faults, racers, chunk_size,
                                                                   attempts, verify):
    store, observed = rig(old, faults, racers)
    mine = dict.fromkeys(keys, MINE)
    bucket = kvbatch.Bucket(observed, chunk_size=chunk_size, retry=retry(attempts), verify=verify)
    result = bucket.set_many(mine, only_if=only_if)
    problems = conditional_problems(result, keys, mine, store, observed)
    assert not problems, problems


@PROPERTY
@given(old=olds, ops=st.lists(st.tuples(st.sampled_from(["insert", "update"]), st.sampled_from(KEYS)), min_size=1,
                              max_size=5, unique_by=lambda op: op[1]),
       faults=cas_faults, racers=races, attempts=st.integers(1, 3))
def test_builder_inserts_and_updates_report_only_what_their_own_swaps_prove(old, ops, faults, racers, attempts):
    store, observed = rig(old, faults, racers)
    builder = kvbatch.Bucket(observed, retry=retry(attempts)).builder()
    for op, key in ops:
        getattr(builder, op)(key, MINE)
    results = builder.execute()
    as_batch = kvbatch.BatchResult(
        succeeded=tuple(r.key for r in results if r.status == "succeeded"),
        failed={r.key: r.error or kvbatch.StoreError("?") for r in results if r.status == "failed"},
        unknown=tuple(r.key for r in results if r.status == "unknown"),
        not_attempted=tuple(r.key for r in results if r.status == "not_attempted"))
    keys = [key for _, key in ops]
    problems = conditional_problems(as_batch, keys, dict.fromkeys(keys, MINE), store, observed)
    assert not problems, problems


# -- create-only copies -------------------------------------------------------------------------

SOURCES = [f"s{i}" for i in range(5)]


@PROPERTY
@given(present=st.sets(st.sampled_from(SOURCES)), existing=st.dictionaries(st.sampled_from(KEYS), st.sampled_from([OLD, MINE])),
       count=st.integers(1, 5), faults=cas_faults, racers=races, chunk_size=st.integers(1, 5),
       attempts=st.integers(1, 3), verify=st.booleans())
def test_create_only_copies_report_only_what_their_own_swaps_prove(present, existing, count, faults, racers, chunk_size,
                                                                   attempts, verify):
    store, observed = rig({**{s: MINE for s in present}, **existing}, faults, racers)
    pairs = list(zip(SOURCES, KEYS))[:count]
    result = kvbatch.Bucket(observed, chunk_size=chunk_size, retry=retry(attempts), verify=verify).copy_many(pairs)
    written = [(s, d) for s, d in pairs if s in present]  # the copies that write (a missing source writes nothing)
    by_destination = kvbatch.BatchResult(
        succeeded=tuple(d for s, d in written if result.outcome(s) == "succeeded"),
        failed={d: result.failed[s] for s, d in written if s in result.failed},
        unknown=tuple(d for s, d in written if result.outcome(s) == "unknown"),
        not_attempted=tuple(d for s, d in written if result.outcome(s) == "not_attempted"))
    copied = [d for _, d in written]
    problems = conditional_problems(by_destination, copied, dict.fromkeys(copied, MINE), store, observed)
    problems += [f"{s}: copied from a missing source" for s, _ in pairs if s not in present and result.outcome(s) == "succeeded"]
    assert not problems, problems


# -- write streams ------------------------------------------------------------------------------

plain_faults = st.lists(st.one_of(
    st.tuples(st.just("set_many"), st.sampled_from(KEYS), st.booleans(), st.integers(1, 2)),
    st.tuples(st.just("set"), st.sampled_from(KEYS), st.booleans(), st.integers(1, 3)),
    st.tuples(st.just("get"), st.sampled_from(KEYS), st.just(False), st.sampled_from([1, 99])),
), max_size=4)


class Source:
    """The caller's iterator: counts what was taken; may hold a bad item or fail at a position."""

    def __init__(self, items: List[Tuple[str, bytes]], bad_at: Optional[int], fail_at: Optional[int]) -> None:
        self.items, self.bad_at, self.fail_at, self.taken = items, bad_at, fail_at, 0

    def __iter__(self):  # type: ignore[no-untyped-def]
        for i, (key, value) in enumerate(self.items):
            if i == self.fail_at:
                raise OSError("the source went away")
            self.taken += 1
            yield (key, "not bytes") if i == self.bad_at else (key, value)


@PROPERTY
@given(old=olds, items=st.lists(st.tuples(st.sampled_from(KEYS), st.binary(min_size=1, max_size=30)), max_size=12),
       only_if=st.sampled_from([None, None, "absent", "present"]), faults=plain_faults | cas_faults, racers=races,
       chunk_size=st.integers(1, 4), chunk_bytes=st.integers(1, 80), stop_on_error=st.booleans(),
       stop_after=st.integers(0, 12), bad_at=st.none() | st.integers(0, 11), fail_at=st.none() | st.integers(0, 11),
       capability_at=st.none() | st.integers(1, 4), attempts=st.integers(1, 2))
def test_every_item_a_stream_takes_is_answered_and_each_chunk_is_reported_as_the_store_says(
        old, items, only_if, faults, racers, chunk_size, chunk_bytes, stop_on_error, stop_after, bad_at, fail_at,
        capability_at, attempts):
    store, observed = rig(old, faults, racers if only_if else [])
    if capability_at is not None:
        observed.inner.fail("*", call=capability_at, error=kvbatch.AccessDenied("default"))
    source = Source(items, bad_at, fail_at)
    stream = kvbatch.Bucket(observed, retry=retry(attempts)).iter_set_many(
        source, only_if=only_if, chunk_size=chunk_size, chunk_bytes=chunk_bytes, stop_on_error=stop_on_error)
    answered: List[kvbatch.BatchResult] = []
    problems: List[str] = []
    while len(answered) <= stop_after:
        before = dict(store.data)
        by_before = dict(store.by)
        try:
            result = next(stream)
        except StopIteration:
            break
        except (kvbatch.KvError, OSError) as err:
            answered.append(err.partial)  # type: ignore[attr-defined]
            break
        answered.append(result)
        for key in result.order:
            status, now = result.outcome(key), store.data.get(key)
            if result.earlier is not None and key in result.earlier.order:
                continue  # a later item of a key this chunk wrote, held back: the earlier outcome answers the write
            if only_if is not None:
                if status == "succeeded" and store.by.get(key) != "ours":
                    problems.append(f"{key}: succeeded, not holding our write")
                if status in ("failed", "not_attempted") and store.by.get(key) == "ours" and by_before.get(key) != "ours":
                    problems.append(f"{key}: {status}, holding our write")
            elif status in ("failed", "not_attempted") and now != before.get(key):
                problems.append(f"{key}: {status}, but changed from {before.get(key)!r} to {now!r}")
    taken_keys = [key for key, _ in items[:source.taken]]
    listed = {key for r in answered for key in r.order} | {key for key, _ in stream.unsent}
    lost = [key for i, key in enumerate(taken_keys) if key not in listed and i != bad_at]
    if lost:
        problems.append(f"taken from the iterator and answered nowhere: {lost}")
    assert not problems, problems


# -- the buffered writer ------------------------------------------------------------------------

class Recording(kvbatch.Bucket):
    """A `Bucket` that notes, for each key a flush sends, the state before and the state sent."""

    sent: Dict[str, Tuple[Optional[bytes], Optional[bytes]]]

    def set_many(self, items, **options):  # type: ignore[no-untyped-def,override]
        data = self.raw.inner.inner.data  # type: ignore[attr-defined]
        self.sent.update((key, (data.get(key), value)) for key, value in items)
        return super().set_many(items, **options)

    def delete_many(self, keys, **options):  # type: ignore[no-untyped-def,override]
        data = self.raw.inner.inner.data  # type: ignore[attr-defined]
        self.sent.update((key, (data.get(key), None)) for key in keys)
        return super().delete_many(keys, **options)


writer_ops = st.lists(st.one_of(
    st.tuples(st.just("set"), st.sampled_from(KEYS), st.sampled_from([MINE, THEIRS, b"x"])),
    st.tuples(st.just("delete"), st.sampled_from(KEYS), st.none()),
    st.tuples(st.just("flush"), st.none(), st.none()),
), max_size=15)
delete_faults = st.lists(st.tuples(st.sampled_from(["delete_many", "delete"]), st.sampled_from(KEYS), st.booleans(),
                                   st.integers(1, 2)), max_size=2)


@PROPERTY
@given(old=olds, ops=writer_ops, faults=plain_faults, deletes=delete_faults, flush_at=st.integers(1, 4),
       raise_at=st.none() | st.integers(0, 15), flush_on_error=st.booleans(), stop_on_error=st.booleans(),
       verify=st.booleans())
def test_a_writers_results_answer_every_key_and_never_hide_a_write_that_landed(old, ops, faults, deletes, flush_at,
                                                                              raise_at, flush_on_error, stop_on_error,
                                                                              verify):
    store, observed = rig(old, faults + deletes, [])
    bucket = Recording(observed, retry=kvbatch.NO_RETRY, verify=verify, chunk_size=64)
    bucket.sent = {}
    latest: Dict[str, Optional[bytes]] = {}
    writer = bucket.writer(flush_at=flush_at, flush_on_error=flush_on_error, stop_on_error=stop_on_error)
    try:
        with writer as w:
            for i, (op, key, value) in enumerate(ops):
                if i == raise_at:
                    raise RuntimeError("the block failed")
                if op == "flush":
                    w.flush()
                    continue
                latest[key] = value
                w.set(key, value) if value is not None else w.delete(key)
    except (RuntimeError, kvbatch.BatchFailed):
        pass
    results = writer.results
    problems = []
    if sorted(results.order) != sorted(latest):
        problems.append(f"answered {sorted(results.order)} for {sorted(latest)}")
    for key in results.order:
        status, now = results.outcome(key), store.data.get(key)
        before, sent = bucket.sent.get(key, (old.get(key), None))
        if status == "succeeded" and now != latest[key]:
            problems.append(f"{key}: succeeded, holds {now!r} not {latest[key]!r}")
        elif status == "failed" and now != before:
            problems.append(f"{key}: failed, holds {now!r} not {before!r}")
        elif status == "unknown" and now not in (before, sent):
            problems.append(f"{key}: unknown, holds a third state {now!r}")
        elif status == "not_attempted":
            earlier = results.earlier.outcome(key) if results.earlier and key in results.earlier.order else None
            if earlier is None and key in bucket.sent:
                problems.append(f"{key}: not_attempted hides a flush that sent it")
            expected = {None: (old.get(key),), "succeeded": (sent,), "failed": (before,), "unknown": (before, sent)}
            if now not in expected[earlier]:
                problems.append(f"{key}: not_attempted, earlier {earlier}, holds {now!r}")
    assert not problems, problems
