"""kvbatch: batch key-value operations for Python WebAssembly components, every key accounted for.

Stdlib only: runs inside componentize-py components (CPython 3.14) and on CPython 3.11.
"""

from .errors import AccessDenied, CapabilityError, KvError, NoSuchStore, StoreError, ValidationError
from .raw import RawBucket, WitBucket

__all__ = [
    "AccessDenied",
    "CapabilityError",
    "KvError",
    "NoSuchStore",
    "RawBucket",
    "StoreError",
    "ValidationError",
    "WitBucket",
]
