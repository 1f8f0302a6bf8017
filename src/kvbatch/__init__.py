"""kvbatch: batch key-value operations for Python WebAssembly components, every key accounted for.

    import kvbatch
    bucket = kvbatch.open("default")                 # inside a component
    result = bucket.set_many({"a": b"1", "b": b"2"})
    result.raise_for_failures()

Stdlib only: runs inside componentize-py components (CPython 3.14) and on CPython 3.11
(there, wrap any `RawBucket`, e.g. `kvbatch.Bucket(kvbatch.testing.MemoryBucket())`).
Every submodule is imported here, at module level, because inside a component only modules
imported at build time exist at run time.
"""

from . import limits, testing
from .bucket import Bucket, open, wrap
from .builder import Builder, OpResult, Phase
from .errors import (
    AccessDenied,
    BatchFailed,
    CapabilityError,
    KeyNotFound,
    KvError,
    NoSuchStore,
    StoreError,
    ValidationError,
    from_wit_error,
)
from .limits import DEFAULT_CHUNK_BYTES, DEFAULT_CHUNK_SIZE, MAX_KEY_BYTES, MAX_KEYS_PER_CALL, MAX_VALUE_BYTES
from .raw import RawBucket, WitBucket
from .results import BatchResult, ExistsResult, GetResult, Status, combine
from .retry import DEFAULT_RETRY, NO_RETRY, RetryPolicy, is_transient
from .stats import Progress, ProgressCallback, Stats
from .writer import Writer

__all__ = [
    "DEFAULT_CHUNK_BYTES",
    "DEFAULT_CHUNK_SIZE",
    "DEFAULT_RETRY",
    "MAX_KEY_BYTES",
    "MAX_KEYS_PER_CALL",
    "MAX_VALUE_BYTES",
    "NO_RETRY",
    "AccessDenied",
    "BatchFailed",
    "BatchResult",
    "Bucket",
    "Builder",
    "CapabilityError",
    "ExistsResult",
    "GetResult",
    "KeyNotFound",
    "KvError",
    "NoSuchStore",
    "OpResult",
    "Phase",
    "Progress",
    "ProgressCallback",
    "RawBucket",
    "RetryPolicy",
    "Stats",
    "Status",
    "StoreError",
    "ValidationError",
    "WitBucket",
    "Writer",
    "combine",
    "from_wit_error",
    "is_transient",
    "limits",
    "open",
    "testing",
    "wrap",
]
