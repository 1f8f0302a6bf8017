"""One set of HTTP request/response expectations for the Spin component's endpoints, two drivers.

`tests/bulk/test_http_expectations.py` runs these against the logic on CPython (`kvbatch_bulk.BulkApi`
over in-memory stores); `tests/host/serve/test_http.py` runs the very same functions against
build/spin.wasm served by `kvbatch serve` (wasmtime serve, a real HTTP client). A driver sends
`request(method, path, body, headers)` with `path` under the route (`/kv/...`) and answers
`(status, headers, body bytes)`; `items(store)` is what the store really holds. Granted
stores: `default` and `backup`; everything else is access-denied.
"""

from __future__ import annotations

import base64
import json
from typing import Any, Dict, List, Mapping, Optional, Protocol, Tuple

TOKEN = "serve-test-token-0123456789abcdef"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
GRANTED = ("default", "backup")


class Driver(Protocol):
    def request(self, method: str, path: str, body: Any = None,
                headers: Optional[Mapping[str, str]] = None) -> Tuple[int, Dict[str, str], bytes]: ...

    def items(self, store: str) -> Dict[str, bytes]: ...


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def send(driver: Driver, method: str, path: str, body: Any = None, headers: Optional[Mapping[str, str]] = None) -> Tuple[int, Dict[str, str], Any]:
    """One request; a dict/list body goes as JSON; a JSON answer comes back parsed (else the bytes)."""
    status, answer_headers, raw = driver.request(method, path, body, AUTH if headers is None else headers)
    lowered = {k.lower(): v for k, v in answer_headers.items()}
    if lowered.get("content-type", "").startswith("application/json"):
        return status, lowered, json.loads(raw)
    return status, lowered, raw


def set_text(driver: Driver, items: Mapping[str, str], store: str = "default") -> Any:
    status, _, body = send(driver, "POST", f"/kv/stores/{store}/set-many", {"items": dict(items), "encoding": "text"})
    assert status == 200, body
    return body


def test_set_many_then_get_many_answers_values_and_missing_keys(driver: Driver) -> None:
    written = set_text(driver, {"user:1": "ann", "user:2": "bob"})
    assert written["succeeded"] == ["user:1", "user:2"] and written["failed"] == {} and written["total"] == 2
    status, _, body = send(driver, "POST", "/kv/stores/default/get-many", {"keys": ["user:1", "user:9"], "encoding": "text"})
    assert status == 200
    assert body == {"store": "default", "encoding": "text", "values": {"user:1": "ann"}, "missing": ["user:9"], "failed": {}}
    assert driver.items("default") == {"user:1": b"ann", "user:2": b"bob"}


def test_binary_values_round_trip_as_base64(driver: Driver) -> None:
    raw = bytes(range(256))
    status, _, _ = send(driver, "POST", "/kv/stores/default/set-many", {"items": [{"key": "bin", "value": b64(raw)}]})
    assert status == 200
    status, _, body = send(driver, "POST", "/kv/stores/default/get-many", {"keys": ["bin"]})
    assert status == 200 and body["values"] == {"bin": b64(raw)}
    assert driver.items("default")["bin"] == raw


def test_a_key_named_twice_in_set_many_keeps_its_last_value(driver: Driver) -> None:
    status, _, body = send(driver, "POST", "/kv/stores/default/set-many",
                           {"items": [{"key": "k", "value": "one"}, {"key": "k", "value": "two"}], "encoding": "text"})
    assert status == 200 and body["duplicates"] == ["k"]
    assert driver.items("default") == {"k": b"two"}


def test_get_many_of_a_binary_value_as_text_is_a_per_key_failure_207(driver: Driver) -> None:
    send(driver, "POST", "/kv/stores/default/set-many", {"items": [{"key": "bin", "value": b64(b"\xff\xfe")}]})
    set_text(driver, {"txt": "ok"})
    status, _, body = send(driver, "POST", "/kv/stores/default/get-many", {"keys": ["bin", "txt"], "encoding": "text"})
    assert status == 207
    assert body["values"] == {"txt": "ok"} and list(body["failed"]) == ["bin"]


def test_delete_many_removes_keys_and_counts_a_missing_key_as_deleted(driver: Driver) -> None:
    set_text(driver, {"a": "1", "b": "2", "c": "3"})
    status, _, body = send(driver, "POST", "/kv/stores/default/delete-many", {"keys": ["a", "b", "never"]})
    assert status == 200 and sorted(body["succeeded"]) == ["a", "b", "never"]
    assert driver.items("default") == {"c": b"3"}


def test_keys_pages_through_a_prefix_with_a_cursor(driver: Driver) -> None:
    set_text(driver, {f"p:{i:02d}": "v" for i in range(5)} | {"q:0": "v"})
    status, _, first = send(driver, "GET", "/kv/stores/default/keys?prefix=p:&limit=3")
    assert status == 200 and first["keys"] == ["p:00", "p:01", "p:02"] and first["cursor"]
    status, _, second = send(driver, "GET", f"/kv/stores/default/keys?prefix=p:&limit=3&cursor={first['cursor']}")
    assert status == 200 and second == {"store": "default", "keys": ["p:03", "p:04"], "cursor": None}


def forged_cursors() -> List[str]:
    """Cursors no response ever returned: garbled text, and well-formed ones a client made up."""
    made_up = [json.dumps(["bogus-store-cursor", None]), json.dumps({"a": 1, "b": 2}), json.dumps("ab"),
               json.dumps(["0", "p:01"])]
    return ["!!!", "not-a-cursor", *(base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=") for raw in made_up)]


def test_a_forged_or_garbled_cursor_answers_400_naming_the_problem(driver: Driver) -> None:
    set_text(driver, {f"p:{i:02d}": "v" for i in range(5)})
    for cursor in forged_cursors():
        for endpoint in ("keys", "export"):
            status, _, body = send(driver, "GET", f"/kv/stores/default/{endpoint}?limit=2&cursor={cursor}")
            assert status == 400, (endpoint, cursor, status, body)
            assert "cursor" in body["error"] and "previous response" in body["error"], body


def test_a_cursor_is_valid_only_for_the_store_that_issued_it(driver: Driver) -> None:
    set_text(driver, {f"p:{i:02d}": "v" for i in range(5)})
    set_text(driver, {f"p:{i:02d}": "v" for i in range(5)}, store="backup")
    _, _, first = send(driver, "GET", "/kv/stores/default/keys?limit=2")
    status, _, body = send(driver, "GET", f"/kv/stores/backup/keys?limit=2&cursor={first['cursor']}")
    assert status == 400 and "store 'backup'" in body["error"], body
    _, headers, _ = send(driver, "GET", "/kv/stores/default/export?limit=2")
    status, _, rest = send(driver, "GET", f"/kv/stores/default/export?limit=5&cursor={headers['kvbatch-next-cursor']}")
    assert status == 200 and len(rest.splitlines()) == 3


def test_an_export_imported_into_another_store_round_trips_byte_for_byte(driver: Driver) -> None:
    values = {"t:1": b"text", "t:2": bytes(range(256)), "t:3": "héllo".encode()}
    send(driver, "POST", "/kv/stores/default/set-many", {"items": [{"key": k, "value": b64(v)} for k, v in values.items()]})
    status, headers, dump = send(driver, "GET", "/kv/stores/default/export?encoding=text")
    assert status == 200 and "kvbatch-next-cursor" not in headers
    assert isinstance(dump, bytes) and len(dump.splitlines()) == 3
    status, _, body = send(driver, "POST", "/kv/stores/backup/import?encoding=text", dump)
    assert status == 200 and body["lines"] == 3 and sorted(body["succeeded"]) == sorted(values)
    assert driver.items("backup") == driver.items("default") == values


def test_limits_are_published(driver: Driver) -> None:
    status, _, body = send(driver, "GET", "/kv/limits")
    assert status == 200 and body["max_batch_keys"] == 1000 and body["max_body_bytes"] == 8 * 1024 * 1024


def test_malformed_json_is_400_naming_the_problem(driver: Driver) -> None:
    status, _, body = send(driver, "POST", "/kv/stores/default/get-many", b"{not json")
    assert status == 400 and "JSON" in body["error"]


def test_no_token_is_401_with_www_authenticate(driver: Driver) -> None:
    status, headers, _ = send(driver, "GET", "/kv/limits", headers={})
    assert status == 401 and headers["www-authenticate"].startswith("Bearer")


def test_a_wrong_token_is_401(driver: Driver) -> None:
    status, _, _ = send(driver, "GET", "/kv/limits", headers={"Authorization": "Bearer " + "x" * len(TOKEN)})
    assert status == 401


def test_a_store_not_granted_is_403(driver: Driver) -> None:
    status, _, body = send(driver, "POST", "/kv/stores/secret/get-many", {"keys": ["a"]})
    assert status == 403 and "secret" in body["error"]


def test_an_unknown_endpoint_is_404(driver: Driver) -> None:
    status, _, _ = send(driver, "GET", "/kv/stores/default/nothing-here")
    assert status == 404


def test_a_wrong_method_is_405_with_allow(driver: Driver) -> None:
    status, headers, _ = send(driver, "GET", "/kv/stores/default/set-many")
    assert status == 405 and "POST" in headers["allow"]


def test_a_key_over_256_bytes_is_413_naming_the_limit(driver: Driver) -> None:
    status, _, body = send(driver, "POST", "/kv/stores/default/set-many", {"items": {"k" * 257: "v"}, "encoding": "text"})
    assert status == 413 and "256" in body["error"]
    assert driver.items("default") == {}


def test_a_1000_item_set_many_writes_every_key(driver: Driver) -> None:
    items = {f"bulk:{i:04d}": "x" * 100 for i in range(1000)}
    body = set_text(driver, items)
    assert len(body["succeeded"]) == 1000 and driver.items("default") == {k: v.encode() for k, v in items.items()}


def test_more_than_1000_keys_is_413(driver: Driver) -> None:
    status, _, body = send(driver, "POST", "/kv/stores/default/get-many", {"keys": [f"k{i}" for i in range(1001)]})
    assert status == 413 and "1000" in body["error"]


def copy_many(driver: Driver, body: Any, store: str = "default") -> Tuple[int, Any]:
    status, _, answer = send(driver, "POST", f"/kv/stores/{store}/copy-many", body)
    return status, answer


def test_copy_many_copies_pairs_keyed_by_source_and_keeps_an_existing_destination_207(driver: Driver) -> None:
    set_text(driver, {"a": "1", "b": "2", "taken": "old"})
    status, body = copy_many(driver, {"pairs": [["a", "a2"], ["b", "taken"]]})
    assert status == 207 and body["succeeded"] == ["a"] and body["total"] == 2
    assert body["failed"] == {"b": "key 'taken' already holds a value"}
    assert driver.items("default") == {"a": b"1", "b": b"2", "taken": b"old", "a2": b"1"}


def test_copy_many_with_overwrite_replaces_destinations(driver: Driver) -> None:
    set_text(driver, {"a": "1", "taken": "old"})
    status, body = copy_many(driver, {"pairs": [["a", "taken"]], "overwrite": True})
    assert status == 200 and body["succeeded"] == ["a"]
    assert driver.items("default")["taken"] == b"1"


def test_copy_many_into_another_store_names_it_in_the_answer(driver: Driver) -> None:
    set_text(driver, {"a": "1", "b": "2"})
    status, body = copy_many(driver, {"pairs": [["a", "a"], ["b", "b"]], "to_store": "backup"})
    assert status == 200 and body["to_store"] == "backup" and body["succeeded"] == ["a", "b"]
    assert driver.items("backup") == {"a": b"1", "b": b"2"}


def test_copy_many_of_a_missing_source_is_a_per_key_failure_207(driver: Driver) -> None:
    status, body = copy_many(driver, {"pairs": [["nothing", "x"]]})
    assert status == 207 and body["failed"] == {"nothing": "key 'nothing' holds no value"}
    assert driver.items("default") == {}


def test_copy_many_into_a_store_not_granted_is_403(driver: Driver) -> None:
    set_text(driver, {"a": "1"})
    status, body = copy_many(driver, {"pairs": [["a", "a"]], "to_store": "secret"})
    assert status == 403 and "secret" in body["error"]


def test_copy_many_with_a_source_named_twice_is_400_and_copies_nothing(driver: Driver) -> None:
    set_text(driver, {"a": "1"})
    status, body = copy_many(driver, {"pairs": [["a", "x"], ["a", "y"]]})
    assert status == 400 and "source 'a' is named twice" in body["error"]
    assert driver.items("default") == {"a": b"1"}


def test_copy_many_with_more_than_1000_pairs_is_413(driver: Driver) -> None:
    status, body = copy_many(driver, {"pairs": [[f"s{i}", f"d{i}"] for i in range(1001)]})
    assert status == 413 and "1000" in body["error"]


def test_copy_many_with_a_malformed_pair_is_400_naming_it(driver: Driver) -> None:
    status, body = copy_many(driver, {"pairs": [["a", "b"], ["c"]]})
    assert status == 400 and "pairs[1]" in body["error"]


def test_set_many_only_if_absent_keeps_existing_keys_207(driver: Driver) -> None:
    set_text(driver, {"a": "old"})
    status, _, body = send(driver, "POST", "/kv/stores/default/set-many",
                           {"items": {"a": "new", "b": "new"}, "encoding": "text", "only_if": "absent"})
    assert status == 207 and body["succeeded"] == ["b"] and body["failed"] == {"a": "key 'a' already holds a value"}
    assert driver.items("default") == {"a": b"old", "b": b"new"}


def test_set_many_only_if_present_writes_only_existing_keys_207(driver: Driver) -> None:
    set_text(driver, {"a": "old"})
    status, _, body = send(driver, "POST", "/kv/stores/default/set-many",
                           {"items": {"a": "new", "b": "new"}, "encoding": "text", "only_if": "present"})
    assert status == 207 and body["succeeded"] == ["a"] and body["failed"] == {"b": "key 'b' holds no value"}
    assert driver.items("default") == {"a": b"new"}


def test_set_many_with_an_unknown_only_if_is_400(driver: Driver) -> None:
    status, _, body = send(driver, "POST", "/kv/stores/default/set-many",
                           {"items": {"a": "new"}, "encoding": "text", "only_if": "sometimes"})
    assert status == 400 and "only_if must be one of" in body["error"]
    assert driver.items("default") == {}


EXPECTATIONS: List[str] = [name for name in dict(globals()) if name.startswith("test_")]


# -- the explorer page (kvbatch_bulk.explorer) ---------------------------------------------------


def test_the_route_root_serves_the_explorer_page_without_a_token(driver: Driver) -> None:
    status, headers, page = send(driver, "GET", "/kv/", headers={})
    assert status == 200 and headers["content-type"] == "text/html; charset=utf-8"
    assert b"<title>kvbatch explorer</title>" in page and b'src="explorer.js"' in page


def test_the_explorer_script_and_style_sheet_are_responses_of_their_own(driver: Driver) -> None:
    status, headers, script = send(driver, "GET", "/kv/explorer.js", headers={})
    assert status == 200 and headers["content-type"] == "text/javascript; charset=utf-8" and b"sessionStorage" in script
    status, headers, style = send(driver, "GET", "/kv/explorer.css", headers={})
    assert status == 200 and headers["content-type"] == "text/css; charset=utf-8" and b"font" in style


def test_the_explorer_page_allows_only_its_own_script_and_style(driver: Driver) -> None:
    for path in ("/kv/", "/kv/explorer.js", "/kv/explorer.css"):
        _, headers, _ = send(driver, "GET", path, headers={})
        policy = {d.split()[0]: d.split()[1:] for d in headers["content-security-policy"].split("; ")}
        assert policy["default-src"] == ["'none'"] and policy["script-src"] == ["'self'"] and policy["style-src"] == ["'self'"]
        assert policy["connect-src"] == ["'self'"] and policy["frame-ancestors"] == ["'none'"]
        assert headers["x-content-type-options"] == "nosniff" and headers["referrer-policy"] == "no-referrer"


def test_the_endpoints_still_need_the_token_beside_the_page(driver: Driver) -> None:
    status, _, body = send(driver, "GET", "/kv/stores/default/keys", headers={})
    assert status == 401 and "authentication required" in body["error"]
    status, _, _ = send(driver, "POST", "/kv/", {"keys": []}, headers={})
    assert status == 401
