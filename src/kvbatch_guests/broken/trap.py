"""Broken provider `trap`: turns any store error into an uncaught exception.

An exception other than `Err` escaping an export makes the component trap: the caller gets
no `err`, and the provider instance cannot be entered again.
"""

from typing import List, Optional, Tuple

from componentize_py_types import Err
from wit_world import exports
from wit_world.imports import store


class StoreFailed(RuntimeError):
    pass


class Batch(exports.Batch):
    def get_many(self, bucket: store.Bucket, keys: List[str]) -> List[Tuple[str, Optional[bytes]]]:
        try:
            return [(key, bucket.get(key)) for key in keys]
        except Err as err:
            raise StoreFailed(repr(err.value))

    def set_many(self, bucket: store.Bucket, key_values: List[Tuple[str, bytes]]) -> None:
        try:
            for key, value in dict(key_values).items():
                bucket.set(key, value)
        except Err as err:
            raise StoreFailed(repr(err.value))

    def delete_many(self, bucket: store.Bucket, keys: List[str]) -> None:
        try:
            for key in dict.fromkeys(keys):
                bucket.delete(key)
        except Err as err:
            raise StoreFailed(repr(err.value))
