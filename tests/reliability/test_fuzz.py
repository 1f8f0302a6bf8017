"""Fuzzing the two parsers that take untrusted text: the bulk HTTP request logic and the fault
plan parser. Neither may fail other than with its documented errors."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from kvbatch_bulk import Request
from kvbatch_host.faults import FIELDS, FaultPlan, FaultPlanError

from bulk_helpers import AUTH, MemoryStores, api_for

DOCUMENTED_STATUSES = {200, 207, 400, 401, 403, 404, 405, 413}
ENDPOINTS = ["get-many", "set-many", "delete-many", "keys", "export", "import", "limits", "", "..", "%00"]

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.sampled_from(["items", "keys", "key", "value",
                                                                                 "encoding", "values", "cursor"]) | st.text(max_size=8),
                                                                inner, max_size=5),
    max_leaves=20,
)
bodies = st.one_of(st.binary(max_size=300), json_values.map(lambda v: json.dumps(v).encode()),
                   st.lists(json_values.map(json.dumps), max_size=5).map(lambda ls: "\n".join(ls).encode()))
targets = st.builds(
    lambda store, endpoint, query: f"/stores/{store}/{endpoint}{query}",
    st.sampled_from(["default", "secret", "", "a/b", "ü", "%2F"]),
    st.sampled_from(ENDPOINTS),
    st.sampled_from(["", "?prefix=a", "?cursor=zz&limit=-1", "?encoding=text", "?encoding=rot13", "?limit=99999999", "?&&=="]),
) | st.text(max_size=40).map(lambda t: "/" + t)
headers = st.one_of(st.just(AUTH), st.just({}), st.dictionaries(st.sampled_from(["Authorization", "authorization", "Content-Type"]),
                                                                 st.text(max_size=40), max_size=2))


@settings(max_examples=400)
@given(method=st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH", ""]), target=targets, headers=headers, body=bodies)
def test_http_logic_answers_every_request_with_a_documented_status_and_no_traceback(method, target, headers, body):
    stores = MemoryStores(granted=("default",))
    api = api_for(stores)
    response = api.handle(Request.from_target(method, target, dict(headers), body))
    assert response.status in DOCUMENTED_STATUSES, (response.status, response.body[:200])
    text = response.body.decode("utf-8")
    assert "Traceback" not in text and "File \"" not in text
    if response.headers.get("content-type") == "application/json":
        json.loads(text)


plan_tokens = st.sampled_from([*FIELDS, "=", ",", "|", "-", ":", '"', "*", "set", "get", "other", "access-denied",
                               "no-such-store", "1", "0", "-1", "99999999999", "10ms", "2s", "1h", "x", " ", "\\"])


@settings(max_examples=1000)
@given(st.lists(st.lists(plan_tokens, max_size=12).map("".join), max_size=3))
def test_fault_plan_parser_accepts_or_rejects_with_fault_plan_error_only(specs):
    try:
        plan = FaultPlan.parse(specs)
    except FaultPlanError as err:
        assert str(err)
        return
    assert len(plan.rules) == len(specs)


@settings(max_examples=500)
@given(json_values)
def test_fault_plan_file_data_accepts_or_rejects_with_fault_plan_error_only(data):
    try:
        FaultPlan.from_data(data)
    except FaultPlanError as err:
        assert str(err)
