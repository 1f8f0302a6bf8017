"""kvbatch.aio: per-key batch outcomes over an async key-value store, with bounded concurrency.

    import kvbatch.aio
    bucket = await kvbatch.aio.open("default", max_concurrency=16)   # inside a Spin component
    result = await bucket.set_many({"a": b"1", "b": b"2"})
    result.raise_for_failures()

Written for Spin SDK 5's `spin_sdk.key_value` (`spin:key-value@3.0.0`, async, per key, no
batch, no compare-and-swap): `wrap(store, name)` takes a `spin_sdk.key_value.Store` (or any
object with coroutine methods `get`/`set`/`delete`/`exists`). Results, errors, limits, retry
policies and validation are the sync library's (`kvbatch.BatchResult`, `kvbatch.RetryPolicy`,
...), and so is the promise: every distinct key in exactly one group on every exit path,
cancellation included. Stdlib only; every submodule is imported here because inside a
component only modules imported at build time exist at run time.
"""

from . import testing
from .bucket import DEFAULT_MAX_CONCURRENCY, AsyncBucket, BucketOptions, Completed, Completions, open, wrap
from .builder import AsyncBuilder
from .store import AsyncCasStore, AsyncStore, StoreAdapter, has_cas
from .writer import AsyncWriter

__all__ = [
    "DEFAULT_MAX_CONCURRENCY",
    "AsyncBucket",
    "AsyncBuilder",
    "AsyncCasStore",
    "AsyncStore",
    "AsyncWriter",
    "BucketOptions",
    "Completed",
    "Completions",
    "StoreAdapter",
    "has_cas",
    "open",
    "testing",
    "wrap",
]
