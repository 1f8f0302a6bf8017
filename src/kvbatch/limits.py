"""Named limits kvbatch enforces before anything is sent to the store.

The key and value limits are the ones Spin documents for its key-value store (keys up to
256 bytes of UTF-8, values up to 1 MiB, in its key-value API guide), so a
component tested under the kvbatch harness or the wasmtime CLI behaves the same when it is
deployed to Spin. Every `Bucket` takes its own values for them if a host allows more.
"""

from __future__ import annotations

MAX_KEY_BYTES = 256
"""Longest key, in bytes of its UTF-8 encoding (Spin's documented limit)."""

MAX_VALUE_BYTES = 1_048_576
"""Largest value, in bytes (Spin's documented 1 MB limit, read as 1 MiB)."""

MAX_KEYS_PER_CALL = 100_000
"""Most keys (or items) one `get_many`/`set_many`/`delete_many`/`exists_many` call accepts.

One call keeps every key's outcome in memory and cannot report anything until it ends: past
100,000 keys a caller is better served by giving the work in parts (each with its own result
and progress). `Bucket(max_keys_per_call=...)` raises it where that is not true.
"""

DEFAULT_CHUNK_SIZE = 100
"""Most keys sent in one `*-many` call.

Why 100: it is the per-call item cap users already know from DynamoDB's BatchGetItem and a
common pipeline size for Redis; it turns 10,000 keys into 100 host crossings, which is where
the per-call overhead stops mattering (microseconds per small key); and it bounds the cost of the rare bad case: after an opaque batch error kvbatch
retries that chunk key by key, so at most 100 single-key calls are spent finding out which
keys were written.
"""

DEFAULT_CHUNK_BYTES = 2 * 1_048_576
"""Most value bytes sent in one `set-many` call (a single larger value goes alone).

The whole `list<tuple<string, list<u8>>>` is copied into the host in one piece, so the count
limit alone would let 100 values of 1 MiB build a 100 MiB argument. 2 MiB keeps one call's copy
small, fits thousands of typical small records, and stays under the most a wasmtime-py host
call can carry (about 2.7 million list elements, one per value byte: a `set-many` of 4 x 1 MiB
traps "fuel allocated for hostcalls has been exhausted" under the kvbatch harness).
"""

MAX_CAS_ATTEMPTS = 8
"""Compare-and-swap rounds a conditional write makes on one key before it gives up with
`CasConflict` (a transient `StoreError`: the operation's `RetryPolicy` may try again later).

Each lost round means another writer changed the key between this writer's check and its
swap; eight in a row is a key under heavy contention, where backing off is the better move.
"""

__all__ = ["DEFAULT_CHUNK_BYTES", "MAX_CAS_ATTEMPTS", "DEFAULT_CHUNK_SIZE", "MAX_KEYS_PER_CALL", "MAX_KEY_BYTES", "MAX_VALUE_BYTES"]
