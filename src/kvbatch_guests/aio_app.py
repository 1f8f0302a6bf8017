"""A Spin HTTP component on Spin SDK 5's async key-value API (`spin_sdk.key_value`) and `kvbatch.aio`.

Built by `kvbatch build aio-spin` (world `spin:up/http-trigger@4.1.0`, spin-sdk's WIT) into
build/aio-spin.wasm; `kvbatch serve` serves it (its spin.toml names that file) and `kvbatch
bench` measures it. Every endpoint takes a JSON body and answers JSON with one outcome per key:

* `POST /get-many`    `{"keys": [...]}` → `values` (text), `missing`, `outcomes`, `errors`
* `POST /set-many`    `{"items": {"key": "value", ...}}` → `outcomes`, `errors`
* `POST /delete-many` `{"keys": [...]}` → `outcomes`, `errors`
* `POST /stream-get`  `{"keys": [...]}` → `completed`: `[index, key, status]` in completion order
* `GET  /keys`        → every key of the store (`get-keys`, a stream)
* `POST /bench`       `{"n": 1000, "size": 100, "op": "set", "concurrency": 8}` → the seconds it took
  (`concurrency: null`: sequential `await store.set/get` calls instead of `kvbatch.aio`)

Each body may name the `store` (default `"default"`) and `max_concurrency`. Values are text
(UTF-8). A store the component may not open answers 403 (`access-denied`) or 404
(`no-such-store`); a batch ended by such an error answers with its partial outcomes too.
"""

from __future__ import annotations

import json
import time
from typing import Any, Dict, List, Optional, Tuple

import kvbatch
import kvbatch.aio
from kvbatch import NO_RETRY, BatchResult, CapabilityError, KvError, NoSuchStore
from kvbatch.aio.store import translate
from spin_sdk import http, key_value

PATH_INFO = "spin-path-info"
JSON = {"content-type": "application/json"}
MAX_BENCH_KEYS = 10_000


def _answer(status: int, payload: Dict[str, Any]) -> http.Response:
    return http.Response(status, dict(JSON), json.dumps(payload).encode())


def _report(result: BatchResult) -> Dict[str, Any]:
    return {"outcomes": result.outcomes(), "summary": result.summary(),
            "errors": {key: str(result.error(key)) for key in result.order if result.error(key) is not None}}


def _capability(err: CapabilityError) -> http.Response:
    payload: Dict[str, Any] = {"error": str(err)}
    partial = getattr(err, "partial", None)
    if isinstance(partial, BatchResult):
        payload.update(_report(partial))
    return _answer(404 if isinstance(err, NoSuchStore) else 403, payload)


async def _bucket(body: Dict[str, Any]) -> kvbatch.aio.AsyncBucket:
    options: Dict[str, Any] = {"retry": NO_RETRY}
    if "max_concurrency" in body:
        options["max_concurrency"] = int(body["max_concurrency"])
    return await kvbatch.aio.open(str(body.get("store", "default")), **options)


async def _get_many(body: Dict[str, Any]) -> http.Response:
    async with await _bucket(body) as bucket:
        result = await bucket.get_many(list(body["keys"]))
    payload = _report(result)
    payload["values"] = {key: value.decode("utf-8", "replace") for key, value in result.values.items()}
    payload["missing"] = list(result.missing)
    return _answer(200, payload)


async def _set_many(body: Dict[str, Any]) -> http.Response:
    items = {str(key): str(value).encode() for key, value in dict(body["items"]).items()}
    async with await _bucket(body) as bucket:
        result = await bucket.set_many(items)
    return _answer(200, _report(result))


async def _delete_many(body: Dict[str, Any]) -> http.Response:
    async with await _bucket(body) as bucket:
        result = await bucket.delete_many(list(body["keys"]))
    return _answer(200, _report(result))


async def _stream_get(body: Dict[str, Any]) -> http.Response:
    completed: List[Tuple[int, str, str]] = []
    async with await _bucket(body) as bucket:
        stream = bucket.stream_get_many(list(body["keys"]))
        async for done in stream:
            completed.append((done.index, done.key, done.status))
    return _answer(200, {"completed": completed, "summary": stream.result.summary()})


async def _keys(body: Dict[str, Any]) -> http.Response:
    store = await key_value.open(str(body.get("store", "default")))
    with store:
        stream, outcome = await store.get_keys()
        keys: List[str] = []
        with stream:
            while not stream.writer_dropped:
                keys.extend(await stream.read(1000))
        await outcome.read()
    return _answer(200, {"keys": keys})


async def _bench(body: Dict[str, Any]) -> http.Response:
    """Times one phase of the benchmark, in the component: `n` keys of `size` bytes written
    (`op: "set"`) or read (`"get"`), by sequential `await store.set/get` calls (`concurrency`
    null) or by `kvbatch.aio` at `max_concurrency` = `concurrency`."""
    n = int(body.get("n", 1000))
    if not 1 <= n <= MAX_BENCH_KEYS:
        return _answer(400, {"error": f"n must be 1 to {MAX_BENCH_KEYS}, got {n}"})
    op = body.get("op")
    if op not in ("set", "get"):
        return _answer(400, {"error": f"op must be 'set' or 'get', got {op!r}"})
    value = b"v" * int(body.get("size", 100))
    keys = [f"bench-{i:06d}" for i in range(n)]
    concurrency = body.get("concurrency")
    store = await key_value.open(str(body.get("store", "default")))
    with store:
        started = time.perf_counter()
        if concurrency is None:
            for key in keys:
                if op == "set":
                    await store.set(key, value)
                elif await store.get(key) != value:
                    return _answer(500, {"error": f"{key} does not hold the value written"})
            seconds = time.perf_counter() - started
        else:
            bucket = kvbatch.aio.wrap(store, "bench", max_concurrency=int(concurrency), retry=NO_RETRY)
            if op == "set":
                result: BatchResult = await bucket.set_many({key: value for key in keys})
            else:
                result = read = await bucket.get_many(keys)
                if len(read.values) != n or any(v != value for v in read.values.values()):
                    return _answer(500, {"error": f"get_many read {len(read.values)} of {n} values written"})
            seconds = time.perf_counter() - started
            if not result.all_succeeded:
                return _answer(500, {"error": result.summary()})
    return _answer(200, {"n": n, "size": len(value), "op": op, "concurrency": concurrency, "seconds": seconds})


ROUTES = {("POST", "/get-many"): _get_many, ("POST", "/set-many"): _set_many, ("POST", "/delete-many"): _delete_many,
          ("POST", "/stream-get"): _stream_get, ("GET", "/keys"): _keys, ("POST", "/bench"): _bench}


class HttpHandler(http.Handler):
    """Spin's HTTP entry point: one route per batch operation."""

    async def handle_request(self, request: http.Request) -> http.Response:
        path: Optional[str] = next((v for k, v in request.headers.items() if k.lower() == PATH_INFO), None)
        if path is None:
            path = request.uri.split("?", 1)[0]
        handler = ROUTES.get((request.method.upper(), path or "/"))
        if handler is None:
            return _answer(404, {"error": f"no route {request.method} {path}; routes: "
                                          + ", ".join(f"{m} {p}" for m, p in ROUTES)})
        body: Dict[str, Any] = {}
        try:
            body = json.loads(request.body or b"{}")
            if not isinstance(body, dict):
                raise ValueError("the body must be a JSON object")
            return await handler(body)
        except CapabilityError as err:
            return _capability(err)
        except KvError as err:
            return _answer(500, {"error": f"{type(err).__name__}: {err}"})
        except (ValueError, KeyError, TypeError) as err:
            return _answer(400, {"error": f"bad request: {type(err).__name__}: {err}"})
        except Exception as err:  # a spin_sdk call's Err(error), as kvbatch's typed error
            translated = translate(err, str(body.get("store", "default")))
            if isinstance(translated, CapabilityError):
                return _capability(translated)
            if isinstance(translated, KvError):
                return _answer(500, {"error": f"{type(translated).__name__}: {translated}"})
            raise
