"""Broken provider `naive`: applies every item in request order, duplicates included.

Without faults it looks right (the last value of a duplicated key is written last). But a
failure between two writes of the same key leaves that key holding an earlier value from
the request: neither its old state nor its new one. It also deletes duplicated keys twice.
"""

from typing import List, Optional, Tuple

from wit_world import exports
from wit_world.imports import store


class Batch(exports.Batch):
    def get_many(self, bucket: store.Bucket, keys: List[str]) -> List[Tuple[str, Optional[bytes]]]:
        return [(key, bucket.get(key)) for key in keys]

    def set_many(self, bucket: store.Bucket, key_values: List[Tuple[str, bytes]]) -> None:
        for key, value in key_values:
            bucket.set(key, value)

    def delete_many(self, bucket: store.Bucket, keys: List[str]) -> None:
        for key in keys:
            bucket.delete(key)
