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
from .bucket import CONDITIONS, Bucket, Condition, open, wrap
from .builder import Builder, OpResult, Phase
from .errors import (
    AccessDenied,
    BatchFailed,
    CapabilityError,
    CasConflict,
    KeyExists,
    KeyNotFound,
    KvError,
    NoSuchStore,
    StoreError,
    Unsupported,
    ValidationError,
    from_wit_error,
)
from .limits import (DEFAULT_CHUNK_BYTES, DEFAULT_CHUNK_SIZE, MAX_CAS_ATTEMPTS, MAX_KEY_BYTES, MAX_KEYS_PER_CALL,
                     MAX_VALUE_BYTES)
from .raw import BindingNotFound, CasBucket, CasHandle, RawBucket, WitBucket, has_cas
from .results import BatchResult, CopyResult, ExistsResult, GetResult, Status, combine
from .retry import DEFAULT_RETRY, NO_RETRY, RetryPolicy, is_transient
from .stats import ErrorCallback, Progress, ProgressCallback, Stats
from .streams import WriteStream
from .writer import Writer

__all__ = [
    "DEFAULT_CHUNK_BYTES",
    "DEFAULT_CHUNK_SIZE",
    "DEFAULT_RETRY",
    "CONDITIONS",
    "MAX_CAS_ATTEMPTS",
    "MAX_KEY_BYTES",
    "MAX_KEYS_PER_CALL",
    "MAX_VALUE_BYTES",
    "NO_RETRY",
    "AccessDenied",
    "BatchFailed",
    "BatchResult",
    "BindingNotFound",
    "Bucket",
    "Builder",
    "CapabilityError",
    "CasBucket",
    "CasConflict",
    "CasHandle",
    "Condition",
    "CopyResult",
    "ErrorCallback",
    "ExistsResult",
    "GetResult",
    "KeyExists",
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
    "Unsupported",
    "ValidationError",
    "WitBucket",
    "WriteStream",
    "Writer",
    "combine",
    "from_wit_error",
    "has_cas",
    "is_transient",
    "limits",
    "open",
    "testing",
    "wrap",
]
