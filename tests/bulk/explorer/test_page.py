"""The explorer page as the bulk API serves it (`kvbatch_bulk.explorer`), on CPython.

What a browser does with it is tested in tests/bulk/explorer/test_browser.py; here: which requests are the
page's, the redirect of the bare route, and the rules the page's text holds to (no inline
script, style or event handler; keys and values reach the page only as text).
"""

from __future__ import annotations

import re
from typing import Dict, Optional

from bulk_helpers import TOKEN, MemoryStores

from kvbatch_bulk import BulkApi, Request
from kvbatch_bulk.explorer import CONTENT_SECURITY_POLICY, explorer_response
from kvbatch_bulk.explorer.page import PAGE_HTML
from kvbatch_bulk.explorer.script import SCRIPT_JS


def api() -> BulkApi:
    return BulkApi(MemoryStores(granted=("default",)), TOKEN, log=lambda line: None)


def get(path_info: str, headers: Optional[Dict[str, str]] = None, method: str = "GET") -> "tuple[int, Dict[str, str], bytes]":
    answer = api().handle(Request.from_target(method, "/kv" + path_info, headers or {}, b"", path_info))
    return answer.status, answer.headers, answer.body


def test_the_bare_route_redirects_to_its_root_relative_to_the_full_url() -> None:
    status, headers, _ = get("", {"spin-full-url": "http://127.0.0.1:3000/apps/kv", "spin-component-route": "/apps/kv"})
    assert status == 308 and headers["location"] == "kv/"


def test_the_bare_route_redirects_by_the_component_route_without_a_full_url() -> None:
    status, headers, _ = get("", {"spin-component-route": "/data"})
    assert status == 308 and headers["location"] == "data/"


def test_the_bare_route_without_spin_headers_names_the_trailing_slash() -> None:
    status, _, body = get("")
    assert status == 404 and b"trailing slash" in body


def test_only_get_requests_for_the_pages_paths_are_the_explorers() -> None:
    assert explorer_response(Request("GET", "/")) is not None
    assert explorer_response(Request("POST", "/")) is None
    assert explorer_response(Request("GET", "/explorer.map")) is None
    assert explorer_response(Request("GET", "/stores/default/keys")) is None


def test_an_unknown_path_is_still_the_apis_401_then_404() -> None:
    assert get("/explorer.html")[0] == 401
    assert get("/explorer.html", {"authorization": f"Bearer {TOKEN}"})[0] == 404


def test_the_policy_allows_no_inline_script_or_style_and_no_other_origin() -> None:
    assert "unsafe-inline" not in CONTENT_SECURITY_POLICY and "unsafe-eval" not in CONTENT_SECURITY_POLICY
    assert "http" not in CONTENT_SECURITY_POLICY and "*" not in CONTENT_SECURITY_POLICY


def test_the_page_has_no_inline_script_style_or_event_handler() -> None:
    assert re.findall(r"<script\b[^>]*>", PAGE_HTML) == ['<script src="explorer.js" defer>']
    assert "<style" not in PAGE_HTML and " style=" not in PAGE_HTML
    assert not re.search(r"\son[a-z]+\s*=", PAGE_HTML)
    assert not re.search(r"(src|href)=\"(https?:)?//", PAGE_HTML)  # nothing from another site


def test_the_script_writes_text_only_never_markup() -> None:
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function", "setAttribute('on"):
        assert sink not in SCRIPT_JS, sink
    assert "textContent" in SCRIPT_JS


def test_every_form_control_of_the_page_has_a_label() -> None:
    controls = re.findall(r"<(?:input|select|textarea)\b[^>]*\bid=\"([^\"]+)\"", PAGE_HTML)
    labelled = set(re.findall(r"<label for=\"([^\"]+)\"", PAGE_HTML))
    wrapped = set(re.findall(r"<label class=\"check\"><input id=\"([^\"]+)\"", PAGE_HTML))
    assert controls and [c for c in controls if c not in labelled | wrapped] == []
