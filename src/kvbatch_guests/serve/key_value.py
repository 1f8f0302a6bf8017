"""`spin:key-value@3.0.0` for the serve adapter: Spin SDK 5's async key-value API (`spin_sdk.key_value`)
over the `kvbatch serve` store server, with the same stores, faults and event log as draft2.

componentize-py looks for an exported resource in a module named after its interface, so the
`store` resource of interface `key-value` lives here. Every call is one store-server request
(`wire.post`): `open` asks whether the label is granted (`no-such-store` / `access-denied` as
the store server answers), `get`/`set`/`delete`/`exists` are single-key operations, and
`get-keys` pages through `list-keys` and writes the keys to the stream it returns.
"""

from typing import Optional, Tuple

import componentize_py_async_support
import wit_world
from componentize_py_async_support.futures import FutureReader, FutureWriter
from componentize_py_async_support.streams import StreamReader, StreamWriter
from componentize_py_types import Err, Ok, Result
from wire import b64, post, unb64
from wit_world import exports
from wit_world.exports import key_value as kv
from wit_world.exports import store as draft2


def _error(error: object) -> kv.Error:
    """The spin:key-value error for a draft2 `store.Error` the wire raised."""
    if isinstance(error, draft2.Error_NoSuchStore):
        return kv.Error_NoSuchStore()
    if isinstance(error, draft2.Error_AccessDenied):
        return kv.Error_AccessDenied()
    return kv.Error_Other(str(getattr(error, "value", error)))


def _post(op: str, payload: dict) -> object:
    try:
        return post(op, payload)
    except Err as err:
        raise Err(_error(err.value)) from None


class Store(exports.key_value.Store):
    """An opened store: the label the store server knows it by."""

    def __init__(self, label: str) -> None:
        self.label = label

    @classmethod
    async def open(cls, label: str) -> "Store":
        _post("open", {"store": label})
        return cls(label)

    async def get(self, key: str) -> Optional[bytes]:
        value = _post("get", {"store": self.label, "key": key})
        return unb64(value if isinstance(value, str) else None)

    async def set(self, key: str, value: bytes) -> None:
        _post("set", {"store": self.label, "key": key, "value": b64(value)})

    async def delete(self, key: str) -> None:
        _post("delete", {"store": self.label, "key": key})

    async def exists(self, key: str) -> bool:
        return bool(_post("exists", {"store": self.label, "key": key}))

    async def get_keys(self) -> Tuple[StreamReader[str], FutureReader[Result[None, kv.Error]]]:
        keys, keys_reader = wit_world.string_stream()
        done, done_reader = wit_world.result_unit_key_value_error_future(lambda: Ok(None))
        componentize_py_async_support.spawn(self._list(keys, done))
        return keys_reader, done_reader

    async def _list(self, keys: StreamWriter[str], done: FutureWriter[Result[None, kv.Error]]) -> None:
        """Writes every key to `keys`, a page of `list-keys` at a time, then the outcome to `done`."""
        outcome: Result[None, kv.Error] = Ok(None)
        with keys:
            cursor: Optional[str] = None
            try:
                while True:
                    page = post("list-keys", {"store": self.label, "cursor": cursor})
                    await keys.write_all(list(page["keys"]))
                    cursor = page["cursor"]
                    if cursor is None or keys.reader_dropped:
                        break
            except Err as err:
                outcome = Err(_error(err.value))
        await done.write(outcome)
