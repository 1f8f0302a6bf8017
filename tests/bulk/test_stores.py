"""`WitStores`: stores reached through generated draft2 bindings (as the Spin shell uses them).

The bindings are stood in for by small fakes with the generated names (`Err`, `Error_*`,
`KeyResponse`), so the mapping of binding errors and `list-keys` is checked on CPython.
"""

from __future__ import annotations

import types
from dataclasses import dataclass
from typing import Dict, List, Optional

import pytest

import kvbatch

from kvbatch_bulk import BulkApi, Request
from kvbatch_bulk.stores import REQUEST_RETRY, WitStores
from bulk_helpers import AUTH, TOKEN


class Err(Exception):
    def __init__(self, value: object) -> None:
        super().__init__(value)
        self.value = value


class Error_AccessDenied:  # noqa: N801 - the generated names
    pass


class Error_NoSuchStore:  # noqa: N801
    pass


@dataclass
class Error_Other:  # noqa: N801
    value: str


@dataclass
class KeyResponse:
    keys: List[str]
    cursor: Optional[str]


class FakeBucket:
    def __init__(self, data: Dict[str, bytes], fail_list: bool = False) -> None:
        self.data = data
        self.fail_list = fail_list
        self.closed = False

    def get(self, key: str) -> Optional[bytes]:
        return self.data.get(key)

    def set(self, key: str, value: bytes) -> None:
        self.data[key] = value

    def delete(self, key: str) -> None:
        self.data.pop(key, None)

    def exists(self, key: str) -> bool:
        return key in self.data

    def list_keys(self, cursor: Optional[str]) -> KeyResponse:
        if self.fail_list:
            raise Err(Error_Other("backend exploded"))
        return KeyResponse(sorted(self.data), None)

    def __exit__(self, *exc: object) -> None:
        self.closed = True


def fake_store_module(buckets: Dict[str, FakeBucket]) -> types.ModuleType:
    module = types.ModuleType("wasi_keyvalue_store_0_2_0_draft2")

    def open_(name: str) -> FakeBucket:
        if name == "ghost":
            raise Err(Error_NoSuchStore())
        if name not in buckets:
            raise Err(Error_AccessDenied())
        return buckets[name]

    module.open = open_  # type: ignore[attr-defined]
    return module


@pytest.fixture
def bucket() -> FakeBucket:
    return FakeBucket({"a": b"1", "b": b"2"})


def test_wit_stores_open_a_kvbatch_bucket_with_the_request_retry_policy(bucket: FakeBucket) -> None:
    store = WitStores(fake_store_module({"default": bucket}), None, Err).open("default")
    assert isinstance(store.bucket, kvbatch.Bucket) and store.bucket.retry == REQUEST_RETRY
    assert store.bucket.get_many(["a", "x"]).values == {"a": b"1"}


def test_binding_errors_on_open_become_kvbatch_capability_errors(bucket: FakeBucket) -> None:
    stores = WitStores(fake_store_module({"default": bucket}), None, Err)
    with pytest.raises(kvbatch.AccessDenied):
        stores.open("secrets")
    with pytest.raises(kvbatch.NoSuchStore):
        stores.open("ghost")


def test_list_keys_goes_through_the_binding_and_its_errors_become_store_errors(bucket: FakeBucket) -> None:
    store = WitStores(fake_store_module({"default": bucket}), None, Err).open("default")
    assert store.lister.list_keys(None) == (["a", "b"], None)
    bucket.fail_list = True
    with pytest.raises(kvbatch.StoreError, match="backend exploded"):
        store.lister.list_keys(None)


def test_the_api_over_wit_stores_answers_and_releases_the_bucket(bucket: FakeBucket) -> None:
    api = BulkApi(WitStores(fake_store_module({"default": bucket}), None, Err), TOKEN)
    response = api.handle(Request.from_target("GET", "/kv/stores/default/keys?prefix=a", AUTH, b"", "/stores/default/keys"))
    assert response.status == 200 and response.json()["keys"] == ["a"]
    assert bucket.closed
    denied = api.handle(Request.from_target("GET", "/kv/stores/secrets/keys", AUTH, b"", "/stores/secrets/keys"))
    assert denied.status == 403


def test_kept_open_stores_are_opened_once_and_not_closed_after_a_request(bucket: FakeBucket) -> None:
    module = fake_store_module({"default": bucket})
    opened: List[str] = []
    open_ = module.open  # type: ignore[attr-defined]
    module.open = lambda name: (opened.append(name), open_(name))[1]  # type: ignore[attr-defined]
    api = BulkApi(WitStores(module, None, Err, keep_open=True), TOKEN)
    for _ in range(3):
        response = api.handle(Request.from_target("GET", "/kv/stores/default/keys", AUTH, b"", "/stores/default/keys"))
        assert response.status == 200
    assert opened == ["default"] and not bucket.closed


def test_a_store_that_failed_to_open_is_asked_for_again_when_kept_open(bucket: FakeBucket) -> None:
    buckets: Dict[str, FakeBucket] = {}
    stores = WitStores(fake_store_module(buckets), None, Err, keep_open=True)
    with pytest.raises(kvbatch.AccessDenied):
        stores.open("default")
    buckets["default"] = bucket
    assert stores.open("default").bucket.get_many(["a"]).values == {"a": b"1"}
