"""The serve adapter's wire to the `kvbatch serve` store server (see `adapter` for the protocol)."""

import base64
import json
import os
from typing import Any, Dict, List, Optional

from componentize_py_types import Err, Ok
from wit_world.exports import store
from wit_world.imports import outgoing_handler, streams
from wit_world.imports import wasi_http_types_0_2_6 as types  # the world imports wasi:http@0.3.0 too (key_value.py)

SECRET_HEADER = "kvbatch-serve-secret"
STORE_ENV = "KVBATCH_SERVE_STORE"
SECRET_ENV = "KVBATCH_SERVE_SECRET"
VARIABLE_ENV_PREFIX = "KVBATCH_SERVE_VAR_"
STORES_ENV = "KVBATCH_SERVE_STORES"

WRITE_CHUNK = 4096
"""Bytes per `blocking-write-and-flush` (the WASI stream limit)."""
READ_CHUNK = 65536


def _error(data: Dict[str, Any]) -> store.Error:
    kind = data.get("kind")
    if kind == "no-such-store":
        return store.Error_NoSuchStore()
    if kind == "access-denied":
        return store.Error_AccessDenied()
    return store.Error_Other(str(data.get("message", "the store failed")))


def post(op: str, payload: Dict[str, Any]) -> Any:
    """POSTs `payload` to the store server's `/op`; returns the `ok` member or raises `Err(store.Error)`."""
    base = os.environ.get(STORE_ENV, "")
    if not base.startswith("http://"):
        raise Err(store.Error_Other(f"{STORE_ENV} is not set to the store server's http:// URL"))
    authority = base[len("http://"):].rstrip("/")
    body = json.dumps(payload).encode()
    headers = types.Fields.from_list([
        ("content-type", b"application/json"),
        (SECRET_HEADER, os.environ.get(SECRET_ENV, "").encode()),
        ("content-length", str(len(body)).encode()),
    ])
    request = types.OutgoingRequest(headers)
    request.set_method(types.Method_Post())
    request.set_scheme(types.Scheme_Http())
    request.set_authority(authority)
    request.set_path_with_query("/" + op)
    outgoing = request.body()
    future = outgoing_handler.handle(request, None)  # first: a body over wasmtime's buffer is only drained once sent
    stream = outgoing.write()
    for start in range(0, len(body), WRITE_CHUNK):
        stream.blocking_write_and_flush(body[start:start + WRITE_CHUNK])
    stream.__exit__(None, None, None)
    types.OutgoingBody.finish(outgoing, None)
    pollable = future.subscribe()
    pollable.block()
    pollable.__exit__(None, None, None)
    answer = future.get()
    future.__exit__(None, None, None)
    if not isinstance(answer, Ok) or not isinstance(answer.value, Ok):
        detail = answer.value.value if isinstance(answer, Ok) else "no response"
        raise Err(store.Error_Other(f"the store server at {base} failed: {detail}"))
    response = answer.value.value
    status = response.status()
    incoming = response.consume()
    reader = incoming.stream()
    chunks: List[bytes] = []
    while True:
        try:
            chunks.append(reader.blocking_read(READ_CHUNK))
        except Err as err:
            if isinstance(err.value, streams.StreamError_Closed):
                break
            raise Err(store.Error_Other(f"reading the store server's answer failed: {err.value}")) from None
    reader.__exit__(None, None, None)
    types.IncomingBody.finish(incoming).__exit__(None, None, None)
    response.__exit__(None, None, None)
    try:
        data = json.loads(b"".join(chunks))
    except ValueError:
        raise Err(store.Error_Other(f"the store server answered {status} without JSON")) from None
    if "error" in data:
        raise Err(_error(data["error"]))
    return data.get("ok")


def granted_stores() -> frozenset:
    """The store names `kvbatch serve` grants this component (`$KVBATCH_SERVE_STORES`, comma-separated)."""
    return frozenset(name for name in os.environ.get(STORES_ENV, "").split(",") if name)


def b64(value: bytes) -> str:
    return base64.b64encode(value).decode("ascii")


def unb64(text: Optional[str]) -> Optional[bytes]:
    return None if text is None else base64.b64decode(text)


class Bucket(store.Bucket):
    """An opened store: the name the store server knows it by."""

    def __init__(self, name: str) -> None:
        self.name = name

    def get(self, key: str) -> Optional[bytes]:
        return unb64(post("get", {"store": self.name, "key": key}))

    def set(self, key: str, value: bytes) -> None:
        post("set", {"store": self.name, "key": key, "value": b64(value)})

    def delete(self, key: str) -> None:
        post("delete", {"store": self.name, "key": key})

    def exists(self, key: str) -> bool:
        return bool(post("exists", {"store": self.name, "key": key}))

    def list_keys(self, cursor: Optional[str]) -> store.KeyResponse:
        page = post("list-keys", {"store": self.name, "cursor": cursor})
        return store.KeyResponse(list(page["keys"]), page["cursor"])


def bucket_name(bucket: store.Bucket) -> str:
    """The store name of a bucket this adapter opened."""
    assert isinstance(bucket, Bucket)
    return bucket.name
