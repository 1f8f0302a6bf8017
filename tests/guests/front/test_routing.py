"""The serve front routes a request as Spin's HTTP trigger does: what it answers itself and which
headers the component gets (`routing.decide`, on CPython; tests/host/serve serve it for real)."""

from __future__ import annotations

import json

import pytest

from kvbatch_guests.front.routing import MAX_BODY_BYTES, Answer, Forward, decide, route_table


def forwarded(routes: list[str] | None, target: str, headers: tuple[tuple[str, bytes], ...] = (),
              authority: str | None = "127.0.0.1:3000") -> dict[str, str]:
    table = route_table(None if routes is None else json.dumps(routes))
    decision = decide(table, target, list(headers), authority)
    assert isinstance(decision, Forward), decision
    return {name: value.decode() for name, value in decision.headers}


def test_a_routed_request_carries_the_headers_spin_sets() -> None:
    headers = forwarded(["/users/:id/..."], "/users/42/posts?page=2", (("host", b"example.test:3000"),))
    assert headers == {
        "host": "example.test:3000",
        "spin-path-info": "/posts", "spin-full-url": "http://example.test:3000/users/42/posts?page=2",
        "spin-matched-route": "/users/:id/...", "spin-base-path": "/", "spin-raw-component-route": "/users/:id/...",
        "spin-component-route": "/users/:id", "spin-path-match-id": "42",
    }


def test_the_full_url_falls_back_to_the_authority_without_a_host_header() -> None:
    assert forwarded(["/kv/..."], "/kv/limits", authority="127.0.0.1:3999")["spin-full-url"] == "http://127.0.0.1:3999/kv/limits"


def test_client_sent_spin_headers_never_reach_the_component() -> None:
    headers = forwarded(["/kv/..."], "/kv/limits", (("Spin-Path-Info", b"/forged"), ("spin-client-addr", b"1.2.3.4:5")))
    assert headers["spin-path-info"] == "/limits"
    assert "Spin-Path-Info" not in headers and "spin-client-addr" not in headers


def test_the_clients_other_headers_pass_unchanged() -> None:
    headers = forwarded(["/..."], "/", (("authorization", b"Bearer abc"), ("x-trace", b"1")))
    assert (headers["authorization"], headers["x-trace"]) == ("Bearer abc", "1")


def test_without_routes_every_path_is_the_components() -> None:
    assert forwarded(None, "/any/path")["spin-path-info"] == "/any/path"


def test_a_path_no_route_matches_is_answered_404() -> None:
    assert decide(route_table('["/kv/..."]'), "/other", [], None) == Answer(404, "Not Found")


def test_the_health_check_is_answered_ok_whatever_the_routes() -> None:
    assert decide(route_table('["/kv/..."]'), "/.well-known/spin/health", [], None) == Answer(200, "OK")


def test_other_well_known_paths_are_the_servers_and_404() -> None:
    assert decide(route_table('["/..."]'), "/.well-known/spin/info", [], None) == Answer(404, "Not Found")


def test_a_body_declared_over_the_limit_is_answered_413_before_the_component() -> None:
    answer = decide(route_table(None), "/", [("content-length", str(MAX_BODY_BYTES + 1).encode())], None)
    assert isinstance(answer, Answer) and answer.status == 413 and str(MAX_BODY_BYTES) in answer.text


@pytest.mark.parametrize("text", ['{"route": "/"}', '["kv/..."]', "[7]"])
def test_routes_that_are_not_a_list_of_paths_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="KVBATCH_SERVE_ROUTES must be a JSON list"):
        route_table(text)
