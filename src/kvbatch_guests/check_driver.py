"""The conformance driver: what `kvbatch check` calls to hold a batch implementation to the rules.

Built for both keyvalue versions (`build/check-driver.wasm`, world `driver`, draft2;
`build/check-driver-draft.wasm`, world `driver-draft`). The suite composes it with the
provider under test (or runs it on the host's native batch) and calls its `check-driver`
exports; each forwards to the imported `wasi:keyvalue/batch` and hands back what that returned
without interpreting it: every `get-many` entry with the key it names (draft answers a missing
key with a `none` entry) and every value byte for byte (as latin-1 text, one character per byte).
Errors pass through as the same variant.
"""

from typing import Any, Dict, List

from componentize_py_types import Err
from wit_world import exports
from wit_world.exports import check_driver as api
from wit_world.imports import batch, store

_buckets: Dict[str, Any] = {}


def _failure(error: Any) -> Err:
    if isinstance(error, store.Error_NoSuchStore):
        return Err(api.Failure_NoSuchStore())
    if isinstance(error, store.Error_AccessDenied):
        return Err(api.Failure_AccessDenied())
    return Err(api.Failure_Other(str(error.value)))


def _bucket(name: str) -> Any:
    if name not in _buckets:
        try:
            _buckets[name] = store.open(name)
        except Err as err:
            raise _failure(err.value) from None
    return _buckets[name]


def _entry(entry: Any) -> api.Entry:
    # draft2: (key, value or None); draft: None or (key, value)
    if entry is None:
        return api.Entry(None, None)
    key, value = entry
    return api.Entry(key, None if value is None else bytes(value).decode("latin-1"))


class CheckDriver(exports.CheckDriver):
    """The exported `kvbatch:components/check-driver` interface."""

    def open(self, name: str) -> None:
        _bucket(name)

    def get_many(self, name: str, keys: List[str]) -> List[api.Entry]:
        bucket = _bucket(name)
        try:
            return [_entry(entry) for entry in batch.get_many(bucket, keys)]
        except Err as err:
            raise _failure(err.value) from None

    def set_many(self, name: str, keys: List[str], values: List[str]) -> None:
        bucket = _bucket(name)
        try:
            batch.set_many(bucket, [(key, value.encode("latin-1")) for key, value in zip(keys, values)])
        except Err as err:
            raise _failure(err.value) from None

    def delete_many(self, name: str, keys: List[str]) -> None:
        bucket = _bucket(name)
        try:
            batch.delete_many(bucket, keys)
        except Err as err:
            raise _failure(err.value) from None
