"""The kvbatch provider component: `wasi:keyvalue/batch` over an imported `store`.

Built by `kvbatch build` from this one source for both keyvalue versions:
`build/provider.wasm` (world `kvbatch:components/provider`, `@0.2.0-draft2`, Spin's) and
`build/provider-draft.wasm` (world `provider-draft`, `@0.2.0-draft`, the wasmtime CLI's).
The versions differ only in the shape of a `get-many` entry, which this module reads off the
generated bindings at build time: draft2 answers `tuple<string, option<list<u8>>>`, draft
`option<tuple<string, list<u8>>>` (`none` for a missing key).

Semantics (the rules every batch implementation is held to):

* `get-many` answers one entry per requested key, in request order, duplicates included,
  each naming the key it answers; a missing key is `none`.
* `set-many` writes each distinct key once with the last value given for it, so a failure
  part-way can leave a key only in its old or its new state, never an intermediate one.
  The first error is returned unchanged and nothing is rolled back.
* `delete-many` deletes each distinct key once; `store.delete` already skips missing keys.
* `no-such-store` and `access-denied` pass through like any other error: unchanged.

The borrowed `bucket` is only used for the duration of the call; componentize-py releases
the borrow when the export returns, on the success and the error path alike.
"""

import typing
from typing import Any, Callable, List, Optional, Tuple

from wit_world import exports
from wit_world.imports import store


def _entry_draft2(key: str, value: Optional[bytes]) -> Any:
    return (key, value)


def _entry_draft(key: str, value: Optional[bytes]) -> Any:
    return None if value is None else (key, value)


def _entry_shape() -> Callable[[str, Optional[bytes]], Any]:
    """How this build's `get-many` answers one key, from the generated export's return type:
    `List[Tuple[str, Optional[bytes]]]` (draft2) or `List[Optional[Tuple[str, bytes]]]` (draft)."""
    (element,) = typing.get_args(exports.Batch.get_many.__annotations__["return"])
    if typing.get_origin(element) is tuple:
        return _entry_draft2
    if typing.get_origin(element) is typing.Union and any(typing.get_origin(a) is tuple for a in typing.get_args(element)):
        return _entry_draft
    raise TypeError(f"unrecognised get-many entry type {element!r}: expected a draft or draft2 wasi:keyvalue world")


_ENTRY = _entry_shape()


class Batch(exports.Batch):
    """The exported `wasi:keyvalue/batch` interface."""

    def get_many(self, bucket: store.Bucket, keys: List[str]) -> List[Any]:
        return [_ENTRY(key, bucket.get(key)) for key in keys]

    def set_many(self, bucket: store.Bucket, key_values: List[Tuple[str, bytes]]) -> None:
        last_value_wins = dict(key_values)
        for key, value in last_value_wins.items():
            bucket.set(key, value)

    def delete_many(self, bucket: store.Bucket, keys: List[str]) -> None:
        for key in dict.fromkeys(keys):
            bucket.delete(key)
