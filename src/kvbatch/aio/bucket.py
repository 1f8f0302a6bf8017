"""`AsyncBucket`: batch operations with per-key outcomes over an async per-key store, concurrently.

How a batch runs: the distinct keys are taken in input order by at most `max_concurrency`
workers; each worker settles one key at a time (its call, its retries, its read-back), so at
most `max_concurrency` store calls are in flight at any moment. Over `spin:key-value@3.0.0`
every call answers for exactly one key, so no outcome needs attributing: each key's own call
says what happened to it.

* **Retry.** A key whose error `RetryPolicy.retry_on` accepts (by default `StoreError`) is
  retried after an exponential backoff with jitter, until `attempts` or the operation's time
  `budget` runs out. Other keys keep going meanwhile.
* **Verification.** A write whose last attempt returned an error may still have been applied.
  With `verify=True` (the default) the key is read back: a `set` key holding the new value, or
  a deleted key that is absent, is `succeeded`; otherwise `failed`. If the read fails too, or
  with `verify=False`, the key is `unknown`: never guessed.
* **Conditional writes** (`only_if`, `insert`/`update`, `copy_many(overwrite=False)`) need a
  store with compare-and-swap (see `kvbatch.aio.store`); without one they raise `Unsupported`
  before anything is sent. A key is `succeeded` only when its own compare-and-swap answered
  that it wrote; after a swap that errored, it is `failed` only if a read-back finds the old
  state, otherwise `unknown` (another writer's identical value proves nothing).

Every exit path accounts for every distinct key: `no-such-store`/`access-denied`
(`CapabilityError`) stop the operation at once, whatever `stop_on_error` says; they, and
anything else that ends an operation (a store that raises something else, a callback, the
task being cancelled), propagate with `partial`: the keys settled so far with their outcomes,
the keys in flight `unknown` for a write that was sent (`not_attempted` for a read, or a write
not yet sent), the rest `not_attempted`.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import time
from dataclasses import dataclass
from typing import (
    Any,
    AsyncIterable,
    AsyncIterator,
    Awaitable,
    Callable,
    Dict,
    Generic,
    Iterable,
    List,
    Mapping,
    Optional,
    Sequence,
    Tuple,
    TypedDict,
    TypeVar,
    Union,
    Unpack,
    cast,
)

from ..bucket import CONDITIONS, Condition, _distinct, _read, _repeated, _reporter
from ..errors import (
    CapabilityError,
    CasConflict,
    KeyExists,
    KeyNotFound,
    KvError,
    StoreError,
    Unsupported,
    ValidationError,
    attach_partial,
)
from ..limits import DEFAULT_CHUNK_SIZE, MAX_CAS_ATTEMPTS, MAX_KEY_BYTES, MAX_KEYS_PER_CALL, MAX_VALUE_BYTES
from ..results import _SUCCEEDED, BatchResult, CopyResult, ExistsResult, GetResult, Status, _build
from ..retry import RetryPolicy
from ..settings import BucketSettings, check_chunking, check_concurrency
from ..stats import ErrorCallback, Progress, ProgressCallback, Stats
from ..validation import Items, Pairs, check_items, check_key, check_keys, check_pairs, check_value
from .builder import AsyncBuilder
from .store import AsyncCasStore, AsyncStore, StoreAdapter, has_cas, translate
from .writer import AsyncWriter

T = TypeVar("T")
Outcome = Tuple[Status, Optional[KvError]]
_OK: Outcome = _SUCCEEDED
Work = Callable[["_Run", str, "_Slot"], Awaitable[Tuple[Outcome, Any]]]

DEFAULT_MAX_CONCURRENCY = 8
"""Most store calls one operation keeps in flight unless told otherwise.

Each call in flight holds a host resource (a pending request, and under `wasmtime serve` a
task of the serving instance); 8 overlaps enough latency to matter while staying far below
what a host serves at once. Raise it per bucket or per call (`max_concurrency=`) where the
store answers many calls in parallel; `max_concurrency=1` is one call at a time.
"""

WRITES = ("set_many", "delete_many", "copy_many")


class _Slot:
    """A key being settled by a worker: whether a call for it has been sent yet."""

    __slots__ = ("sent",)

    def __init__(self) -> None:
        self.sent = False


class _Run:
    """The state of one operation: its policy, counters, clock, and the calls in flight."""

    def __init__(self, policy: RetryPolicy, clock: Callable[[], float]) -> None:
        self.policy = policy
        self.stats = Stats()
        self.clock = clock
        self.started = clock()
        self.policy_started = policy.clock()

    def may_retry(self, attempt: int) -> Optional[float]:
        """The delay before the retry that follows `attempt`, or `None` if no retry is left."""
        policy = self.policy
        if attempt >= policy.attempts:
            return None
        delay = policy.delay(attempt)
        if policy.budget is not None and policy.clock() - self.policy_started + delay > policy.budget:
            return None
        return delay


@dataclass(frozen=True)
class Completed:
    """One key's final outcome in a completion-order stream: its `index` (first position in
    the input), `key`, `status`, the `value` read (a get; `None` when missing or not read),
    whether it was `found` (a get), and the `error` if it failed or is unknown."""

    index: int
    key: str
    status: Status
    value: Optional[bytes] = None
    error: Optional[KvError] = None
    found: bool = False

    @property
    def ok(self) -> bool:
        return self.status == "succeeded"


R = TypeVar("R", bound=BatchResult)


class Completions(Generic[R]):
    """An async iterator of `Completed`, one per distinct key, in the order keys complete.

    Nothing is sent before the first `__anext__`. Leaving the loop early (`break`, or
    `aclose()`) cancels the keys still in flight. `result` is the whole per-key result once
    the stream has ended (exhausted, closed, or ended by an exception): every distinct key is
    in it, those never yielded included.
    """

    def __init__(self, start: Callable[[Callable[[int, str, Outcome, Any], None]], Awaitable[R]]) -> None:
        self._start = start
        self._queue: "asyncio.Queue[Optional[Completed]]" = asyncio.Queue()
        self._task: Optional["asyncio.Future[R]"] = None
        self._result: Optional[R] = None
        self._done = False

    @property
    def result(self) -> R:
        """The operation's result (`RuntimeError` before the stream has ended)."""
        if self._result is None:
            raise RuntimeError("the stream has not ended yet: iterate it to the end or aclose() it first")
        return self._result

    def _emit(self, index: int, key: str, outcome: Outcome, answer: Any) -> None:
        status, error = outcome
        value = answer if isinstance(answer, bytes) else None
        self._queue.put_nowait(Completed(index, key, status, value, error, found=value is not None))

    async def _run(self) -> R:
        try:
            return await self._start(self._emit)
        finally:
            self._queue.put_nowait(None)

    def __aiter__(self) -> "Completions[R]":
        return self

    async def __anext__(self) -> Completed:
        if self._done:
            raise StopAsyncIteration
        if self._task is None:
            self._task = asyncio.ensure_future(self._run())
        item = await self._queue.get()
        if item is not None:
            return item
        self._done = True
        try:
            self._result = self._task.result()
        except BaseException as err:
            partial = getattr(err, "partial", None)
            if isinstance(partial, BatchResult):
                self._result = partial  # type: ignore[assignment]
            raise
        raise StopAsyncIteration

    async def aclose(self) -> None:
        """Stops the stream: keys in flight are cancelled (and accounted for in `result`)."""
        self._done = True
        task = self._task
        if task is None:
            return
        if not task.done():
            task.cancel()
        try:
            self._result = await task
        except BaseException as err:
            partial = getattr(err, "partial", None)
            if isinstance(partial, BatchResult):
                self._result = partial  # type: ignore[assignment]
            if not isinstance(err, asyncio.CancelledError):
                raise


class AsyncBucket(BucketSettings):
    """Batch operations with per-key outcomes over an `AsyncStore`, at most `max_concurrency`
    store calls in flight.

    `chunk_size` is how many keys an `iter_*` step takes and how often `progress` is reported;
    `retry`, `verify` and `max_concurrency` are the defaults of every operation (each call may
    override them). Keys and values are checked against `max_key_bytes`/`max_value_bytes`
    (Spin's limits by default) before anything is sent. `stats` accumulates the work of every
    operation.
    """

    def __init__(
        self,
        store: AsyncStore,
        *,
        max_concurrency: int = DEFAULT_MAX_CONCURRENCY,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
        retry: Optional[RetryPolicy] = None,
        verify: bool = True,
        max_key_bytes: int = MAX_KEY_BYTES,
        max_value_bytes: int = MAX_VALUE_BYTES,
        max_keys_per_call: int = MAX_KEYS_PER_CALL,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        check_concurrency(max_concurrency)
        super().__init__(chunk_size=chunk_size, retry=retry, verify=verify, max_key_bytes=max_key_bytes,
                         max_value_bytes=max_value_bytes, max_keys_per_call=max_keys_per_call, clock=clock)
        self.store = store
        self.max_concurrency = max_concurrency

    @property
    def name(self) -> str:
        return str(getattr(self.store, "name", ""))

    @property
    def has_cas(self) -> bool:
        """Whether conditional writes are possible here (the store has compare-and-swap)."""
        return has_cas(self.store)

    def __repr__(self) -> str:
        return f"AsyncBucket({self.name!r}, max_concurrency={self.max_concurrency})"

    async def __aenter__(self) -> "AsyncBucket":
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Releases the underlying store resource, if it has one."""
        close = getattr(self.store, "close", None)
        if callable(close):
            close()

    # -- single keys ---------------------------------------------------------------------

    async def get(self, key: str) -> Optional[bytes]:
        """The value at `key`, or `None`. One store call; errors are raised."""
        return await self.store.get(check_key(key, max_key_bytes=self.max_key_bytes))

    async def set(self, key: str, value: bytes) -> None:
        """Writes `value` at `key`. One store call; errors are raised."""
        key = check_key(key, max_key_bytes=self.max_key_bytes)
        await self.store.set(key, check_value(key, value, max_value_bytes=self.max_value_bytes))

    async def delete(self, key: str) -> None:
        """Deletes `key` (a missing key is not an error). One store call; errors are raised."""
        await self.store.delete(check_key(key, max_key_bytes=self.max_key_bytes))

    async def exists(self, key: str) -> bool:
        """Whether `key` holds a value. One store call; errors are raised."""
        return await self.store.exists(check_key(key, max_key_bytes=self.max_key_bytes))

    # -- batches ------------------------------------------------------------------------

    async def get_many(self, keys: Iterable[str], *, max_concurrency: Optional[int] = None, stop_on_error: bool = False,
                       retry: Optional[RetryPolicy] = None, progress: Optional[ProgressCallback] = None,
                       on_error: Optional[ErrorCallback] = None, raise_on_error: bool = False) -> GetResult:
        """Reads `keys`: the values found, the keys missing and the keys that failed.

        Each distinct key is read once (duplicates are listed in `duplicates`). A partial
        failure is reported in the result, not raised, unless `raise_on_error` is set (then
        `BatchFailed`). `on_error(key, index, error)` is called for each key whose read
        failed, as soon as it is final (in completion order).
        """
        wanted = check_keys(keys, max_key_bytes=self.max_key_bytes, max_keys=self.max_keys_per_call)
        result = await self._get_many(wanted, max_concurrency, stop_on_error, retry, progress, on_error, 0, None)
        if raise_on_error:
            result.raise_for_failures()
        return result

    async def _get_many(self, wanted: List[str], max_concurrency: Optional[int], stop_on_error: bool,
                        retry: Optional[RetryPolicy], progress: Optional[ProgressCallback],
                        on_error: Optional[ErrorCallback], base: int,
                        emit: Optional[Callable[[int, str, Outcome, Any], None]]) -> GetResult:
        distinct, duplicates = _distinct(wanted)
        store = self.store

        async def work(run: _Run, key: str, slot: _Slot) -> Tuple[Outcome, Any]:
            try:
                return _OK, await self._retrying(run, slot, lambda: store.get(key))
            except CapabilityError:
                raise
            except KvError as err:
                return ("failed", err), None

        answers: Dict[str, Any] = {}
        try:
            base_result = await self._drive("get_many", distinct, duplicates, work, answers, max_concurrency,
                                            stop_on_error, retry, progress, _reporter(on_error, wanted, base), emit)
        except BaseException as err:
            partial = getattr(err, "partial", None)
            if isinstance(partial, BatchResult):
                attach_partial(err, _as_get(partial, answers))
            raise
        return _as_get(base_result, answers)

    async def set_many(self, items: Items, *, only_if: Optional[Condition] = None, max_concurrency: Optional[int] = None,
                       stop_on_error: bool = False, retry: Optional[RetryPolicy] = None,
                       progress: Optional[ProgressCallback] = None, verify: Optional[bool] = None,
                       on_error: Optional[ErrorCallback] = None) -> BatchResult:
        """Writes `items` (a mapping or `(key, value)` pairs); returns each key's outcome.

        A key given more than once is written once, with the **last** value given, and is
        listed in `duplicates`. Every key and value is checked before anything is sent.
        `only_if="absent"` writes a key only if it holds no value (else `failed` with
        `KeyExists`), `only_if="present"` only if it holds one (else `failed` with
        `KeyNotFound`), race-free through the store's compare-and-swap; a store without one
        (spin:key-value@3.0.0) raises `Unsupported` before anything is sent.
        """
        self.check_condition(only_if, "set_many")
        pairs = check_items(items, max_key_bytes=self.max_key_bytes, max_value_bytes=self.max_value_bytes,
                            max_keys=self.max_keys_per_call)
        return await self._set_many(pairs, only_if, max_concurrency, stop_on_error, retry, progress, verify, on_error, 0,
                                    None)

    async def _set_many(self, pairs: List[Tuple[str, bytes]], only_if: Optional[Condition],
                        max_concurrency: Optional[int], stop_on_error: bool, retry: Optional[RetryPolicy],
                        progress: Optional[ProgressCallback], verify: Optional[bool],
                        on_error: Optional[ErrorCallback], base: int,
                        emit: Optional[Callable[[int, str, Outcome, Any], None]]) -> BatchResult:
        latest: Dict[str, bytes] = dict(pairs)  # first position, last value
        duplicates = _repeated([key for key, _ in pairs]) if len(latest) != len(pairs) else ()
        do_verify = self.verify if verify is None else verify

        async def work(run: _Run, key: str, slot: _Slot) -> Tuple[Outcome, Any]:
            if only_if is not None:
                return await self._conditional_write(run, slot, self.store, key, latest[key], only_if, do_verify), None
            return await self._plain_write(run, slot, self.store, key, latest[key], do_verify), None

        reporter = _reporter(on_error, [key for key, _ in pairs], base)
        return await self._drive("set_many", list(latest), duplicates, work, {}, max_concurrency, stop_on_error, retry,
                                 progress, reporter, emit)

    async def delete_many(self, keys: Iterable[str], *, missing_ok: bool = True, max_concurrency: Optional[int] = None,
                          stop_on_error: bool = False, retry: Optional[RetryPolicy] = None,
                          progress: Optional[ProgressCallback] = None, verify: Optional[bool] = None,
                          on_error: Optional[ErrorCallback] = None) -> BatchResult:
        """Deletes `keys`; returns each distinct key's outcome.

        A missing key is not an error (`missing_ok=True`): deleting it succeeds. With
        `missing_ok=False` each key is checked first: a missing key `failed` with
        `KeyNotFound` and is not deleted.
        """
        wanted = check_keys(keys, max_key_bytes=self.max_key_bytes, max_keys=self.max_keys_per_call)
        return await self._delete_many(wanted, missing_ok, max_concurrency, stop_on_error, retry, progress, verify,
                                       on_error, None)

    async def _delete_many(self, wanted: List[str], missing_ok: bool, max_concurrency: Optional[int],
                           stop_on_error: bool, retry: Optional[RetryPolicy], progress: Optional[ProgressCallback],
                           verify: Optional[bool], on_error: Optional[ErrorCallback],
                           emit: Optional[Callable[[int, str, Outcome, Any], None]]) -> BatchResult:
        distinct, duplicates = _distinct(wanted)
        store = self.store
        do_verify = self.verify if verify is None else verify

        async def work(run: _Run, key: str, slot: _Slot) -> Tuple[Outcome, Any]:
            if not missing_ok:
                try:
                    found = await self._retrying(run, slot, lambda: store.exists(key))
                except CapabilityError:
                    raise
                except KvError as err:
                    return ("failed", err), None
                if not found:
                    return ("failed", KeyNotFound(key)), None
            try:
                await self._retrying(run, slot, lambda: store.delete(key))
            except CapabilityError:
                raise
            except KvError as err:
                return await self._in_doubt(run, err, lambda: _absent(store, key), do_verify), None
            return _OK, None

        return await self._drive("delete_many", distinct, duplicates, work, {}, max_concurrency, stop_on_error, retry,
                                 progress, _reporter(on_error, wanted, 0), emit)

    async def exists_many(self, keys: Iterable[str], *, max_concurrency: Optional[int] = None,
                          stop_on_error: bool = False, retry: Optional[RetryPolicy] = None,
                          progress: Optional[ProgressCallback] = None,
                          on_error: Optional[ErrorCallback] = None) -> ExistsResult:
        """Whether each key holds a value: a mapping key → bool over the keys answered, with
        keys whose check failed in `failed` (and passed to `on_error`)."""
        wanted = check_keys(keys, max_key_bytes=self.max_key_bytes, max_keys=self.max_keys_per_call)
        distinct, duplicates = _distinct(wanted)
        store = self.store

        async def work(run: _Run, key: str, slot: _Slot) -> Tuple[Outcome, Any]:
            try:
                return _OK, await self._retrying(run, slot, lambda: store.exists(key))
            except CapabilityError:
                raise
            except KvError as err:
                return ("failed", err), None

        answers: Dict[str, Any] = {}
        base = await self._drive("exists_many", distinct, duplicates, work, answers, max_concurrency, stop_on_error,
                                 retry, progress, _reporter(on_error, wanted, 0), None)
        return ExistsResult(succeeded=base.succeeded, failed=base.failed, not_attempted=base.not_attempted,
                            duplicates=base.duplicates, order=base.order, operation="exists_many", stats=base.stats,
                            exists={k: bool(answers[k]) for k in base.succeeded})

    async def copy_many(self, pairs: Pairs, *, overwrite: bool = False, to: Optional["AsyncBucket"] = None,
                        missing_ok: bool = False, max_concurrency: Optional[int] = None, stop_on_error: bool = False,
                        retry: Optional[RetryPolicy] = None, progress: Optional[ProgressCallback] = None,
                        verify: Optional[bool] = None, on_error: Optional[ErrorCallback] = None) -> CopyResult:
        """Copies each `(source, destination)` pair's value, within this bucket or into bucket
        `to`; returns each pair's outcome **keyed by source**.

        Each source is read, then its destination written. With `overwrite=False` (the
        default) a destination that holds a value is never replaced, even by a writer racing
        between the check and the write: that needs compare-and-swap, so a destination store
        without it (spin:key-value@3.0.0) raises `Unsupported` before anything is sent (pass
        `overwrite=True` to copy with plain writes). A source with no value `failed` with
        `KeyNotFound`, unless `missing_ok` (then nothing is copied, the pair `succeeded` and
        the source is listed in `missing`). Sources and destinations are checked as in the
        sync `Bucket.copy_many`.
        """
        target = to if to is not None else self
        checked = check_pairs(pairs, max_key_bytes=self.max_key_bytes, max_destination_bytes=target.max_key_bytes,
                              max_keys=self.max_keys_per_call, same_bucket=to is None or to.store is self.store)
        if not overwrite and not has_cas(target.store):
            raise Unsupported(f"copy_many(overwrite=False) into store {target.name!r} needs compare-and-swap to leave "
                              "existing destinations untouched, and this store has none (spin:key-value@3.0.0 has no "
                              "cas): pass overwrite=True")
        destination = dict(checked)
        sources = list(destination)
        missing: List[str] = []
        store, out = self.store, target.store
        do_verify = self.verify if verify is None else verify

        async def work(run: _Run, src: str, slot: _Slot) -> Tuple[Outcome, Any]:
            try:
                value = await self._retrying(run, slot, lambda: store.get(src))
            except CapabilityError:
                raise
            except KvError as err:
                return ("failed", err), None
            if value is None:
                if missing_ok:
                    missing.append(src)
                    return _OK, None
                return ("failed", KeyNotFound(src)), None
            dst = destination[src]
            try:
                data = check_value(dst, value, max_value_bytes=target.max_value_bytes)
            except ValidationError as err:  # the destination allows less than the source
                return ("failed", err), None
            slot.sent = False  # from here on, a write: in flight means in doubt once it is sent
            if overwrite:
                return await self._plain_write(run, slot, out, dst, data, do_verify), None
            return await self._conditional_write(run, slot, out, dst, data, "absent", do_verify), None

        def as_copy(result: BatchResult) -> CopyResult:
            reported = set(result.succeeded)
            return CopyResult(succeeded=result.succeeded, failed=result.failed, unknown=result.unknown,
                              not_attempted=result.not_attempted, unknown_errors=result.unknown_errors,
                              order=result.order, operation="copy_many", stats=result.stats, pairs=destination,
                              missing=tuple(k for k in sources if k in reported and k in missing))

        try:
            result = await self._drive("copy_many", sources, (), work, {}, max_concurrency, stop_on_error, retry,
                                       progress, _reporter(on_error, sources, 0), None)
        except BaseException as err:
            partial = getattr(err, "partial", None)
            if isinstance(partial, BatchResult):
                attach_partial(err, as_copy(partial))
            raise
        return as_copy(result)

    # -- streams ----------------------------------------------------------------------------

    async def iter_get_many(self, keys: Union[Iterable[str], AsyncIterable[str]], *, chunk_size: Optional[int] = None,
                            max_concurrency: Optional[int] = None, stop_on_error: bool = False,
                            retry: Optional[RetryPolicy] = None,
                            on_error: Optional[ErrorCallback] = None) -> AsyncIterator[GetResult]:
        """Reads `keys` (any iterable or async iterable) `chunk_size` keys at a time, yielding
        each chunk's `GetResult` in input order once the chunk is read (its keys concurrently).

        Only one chunk is held at a time, so any number of keys is read in bounded memory.
        Nothing is taken from `keys` before the first step, and nothing more after the loop
        stops. A bad key raises `ValidationError` (naming its position) when its chunk is
        reached; with `stop_on_error`, iteration ends after the first chunk with a failed key.
        """
        size = self._chunk(chunk_size)
        _reject_single(keys, "keys")
        start = 0
        source = _aiter(keys)
        while True:
            taken: List[Any] = []
            try:
                await _take(source, size, taken)
                if not taken:
                    return
                chunk = check_keys(taken, max_key_bytes=self.max_key_bytes, max_keys=size, start=start)
            except BaseException as err:
                _unsent(err, taken, "iter_get_many", lambda k: k)
                raise
            result = await self._get_many(chunk, max_concurrency, False, retry, None, on_error, start, None)
            start += len(chunk)
            yield result
            if stop_on_error and not result.all_succeeded:
                return

    async def iter_set_many(self, items: Union[Items, AsyncIterable[Tuple[str, bytes]]], *,
                            only_if: Optional[Condition] = None, chunk_size: Optional[int] = None,
                            max_concurrency: Optional[int] = None, stop_on_error: bool = False,
                            retry: Optional[RetryPolicy] = None, verify: Optional[bool] = None,
                            on_error: Optional[ErrorCallback] = None) -> AsyncIterator[BatchResult]:
        """Writes `items` (a mapping, or any iterable or async iterable of `(key, value)`
        pairs) `chunk_size` items at a time, yielding each chunk's `BatchResult` in input
        order once it is written (its keys concurrently). Bounded memory; nothing taken
        before the first step nor after the loop stops; a key named in two chunks is written
        twice, in order, so its last value wins. A chunk ended before it is sent (a bad item
        raises `ValidationError` naming its position; the caller's iterator may raise too)
        sends nothing, and the exception's `partial` lists the keys taken for it `not_attempted`."""
        size = self._chunk(chunk_size)
        self.check_condition(only_if, "iter_set_many")
        _reject_single(items, "items")
        source = _aiter(items.items() if isinstance(items, Mapping) else items)
        start = 0
        while True:
            taken: List[Any] = []
            try:
                await _take(source, size, taken)
                if not taken:
                    return
                chunk = check_items(taken, max_key_bytes=self.max_key_bytes, max_value_bytes=self.max_value_bytes,
                                    max_keys=size, start=start)
            except BaseException as err:
                _unsent(err, taken, "iter_set_many", lambda item: item[0] if isinstance(item, tuple) and item else None)
                raise
            result = await self._set_many(chunk, only_if, max_concurrency, False, retry, None, verify, on_error, start,
                                          None)
            start += len(chunk)
            yield result
            if stop_on_error and not result.all_succeeded:
                return

    def stream_get_many(self, keys: Iterable[str], *, max_concurrency: Optional[int] = None, stop_on_error: bool = False,
                        retry: Optional[RetryPolicy] = None, progress: Optional[ProgressCallback] = None,
                        on_error: Optional[ErrorCallback] = None) -> Completions[GetResult]:
        """Reads `keys` concurrently, yielding each distinct key's `Completed` as soon as it is
        read (completion order; `index` is the key's first position in `keys`). The keys are
        checked now; `result` (a `GetResult`) is there once the stream has ended."""
        wanted = check_keys(keys, max_key_bytes=self.max_key_bytes, max_keys=self.max_keys_per_call)
        return Completions(lambda emit: self._get_many(wanted, max_concurrency, stop_on_error, retry, progress, on_error,
                                                       0, _indexed(emit, wanted)))

    def stream_set_many(self, items: Items, *, only_if: Optional[Condition] = None,
                        max_concurrency: Optional[int] = None, stop_on_error: bool = False,
                        retry: Optional[RetryPolicy] = None, progress: Optional[ProgressCallback] = None,
                        verify: Optional[bool] = None, on_error: Optional[ErrorCallback] = None
                        ) -> Completions[BatchResult]:
        """Writes `items` concurrently, yielding each distinct key's `Completed` as soon as its
        outcome is final (completion order). Items are checked now."""
        self.check_condition(only_if, "stream_set_many")
        pairs = check_items(items, max_key_bytes=self.max_key_bytes, max_value_bytes=self.max_value_bytes,
                            max_keys=self.max_keys_per_call)
        return Completions(lambda emit: self._set_many(pairs, only_if, max_concurrency, stop_on_error, retry, progress,
                                                       verify, on_error, 0, _indexed(emit, [k for k, _ in pairs])))

    def stream_delete_many(self, keys: Iterable[str], *, missing_ok: bool = True, max_concurrency: Optional[int] = None,
                           stop_on_error: bool = False, retry: Optional[RetryPolicy] = None,
                           progress: Optional[ProgressCallback] = None, verify: Optional[bool] = None,
                           on_error: Optional[ErrorCallback] = None) -> Completions[BatchResult]:
        """Deletes `keys` concurrently, yielding each distinct key's `Completed` as soon as its
        outcome is final (completion order). Keys are checked now."""
        wanted = check_keys(keys, max_key_bytes=self.max_key_bytes, max_keys=self.max_keys_per_call)
        return Completions(lambda emit: self._delete_many(wanted, missing_ok, max_concurrency, stop_on_error, retry,
                                                          progress, verify, on_error, _indexed(emit, wanted)))

    # -- writer and builder ---------------------------------------------------------------

    def writer(self, *, flush_at: Optional[int] = None, flush_on_error: bool = False, stop_on_error: bool = False,
               retry: Optional[RetryPolicy] = None, progress: Optional[ProgressCallback] = None) -> AsyncWriter:
        """A buffered writer (`async with`): see `kvbatch.aio.writer.AsyncWriter`. It flushes
        every `flush_at` distinct keys (default: `chunk_size`) and on a clean exit."""
        return AsyncWriter(self, flush_at=flush_at or self.chunk_size, flush_on_error=flush_on_error,
                           stop_on_error=stop_on_error, retry=retry, progress=progress)

    def builder(self) -> AsyncBuilder:
        """A mixed-operation builder: see `kvbatch.aio.builder.AsyncBuilder`."""
        return AsyncBuilder(self)

    def check_condition(self, only_if: Optional[Condition], operation: str = "set_many") -> None:
        """Raises `ValueError` for an unknown `only_if`, and `Unsupported` when `only_if` is set
        and the store has no compare-and-swap; does nothing otherwise."""
        if only_if is None:
            return
        if only_if not in CONDITIONS:
            raise ValueError(f"only_if must be one of {', '.join(map(repr, CONDITIONS))} or None, got {only_if!r}")
        if not has_cas(self.store):
            raise Unsupported(f"{operation}(only_if={only_if!r}) on store {self.name!r} needs compare-and-swap to be "
                              "race-free, and this store has none (spin:key-value@3.0.0 has no cas): use only_if=None")

    # -- the engine -----------------------------------------------------------------------

    def _chunk(self, chunk_size: Optional[int]) -> int:
        size = chunk_size if chunk_size is not None else self.chunk_size
        check_chunking(size)
        return size

    async def _drive(self, operation: str, keys: List[str], duplicates: Sequence[str], work: Work,
                     answers: Dict[str, Any], max_concurrency: Optional[int], stop_on_error: bool,
                     retry: Optional[RetryPolicy], progress: Optional[ProgressCallback],
                     report: Optional[Callable[[str, Outcome], None]],
                     emit: Optional[Callable[[int, str, Outcome, Any], None]]) -> BatchResult:
        """Settles every key of `keys` with `work`, at most `max_concurrency` at a time; the result.

        Any exception that ends the run (a capability error, what a store, callback, clock or
        sleep raised, or the task's cancellation) propagates with `partial` set.
        """
        limit = max_concurrency if max_concurrency is not None else self.max_concurrency
        check_concurrency(limit)
        every = self.chunk_size
        in_flight: Status = "unknown" if operation in WRITES else "not_attempted"
        outcomes: Dict[str, Outcome] = {}
        slots: Dict[str, _Slot] = {}
        counts = {"succeeded": 0, "failed": 0, "unknown": 0}
        total = len(keys)
        state = {"next": 0, "stop": False}
        try:
            run = _Run(retry if retry is not None else self.retry, self._clock)
        except BaseException as err:  # a policy's clock that raises: nothing was sent
            attach_partial(err, _build(BatchResult, dict.fromkeys(keys), dict.fromkeys(keys, ("not_attempted", None)),
                                       tuple(duplicates), operation, Stats()))
            raise

        async def worker() -> None:
            while not state["stop"] and state["next"] < total:
                index = state["next"]
                state["next"] = index + 1
                key = keys[index]
                slot = slots[key] = _Slot()
                outcome, answer = await work(run, key, slot)
                del slots[key]
                outcomes[key] = outcome
                if outcome[0] == "succeeded":
                    answers[key] = answer
                if outcome[0] in counts:
                    counts[outcome[0]] += 1
                if outcome[0] != "succeeded" and stop_on_error:
                    state["stop"] = True
                if report is not None:
                    report(key, outcome)
                if emit is not None:
                    emit(index, key, outcome, answer)
                done = len(outcomes)
                if progress is not None and (done % every == 0 or done == total):
                    progress(Progress(done, total, counts["succeeded"], counts["failed"], counts["unknown"]))

        tasks = [asyncio.ensure_future(worker()) for _ in range(min(limit, total))]
        try:
            if tasks:
                finished, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
                failure = next((t.exception() for t in tasks if t.done() and not t.cancelled() and t.exception()), None)
                if failure is not None:
                    raise failure
        except BaseException as err:
            for task in tasks:
                task.cancel()
            await _settle_tasks(tasks)
            for key, slot in slots.items():
                outcomes.setdefault(key, (in_flight if slot.sent else "not_attempted", None))
            for key in keys:
                outcomes.setdefault(key, ("not_attempted", None))
            run.stats.elapsed = self._clock() - run.started
            self.stats.add(run.stats)
            attach_partial(err, _build(BatchResult, dict.fromkeys(keys), outcomes, tuple(duplicates), operation,
                                       run.stats))
            raise
        run.stats.elapsed = self._clock() - run.started
        self.stats.add(run.stats)
        if len(outcomes) < total:
            for key in keys:
                outcomes.setdefault(key, ("not_attempted", None))
        return _build(BatchResult, dict.fromkeys(keys), outcomes, tuple(duplicates), operation, run.stats)

    async def _call(self, run: _Run, slot: _Slot, make: Callable[[], Awaitable[T]]) -> T:
        """One store call, counted."""
        slot.sent = True
        run.stats.calls += 1
        return await make()

    async def _retrying(self, run: _Run, slot: _Slot, make: Callable[[], Awaitable[T]]) -> T:
        """`make()` until it answers, retrying what the policy retries; raises the last `KvError`."""
        attempt = 1
        while True:
            try:
                return await self._call(run, slot, make)
            except CapabilityError:
                raise
            except KvError as err:
                if not run.policy.should_retry(err):
                    raise
                delay = run.may_retry(attempt)
                if delay is None:
                    raise
            await self._sleep(run.policy, delay)
            run.stats.retries += 1
            attempt += 1

    async def _sleep(self, policy: RetryPolicy, delay: float) -> None:
        """Waits `delay` seconds before a retry: with the policy's own `sleep` when one was given
        (awaited if it returns an awaitable), else `asyncio.sleep` (or, on an event loop without
        timers, a blocking `time.sleep`)."""
        if delay <= 0:
            return
        if policy.sleep is not time.sleep:
            outcome: object = cast(Callable[[float], object], policy.sleep)(delay)
            if inspect.isawaitable(outcome):
                await outcome
            return
        try:
            await asyncio.sleep(delay)
        except NotImplementedError:  # componentize-py's event loop has no timers (call_later)
            time.sleep(delay)

    async def _in_doubt(self, run: _Run, error: KvError, applied: Callable[[], Awaitable[bool]],
                        verify: bool) -> Outcome:
        """The outcome of a write whose last attempt raised `error`: read back when `verify`
        (`succeeded` if it took effect, else `failed`), `unknown` when it cannot be read back."""
        if not verify:
            return ("unknown", error)
        run.stats.verified += 1
        run.stats.calls += 1
        try:
            took = await applied()
        except CapabilityError:
            raise
        except KvError:
            return ("unknown", error)
        return _OK if took else ("failed", error)

    async def _plain_write(self, run: _Run, slot: _Slot, store: AsyncStore, key: str, value: bytes,
                           verify: bool) -> Outcome:
        try:
            await self._retrying(run, slot, lambda: store.set(key, value))
        except CapabilityError:
            raise
        except KvError as err:
            return await self._in_doubt(run, err, lambda: _holds(store, key, value), verify)
        return _OK

    async def _conditional_write(self, run: _Run, slot: _Slot, store: AsyncStore, key: str, value: bytes,
                                 only_if: Condition, verify: bool) -> Outcome:
        """Writes `key` only if `only_if` holds, race-free; retries what left nothing written."""
        attempt = 1
        while True:
            outcome = await self._cas_attempt(run, slot, store, key, value, only_if, verify)
            error = outcome[1]
            if outcome[0] != "failed" or not isinstance(error, StoreError) or not run.policy.should_retry(error):
                return outcome
            delay = run.may_retry(attempt)
            if delay is None:
                return outcome
            await self._sleep(run.policy, delay)
            run.stats.retries += 1
            attempt += 1

    async def _cas_attempt(self, run: _Run, slot: _Slot, store: AsyncStore, key: str, value: bytes,
                           only_if: Condition, verify: bool) -> Outcome:
        swap = cast(AsyncCasStore, store).compare_and_swap
        for _ in range(MAX_CAS_ATTEMPTS):
            try:
                current = await self._call(run, slot, lambda: store.get(key))
            except CapabilityError:
                raise
            except KvError as err:
                return ("failed", err)  # nothing written
            if only_if == "absent" and current is not None:
                return ("failed", KeyExists(key))
            if only_if == "present" and current is None:
                return ("failed", KeyNotFound(key))
            try:
                swapped = await self._call(run, slot, functools.partial(swap, key, current, value))
            except CapabilityError:
                raise
            except KvError as err:
                # The swap may have been applied: the old state read back proves it was not;
                # anything else (this value included: another writer's) leaves it unknown.
                if not verify:
                    return ("unknown", err)
                run.stats.verified += 1
                try:
                    now = await self._call(run, slot, lambda: store.get(key))
                except CapabilityError:
                    raise
                except KvError:
                    return ("unknown", err)
                return ("failed", err) if now == current else ("unknown", err)
            if swapped:
                return _OK
        return ("failed", CasConflict(key, MAX_CAS_ATTEMPTS))


# -- helpers ----------------------------------------------------------------------------------


async def _holds(store: AsyncStore, key: str, value: bytes) -> bool:
    return await store.get(key) == value


async def _absent(store: AsyncStore, key: str) -> bool:
    return not await store.exists(key)


def _as_get(base: BatchResult, answers: Mapping[str, Any]) -> GetResult:
    """`base` as a `GetResult`: the values and missing keys of the keys it reports `succeeded`, in input order."""
    read = [k for k in base.order if k in answers]
    values = {k: answers[k] for k in read if answers[k] is not None}
    return _read(base, values, [k for k in read if answers[k] is None])


def _indexed(emit: Callable[[int, str, Outcome, Any], None],
             wanted: Sequence[str]) -> Callable[[int, str, Outcome, Any], None]:
    """`emit` with each key's index in `wanted` (its first position) instead of its distinct position."""
    first: Dict[str, int] = {}
    for i, key in enumerate(wanted):
        first.setdefault(key, i)
    return lambda index, key, outcome, answer: emit(first[key], key, outcome, answer)


async def _settle_tasks(tasks: Sequence["asyncio.Future[None]"]) -> None:
    """Waits until every task has finished (they were cancelled), whatever they raise."""
    pending = [t for t in tasks if not t.done()]
    while pending:
        try:
            await asyncio.wait(pending)
        except asyncio.CancelledError:  # cancelled again while cleaning up: finish cleaning up first
            for task in pending:
                task.cancel()
        pending = [t for t in pending if not t.done()]
    for task in tasks:
        if not task.cancelled():
            task.exception()  # retrieved, so the loop does not log it as never retrieved


def _reject_single(value: object, what: str) -> None:
    if isinstance(value, (str, bytes)):
        raise ValidationError(f"{what} must be an iterable, not a single {type(value).__name__} ({value!r})")


def _aiter(source: Union[Iterable[T], AsyncIterable[T]]) -> AsyncIterator[T]:
    if hasattr(source, "__aiter__"):
        return source.__aiter__()

    async def items() -> AsyncIterator[T]:
        for item in source:
            yield item

    return items()


async def _take(source: AsyncIterator[T], size: int, taken: List[T]) -> None:
    """Appends up to `size` items of `source` to `taken` (so what was taken survives an exception)."""
    while len(taken) < size:
        try:
            taken.append(await source.__anext__())
        except StopAsyncIteration:
            break


def _unsent(error: BaseException, taken: Sequence[Any], operation: str, key_of: Callable[[Any], Any]) -> None:
    """Sets `error.partial` for a chunk that ended before it was sent (a bad item, or the caller's
    iterator raising): every valid key taken for it is `not_attempted`."""
    keys = [k for k in (key_of(item) for item in taken) if isinstance(k, str) and k]
    distinct = list(dict.fromkeys(keys))
    attach_partial(error, _build(BatchResult, dict.fromkeys(distinct), dict.fromkeys(distinct, ("not_attempted", None)),
                                 _repeated(keys), operation, Stats()))


class BucketOptions(TypedDict, total=False):
    """The `AsyncBucket` settings `open` and `wrap` pass on (see `AsyncBucket`)."""

    max_concurrency: int
    chunk_size: int
    retry: Optional[RetryPolicy]
    verify: bool
    max_key_bytes: int
    max_value_bytes: int
    max_keys_per_call: int


def wrap(store: object, name: str = "", **options: Unpack[BucketOptions]) -> AsyncBucket:
    """An `AsyncBucket` over a store you already opened: a `spin_sdk.key_value.Store`, or any
    object with coroutine methods `get`, `set`, `delete`, `exists` (an `AsyncBucket` is returned
    as it is). `name` is used in error messages and reports."""
    if isinstance(store, AsyncBucket):
        return store
    return AsyncBucket(StoreAdapter(store, name), **options)


_spin_key_value: Any
try:  # inside a Spin component only modules imported at build time exist at run time
    from spin_sdk import key_value as _spin_key_value  # type: ignore[import-not-found,unused-ignore,no-redef]
except ImportError:
    _spin_key_value = None


async def open(name: str = "default", **options: Unpack[BucketOptions]) -> AsyncBucket:
    """Opens Spin key-value store `name` (`spin_sdk.key_value.open`) as an `AsyncBucket`.

    Raises `NoSuchStore`/`AccessDenied` as the host reports them. Works inside a Spin
    component built with spin-sdk 5; elsewhere wrap a store with `wrap(store, name)`.
    """
    if _spin_key_value is None:
        raise RuntimeError("no spin_sdk.key_value here: kvbatch.aio.open works inside a Spin component built with "
                           "spin-sdk 5; elsewhere use kvbatch.aio.wrap(store, name)")
    try:
        store = await _spin_key_value.open(name)
    except Exception as err:
        translated = translate(err, name)
        if translated is err:
            raise
        raise translated from None
    return wrap(store, name, **options)

__all__ = ["DEFAULT_MAX_CONCURRENCY", "AsyncBucket", "BucketOptions", "Completed", "Completions", "open", "wrap"]
