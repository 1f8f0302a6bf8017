"""Broken provider `swallow`: ignores every store error and reports success.

Breaks: errors pass through unchanged; capability errors are never masked; the report is the
truth (it answers `ok` for keys it did not write, and `none` for keys it could not read).
"""

from typing import List, Optional, Tuple

from componentize_py_types import Err
from wit_world import exports
from wit_world.imports import store


class Batch(exports.Batch):
    def get_many(self, bucket: store.Bucket, keys: List[str]) -> List[Tuple[str, Optional[bytes]]]:
        entries = []
        for key in keys:
            try:
                entries.append((key, bucket.get(key)))
            except Err:
                entries.append((key, None))
        return entries

    def set_many(self, bucket: store.Bucket, key_values: List[Tuple[str, bytes]]) -> None:
        for key, value in dict(key_values).items():
            try:
                bucket.set(key, value)
            except Err:
                pass

    def delete_many(self, bucket: store.Bucket, keys: List[str]) -> None:
        for key in dict.fromkeys(keys):
            try:
                bucket.delete(key)
            except Err:
                pass
