"""Bulk API on CPython: read, write and delete many keys, with per-key outcomes and every status."""

from __future__ import annotations

from typing import List

import pytest

import kvbatch
from bulk_helpers import MemoryStores, api_for, b64, call

from kvbatch.testing import FaultyBucket
from kvbatch_bulk import BulkApi, Limits
from kvbatch_bulk.messages import JSON, Request

LEAKY = "redis://admin:hunter2@10.0.0.7:6379 refused"
"""A store error message that must never reach a client."""


@pytest.fixture
def stores() -> MemoryStores:
    return MemoryStores(granted=("default", "other"), unknown=("ghost",))


@pytest.fixture
def log() -> List[str]:
    return []


@pytest.fixture
def api(stores: MemoryStores, log: List[str]) -> BulkApi:
    return api_for(stores, log=log)


# -- get-many ---------------------------------------------------------------------------------


def test_get_many_returns_values_in_base64_and_missing_keys(api: BulkApi, stores: MemoryStores) -> None:
    stores.data().update({"a": b"\x00\xff", "b": b"two"})
    response = call(api, "POST", "/stores/default/get-many", {"keys": ["a", "b", "nope"]})
    assert response.status == 200
    assert response.headers["content-type"] == JSON
    assert response.json() == {"store": "default", "encoding": "base64", "values": {"a": b64(b"\x00\xff"), "b": b64(b"two")},
                               "missing": ["nope"], "failed": {}}


def test_get_many_returns_utf8_text_on_request(api: BulkApi, stores: MemoryStores) -> None:
    stores.data()["greeting"] = "héllo".encode()
    response = call(api, "POST", "/stores/default/get-many", {"keys": ["greeting"], "encoding": "text"})
    assert response.json()["values"] == {"greeting": "héllo"}


def test_get_many_answers_a_key_named_twice_once(api: BulkApi, stores: MemoryStores) -> None:
    stores.data()["a"] = b"1"
    response = call(api, "POST", "/stores/default/get-many", {"keys": ["a", "a", "b", "b"]})
    assert response.json()["values"] == {"a": b64(b"1")} and response.json()["missing"] == ["b"]


def test_get_many_of_a_binary_value_as_text_is_a_per_key_failure_207(api: BulkApi, stores: MemoryStores) -> None:
    stores.data().update({"bin": b"\xff\xfe", "txt": b"ok"})
    response = call(api, "POST", "/stores/default/get-many", {"keys": ["bin", "txt"], "encoding": "text"})
    assert response.status == 207
    assert response.json()["values"] == {"txt": "ok"}
    assert "not UTF-8" in response.json()["failed"]["bin"]


def test_get_many_key_the_store_fails_on_is_207_with_a_reason_not_the_store_message(
        api: BulkApi, stores: MemoryStores, log: List[str]) -> None:
    stores.data().update({"a": b"1", "b": b"2", "c": b"3"})
    stores.faulty["default"].fail("*", key="b", times=None, error=kvbatch.StoreError(LEAKY))
    response = call(api, "POST", "/stores/default/get-many", {"keys": ["a", "b", "c"]})
    assert response.status == 207
    body = response.json()
    assert body["values"] == {"a": b64(b"1"), "c": b64(b"3")}
    assert body["failed"] == {"b": "the store reported an error"}
    assert "hunter2" not in response.body.decode()
    assert any("hunter2" in line for line in log)  # the operator still sees it in the log


# -- set-many ---------------------------------------------------------------------------------


def test_set_many_writes_a_list_of_items_and_reports_each_key(api: BulkApi, stores: MemoryStores) -> None:
    items = [{"key": "a", "value": b64(b"\x01")}, {"key": "b", "value": b64(b"\x02")}]
    response = call(api, "POST", "/stores/default/set-many", {"items": items})
    assert response.status == 200
    assert response.json() == {"store": "default", "total": 2, "succeeded": ["a", "b"], "failed": {}, "unknown": {},
                               "not_attempted": [], "duplicates": []}
    assert stores.data() == {"a": b"\x01", "b": b"\x02"}


def test_set_many_accepts_an_object_of_text_values(api: BulkApi, stores: MemoryStores) -> None:
    response = call(api, "POST", "/stores/default/set-many", {"items": {"x": "ünï", "y": ""}, "encoding": "text"})
    assert response.status == 200
    assert stores.data() == {"x": "ünï".encode(), "y": b""}


def test_set_many_key_named_twice_keeps_the_last_value_and_is_listed(api: BulkApi, stores: MemoryStores) -> None:
    items = [{"key": "k", "value": "first"}, {"key": "k", "value": "last"}]
    response = call(api, "POST", "/stores/default/set-many", {"items": items, "encoding": "text"})
    assert response.json()["duplicates"] == ["k"] and response.json()["total"] == 1
    assert stores.data() == {"k": b"last"}


def test_set_many_fault_mid_batch_is_207_and_each_reported_outcome_holds_in_the_store(
        api: BulkApi, stores: MemoryStores) -> None:
    stores.data().update({f"k{i}": b"old" for i in range(6)})
    faulty = stores.faulty["default"]
    faulty.fail("set_many", after=2)                   # the batch writes k0, k1, then errs
    faulty.fail("set", key="k3", times=None)           # and k3 cannot be written at all
    items = {f"k{i}": "new" for i in range(6)}
    response = call(api, "POST", "/stores/default/set-many", {"items": items, "encoding": "text"})
    assert response.status == 207
    body = response.json()
    assert body["failed"] == {"k3": "the store reported an error"}
    assert sorted(body["succeeded"]) == ["k0", "k1", "k2", "k4", "k5"]
    for key in body["succeeded"]:
        assert stores.data()[key] == b"new"
    assert stores.data()["k3"] == b"old"


def test_set_many_invalid_base64_is_400_naming_the_item_and_writes_nothing(api: BulkApi, stores: MemoryStores) -> None:
    items = [{"key": "a", "value": b64(b"ok")}, {"key": "b", "value": "not base64!"}]
    response = call(api, "POST", "/stores/default/set-many", {"items": items})
    assert response.status == 400
    assert "items[1].value is not valid base64" in response.json()["error"]
    assert stores.data() == {}


# -- delete-many ------------------------------------------------------------------------------


def test_delete_many_deletes_keys_and_missing_keys_count_as_deleted(api: BulkApi, stores: MemoryStores) -> None:
    stores.data().update({"a": b"1", "b": b"2", "c": b"3"})
    response = call(api, "POST", "/stores/default/delete-many", {"keys": ["a", "c", "never"]})
    assert response.status == 200
    assert response.json()["succeeded"] == ["a", "c", "never"]
    assert stores.data() == {"b": b"2"}


def test_delete_many_fault_mid_batch_is_207_and_the_failed_key_is_still_there(api: BulkApi, stores: MemoryStores) -> None:
    stores.data().update({"a": b"1", "b": b"2", "c": b"3"})
    stores.faulty["default"].fail("delete_many", key="b").fail("delete", key="b", times=None)
    response = call(api, "POST", "/stores/default/delete-many", {"keys": ["a", "b", "c"]})
    assert response.status == 207
    assert response.json()["failed"] == {"b": "the store reported an error"}
    assert stores.data() == {"b": b"2"}


# -- store access -----------------------------------------------------------------------------


def test_store_not_granted_is_403(api: BulkApi) -> None:
    response = call(api, "POST", "/stores/secrets/get-many", {"keys": ["a"]})
    assert response.status == 403
    assert response.json() == {"error": "this component is not granted store 'secrets'"}


def test_unknown_store_is_404(api: BulkApi) -> None:
    assert call(api, "POST", "/stores/ghost/get-many", {"keys": ["a"]}).status == 404


def test_every_opened_store_is_closed_even_when_the_request_fails(api: BulkApi, stores: MemoryStores) -> None:
    call(api, "POST", "/stores/default/get-many", b"{broken")
    call(api, "POST", "/stores/other/set-many", {"items": {"a": b64(b"1")}})
    assert stores.closed == stores.opened == ["default", "other"]


def test_capability_error_in_the_middle_of_a_batch_is_403_for_the_whole_request(api: BulkApi, stores: MemoryStores) -> None:
    stores.faulty["default"].fail("*", error=kvbatch.AccessDenied("default"), times=None)
    assert call(api, "POST", "/stores/default/set-many", {"items": {"a": b64(b"1")}}).status == 403


# -- routes and methods -----------------------------------------------------------------------


def test_unknown_endpoint_is_404_naming_the_endpoints(api: BulkApi) -> None:
    response = call(api, "GET", "/stores/default/everything")
    assert response.status == 404
    assert "get-many" in response.json()["error"]


def test_wrong_method_is_405_with_allow(api: BulkApi) -> None:
    response = call(api, "GET", "/stores/default/set-many")
    assert response.status == 405 and response.headers["allow"] == "POST"


def test_store_names_are_percent_decoded(api: BulkApi, stores: MemoryStores) -> None:
    call(api, "POST", "/stores/%64efault/set-many", {"items": {"a": b64(b"1")}})
    assert stores.data() == {"a": b"1"}


def test_limits_endpoint_reports_the_enforced_limits(stores: MemoryStores) -> None:
    response = call(api_for(stores, Limits(max_batch_keys=7)), "GET", "/limits")
    assert response.status == 200 and response.json()["max_batch_keys"] == 7


# -- malformed requests: 400 naming the problem ---------------------------------------------


@pytest.mark.parametrize("body, problem", [
    (b"{not json", "not valid JSON"),
    (b"", "body is empty"),
    (b"\xff\xfe", "not UTF-8"),
    (b"[1, 2]", "must be a JSON object, got a list"),
    ({"keys": ["a"], "encodign": "text"}, "unknown field 'encodign'"),
    ({"keys": "a"}, "'keys' must be a list of strings, got a string"),
    ({"keys": ["a", 7]}, "keys[1] must be a string, got a number"),
    ({}, "missing field 'keys'"),
    ({"keys": ["a"], "encoding": "hex"}, "encoding must be one of base64, text, got 'hex'"),
])
def test_malformed_get_many_is_400_naming_the_problem(api: BulkApi, body: object, problem: str) -> None:
    response = call(api, "POST", "/stores/default/get-many", body)
    assert response.status == 400
    assert problem in response.json()["error"]


@pytest.mark.parametrize("items, problem", [
    ([{"key": "a"}], "items[0] must have exactly the fields 'key' and 'value'"),
    ([["a", "b"]], "items[0] must be an object"),
    ({"a": 5}, "items['a'].value must be a string"),
    ("a=b", "'items' must be a list or an object"),
])
def test_malformed_set_many_items_are_400(api: BulkApi, items: object, problem: str) -> None:
    response = call(api, "POST", "/stores/default/set-many", {"items": items})
    assert response.status == 400 and problem in response.json()["error"]


def test_unknown_query_parameter_is_400(api: BulkApi) -> None:
    response = call(api, "POST", "/stores/default/get-many?encoding=text", {"keys": ["a"]})
    assert response.status == 400 and "unknown query parameter 'encoding'" in response.json()["error"]


# -- limits: 413 naming the limit -------------------------------------------------------------


def test_body_over_the_limit_is_413(stores: MemoryStores) -> None:
    response = call(api_for(stores, Limits(max_body_bytes=100)), "POST", "/stores/default/set-many", b"x" * 101)
    assert response.status == 413 and "the limit is 100 bytes" in response.json()["error"]


def test_too_many_keys_is_413(stores: MemoryStores) -> None:
    api = api_for(stores, Limits(max_batch_keys=3))
    for path, body in [("get-many", {"keys": list("abcd")}), ("delete-many", {"keys": list("abcd")}),
                       ("set-many", {"items": {k: "" for k in "abcd"}})]:
        response = call(api, "POST", f"/stores/default/{path}", body)
        assert response.status == 413 and "the limit is 3" in response.json()["error"]
    assert stores.data() == {}


def test_key_over_256_bytes_is_413_naming_the_limit(api: BulkApi) -> None:
    response = call(api, "POST", "/stores/default/get-many", {"keys": ["ok", "é" * 129]})
    assert response.status == 413
    assert response.json()["error"] == "keys[1] is 258 bytes; keys are limited to 256 bytes of UTF-8"


def test_value_over_1_mib_is_413_naming_the_key_and_limit(api: BulkApi, stores: MemoryStores) -> None:
    items = [{"key": "big", "value": b64(b"x" * (kvbatch.MAX_VALUE_BYTES + 1))}]
    response = call(api, "POST", "/stores/default/set-many", {"items": items})
    assert response.status == 413
    assert "items[0].value is 1048577 bytes; values are limited to 1048576 bytes" in response.json()["error"]
    assert stores.data() == {}


def test_values_over_the_response_limit_are_413(stores: MemoryStores) -> None:
    stores.data().update({k: b"v" * 40 for k in "abc"})
    response = call(api_for(stores, Limits(max_response_bytes=100)), "POST", "/stores/default/get-many", {"keys": list("abc")})
    assert response.status == 413 and "ask for fewer keys" in response.json()["error"]


# -- failures that stop a request -------------------------------------------------------------


def test_unexpected_error_is_500_with_no_detail_and_the_traceback_goes_to_the_log(log: List[str]) -> None:
    class Broken:
        def open(self, name: str) -> None:
            raise RuntimeError("secret internal detail")

    response = call(api_for(Broken(), log=log), "POST", "/stores/default/get-many", {"keys": ["a"]})
    assert response.status == 500
    assert response.json() == {"error": "internal error"}
    assert "Traceback" in log[0] and "secret internal detail" in log[0]


def test_store_failing_as_a_whole_is_503_with_retry_after_and_no_store_message(stores: MemoryStores, log: List[str]) -> None:
    stores.listers["default"].fail = kvbatch.StoreError(LEAKY)
    response = call(api_for(stores, log=log), "GET", "/stores/default/keys")
    assert response.status == 503 and response.headers["retry-after"] == "1"
    assert response.json() == {"error": "the store reported an error"}
    assert any("hunter2" in line for line in log)


class NoCasStores(MemoryStores):
    """Granted stores whose buckets have no compare-and-swap (a host without atomics cas)."""

    def __init__(self) -> None:
        super().__init__(granted=("default", "backup"))
        for bucket in self.memory.values():
            bucket.has_cas = False
        self.faulty = {name: FaultyBucket(bucket) for name, bucket in self.memory.items()}


def test_copy_many_without_overwrite_on_a_store_without_cas_is_501_and_copies_nothing():
    stores = NoCasStores()
    stores.data()["a"] = b"1"
    response = call(api_for(stores), "POST", "/stores/default/copy-many", {"pairs": [["a", "b"]]})
    assert response.status == 501 and "compare-and-swap" in response.json()["error"]
    assert stores.data() == {"a": b"1"}


def test_copy_many_with_overwrite_needs_no_cas():
    stores = NoCasStores()
    stores.data()["a"] = b"1"
    response = call(api_for(stores), "POST", "/stores/default/copy-many", {"pairs": [["a", "b"]], "overwrite": True})
    assert response.status == 200 and stores.data() == {"a": b"1", "b": b"1"}


def test_set_many_only_if_on_a_store_without_cas_is_501():
    response = call(api_for(NoCasStores()), "POST", "/stores/default/set-many",
                    {"items": {"a": "1"}, "encoding": "text", "only_if": "absent"})
    assert response.status == 501


def test_copy_many_to_store_naming_the_same_store_is_a_copy_within_it():
    stores = MemoryStores()
    stores.data()["a"] = b"1"
    response = call(api_for(stores), "POST", "/stores/default/copy-many",
                    {"pairs": [["a", "a"]], "to_store": "default"})
    assert response.status == 400 and "both a source and a destination" in response.json()["error"]


def test_copy_many_overwrite_must_be_a_boolean():
    response = call(api_for(MemoryStores()), "POST", "/stores/default/copy-many", {"pairs": [["a", "b"]], "overwrite": "no"})
    assert response.status == 400 and "'overwrite' must be true or false" in response.json()["error"]


def test_copy_many_when_the_store_fails_mid_copy_reports_unknown_or_failed_per_source():
    stores = MemoryStores()
    stores.data().update({"a": b"1", "b": b"2"})
    stores.faulty["default"].fail("swap", key="b2", times=None)
    response = call(api_for(stores), "POST", "/stores/default/copy-many", {"pairs": [["a", "a2"], ["b", "b2"]]})
    body = response.json()
    assert response.status == 207 and body["succeeded"] == ["a"]
    assert body["failed"] == {"b": "the store reported an error"} and "b2" not in stores.data()


def test_a_target_urlsplit_refuses_is_answered_not_raised():
    request = Request.from_target("GET", "//[::1/kv?prefix=a", {}, b"")
    assert request.path == "//[::1/kv" and dict(request.query) == {"prefix": "a"}
