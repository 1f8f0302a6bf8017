"""Helpers for the bulk API tests: in-memory stores with listing and faults, and a request helper."""

from __future__ import annotations

import base64
import json
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

import kvbatch
from kvbatch.testing import FaultyBucket, MemoryBucket

from kvbatch_bulk import BulkApi, Limits, OpenStore, Request, Response

TOKEN = "test-token-0123456789abcdef"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


class PagedLister:
    """`list-keys` over a dict in insertion order (unsorted on purpose), `page_size` keys a page."""

    def __init__(self, data: Dict[str, bytes], page_size: int, fail: Optional[Exception] = None) -> None:
        self.data = data
        self.page_size = page_size
        self.fail = fail
        self.calls = 0

    def list_keys(self, cursor: Optional[str]) -> Tuple[Sequence[str], Optional[str]]:
        self.calls += 1
        if self.fail is not None:
            raise self.fail
        keys = list(self.data)
        start = int(cursor or 0)
        end = start + self.page_size
        return keys[start:end], (str(end) if end < len(keys) else None)


class MemoryStores:
    """Granted stores in memory; `faulty[name]` injects faults; other names are access-denied."""

    def __init__(self, granted: Iterable[str] = ("default",), page_size: int = 1000, unknown: Iterable[str] = ()) -> None:
        self.memory = {name: MemoryBucket(name=name) for name in granted}
        self.faulty = {name: FaultyBucket(bucket) for name, bucket in self.memory.items()}
        self.listers = {name: PagedLister(bucket.data, page_size) for name, bucket in self.memory.items()}
        self.unknown = set(unknown)
        self.opened: List[str] = []
        self.closed: List[str] = []

    def data(self, name: str = "default") -> Dict[str, bytes]:
        return self.memory[name].data

    def open(self, name: str) -> OpenStore:
        if name in self.unknown:
            raise kvbatch.NoSuchStore(name)
        if name not in self.memory:
            raise kvbatch.AccessDenied(name)
        self.opened.append(name)
        bucket = kvbatch.Bucket(self.faulty[name], retry=kvbatch.NO_RETRY)
        return OpenStore(name, bucket, self.listers[name], lambda: self.closed.append(name))


def api_for(stores: Any, limits: Limits = Limits(), log: Optional[List[str]] = None) -> BulkApi:
    sink = log if log is not None else []
    return BulkApi(stores, TOKEN, limits, log=sink.append)


def call(api: BulkApi, method: str, target: str, body: Any = None, headers: Optional[Mapping[str, str]] = None) -> Response:
    """Sends one request: a dict/list body goes as JSON, bytes as they are."""
    raw = body if isinstance(body, bytes) else (b"" if body is None else json.dumps(body).encode())
    return api.handle(Request.from_target(method, target, dict(AUTH if headers is None else headers), raw))


def ndjson(records: Iterable[Mapping[str, Any]]) -> bytes:
    return b"".join(json.dumps(r).encode() + b"\n" for r in records)


def lines(response: Response) -> List[Dict[str, Any]]:
    return [json.loads(line) for line in response.body.decode().splitlines()]
