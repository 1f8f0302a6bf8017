"""A broken provider: `get-many` answers every value under the first requested key.

Its values are right and in order, so anything that keeps only the values sees nothing
wrong; a composed guest gets every value under
the wrong key. `kvbatch check` must fail it by the rule `entries-name-keys`.
"""

from typing import List, Optional, Tuple

from wit_world import exports
from wit_world.imports import store


class Batch(exports.Batch):
    def get_many(self, bucket: store.Bucket, keys: List[str]) -> List[Tuple[str, Optional[bytes]]]:
        return [(keys[0], bucket.get(key)) for key in keys]

    def set_many(self, bucket: store.Bucket, key_values: List[Tuple[str, bytes]]) -> None:
        for key, value in dict(key_values).items():
            bucket.set(key, value)

    def delete_many(self, bucket: store.Bucket, keys: List[str]) -> None:
        for key in dict.fromkeys(keys):
            bucket.delete(key)
