"""`Bucket`: batch operations with per-key outcomes over any `RawBucket`.

How a batch runs, chunk by chunk (at most `chunk_size` keys, and for `set_many` at most
`chunk_bytes` of values, per host call):

1. The chunk is sent in one `*-many` call (when the host offers `wasi:keyvalue/batch`;
   otherwise key by key, each key's outcome known directly). A chunk of one key is sent
   with the single-key call, which says exactly what happened to that key.
2. **Attribution.** When the batch call returns one opaque `err`, kvbatch retries that
   chunk key by key. For writes this is safe because `set` and `delete` are idempotent:
   a key the batch already wrote is written again with the same value. So every key gets its
   own outcome, and the keys that succeed now hold their new state.
3. **Retry.** Keys whose error `RetryPolicy.retry_on` accepts (by default `StoreError`) are
   retried after an exponential backoff with jitter, and only those keys, until `attempts`
   or the time `budget` runs out.
4. **Verification.** A write whose last attempt returned an error may still have been
   applied (the error can come after the write). With `verify=True` (the default) kvbatch
   reads such keys back: a `set` key holding the new value, or a deleted key that is
   absent, is reported `succeeded`; otherwise it is `failed` (it holds another value:
   its old one). If the read fails too, or with `verify=False`, the key is `unknown`:
   never guessed.

`no-such-store` and `access-denied` (`CapabilityError`) are raised at once, whatever
`stop_on_error` says: they are configuration errors, not per-key failures. Any exception
that ends an operation (those, or anything a `RawBucket`, a progress callback or a retry
policy's `sleep`/`clock` raises) propagates unchanged and carries `partial`, the per-key
result so far (see `CapabilityError`).

The one caveat of plain writes: attribution and verification act on the store *after* the
batch call. If another writer changes one of the same keys in between, the key-by-key retry
writes this batch's value over theirs again (as any retry would), and a read-back reports what
it finds (another client's identical value reads as `succeeded`, a different one as `failed`).
Without concurrent writers to the same keys, the report is exact.

Conditional writes (`only_if`, the builder's `insert`/`update`, `copy_many(overwrite=False)`)
claim ownership, so they have no such caveat: a key is `succeeded` only when its own
compare-and-swap answered ok; after a swap that answered an error it is `failed` only if a
read-back finds the state that swap would have replaced, and `unknown` otherwise (another
writer's identical value proves nothing). The rules of every outcome are stated in the
documentation's "Outcomes" page.
"""

from __future__ import annotations

import bisect
import itertools
import operator
import time
from dataclasses import dataclass, replace
from types import MappingProxyType, ModuleType
from typing import (Any, Callable, Dict, Iterable, Iterator, List, Literal, Mapping, Optional, Sequence, Tuple, TypedDict,
                    TypeVar, Unpack)

from .builder import Builder
from .chunking import chunked
from .errors import (CapabilityError, CasConflict, KeyExists, KeyNotFound, KvError, StoreError, Unsupported,
                     ValidationError, attach_partial)
from .limits import (DEFAULT_CHUNK_BYTES, DEFAULT_CHUNK_SIZE, MAX_CAS_ATTEMPTS, MAX_KEY_BYTES, MAX_KEYS_PER_CALL,
                     MAX_VALUE_BYTES)
from .raw import FIND, RawBucket, WitBucket, has_cas, unwrapped
from .results import _SUCCEEDED, BatchResult, CopyResult, ExistsResult, GetResult, Status, _all_succeeded, _build
from .retry import RetryPolicy
from .settings import BucketSettings, check_chunking
from .stats import ErrorCallback, Progress, ProgressCallback, Stats
from .streams import WriteStream
from .validation import (CheckedItems, Items, Pairs, check_distinct_keys, check_key, check_latest, check_keys, check_pairs,
                         check_value, iter_items)
from .writer import Writer

R = TypeVar("R")
Res = TypeVar("Res", bound=BatchResult)
Outcome = Tuple[Status, Optional[KvError]]
_OK: Outcome = _SUCCEEDED
Condition = Literal["absent", "present"]
"""`only_if` of a conditional write: write a key only if it holds no value, or only if it holds one."""
CONDITIONS: Tuple[Condition, ...] = ("absent", "present")


class _Run:
    """The state of one batch operation: its policy, its counters and its clock."""

    def __init__(self, policy: RetryPolicy, clock: Callable[[], float]) -> None:
        self.policy = policy
        self.stats = Stats()
        self.clock = clock
        self.started = clock()
        self.policy_started = policy.clock()

    def call(self, fn: Callable[..., R], *args: object, batch: bool = False) -> R:
        self.stats.calls += 1
        if batch:
            self.stats.batch_calls += 1
        return fn(*args)

    def may_retry(self, attempt: int) -> Optional[float]:
        """The delay before the retry that follows `attempt`, or `None` if no retry is left."""
        policy = self.policy
        if attempt >= policy.attempts:
            return None
        delay = policy.delay(attempt)
        if policy.budget is not None and policy.clock() - self.policy_started + delay > policy.budget:
            return None
        return delay


class Bucket(BucketSettings):
    """Batch operations with per-key outcomes over a `RawBucket`.

    `chunk_size`, `chunk_bytes`, `retry` and `verify` are the defaults of every operation
    (each call may override the first three). Keys and values are checked against
    `max_key_bytes`/`max_value_bytes` (Spin's limits by default) before anything is sent.
    `stats` accumulates the work of every operation.
    """

    def __init__(
        self,
        raw: RawBucket,
        *,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
        chunk_bytes: int = DEFAULT_CHUNK_BYTES,
        retry: Optional[RetryPolicy] = None,
        verify: bool = True,
        max_key_bytes: int = MAX_KEY_BYTES,
        max_value_bytes: int = MAX_VALUE_BYTES,
        max_keys_per_call: int = MAX_KEYS_PER_CALL,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(chunk_size=chunk_size, retry=retry, verify=verify, max_key_bytes=max_key_bytes,
                         max_value_bytes=max_value_bytes, max_keys_per_call=max_keys_per_call, clock=clock)
        check_chunking(chunk_size, chunk_bytes)
        self.raw = raw
        self.chunk_bytes = chunk_bytes

    @property
    def name(self) -> str:
        """The store name the bucket was opened with."""
        return self.raw.name

    @property
    def has_native_batch(self) -> bool:
        """Whether `*-many` calls go to the host's `batch` interface (else key by key)."""
        return self.raw.has_native_batch

    def __repr__(self) -> str:
        return f"<kvbatch.Bucket {self.name!r} chunk_size={self.chunk_size} native_batch={self.has_native_batch}>"

    def __enter__(self) -> "Bucket":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Releases the underlying bucket resource, if it has one."""
        close = getattr(self.raw, "close", None)
        if callable(close):
            close()

    # -- single keys ---------------------------------------------------------------------

    def get(self, key: str) -> Optional[bytes]:
        """The value at `key`, or `None`. One host call; errors are raised."""
        return self.raw.get(check_key(key, max_key_bytes=self.max_key_bytes))

    def set(self, key: str, value: bytes) -> None:
        """Writes `value` at `key`. One host call; errors are raised."""
        key = check_key(key, max_key_bytes=self.max_key_bytes)
        self.raw.set(key, check_value(key, value, max_value_bytes=self.max_value_bytes))

    def delete(self, key: str) -> None:
        """Deletes `key` (a missing key is not an error). One host call; errors are raised."""
        self.raw.delete(check_key(key, max_key_bytes=self.max_key_bytes))

    def exists(self, key: str) -> bool:
        """Whether `key` holds a value. One host call; errors are raised."""
        return self.raw.exists(check_key(key, max_key_bytes=self.max_key_bytes))

    # -- batches ------------------------------------------------------------------------

    def get_many(
        self,
        keys: Iterable[str],
        *,
        chunk_size: Optional[int] = None,
        stop_on_error: bool = False,
        retry: Optional[RetryPolicy] = None,
        progress: Optional[ProgressCallback] = None,
        raise_on_error: bool = False,
        on_error: Optional[ErrorCallback] = None,
    ) -> GetResult:
        """Reads `keys`: the values found, the keys missing and the keys that failed.

        Each distinct key is read once (duplicates are listed in `duplicates`). A partial
        failure is reported in the result, not raised, unless `raise_on_error` is set
        (then `BatchFailed` is raised when any key was not read). `on_error(key, index,
        error)` is called for each key whose read failed, in input order, chunk by chunk.
        """
        wanted, distinct = check_distinct_keys(keys, max_key_bytes=self.max_key_bytes, max_keys=self.max_keys_per_call)
        result = self._get_many(wanted, self._options(chunk_size=chunk_size, stop_on_error=stop_on_error, retry=retry,
                                                      progress=progress, on_error=on_error), distinct)
        if raise_on_error:
            result.raise_for_failures()
        return result

    def _get_many(self, wanted: List[str], opts: "_Options", distinct: Optional[Dict[str, None]] = None) -> GetResult:
        if distinct is None:
            distinct = dict.fromkeys(wanted)
        keys, duplicates = _distinct(wanted, distinct)
        # Values are written into the dict of distinct keys (a key not read yet holds `None`):
        # replacing a value costs less than inserting a key; `_read` drops the keys without one.
        values: Dict[str, Optional[bytes]] = distinct  # type: ignore[assignment]
        missing: List[str] = []
        raw = self.raw
        batch = raw.get_many if raw.has_native_batch else None

        def process(run: _Run, start: int, end: int) -> Optional[Dict[str, Outcome]]:
            chunk = keys[start:end]
            answers = _batch_once(run, batch, chunk) if batch is not None and end - start > 1 else None
            if answers is not None:  # the common case: one get-many answered every key
                if None in answers:
                    missing.extend(key for key, value in zip(chunk, answers) if value is None)
                values.update(zip(chunk, answers))
                return None
            done, errors = self._settle(run, chunk, batch, raw.get, tried=batch is not None and end - start > 1)
            if not errors:
                if None in done.values():
                    missing.extend(key for key in chunk if done[key] is None)
                values.update(done)
                return None
            outcome: Dict[str, Outcome] = {}
            for key in chunk:
                if key in errors:
                    outcome[key] = ("failed", errors[key])
                    continue
                outcome[key] = _OK
                value = values[key] = done[key]
                if value is None:
                    missing.append(key)
            return outcome

        # Chunks run in input order, so `values` and `missing` already are in it.
        return self._run_chunks("get_many", keys, duplicates, process, _bounds(len(keys), opts.chunk_size), opts,
                                lambda base: _read(base, values, missing), wanted)

    def set_many(
        self,
        items: Items,
        *,
        only_if: Optional[Condition] = None,
        chunk_size: Optional[int] = None,
        chunk_bytes: Optional[int] = None,
        stop_on_error: bool = False,
        retry: Optional[RetryPolicy] = None,
        progress: Optional[ProgressCallback] = None,
        verify: Optional[bool] = None,
        on_error: Optional[ErrorCallback] = None,
    ) -> BatchResult:
        """Writes `items` (a mapping or `(key, value)` pairs); returns each key's outcome.

        A key given more than once is written once, with the **last** value given (as if the
        writes were applied in order), at the position of its first appearance; it is listed
        in `duplicates`. Every key and value is checked before anything is sent.

        `only_if="absent"` writes a key only if it holds no value (else it is `failed` with
        `KeyExists`), `only_if="present"` only if it holds one (else `failed` with
        `KeyNotFound`). Each such key is written with a compare-and-swap (`wasi:keyvalue/atomics`
        `cas`), so a writer racing between the check and the write is never overwritten: the
        swap fails and the condition is checked again. A key is `succeeded` only when its own
        swap answered ok; a swap that answered an error may have written, so such a key is
        `failed` only when a later check or a read-back (`verify`) finds the state it would have
        replaced, and `unknown` otherwise (with `verify=False` too): it is never `failed` with
        `KeyExists`/`KeyNotFound` on a value that may be its own, nor `succeeded` on another
        writer's identical value. A bucket without `cas` raises `Unsupported` before anything is sent. `on_error(key, index, error)` is called for each
        key that ends `failed` or `unknown`, in input order, chunk by chunk.
        """
        opts = self._options(chunk_size=chunk_size, chunk_bytes=chunk_bytes, stop_on_error=stop_on_error, retry=retry,
                             progress=progress, verify=verify, on_error=on_error)
        _check_condition(only_if, self.raw, "set_many")
        checked = check_latest(items, max_key_bytes=self.max_key_bytes, max_value_bytes=self.max_value_bytes,
                               max_keys=self.max_keys_per_call)
        return self._set_many(checked, only_if, opts)

    def _set_many(self, checked: CheckedItems, only_if: Optional[Condition], opts: "_Options") -> BatchResult:
        pairs, latest = checked.pairs, checked.latest  # latest: each key at its first position, its last value
        keys = list(latest)
        wanted = pairs
        duplicates: Tuple[str, ...] = ()
        if len(keys) != len(pairs):
            duplicates = _repeated([key for key, _ in pairs])
            pairs = list(latest.items())
        raw = self.raw
        verify = opts.verify

        native = raw.has_native_batch

        def process(run: _Run, start: int, end: int) -> Optional[Dict[str, Outcome]]:
            if only_if is not None:
                return self._cas_writes(run, raw, keys[start:end], latest.__getitem__, only_if, verify)
            tried = native and end - start > 1
            if tried and _batch_once(run, raw.set_many, pairs[start:end]) is not None:
                return None  # the common case: one set-many wrote every key
            return self._plain_writes(run, raw, keys[start:end], latest.__getitem__, verify, tried)

        # Cut by bytes only when a chunk could exceed the limit.
        limit, size = opts.chunk_bytes, opts.chunk_size
        weights = None
        if checked.widest_bytes is None or checked.widest_bytes * size > limit:
            if sum(map(len, latest.values())) + sum(map(len, keys)) > limit:
                weights = list(itertools.accumulate(map(operator.add, map(len, keys), map(len, latest.values()))))
        return self._run_chunks("set_many", keys, duplicates, process, _bounds(len(keys), size, weights, limit),
                                opts, _same, lambda: [key for key, _ in wanted])

    def delete_many(
        self,
        keys: Iterable[str],
        *,
        missing_ok: bool = True,
        chunk_size: Optional[int] = None,
        stop_on_error: bool = False,
        retry: Optional[RetryPolicy] = None,
        progress: Optional[ProgressCallback] = None,
        verify: Optional[bool] = None,
        on_error: Optional[ErrorCallback] = None,
    ) -> BatchResult:
        """Deletes `keys`; returns each distinct key's outcome.

        With `missing_ok=True` (the default, like `wasi:keyvalue`) deleting a missing key
        succeeds. With `missing_ok=False` each key is checked first: a missing key `failed`
        with `KeyNotFound` and is not deleted (another writer may create it in between).
        `on_error(key, index, error)` is called for each key that ends `failed` or `unknown`,
        in input order, chunk by chunk.
        """
        opts = self._options(chunk_size=chunk_size, stop_on_error=stop_on_error, retry=retry, progress=progress,
                             verify=verify, on_error=on_error)
        wanted, seen = check_distinct_keys(keys, max_key_bytes=self.max_key_bytes, max_keys=self.max_keys_per_call)
        distinct, duplicates = _distinct(wanted, seen)
        raw = self.raw
        do_verify = opts.verify

        def batch(chunk: List[str]) -> None:
            raw.delete_many(chunk)

        def confirm(run: _Run, key: str) -> bool:
            return not run.call(raw.exists, key)

        def process(run: _Run, start: int, end: int) -> Optional[Dict[str, Outcome]]:
            chunk = distinct[start:end]
            outcome: Dict[str, Outcome] = {}
            todo = chunk
            if not missing_ok:
                found, errors = self._settle(run, chunk, None, raw.exists)
                for key in chunk:
                    if key in errors:
                        outcome[key] = ("failed", errors[key])
                    elif not found[key]:
                        outcome[key] = ("failed", KeyNotFound(key))
                if outcome:
                    todo = [k for k in chunk if k not in outcome]
            if todo:
                tried = raw.has_native_batch and len(todo) > 1
                if tried and not outcome and _batch_once(run, batch, todo) is not None:
                    return None  # the common case: one delete-many deleted every key
                _, errors = self._settle(run, todo, batch if raw.has_native_batch else None, raw.delete,
                                         tried=tried and not outcome, answered=False)
                if errors:
                    outcome.update(self._settle_writes(run, todo, errors, confirm, do_verify))
            return {k: outcome.get(k, _OK) for k in chunk} if outcome else None

        return self._run_chunks("delete_many", distinct, duplicates, process, _bounds(len(distinct), opts.chunk_size),
                                opts, _same, wanted)

    def exists_many(
        self,
        keys: Iterable[str],
        *,
        chunk_size: Optional[int] = None,
        stop_on_error: bool = False,
        retry: Optional[RetryPolicy] = None,
        progress: Optional[ProgressCallback] = None,
        on_error: Optional[ErrorCallback] = None,
    ) -> ExistsResult:
        """Whether each key holds a value: a mapping key → bool over the keys answered, with
        keys whose check failed in `failed` (and passed to `on_error(key, index, error)`).
        `wasi:keyvalue` has no batch `exists`, so this makes one `exists` call per key (it
        transfers no values)."""
        opts = self._options(chunk_size=chunk_size, stop_on_error=stop_on_error, retry=retry, progress=progress,
                             on_error=on_error)
        wanted, seen = check_distinct_keys(keys, max_key_bytes=self.max_key_bytes, max_keys=self.max_keys_per_call)
        distinct, duplicates = _distinct(wanted, seen)
        answers: Dict[str, bool] = {}
        raw = self.raw

        def process(run: _Run, start: int, end: int) -> Optional[Dict[str, Outcome]]:
            chunk = distinct[start:end]
            found, errors = self._settle(run, chunk, None, raw.exists)
            answers.update(found)
            if not errors:
                return None
            return {k: (("failed", errors[k]) if k in errors else _OK) for k in chunk}

        def as_exists(base: BatchResult) -> ExistsResult:
            return ExistsResult(succeeded=base.succeeded, failed=base.failed, not_attempted=base.not_attempted,
                                duplicates=base.duplicates, order=base.order, operation="exists_many", stats=base.stats,
                                exists={k: answers[k] for k in base.succeeded})

        return self._run_chunks("exists_many", distinct, duplicates, process, _bounds(len(distinct), opts.chunk_size),
                                opts, as_exists, wanted)

    def copy_many(
        self,
        pairs: Pairs,
        *,
        overwrite: bool = False,
        to: Optional["Bucket"] = None,
        missing_ok: bool = False,
        chunk_size: Optional[int] = None,
        stop_on_error: bool = False,
        retry: Optional[RetryPolicy] = None,
        progress: Optional[ProgressCallback] = None,
        verify: Optional[bool] = None,
        on_error: Optional[ErrorCallback] = None,
    ) -> CopyResult:
        """Copies each `(source, destination)` pair's value, within this bucket or into bucket
        `to` (another store); returns each pair's outcome **keyed by source**.

        Chunk by chunk, the sources are read (one `get-many`), then the destinations written.
        With `overwrite=False` (the default) a destination that holds a value is never
        replaced, even by a writer racing between the check and the write: each destination
        is written with a compare-and-swap (`cas`) that creates it only if it is still absent,
        and a pair whose destination exists is `failed` with `KeyExists`; as for
        `set_many(only_if=...)`, a pair is `succeeded` only when its destination's own swap
        answered ok, and `unknown` (never `succeeded`, never `KeyExists`) when a swap that
        answered an error may have written it. A destination bucket
        without `cas` raises `Unsupported` before anything is sent (pass `overwrite=True` to
        copy with plain batch writes, attributed after an opaque error as in `set_many`).
        A source with no value `failed` with `KeyNotFound`, unless `missing_ok`: then nothing
        is copied, the pair `succeeded` and the source is listed in `missing`. A source or
        destination named twice, or (within one bucket) a key that is both, is refused with
        `ValidationError` before anything is sent. The value copied is the one read: a source
        changed after its chunk was read is copied as it was. `on_error(source, index, error)`
        is called for each pair that ends `failed` or `unknown`, in input order, chunk by chunk.
        """
        opts = self._options(chunk_size=chunk_size, stop_on_error=stop_on_error, retry=retry, progress=progress,
                             verify=verify, on_error=on_error)
        target = to if to is not None else self
        checked = check_pairs(pairs, max_key_bytes=self.max_key_bytes, max_destination_bytes=target.max_key_bytes,
                              max_keys=self.max_keys_per_call, same_bucket=to is None or to.raw is self.raw)
        if not overwrite and not has_cas(target.raw):
            raise Unsupported(f"copy_many(overwrite=False) into store {target.name!r} needs wasi:keyvalue/atomics cas "
                              "to leave existing destinations untouched, and this bucket has none (keyvalue draft has "
                              "no cas): pass overwrite=True, or use a draft2 host")
        destination = dict(checked)
        sources = list(destination)
        missing: List[str] = []
        raw, out = self.raw, target.raw
        do_verify = opts.verify
        limit = target.chunk_bytes

        def process(run: _Run, start: int, end: int) -> Optional[Dict[str, Outcome]]:
            chunk = sources[start:end]
            done, errors = self._settle(run, chunk, raw.get_many if raw.has_native_batch else None, raw.get)
            outcome: Dict[str, Outcome] = {}
            values: Dict[str, bytes] = {}
            for src in chunk:
                value = done.get(src)
                if src in errors:
                    outcome[src] = ("failed", errors[src])
                elif value is None:
                    if missing_ok:
                        missing.append(src)
                        outcome[src] = _OK
                    else:
                        outcome[src] = ("failed", KeyNotFound(src))
                else:
                    try:
                        values[destination[src]] = check_value(destination[src], value,
                                                               max_value_bytes=target.max_value_bytes)
                    except ValidationError as err:  # the destination allows less than the source
                        outcome[src] = ("failed", err)
            written: Dict[str, Outcome] = {}
            for part in chunked(list(values), len(values) or 1, limit, lambda k: len(values[k]) + len(k)):
                if overwrite:
                    settled = self._plain_writes(run, out, part, values.__getitem__, do_verify)
                else:
                    settled = self._cas_writes(run, out, part, values.__getitem__, "absent", do_verify)
                if settled is not None:
                    written.update(settled)
            for src in chunk:
                if src not in outcome:
                    outcome[src] = written.get(destination[src], _OK)
            return {src: outcome[src] for src in chunk}

        def as_copy(result: BatchResult) -> CopyResult:
            reported = set(result.succeeded)
            return CopyResult(succeeded=result.succeeded, failed=result.failed, unknown=result.unknown,
                              not_attempted=result.not_attempted, unknown_errors=result.unknown_errors,
                              order=result.order, operation="copy_many", stats=result.stats, pairs=destination,
                              missing=tuple(k for k in missing if k in reported))

        return self._run_chunks("copy_many", sources, (), process, _bounds(len(sources), opts.chunk_size), opts,
                                as_copy, sources)

    # -- streaming ------------------------------------------------------------------------

    def iter_get_many(
        self,
        keys: Iterable[str],
        *,
        chunk_size: Optional[int] = None,
        stop_on_error: bool = False,
        retry: Optional[RetryPolicy] = None,
        on_error: Optional[ErrorCallback] = None,
    ) -> Iterator[GetResult]:
        """Reads `keys` (any iterable, a generator included) chunk by chunk, yielding each
        chunk's `GetResult` as soon as that chunk is read.

        Yields in input order: one result per `chunk_size` keys taken from `keys`, each
        answering exactly those keys. Only one chunk of keys and values is held at a time,
        so any number of keys is read in bounded memory (no `max_keys_per_call` limit).
        Nothing is sent before the first `next()`, and nothing more after the loop stops
        (`break`, or `close()`): keys not yet taken are never read. Each chunk is its own
        operation (its own retries and time budget); a key named twice is read once per
        chunk it is in. A bad key raises `ValidationError` (naming its position in `keys`)
        when its chunk is reached. With `stop_on_error`, iteration ends after the first chunk
        with a failed key. `on_error(key, index, error)`: as in `get_many`, `index` counted
        over all of `keys`.
        """
        opts = self._options(chunk_size=chunk_size, retry=retry, on_error=on_error)
        if isinstance(keys, (str, bytes)):
            raise ValidationError(f"keys must be an iterable of str, not a single {type(keys).__name__} ({keys!r})")
        return self._iter_get(iter(keys), opts, stop_on_error)

    def _iter_get(self, keys: Iterator[str], opts: "_Options", stop_on_error: bool) -> Iterator[GetResult]:
        start = 0
        size = opts.chunk_size
        while True:
            chunk = check_keys(itertools.islice(keys, size), max_key_bytes=self.max_key_bytes, max_keys=size,
                               start=start)
            if not chunk:
                return
            result = self._get_many(chunk, replace(opts, base=start))
            start += len(chunk)
            yield result
            if stop_on_error and not result.all_succeeded:
                return

    def iter_set_many(
        self,
        items: Items,
        *,
        only_if: Optional[Condition] = None,
        chunk_size: Optional[int] = None,
        chunk_bytes: Optional[int] = None,
        stop_on_error: bool = False,
        retry: Optional[RetryPolicy] = None,
        verify: Optional[bool] = None,
        on_error: Optional[ErrorCallback] = None,
    ) -> WriteStream:
        """Writes `items` (a mapping, or any iterable of `(key, value)` pairs: a generator
        included) chunk by chunk, yielding each chunk's `BatchResult` once it is written.

        Yields in input order: items are taken from `items` until a chunk holds `chunk_size`
        items or the next item would bring it past `chunk_bytes`; that chunk is then written
        and its result yielded. At most one chunk (and the one item that did not fit) is held
        at a time, so any number of items is written in bounded memory (no
        `max_keys_per_call` limit). Nothing is sent before the first `next()`, and nothing
        more after the loop stops: items not yet taken are never taken. Each chunk is its own
        `set_many` (same `only_if`, retries, verification); a key named twice in one chunk is
        written once with its last value, and in two chunks twice, in order, so the last
        value wins either way. A bad item raises `ValidationError` (naming its position) when
        its chunk is reached. With `stop_on_error`, iteration ends after the first chunk with
        a key that did not succeed. `on_error`: as in `set_many`, `index` counted over all items.

        Every item taken from `items` is accounted for (see `kvbatch.streams.WriteStream`): the
        item that did not fit in the last chunk written, and the items of a chunk that a bad
        item or `items` itself ended, are never sent; they are `not_attempted` in the last
        result (`stop_on_error`) or in the `partial` of the exception that ended the stream, and
        the returned stream lists them, with their values, in `unsent` (after a `break` too).
        """
        opts = self._options(chunk_size=chunk_size, chunk_bytes=chunk_bytes, retry=retry, verify=verify,
                             on_error=on_error)
        _check_condition(only_if, self.raw, "iter_set_many")
        if isinstance(items, (str, bytes)):
            raise ValidationError(f"items must be a mapping or (key, value) pairs, not {type(items).__name__}")
        return self._iter_set(iter_items(items), opts, only_if, stop_on_error)

    def _iter_set(self, items: Iterator[Tuple[object, object]], opts: "_Options", only_if: Optional[Condition],
                  stop_on_error: bool) -> WriteStream:
        def take(raw_pair: Tuple[object, object], index: int) -> Tuple[str, bytes]:
            key = check_key(raw_pair[0], max_key_bytes=self.max_key_bytes, index=index)
            return key, check_value(key, raw_pair[1], max_value_bytes=self.max_value_bytes, index=index)

        def write(chunk: List[Tuple[str, bytes]], start: int) -> BatchResult:
            return self._set_many(CheckedItems(chunk, dict(chunk)), only_if,
                                  replace(opts, chunk_size=len(chunk), base=start))

        return WriteStream(items, take, write, opts.chunk_size, opts.chunk_bytes, stop_on_error)

    # -- writer and builder ---------------------------------------------------------------

    def writer(
        self,
        *,
        flush_at: Optional[int] = None,
        flush_bytes: Optional[int] = None,
        flush_on_error: bool = False,
        stop_on_error: bool = False,
        retry: Optional[RetryPolicy] = None,
        progress: Optional[ProgressCallback] = None,
    ) -> Writer:
        """A buffered writer (a context manager): see `kvbatch.writer.Writer`.

        It flushes every `flush_at` distinct keys (default: `chunk_size`) or `flush_bytes`
        of buffered values (default: `chunk_bytes`), and on a clean exit. On an exception in
        the block the unflushed operations are discarded unless `flush_on_error` is set.
        """
        return Writer(self, flush_at=flush_at or self.chunk_size, flush_bytes=flush_bytes or self.chunk_bytes,
                      flush_on_error=flush_on_error, stop_on_error=stop_on_error, retry=retry, progress=progress)

    def check_condition(self, only_if: Optional[Condition], operation: str = "set_many") -> None:
        """Raises `ValueError` for an unknown `only_if`, and `Unsupported` when `only_if` is set
        and this bucket has no compare-and-swap; does nothing otherwise."""
        _check_condition(only_if, self.raw, operation)

    def builder(self) -> Builder:
        """A mixed-operation builder: see `kvbatch.builder.Builder`."""
        return Builder(self)

    # -- the engine ---------------------------------------------------------------------

    def _options(self, *, chunk_size: Optional[int] = None, chunk_bytes: Optional[int] = None,
                 retry: Optional[RetryPolicy] = None, verify: Optional[bool] = None, stop_on_error: bool = False,
                 progress: Optional[ProgressCallback] = None, on_error: Optional[ErrorCallback] = None) -> "_Options":
        """One operation's settings: each one not given is this bucket's; `ValueError`/`TypeError`
        for a chunk size or byte limit below 1 and an `on_error` that is not callable."""
        options = _Options(chunk_size=chunk_size if chunk_size is not None else self.chunk_size,
                           chunk_bytes=chunk_bytes if chunk_bytes is not None else self.chunk_bytes,
                           retry=retry if retry is not None else self.retry,
                           verify=verify if verify is not None else self.verify,
                           stop_on_error=stop_on_error, progress=progress, on_error=on_error)
        check_chunking(options.chunk_size, options.chunk_bytes)
        if on_error is not None and not callable(on_error):
            raise TypeError(f"on_error must be callable(key, index, error), got {on_error!r}")
        return options

    def _run_chunks(
        self,
        operation: str,
        keys: List[str],
        duplicates: Tuple[str, ...],
        process: Callable[[_Run, int, int], Optional[Dict[str, Outcome]]],
        bounds: Iterable[Tuple[int, int]],
        opts: "_Options",
        finish: Callable[[BatchResult], Res],
        wanted: "Sequence[str] | Callable[[], Sequence[str]]",
    ) -> Res:
        """Runs `process` over the chunks `keys[start:end]` of `bounds`, in order; `finish` turns
        the per-key result into the operation's. `process` answers `None` when every key of its
        chunk succeeded (nothing is recorded per key then), else each key's outcome.

        The one place an exception becomes a result: whatever ends the operation (a capability
        error, or anything a `RawBucket`, a callback, a clock or a sleep raises) propagates
        carrying `partial`, `finish` of the per-key result so far: the chunk in flight is
        `unknown` for a write (the store may have applied it), `not_attempted` for a read.
        """
        outcomes: Dict[str, Outcome] = {}  # the keys of chunks where not every key succeeded
        counts = [0, 0, 0]  # succeeded, failed, unknown
        settled_up_to = sent_up_to = 0
        report = _reporter(opts.on_error, wanted, opts.base)
        run: Optional[_Run] = None
        try:
            run = _Run(opts.retry, self._clock)
            for start, end in bounds:
                sent_up_to = end
                run.stats.chunks += 1
                settled = process(run, start, end)
                if settled is None:
                    counts[0] += end - start
                    settled_up_to = end
                else:
                    outcomes.update(settled)
                    settled_up_to = end
                    for key in keys[start:end]:
                        status = settled[key][0]
                        if status == "succeeded":
                            counts[0] += 1
                            continue
                        counts[1 if status == "failed" else 2] += 1
                        if report is not None:  # final now: a failure is passed on, in input order
                            report(key, settled[key])
                if opts.progress is not None:
                    opts.progress(Progress(end, len(keys), counts[0], counts[1], counts[2]))
                if opts.stop_on_error and settled is not None and counts[0] < end:
                    break
        except BaseException as err:
            in_flight: Status = "unknown" if operation in _WRITES else "not_attempted"
            attach_partial(err, finish(_result(operation, keys, duplicates, outcomes, settled_up_to, sent_up_to,
                                               in_flight, run.stats if run is not None else Stats())))
            raise
        finally:
            if run is not None:
                run.stats.elapsed = self._clock() - run.started
                self.stats.add(run.stats)
        return finish(_result(operation, keys, duplicates, outcomes, settled_up_to, settled_up_to, "not_attempted",
                              run.stats))

    def _settle(
        self,
        run: _Run,
        keys: List[str],
        batch: Optional[Callable[[List[str]], Optional[Sequence[R]]]],
        single: Callable[[str], R],
        counted: bool = True,
        tried: bool = False,
        value_of: Optional[Callable[[str], Any]] = None,
        answered: bool = True,
    ) -> Tuple[Dict[str, R], Dict[str, KvError]]:
        """Runs `keys` through attempts and retries; returns the answers and the last error
        of each key that never succeeded. Capability errors propagate. `counted=False`: a
        `single` that counts its own host calls. `tried`: the first attempt's `batch` call was
        made already (`_batch_once`) and failed, so that attempt goes on key by key.
        `value_of`: `single` is called as `single(key, value_of(key))`. `answered=False`: a
        write's, whose answers are not kept (a key is done when it is not in the errors)."""
        done: Dict[str, R] = {}
        errors: Dict[str, KvError] = {}
        pending = keys  # never changed in place: each round makes a new list
        attempt = 1
        while True:
            self._attempt(run, pending, None if tried and attempt == 1 else batch, single, done, errors, counted,
                          value_of, answered)
            pending = [k for k in pending if k in errors and run.policy.should_retry(errors[k])] if errors else []
            if not pending:
                break
            delay = run.may_retry(attempt)
            if delay is None:
                break
            if delay > 0:
                run.policy.sleep(delay)
            run.stats.retries += 1
            attempt += 1
        return done, errors

    def _attempt(
        self,
        run: _Run,
        pending: List[str],
        batch: Optional[Callable[[List[str]], Optional[Sequence[R]]]],
        single: Callable[[str], R],
        done: Dict[str, R],
        errors: Dict[str, KvError],
        counted: bool = True,
        value_of: Optional[Callable[[str], Any]] = None,
        answered: bool = True,
    ) -> None:
        if errors:
            for key in pending:
                errors.pop(key, None)
        if batch is not None and len(pending) > 1:
            try:
                run.stats.calls += 1
                run.stats.batch_calls += 1
                answers = batch(pending)
                if answers is not None and len(answers) != len(pending):
                    raise StoreError(f"the host answered {len(answers)} entries for {len(pending)} keys")
            except CapabilityError:
                raise
            except KvError:
                run.stats.attributed += len(pending)  # opaque: find out key by key
            else:
                if answers is not None:  # a write answers nothing: its keys are done when not in `errors`
                    done.update(zip(pending, answers))
                return
        calls = 0
        # A `WitBucket`'s own get/set/delete are called as the bindings' calls, their errors translated
        # here (`unwrapped`): one Python call less per key.
        call, caught, translate = unwrapped(single) or (single, KvError, None)
        write: Callable[[str, Any], Any] = call  # type: ignore[assignment]
        try:  # three loops for one job: this is the per-key path's whole cost beside the host calls
            if value_of is not None:
                for key in pending:
                    calls += 1
                    try:
                        write(key, value_of(key))
                    except caught as err:
                        errors[key] = _kv_error(err, translate)
            elif not answered:
                for key in pending:
                    calls += 1
                    try:
                        call(key)
                    except caught as err:
                        errors[key] = _kv_error(err, translate)
            else:
                for key in pending:
                    calls += 1
                    try:
                        done[key] = call(key)
                    except caught as err:
                        errors[key] = _kv_error(err, translate)
        finally:
            if counted:
                run.stats.calls += calls

    def _plain_writes(self, run: _Run, raw: RawBucket, keys: List[str], value_of: Callable[[str], bytes],
                      verify: bool, tried: bool = False) -> Optional[Dict[str, Outcome]]:
        """Writes `keys` (their values from `value_of`) with one `set-many` (key by key without
        batch), attributing an opaque error key by key; `None` when every key was written, else
        each key's outcome. `tried`: that `set-many` was already sent, and failed."""

        def batch(chunk: List[str]) -> None:
            raw.set_many([(k, value_of(k)) for k in chunk])

        def confirm(run: _Run, key: str) -> bool:
            return run.call(raw.get, key) == value_of(key)

        _, errors = self._settle(run, keys, batch if raw.has_native_batch else None, raw.set, tried=tried,  # type: ignore[arg-type]
                                 value_of=value_of, answered=False)
        return self._settle_writes(run, keys, errors, confirm, verify) if errors else None

    def _cas_writes(self, run: _Run, raw: RawBucket, keys: List[str], value_of: Callable[[str], bytes],
                    only_if: Condition, verify: bool) -> Optional[Dict[str, Outcome]]:
        """Writes each key only if `only_if` holds, with a compare-and-swap per key; each key's outcome.

        Per attempt: `cas(key)` sees the key's value; if the condition fails the key is
        `failed` (`KeyExists` / `KeyNotFound`), else `swap` writes only if nobody changed the
        key since: a lost race checks again, up to `MAX_CAS_ATTEMPTS` times (then `CasConflict`,
        which the retry policy retries). A key is `succeeded` only when its own swap answered
        ok. A swap that answered an error may have been applied: the key is in doubt until a
        later check finds the state that swap would have replaced (it was not applied). A key
        still in doubt is never `failed` on what it now holds (our value may be another
        writer's, and another writer may have replaced ours): `unknown`, unless a read-back
        (`verify`) finds the state our first erring swap would have replaced: then `failed`.
        """
        cas = getattr(raw, "cas")
        doubt: Dict[str, Tuple[Optional[bytes], KvError]] = {}  # the state an erring swap would replace, its error

        def single(key: str) -> None:
            value = value_of(key)
            for _ in range(MAX_CAS_ATTEMPTS):
                handle = run.call(cas, key)
                try:
                    current = run.call(handle.current)
                except BaseException:
                    handle.close()
                    raise
                if key in doubt and current == doubt[key][0] and current != value:
                    del doubt[key]  # the erring swap did not write: the key is as it was
                if (only_if == "absent") == (current is not None):
                    handle.close()
                    raise KeyExists(key) if only_if == "absent" else KeyNotFound(key)
                try:
                    swapped = run.call(handle.swap, value)
                except CapabilityError:
                    raise
                except KvError as err:
                    doubt[key] = (doubt[key][0] if key in doubt else current, err)
                    raise
                if swapped:
                    doubt.pop(key, None)
                    return
            raise CasConflict(key, MAX_CAS_ATTEMPTS)

        def confirm(run: _Run, key: str) -> bool:
            """Whether the key holds the state before our first erring swap (so none of ours wrote)."""
            found = run.call(raw.get, key)
            return found == doubt[key][0] and found != value_of(key)

        _, errors = self._settle(run, keys, None, single, counted=False)
        if not errors:
            return None
        outcome: Dict[str, Outcome] = dict.fromkeys(keys, _OK)
        for key, error in errors.items():
            if key not in doubt:  # the condition did not hold, or nothing was written: the key keeps its value
                outcome[key] = ("failed", error)
            elif isinstance(error, (KeyExists, KeyNotFound)):  # it changed since a swap that may have written
                outcome[key] = ("unknown", doubt[key][1])
            else:
                outcome[key] = self._settle_unwritten(run, key, doubt[key][1], confirm, verify)
        return outcome

    def _settle_unwritten(self, run: _Run, key: str, error: KvError, unwritten: Callable[[_Run, str], bool],
                          verify: bool) -> Outcome:
        """The outcome of a conditional write left in doubt by `error`: `failed` when a read-back
        (`verify`) proves it `unwritten`, else `unknown`."""
        if not verify:
            return ("unknown", error)
        run.stats.verified += 1
        try:
            proven = unwritten(run, key)
        except CapabilityError:
            raise
        except KvError:
            return ("unknown", error)
        return ("failed", error) if proven else ("unknown", error)

    def _settle_writes(
        self,
        run: _Run,
        keys: List[str],
        errors: Mapping[str, KvError],
        confirm: Callable[[_Run, str], bool],
        verify: bool,
    ) -> Dict[str, Outcome]:
        """Outcomes of written keys; a key whose last attempt failed is read back when
        `verify` is set (`succeeded` if it holds its new state, else `failed`), and is
        `unknown` when it cannot be read back."""
        outcome: Dict[str, Outcome] = dict.fromkeys(keys, _OK)
        for key in keys:
            error = errors.get(key)
            if error is None:
                continue
            if not verify:
                outcome[key] = ("unknown", error)
                continue
            run.stats.verified += 1
            try:
                applied = confirm(run, key)
            except CapabilityError:
                raise
            except KvError:
                outcome[key] = ("unknown", error)
                continue
            outcome[key] = ("succeeded", None) if applied else ("failed", error)
        return outcome


@dataclass(frozen=True)
class _Options:
    """One operation's settings, filled once against its bucket's defaults (`Bucket._options`)."""

    chunk_size: int
    chunk_bytes: int
    retry: RetryPolicy
    verify: bool
    stop_on_error: bool = False
    progress: Optional[ProgressCallback] = None
    on_error: Optional[ErrorCallback] = None
    base: int = 0
    """The position of the operation's first key in the caller's input (a stream's later chunks)."""


def _batch_once(run: _Run, call: Callable[[List[Any]], Optional[Sequence[R]]], arg: List[Any]) -> Optional[Sequence[R]]:
    """One `*-many` call of a chunk: its answers (`()` for a write), or `None` when it returned
    an error or a wrong number of answers (the chunk's keys are then found out key by key).
    Capability errors propagate."""
    stats = run.stats
    stats.calls += 1
    stats.batch_calls += 1
    try:
        answers = call(arg)
    except CapabilityError:
        raise
    except KvError:
        stats.attributed += len(arg)
        return None
    if answers is None:
        return ()
    if len(answers) != len(arg):
        stats.attributed += len(arg)
        return None
    return answers


def _kv_error(err: BaseException, translate: Optional[Callable[[BaseException], KvError]]) -> KvError:
    """The `KvError` a single-key call's `err` stands for (`translate`d from the bindings' error when
    given); a capability error is raised instead (called in the `except` block that caught `err`)."""
    error = err if translate is None else translate(err)
    if isinstance(error, CapabilityError):
        if error is err:
            raise error
        raise error from None
    assert isinstance(error, KvError)
    return error


_WRITES = frozenset(("set_many", "delete_many", "copy_many"))
"""Operations whose chunk in flight when an exception ends them may have been applied."""


def _same(result: BatchResult) -> BatchResult:
    return result


def _bounds(count: int, size: int, weights: Optional[List[int]] = None,
            limit: int = 0) -> Iterator[Tuple[int, int]]:
    """`(start, end)` of each chunk of `count` items: at most `size` items and, with `weights`
    (the running sum of each item's weight), at most `limit` of weight (an item heavier than
    that on its own forms a chunk alone)."""
    if weights is None:
        for start in range(0, count, size):
            yield start, min(start + size, count)
        return
    start = 0
    while start < count:
        before = weights[start - 1] if start else 0
        end = max(start + 1, min(start + size, bisect.bisect_right(weights, before + limit, start, count)))
        yield start, end
        start = end


def _result(operation: str, keys: List[str], duplicates: Tuple[str, ...], outcomes: Mapping[str, Outcome],
            settled: int, sent: int, in_flight: Status, stats: Stats) -> BatchResult:
    """The per-key result of `keys` whose first `settled` are settled (`outcomes`, else `succeeded`),
    those up to `sent` in flight (`in_flight`) and the rest `not_attempted`."""
    if settled == len(keys) and not outcomes:
        return _all_succeeded(BatchResult, tuple(keys), duplicates, operation, stats)
    latest: Dict[str, Outcome] = dict.fromkeys(keys[:settled], _OK)
    latest.update(outcomes)
    latest.update(dict.fromkeys(keys[settled:sent], (in_flight, None)))
    latest.update(dict.fromkeys(keys[sent:], ("not_attempted", None)))
    return _build(BatchResult, latest, latest, duplicates, operation, stats)  # type: ignore[arg-type]


def _read(base: BatchResult, values: Dict[str, Optional[bytes]], missing: Sequence[str]) -> GetResult:
    """`base` as a `GetResult`, with the values and missing keys of the keys it reports `succeeded`.
    `values` may hold `None` for keys without a value (the missing ones, and keys not read); when
    every key succeeded, it becomes the result's mapping, those keys removed."""
    if base.all_succeeded:
        for key in missing:
            values.pop(key, None)
        return _all_succeeded(GetResult, base.order, base.duplicates, "get_many", base.stats,
                              values=MappingProxyType(values), missing=tuple(missing))
    read = set(base.succeeded)
    found = {k: v for k, v in values.items() if v is not None and k in read}
    missing = [k for k in missing if k in read]
    return GetResult(succeeded=base.succeeded, failed=base.failed, unknown=base.unknown, not_attempted=base.not_attempted,
                     duplicates=base.duplicates, order=base.order, operation="get_many", stats=base.stats,
                     values=MappingProxyType(found), missing=tuple(missing))


def _reporter(on_error: Optional[ErrorCallback], keys: "Sequence[str] | Callable[[], Sequence[str]]",
              base: int) -> Optional[Callable[[str, Outcome], None]]:
    """What `_run_chunks` calls with each key that ended `failed` or `unknown`: `on_error(key,
    index, error)`, `index` the key's first position in `keys` (or in what `keys()` gives: looked
    up at the first failure) plus `base`."""
    if on_error is None:
        return None
    first: Dict[str, int] = {}

    def report(key: str, outcome: Outcome) -> None:
        if not first:
            for i, name in enumerate(keys() if callable(keys) else keys):
                first.setdefault(name, base + i)
        status, error = outcome
        if status == "failed" or status == "unknown":
            on_error(key, first[key], error if error is not None else StoreError("the outcome is unknown"))

    return report


def _check_condition(only_if: object, raw: RawBucket, operation: str) -> None:
    """Refuses an unknown `only_if`, and a conditional write where `raw` has no compare-and-swap."""
    if only_if is None:
        return
    if only_if not in CONDITIONS:
        raise ValueError(f"only_if must be one of {', '.join(map(repr, CONDITIONS))} or None, got {only_if!r}")
    if not has_cas(raw):
        raise Unsupported(f"{operation}(only_if={only_if!r}) on store {raw.name!r} needs wasi:keyvalue/atomics cas to "
                          "be race-free, and this bucket has none (keyvalue draft has no cas): use only_if=None, or a "
                          "draft2 host")


def _distinct(keys: Sequence[str], distinct: Optional[Mapping[str, None]] = None) -> Tuple[List[str], Tuple[str, ...]]:
    """The distinct keys in order of first appearance, and those named more than once.
    `distinct`: `dict.fromkeys(keys)`, when it was made already."""
    if distinct is None:
        distinct = dict.fromkeys(keys)
    if len(distinct) == len(keys):
        return keys if isinstance(keys, list) else list(keys), ()
    return list(distinct), _repeated(keys)


def _repeated(keys: Sequence[str]) -> Tuple[str, ...]:
    seen: set[str] = set()
    repeated: Dict[str, None] = {}
    for key in keys:
        if key in seen:
            repeated[key] = None
        seen.add(key)
    return tuple(repeated)


class BucketOptions(TypedDict, total=False):
    """The `Bucket` settings `open` and `wrap` pass on (see `Bucket`)."""

    chunk_size: int
    chunk_bytes: int
    retry: Optional[RetryPolicy]
    verify: bool
    max_key_bytes: int
    max_value_bytes: int
    max_keys_per_call: int


def open(name: str = "default", *, use_batch: bool = True, **options: Unpack[BucketOptions]) -> Bucket:
    """Opens store `name` through the component's `wasi:keyvalue` imports (either version).

    Uses the imported `batch` interface when the world has one and `use_batch` is true, and
    per-key `store` calls otherwise. Raises `NoSuchStore`/`AccessDenied` at once. Works only
    inside a component; on CPython wrap a `RawBucket` with `Bucket(raw)` instead.
    """
    return Bucket(WitBucket.open(name, use_batch=use_batch), **options)


def wrap(target: object, name: str = "", *, use_batch: bool = True, batch_module: Optional[ModuleType] = FIND,
         atomics_module: Optional[ModuleType] = FIND, err_type: Optional[type[BaseException]] = None,
         **options: Unpack[BucketOptions]) -> Bucket:
    """A `Bucket` over what you already have: a `Bucket` is returned as it is, a `RawBucket`
    is wrapped, and anything else is taken for a bucket resource of generated `wasi:keyvalue`
    bindings, spin-sdk's included: its `batch` and `atomics` bindings and `Err` class are found
    beside it, so batch and compare-and-swap are used wherever the world has them
    (`WitBucket.wrap`; the binding arguments are its own)."""
    if isinstance(target, Bucket):
        return target
    raw: RawBucket
    if all(hasattr(target, attr) for attr in ("get_many", "set_many", "delete_many", "has_native_batch")):
        raw = target  # type: ignore[assignment]
    else:
        raw = WitBucket.wrap(target, name, use_batch=use_batch, batch_module=batch_module, atomics_module=atomics_module,
                             err_type=err_type)
    return Bucket(raw, **options)


__all__ = ["CONDITIONS", "Bucket", "BucketOptions", "Condition", "open", "wrap"]
