"""The shared HTTP expectations (`http_expectations.py`) against the logic on CPython (`kvbatch_bulk`)."""

from __future__ import annotations

import json
from typing import Any, Dict, Mapping, Optional, Tuple

import pytest
from bulk_helpers import MemoryStores
from http_expectations import *  # noqa: F401,F403 - the shared expectations are this module's tests
from http_expectations import GRANTED, TOKEN

from kvbatch_bulk import BulkApi, Request


class CPythonDriver:
    """Hands each request to `BulkApi` the way spin/app.py does, `spin-path-info` as Spin sets it."""

    def __init__(self) -> None:
        self.stores = MemoryStores(granted=GRANTED)
        self.api = BulkApi(self.stores, TOKEN, log=lambda line: None)

    def request(self, method: str, path: str, body: Any = None,
                headers: Optional[Mapping[str, str]] = None) -> Tuple[int, Dict[str, str], bytes]:
        raw = body if isinstance(body, bytes) else (b"" if body is None else json.dumps(body).encode())
        path_info = path.split("?", 1)[0][len("/kv"):]
        answer = self.api.handle(Request.from_target(method, path, dict(headers or {}), raw, path_info))
        return answer.status, dict(answer.headers), answer.body

    def items(self, store: str) -> Dict[str, bytes]:
        return dict(self.stores.data(store))


@pytest.fixture
def driver() -> CPythonDriver:
    return CPythonDriver()
