"""The bulk HTTP logic holds its limits against hostile input: deep nesting is refused before it
is parsed, the response limit counts the bytes sent, lone surrogates never reach the store, and
numbers are ASCII digits only."""

from __future__ import annotations

import base64
import json
import sys

import pytest

from kvbatch_bulk import Limits, Position
from kvbatch_bulk.jsondepth import nesting_depth
from kvbatch_bulk.limits import MAX_JSON_DEPTH

from bulk_helpers import MemoryStores, api_for, call, ndjson


@pytest.fixture
def stores() -> MemoryStores:
    return MemoryStores()


def deep(levels: int) -> str:
    return "[" * levels + "]" * levels


@pytest.mark.parametrize("text, depth", [("1", 0), ('"[[["', 0), ("[]", 1), ('{"a": [{"b": []}]}', 4),
                                         ('["\\"[", [[]]]', 3), ("[][][]", 1), ("[[[", 3), ('[{"a": [1, "]]"', 3)])
def test_nesting_depth_counts_brackets_outside_strings(text, depth):
    assert nesting_depth(text, 100) == depth


def test_nesting_depth_past_the_limit_is_reported_past_it():
    assert nesting_depth(deep(100_000), 32) > 32
    assert nesting_depth("[" + deep(32)[1:-1] + "]", 32) == 32


@pytest.mark.parametrize("endpoint", ["get-many", "delete-many"])
def test_a_body_nested_2000_deep_is_a_400_naming_the_limit_not_a_recursion_error(stores, endpoint):
    response = call(api_for(stores), "POST", f"/stores/default/{endpoint}", ('{"keys": ' + deep(2000) + "}").encode())
    assert response.status == 400
    assert f"the limit is {MAX_JSON_DEPTH}" in response.json()["error"]


def test_a_set_many_body_nested_just_over_the_limit_is_refused_and_writes_nothing(stores):
    body = '{"items": ' + deep(MAX_JSON_DEPTH) + "}"
    response = call(api_for(stores), "POST", "/stores/default/set-many", body.encode())
    assert response.status == 400 and "max_json_depth" in response.json()["error"]
    assert stores.data() == {}


def test_a_body_at_the_depth_limit_is_parsed(stores):
    body = '{"keys": ' + deep(MAX_JSON_DEPTH - 1) + "}"  # depth 32 in all: parsed, then refused as not keys
    response = call(api_for(stores), "POST", "/stores/default/get-many", body.encode())
    assert response.status == 400 and "keys[0] must be a string" in response.json()["error"]


def test_an_unclosed_deep_body_is_refused_before_parsing(stores):
    response = call(api_for(stores), "POST", "/stores/default/get-many", b'{"keys": ' + b"[" * 5000)
    assert response.status == 400 and "levels deep" in response.json()["error"]


def test_the_depth_limit_is_configurable_and_reported(stores):
    api = api_for(stores, Limits(max_json_depth=2))
    assert call(api, "GET", "/limits").json()["max_json_depth"] == 2
    assert call(api, "POST", "/stores/default/get-many", {"keys": [["a"]]}).status == 400


def test_a_deep_ndjson_import_line_is_a_400_naming_the_line(stores):
    body = b'{"key": "a", "value": "YQ=="}\n' + ('{"key": ' + deep(2000) + "}").encode() + b"\n"
    response = call(api_for(stores), "POST", "/stores/default/import", body)
    assert response.status == 400 and response.json()["error"].startswith("line 2 ")
    assert stores.data() == {}


def test_a_deeply_nested_cursor_is_malformed_not_a_500(stores):
    cursor = base64.urlsafe_b64encode(deep(2000).encode()).decode().rstrip("=")
    response = call(api_for(stores), "GET", f"/stores/default/keys?cursor={cursor}")
    assert response.status == 400 and "cursor is malformed" in response.json()["error"]


def test_a_real_cursor_still_parses():
    assert Position.parse(Position("c1", "k9").token()) == Position("c1", "k9")


def test_get_many_response_limit_counts_escaped_bytes_not_characters(stores):
    stores.data().update({f"v{i}": b"\x01" * 1000 for i in range(7)})  # 7,000 chars, 42,000+ bytes as JSON
    api = api_for(stores, Limits(max_response_bytes=20_000))
    response = call(api, "POST", "/stores/default/get-many", {"keys": [f"v{i}" for i in range(7)], "encoding": "text"})
    assert response.status == 413 and "max_response_bytes" in response.json()["error"]


def test_get_many_response_under_the_limit_is_sent_and_no_bigger_than_it(stores):
    stores.data().update({f"v{i}": "é".encode() * 500 for i in range(7)})
    api = api_for(stores, Limits(max_response_bytes=8_000))
    response = call(api, "POST", "/stores/default/get-many", {"keys": [f"v{i}" for i in range(7)], "encoding": "text"})
    assert response.status == 200 and len(response.body) <= 8_000


def test_get_many_response_limit_counts_the_missing_keys_list(stores):
    api = api_for(stores, Limits(max_response_bytes=5_000))
    keys = [f"{i:03d}" + "\x02" * 200 for i in range(20)]  # all missing: 20 × ~1,200 bytes of escapes
    response = call(api, "POST", "/stores/default/get-many", {"keys": keys})
    assert response.status == 413


@pytest.mark.parametrize("endpoint, body", [
    ("set-many", {"items": {"k": "\ud800"}, "encoding": "text"}),
    ("set-many", {"items": [{"key": "k", "value": "ok\udfff"}], "encoding": "text"}),
    ("set-many", {"items": {"k\ud800": "YQ=="}}),
    ("delete-many", {"keys": ["\udc00"]}),
])
def test_a_lone_surrogate_is_a_400_and_nothing_is_written(stores, endpoint, body):
    stores.data()["\udc00".encode("utf-8", "surrogatepass").decode("latin-1")] = b"x"
    before = dict(stores.data())
    response = call(api_for(stores), "POST", f"/stores/default/{endpoint}", json.dumps(body).encode())
    assert response.status == 400 and "lone surrogate" in response.json()["error"]
    assert stores.data() == before


def test_a_lone_surrogate_in_an_import_line_is_a_400_naming_the_line(stores):
    body = ndjson([{"key": "a", "value": "fine"}, {"key": "b", "value": "\ud83d"}])
    response = call(api_for(stores), "POST", "/stores/default/import?encoding=text", body)
    assert response.status == 400 and response.json()["error"].startswith("line 2: value")
    assert stores.data() == {}


def test_a_proper_surrogate_pair_is_text_and_is_stored_as_utf8(stores):
    response = call(api_for(stores), "POST", "/stores/default/set-many", {"items": {"k": "\U0001f600"}, "encoding": "text"})
    assert response.status == 200 and stores.data() == {"k": "\U0001f600".encode()}


@pytest.mark.parametrize("limit", ["²", "٣", "５", "1²", "+5", " 5", "5_0", "1" * 5000, "-1", "0", "1001"])
def test_a_limit_that_is_not_ascii_digits_in_range_is_a_400(stores, limit):
    for endpoint in ("keys", "export"):
        response = call(api_for(stores), "GET", f"/stores/default/{endpoint}?limit={limit}")
        assert response.status == 400, (endpoint, limit, response.body)
        assert "whole number from 1 to 1000" in response.json()["error"]


def test_an_ascii_limit_in_range_is_accepted(stores):
    stores.data().update({"a": b"1", "b": b"2"})
    assert call(api_for(stores), "GET", "/stores/default/keys?limit=1").json()["keys"] == ["a"]


def test_parsing_stays_well_inside_the_interpreter_recursion_limit():
    assert MAX_JSON_DEPTH * 4 < sys.getrecursionlimit()


@pytest.mark.parametrize("texts", [[], ["plain", "base64+/="], ["quote\"", "back\\slash"], ["\x01", "é", "tab\t"], ["ok", "\u2028"]])
def test_json_sizes_is_the_sum_of_each_texts_json_size(texts):
    from kvbatch_bulk.codec import json_size, json_sizes

    assert json_sizes(texts) == sum(json_size(t) for t in texts)
    assert json_sizes(texts) == sum(len(json.dumps(t, ensure_ascii=False).encode()) for t in texts)


def test_get_many_response_limit_counts_the_escaped_bytes_of_the_keys_found(stores):
    keys = [f"{i:02d}" + "\x03" * 200 for i in range(10)]  # ~1,200 bytes each as JSON, values of 1 byte
    stores.data().update({key: b"v" for key in keys})
    response = call(api_for(stores, Limits(max_response_bytes=6_000)), "POST", "/stores/default/get-many", {"keys": keys})
    assert response.status == 413 and "max_response_bytes" in response.json()["error"]
