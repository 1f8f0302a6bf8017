"""The kvbatch provider component: `wasi:keyvalue/batch@0.2.0-draft2` over an imported `store`.

Built by `kvbatch build` into `build/provider.wasm` (world `kvbatch:components/provider`).

Semantics (DESIGN.md, "Semantics everyone is held to"):

* `get-many` answers one entry per requested key, in request order, duplicates included;
  a missing key is `none`.
* `set-many` writes each distinct key once with the last value given for it, so a failure
  part-way can leave a key only in its old or its new state, never an intermediate one.
  The first error is returned unchanged and nothing is rolled back.
* `delete-many` deletes each distinct key once; `store.delete` already skips missing keys.
* `no-such-store` and `access-denied` pass through like any other error: unchanged.

The borrowed `bucket` is only used for the duration of the call; componentize-py releases
the borrow when the export returns, on the success and the error path alike.
"""

from typing import List, Optional, Tuple

from wit_world import exports
from wit_world.imports import store


class Batch(exports.Batch):
    """The exported `wasi:keyvalue/batch` interface."""

    def get_many(self, bucket: store.Bucket, keys: List[str]) -> List[Tuple[str, Optional[bytes]]]:
        return [(key, bucket.get(key)) for key in keys]

    def set_many(self, bucket: store.Bucket, key_values: List[Tuple[str, bytes]]) -> None:
        last_value_wins = dict(key_values)
        for key, value in last_value_wins.items():
            bucket.set(key, value)

    def delete_many(self, bucket: store.Bucket, keys: List[str]) -> None:
        for key in dict.fromkeys(keys):
            bucket.delete(key)
