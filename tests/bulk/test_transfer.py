"""Bulk API on CPython: paged key listing with a prefix and a cursor, NDJSON export and import."""

from __future__ import annotations

import base64
import json
from typing import List

import pytest

import kvbatch
from bulk_helpers import MemoryStores, api_for, b64, call, lines, ndjson

from kvbatch_bulk import NEXT_CURSOR_HEADER, BulkApi, Limits, Position
from kvbatch_bulk.messages import NDJSON


def all_pages(api: BulkApi, target: str) -> List[List[str]]:
    pages, cursor = [], None
    while True:
        response = call(api, "GET", target + (f"&cursor={cursor}" if cursor else ""))
        assert response.status == 200, response.body
        pages.append(response.json()["keys"])
        cursor = response.json()["cursor"]
        if cursor is None:
            return pages


# -- keys ------------------------------------------------------------------------------------


@pytest.mark.parametrize("store_page", [1, 3, 1000])
def test_keys_pages_cover_every_key_with_the_prefix_once_in_order(store_page: int) -> None:
    stores = MemoryStores(page_size=store_page)
    names = [f"user:{i:02d}" for i in range(10)] + ["order:1", "user", "users:x"]
    for name in reversed(names):  # the store lists in insertion order: not sorted
        stores.data()[name] = b"."
    pages = all_pages(api_for(stores), "/stores/default/keys?prefix=user:&limit=3")
    if store_page == 1000:  # one store page (like Spin): sorted across the whole listing
        assert pages == [["user:00", "user:01", "user:02"], ["user:03", "user:04", "user:05"],
                         ["user:06", "user:07", "user:08"], ["user:09"]]
    found = [key for page in pages for key in page]
    assert sorted(found) == [f"user:{i:02d}" for i in range(10)]
    assert all(len(page) <= 3 for page in pages)


def test_keys_without_a_prefix_lists_everything_with_the_default_page() -> None:
    stores = MemoryStores()
    stores.data().update({f"k{i:03d}": b"" for i in range(150)})
    response = call(api_for(stores), "GET", "/stores/default/keys")
    assert len(response.json()["keys"]) == 100 and response.json()["cursor"]


def test_keys_cursor_resumes_after_its_key_even_if_that_key_was_deleted() -> None:
    stores = MemoryStores()
    stores.data().update({k: b"" for k in "abcdef"})
    api = api_for(stores)
    first = call(api, "GET", "/stores/default/keys?limit=2").json()
    assert first["keys"] == ["a", "b"]
    del stores.data()["b"]
    stores.data()["a2"] = b""  # added behind the position: not repeated, not listed
    second = call(api, "GET", f"/stores/default/keys?limit=2&cursor={first['cursor']}").json()
    assert second["keys"] == ["c", "d"]


def test_keys_scan_of_a_sparse_prefix_stops_after_max_store_pages_and_resumes() -> None:
    stores = MemoryStores(page_size=2)
    stores.data().update({f"a{i:02d}": b"" for i in range(20)})
    stores.data()["zz"] = b""
    api = api_for(stores, Limits(max_store_pages=3))
    first = call(api, "GET", "/stores/default/keys?prefix=z").json()
    assert first["keys"] == [] and first["cursor"] is not None
    assert stores.listers["default"].calls == 3
    assert [k for page in all_pages(api, "/stores/default/keys?prefix=z") for k in page] == ["zz"]


@pytest.mark.parametrize("cursor", ["!!!", "bm90IGpzb24", base64.urlsafe_b64encode(b'[1, 2]').decode()])
def test_malformed_cursor_is_400(cursor: str) -> None:
    response = call(api_for(MemoryStores()), "GET", f"/stores/default/keys?cursor={cursor}")
    assert response.status == 400 and "cursor is malformed" in response.json()["error"]


@pytest.mark.parametrize("limit", ["0", "-1", "1001", "ten", "2.5"])
def test_limit_outside_1_to_the_maximum_is_400(limit: str) -> None:
    response = call(api_for(MemoryStores()), "GET", f"/stores/default/keys?limit={limit}")
    assert response.status == 400 and "limit must be a whole number from 1 to 1000" in response.json()["error"]


def test_cursor_round_trips_store_cursor_and_key() -> None:
    position = Position("page-7", "user:Ω")
    assert Position.parse(position.token()) == position
    assert Position.parse(None) == Position.parse("") == Position()


# -- export ----------------------------------------------------------------------------------


def test_export_writes_one_ndjson_line_per_key_in_base64() -> None:
    stores = MemoryStores()
    stores.data().update({"a": b"\x00\x01", "b": b"text"})
    response = call(api_for(stores), "GET", "/stores/default/export")
    assert response.status == 200 and response.headers["content-type"] == NDJSON
    assert lines(response) == [{"key": "a", "value": b64(b"\x00\x01")}, {"key": "b", "value": b64(b"text")}]
    assert NEXT_CURSOR_HEADER not in response.headers and response.headers["kvbatch-keys"] == "2"


def test_export_as_text_writes_a_binary_value_in_base64_and_says_so() -> None:
    stores = MemoryStores()
    stores.data().update({"bin": b"\xff", "txt": "é".encode()})
    response = call(api_for(stores), "GET", "/stores/default/export?encoding=text")
    assert lines(response) == [{"key": "bin", "value": b64(b"\xff"), "encoding": "base64"}, {"key": "txt", "value": "é"}]


def test_export_pages_follow_the_next_cursor_header() -> None:
    stores = MemoryStores()
    stores.data().update({f"k{i}": bytes([i]) for i in range(5)})
    api = api_for(stores)
    exported, target = [], "/stores/default/export?limit=2"
    while True:
        response = call(api, "GET", target)
        exported += lines(response)
        if NEXT_CURSOR_HEADER not in response.headers:
            break
        target = f"/stores/default/export?limit=2&cursor={response.headers[NEXT_CURSOR_HEADER]}"
    assert [line["key"] for line in exported] == [f"k{i}" for i in range(5)]


def test_export_ends_a_page_early_at_the_response_limit_and_the_cursor_resumes_there() -> None:
    stores = MemoryStores()
    stores.data().update({k: b"v" * 30 for k in "abcde"})
    api = api_for(stores, Limits(max_response_bytes=130))  # lines are 63 bytes
    first = call(api, "GET", "/stores/default/export")
    assert [line["key"] for line in lines(first)] == ["a", "b"]
    assert len(first.body) <= 130
    rest = call(api, "GET", f"/stores/default/export?cursor={first.headers[NEXT_CURSOR_HEADER]}")
    assert [line["key"] for line in lines(rest)][0] == "c"


def test_export_always_includes_one_value_even_if_it_alone_exceeds_the_response_limit() -> None:
    stores = MemoryStores()
    stores.data().update({"big": b"x" * 500, "next": b""})
    response = call(api_for(stores, Limits(max_response_bytes=100)), "GET", "/stores/default/export")
    assert [line["key"] for line in lines(response)] == ["big"] and NEXT_CURSOR_HEADER in response.headers


def test_export_with_a_failing_key_is_503_so_the_page_is_retried_whole() -> None:
    stores = MemoryStores()
    stores.data().update({"a": b"1", "b": b"2"})
    stores.faulty["default"].fail("*", key="b", times=None, error=kvbatch.StoreError("disk on fire"))
    response = call(api_for(stores), "GET", "/stores/default/export")
    assert response.status == 503
    assert response.json()["failed"] == {"b": "the store reported an error"}
    assert "disk on fire" not in response.body.decode()


# -- import ----------------------------------------------------------------------------------


def test_export_then_import_copies_a_store_exactly() -> None:
    stores = MemoryStores(granted=("default", "copy"))
    original = {"bin": bytes(range(256)), "txt": "naïve".encode(), "empty": b""}
    stores.data().update(original)
    api = api_for(stores)
    for encoding in ("base64", "text"):
        stores.data("copy").clear()
        dump = call(api, "GET", f"/stores/default/export?encoding={encoding}").body
        response = call(api, "POST", f"/stores/copy/import?encoding={encoding}", dump)
        assert response.status == 200 and response.json()["lines"] == 3
        assert stores.data("copy") == original


def test_import_skips_blank_lines_and_honours_each_lines_encoding() -> None:
    stores = MemoryStores()
    body = b"\n" + ndjson([{"key": "a", "value": "plain"}, {"key": "b", "value": b64(b"\x00"), "encoding": "base64"}]) + b"\n\n"
    response = call(api_for(stores), "POST", "/stores/default/import?encoding=text", body)
    assert response.status == 200
    assert stores.data() == {"a": b"plain", "b": b"\x00"}


@pytest.mark.parametrize("body, problem", [
    (b'{"key": "a", "value": "YQ=="}\n{"key": "b"\n', "line 2 is not valid JSON"),
    (b'{"key": "a", "value": "YQ=="}\n["b", "Yg=="]\n', "line 2 must be a JSON object"),
    (b'{"key": "a", "val": "YQ=="}\n', "line 1 must have the fields 'key' and 'value'"),
    (b'\n\n{"key": 1, "value": "YQ=="}\n', "line 3: key must be a string"),
    (b'{"key": "a", "value": "%%"}\n', "line 1: value is not valid base64"),
    (b'{"key": "a", "value": "YQ==", "encoding": "rot13"}\n', "line 1: encoding must be one of base64, text"),
])
def test_malformed_import_line_is_400_naming_the_line_and_nothing_is_written(body: bytes, problem: str) -> None:
    stores = MemoryStores()
    response = call(api_for(stores), "POST", "/stores/default/import", body)
    assert response.status == 400 and problem in response.json()["error"]
    assert stores.data() == {}


def test_import_of_more_lines_than_the_batch_limit_is_413() -> None:
    stores = MemoryStores()
    body = ndjson({"key": f"k{i}", "value": ""} for i in range(4))
    response = call(api_for(stores, Limits(max_batch_keys=3)), "POST", "/stores/default/import", body)
    assert response.status == 413 and "at most 3 lines" in response.json()["error"]


def test_import_fault_mid_batch_is_207_with_per_key_outcomes() -> None:
    stores = MemoryStores()
    stores.faulty["default"].fail("set_many", after=1).fail("set", key="k2", times=None)
    body = ndjson({"key": f"k{i}", "value": b64(b"new")} for i in range(4))
    response = call(api_for(stores), "POST", "/stores/default/import", body)
    assert response.status == 207
    outcome = response.json()
    assert outcome["failed"] == {"k2": "the store reported an error"} and outcome["lines"] == 4
    assert sorted(outcome["succeeded"]) == ["k0", "k1", "k3"]
    assert sorted(stores.data()) == ["k0", "k1", "k3"]


def test_unknown_import_parameter_is_400() -> None:
    response = call(api_for(MemoryStores()), "POST", "/stores/default/import?format=csv", b"")
    assert response.status == 400 and "unknown query parameter 'format'" in json.loads(response.body)["error"]
