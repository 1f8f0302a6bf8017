"""Broken provider `rewrap`: replaces every store error with its own `other("batch failed")`.

Breaks: errors pass through unchanged (the message is lost), and capability errors
(`access-denied`, `no-such-store`) are masked as ordinary store failures.
"""

from typing import List, Optional, Tuple

from componentize_py_types import Err
from wit_world import exports
from wit_world.imports import store


def _failed() -> Err:
    return Err(store.Error_Other("batch failed"))


class Batch(exports.Batch):
    def get_many(self, bucket: store.Bucket, keys: List[str]) -> List[Tuple[str, Optional[bytes]]]:
        try:
            return [(key, bucket.get(key)) for key in keys]
        except Err:
            raise _failed()

    def set_many(self, bucket: store.Bucket, key_values: List[Tuple[str, bytes]]) -> None:
        try:
            for key, value in dict(key_values).items():
                bucket.set(key, value)
        except Err:
            raise _failed()

    def delete_many(self, bucket: store.Bucket, keys: List[str]) -> None:
        try:
            for key in dict.fromkeys(keys):
                bucket.delete(key)
        except Err:
            raise _failed()
