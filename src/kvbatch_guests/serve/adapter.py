"""The serve adapter: Spin's `wasi:keyvalue@0.2.0-draft2` and `spin:variables@3.0.0`, for
build/spin.wasm under `wasmtime serve`, over the `kvbatch serve` process's store server.

Built by `kvbatch build serve-adapter` into `build/serve-adapter.wasm` (world
`kvbatch:serve/spin-adapter`, resolved against spin-sdk's WIT) and composed into the served
component by `kvbatch serve`. `open` is answered here, from the granted store names in
`$KVBATCH_SERVE_STORES`; every other keyvalue call is one frame over a TCP connection
(wasi:sockets) to the store server's framed port `$KVBATCH_SERVE_STORE_TCP`, opened on the
first call and kept open for the instance's life (`wire`): a 4-byte big-endian length and a
JSON object `{"op": ..., ...}`, the connection's first frame carrying
`$KVBATCH_SERVE_SECRET`; the answer is a frame `{"ok": ...}` or
`{"error": {"kind": "no-such-store" | "access-denied" | "other", "message": ...}}`.
Values travel base64-encoded. A batch call is one frame, so the store server applies it
through the harness's fault layer as one batch (fault positions count within it).

Variables come from the environment: `KVBATCH_SERVE_VAR_<name>` holds component variable
`name` (resolved from spin.toml by `kvbatch serve`); a name not there is `undefined`.
"""

import os
from typing import List, Optional, Tuple

from atomics import Cas
from key_value import Store as KeyValueStore  # noqa: F401 - spin:key-value@3.0.0's store resource
from componentize_py_types import Err
from wire import VARIABLE_ENV_PREFIX, Bucket, b64, bucket_name, call, granted_stores, unb64
from wit_world import exports
from wit_world.exports import atomics as atomics_wit
from wit_world.exports import store, variables


class Store(exports.Store):
    """The exported `wasi:keyvalue/store`: `open` grants the stores `kvbatch serve` names in
    `$KVBATCH_SERVE_STORES` (the manifest's `key_value_stores`, comma-separated) without a
    request to the store server, and answers `access-denied` for any other name."""

    def open(self, identifier: str) -> store.Bucket:
        if identifier not in granted_stores():
            raise Err(store.Error_AccessDenied())
        return Bucket(identifier)


class Batch(exports.Batch):
    """The exported `wasi:keyvalue/batch`: one store-server request per call."""

    def get_many(self, bucket: store.Bucket, keys: List[str]) -> List[Tuple[str, Optional[bytes]]]:
        values = call("get-many", {"store": bucket_name(bucket), "keys": keys})
        return [(key, unb64(value)) for key, value in zip(keys, values)]

    def set_many(self, bucket: store.Bucket, key_values: List[Tuple[str, bytes]]) -> None:
        call("set-many", {"store": bucket_name(bucket), "items": [[key, b64(value)] for key, value in key_values]})

    def delete_many(self, bucket: store.Bucket, keys: List[str]) -> None:
        call("delete-many", {"store": bucket_name(bucket), "keys": keys})


class Atomics(exports.Atomics):
    """The exported `wasi:keyvalue/atomics`, applied atomically by the store server's backend."""

    def increment(self, bucket: store.Bucket, key: str, delta: int) -> int:
        return int(call("increment", {"store": bucket_name(bucket), "key": key, "delta": delta}))

    def swap(self, cas: atomics_wit.Cas, value: bytes) -> None:
        assert isinstance(cas, Cas)
        seen = None if cas.seen is None else b64(cas.seen)
        try:
            swapped = call("cas", {"store": cas.bucket, "key": cas.key, "expected": seen, "value": b64(value)})
        except Err as err:
            raise Err(atomics_wit.CasError_StoreError(err.value)) from None
        if not swapped:
            fresh = unb64(call("get", {"store": cas.bucket, "key": cas.key}))
            raise Err(atomics_wit.CasError_CasFailed(Cas(cas.bucket, cas.key, fresh)))


class KeyValue(exports.KeyValue):
    """The exported `spin:key-value/key-value@3.0.0`: its `store` resource is `key_value.Store`."""


class Variables(exports.Variables):
    """The exported `spin:variables`: component variables resolved by `kvbatch serve`."""

    async def get(self, name: str) -> str:
        value = os.environ.get(VARIABLE_ENV_PREFIX + name)
        if value is None:
            raise Err(variables.Error_Undefined(f"no variable named {name!r}"))
        return value
