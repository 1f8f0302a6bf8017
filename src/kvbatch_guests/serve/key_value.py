"""`spin:key-value@3.0.0` for the serve adapter: Spin SDK 5's async key-value API (`spin_sdk.key_value`)
over the `kvbatch serve` store server, with the same stores, faults and event log as draft2.

componentize-py looks for an exported resource in a module named after its interface, so the
`store` resource of interface `key-value` lives here. Every call is one store-server request
with the protocol of `wire` (`POST /<op>`, JSON, the per-run secret), sent with the async
`wasi:http/client@0.3.0`: a call waiting for its answer does not block the adapter, so a
component's concurrent `await store.get(...)` calls are in flight together. `open` asks whether
the label is granted (`no-such-store` / `access-denied` as the store server answers);
`get-keys` pages through `list-keys` and writes the keys to the stream it returns.
"""

import json
import os
from typing import Any, Dict, Optional, Tuple

import componentize_py_async_support
import wit_world
from componentize_py_async_support.futures import FutureReader, FutureWriter
from componentize_py_async_support.streams import ByteStreamWriter, StreamReader, StreamWriter
from componentize_py_types import Err, Ok, Result
from wire import SECRET_ENV, SECRET_HEADER, STORE_ENV, b64, unb64
from wit_world import exports
from wit_world.exports import key_value as kv
from wit_world.imports import client
from wit_world.imports import wasi_http_types_0_3_0 as http

READ_CHUNK = 65536


def _error(data: Dict[str, Any]) -> kv.Error:
    kind = data.get("kind")
    if kind == "no-such-store":
        return kv.Error_NoSuchStore()
    if kind == "access-denied":
        return kv.Error_AccessDenied()
    return kv.Error_Other(str(data.get("message", "the store failed")))


async def _send_body(body: bytes, contents: ByteStreamWriter,
                     trailers: FutureWriter[Result[Optional[http.Fields], http.ErrorCode]]) -> None:
    """Writes the request body, closes it, and only then resolves its trailers (none)."""
    with contents:
        await contents.write_all(body)
    await trailers.write(Ok(None))


async def post(op: str, payload: Dict[str, Any]) -> Any:
    """POSTs `payload` to the store server's `/op`; returns the `ok` member or raises `Err(kv.Error)`.

    Every future handed to or received from the host stays open until its stream is done
    with: the request's trailers resolve after its body is written, the response's `res`
    after its body is read, and the response's trailers and the request's transmission
    future are awaited last. Dropped early, they let wasmtime 49 close a response body
    before delivering it (an empty answer under concurrent requests); an answer shorter
    than its content-length is reported as an error, never parsed.
    """
    base = os.environ.get(STORE_ENV, "")
    if not base.startswith("http://"):
        raise Err(kv.Error_Other(f"{STORE_ENV} is not set to the store server's http:// URL"))
    body = json.dumps(payload).encode()
    headers = http.Fields.from_list([
        ("content-type", b"application/json"),
        (SECRET_HEADER, os.environ.get(SECRET_ENV, "").encode()),
        ("content-length", str(len(body)).encode()),
    ])
    contents, contents_reader = wit_world.byte_stream()
    trailers, trailers_reader = \
        wit_world.result_option_wasi_http_types_0_3_0_fields_wasi_http_types_0_3_0_error_code_future(lambda: Ok(None))
    componentize_py_async_support.spawn(_send_body(body, contents, trailers))
    request, transmitted = http.Request.new(headers, contents_reader, trailers_reader, None)
    request.set_method(http.Method_Post())
    request.set_scheme(http.Scheme_Http())
    request.set_authority(base[len("http://"):].rstrip("/"))
    request.set_path_with_query("/" + op)
    try:
        response = await client.send(request)
    except Err as err:
        raise Err(kv.Error_Other(f"the store server at {base} failed: {err.value}")) from None
    status = response.get_status_code()
    handled, handled_reader = wit_world.result_unit_wasi_http_types_0_3_0_error_code_future(lambda: Ok(None))
    expected = _content_length(response.get_headers().copy_all())
    reader, response_trailers = http.Response.consume_body(response, handled_reader)
    data = bytearray()
    with reader:
        while not reader.writer_dropped:
            data += await reader.read(READ_CHUNK)
    await handled.write(Ok(None))
    with response_trailers, transmitted:
        await response_trailers.read()
        await transmitted.read()
    if expected is not None and len(data) != expected:
        raise Err(kv.Error_Other(f"the store server's answer was cut short ({len(data)} of {expected} bytes)"))
    try:
        answer = json.loads(bytes(data))
    except ValueError:
        raise Err(kv.Error_Other(f"the store server answered {status} with {len(data)} bytes, not JSON")) from None
    if "error" in answer:
        raise Err(_error(answer["error"]))
    return answer.get("ok")


def _content_length(headers: list) -> Optional[int]:
    for name, value in headers:
        if name.lower() == "content-length" and value.isdigit():
            return int(value)
    return None


class Store(exports.key_value.Store):
    """An opened store: the label the store server knows it by."""

    def __init__(self, label: str) -> None:
        self.label = label

    @classmethod
    async def open(cls, label: str) -> "Store":
        await post("open", {"store": label})
        return cls(label)

    async def get(self, key: str) -> Optional[bytes]:
        value = await post("get", {"store": self.label, "key": key})
        return unb64(value if isinstance(value, str) else None)

    async def set(self, key: str, value: bytes) -> None:
        await post("set", {"store": self.label, "key": key, "value": b64(value)})

    async def delete(self, key: str) -> None:
        await post("delete", {"store": self.label, "key": key})

    async def exists(self, key: str) -> bool:
        return bool(await post("exists", {"store": self.label, "key": key}))

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
                    page = await post("list-keys", {"store": self.label, "cursor": cursor})
                    await keys.write_all(list(page["keys"]))
                    cursor = page["cursor"]
                    if cursor is None or keys.reader_dropped:
                        break
            except Err as err:
                outcome = Err(err.value)
        await done.write(outcome)
