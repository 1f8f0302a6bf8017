"""Bulk API on CPython: the bearer token, checked in constant time, before anything else."""

from __future__ import annotations

import pytest

import kvbatch_bulk.auth as auth
from bulk_helpers import TOKEN, MemoryStores, api_for, call

from kvbatch_bulk import ApiForToken, BulkApi


@pytest.fixture
def stores() -> MemoryStores:
    return MemoryStores()


def test_request_without_authorization_is_401_with_a_bearer_challenge(stores: MemoryStores) -> None:
    response = call(api_for(stores), "POST", "/stores/default/get-many", {"keys": ["a"]}, headers={})
    assert response.status == 401
    assert response.headers["www-authenticate"].startswith("Bearer ")
    assert "Bearer" in response.json()["error"]


def test_wrong_token_is_401_invalid_token(stores: MemoryStores) -> None:
    response = call(api_for(stores), "POST", "/stores/default/get-many", {"keys": ["a"]},
                    headers={"Authorization": "Bearer " + TOKEN[:-1] + "x"})
    assert response.status == 401
    assert 'error="invalid_token"' in response.headers["www-authenticate"]


@pytest.mark.parametrize("header", ["Basic dXNlcjpwYXNz", "Bearer", "Bearer   ", TOKEN])
def test_authorization_that_is_not_bearer_token_is_401(stores: MemoryStores, header: str) -> None:
    response = call(api_for(stores), "GET", "/limits", headers={"Authorization": header})
    assert response.status == 401


def test_bearer_scheme_is_case_insensitive_and_header_name_too(stores: MemoryStores) -> None:
    response = call(api_for(stores), "GET", "/limits", headers={"authorization": f"bearer {TOKEN}"})
    assert response.status == 200


def test_token_is_compared_with_hmac_compare_digest(stores: MemoryStores, monkeypatch: pytest.MonkeyPatch) -> None:
    seen = []

    def spy(a: bytes, b: bytes) -> bool:
        seen.append((a, b))
        return a == b

    monkeypatch.setattr(auth.hmac, "compare_digest", spy)
    call(api_for(stores), "GET", "/limits", headers={"Authorization": "Bearer wrong"})
    assert seen == [(b"wrong", TOKEN.encode())]


def test_unauthenticated_requests_learn_nothing_about_endpoints_or_stores(stores: MemoryStores) -> None:
    api = api_for(stores)
    for method, target in [("GET", "/no/such/path"), ("POST", "/stores/secret/get-many"), ("DELETE", "/stores/default/keys")]:
        assert call(api, method, target, headers={}).status == 401
    assert stores.opened == []


def test_authentication_comes_before_the_body_size_limit(stores: MemoryStores) -> None:
    from kvbatch_bulk import Limits

    response = call(api_for(stores, Limits(max_body_bytes=10)), "POST", "/stores/default/set-many", b"x" * 100, headers={})
    assert response.status == 401


@pytest.mark.parametrize("token", [None, "", "   ", "short-token"])
def test_component_refuses_to_serve_without_a_real_token(stores: MemoryStores, token: object) -> None:
    with pytest.raises(ValueError, match="token"):
        BulkApi(stores, token)  # type: ignore[arg-type]


def test_api_for_token_reuses_the_api_while_the_token_is_the_same(stores: MemoryStores) -> None:
    apis = ApiForToken(stores)
    assert apis.api(TOKEN) is apis.api(TOKEN)


def test_api_for_token_builds_a_new_api_when_the_token_changes(stores: MemoryStores) -> None:
    apis = ApiForToken(stores)
    first = apis.api(TOKEN)
    second = apis.api(TOKEN + "-rotated")
    assert second is not first
    assert call(second, "GET", "/limits").status == 401  # the old token no longer opens it
    rotated = {"Authorization": f"Bearer {TOKEN}-rotated"}
    assert call(second, "GET", "/limits", headers=rotated).status == 200


@pytest.mark.parametrize("token", [None, "", "short-token"])
def test_api_for_token_refuses_an_unusable_token_and_keeps_the_last_usable_one(stores: MemoryStores, token: object) -> None:
    apis = ApiForToken(stores)
    kept = apis.api(TOKEN)
    with pytest.raises(ValueError, match="token"):
        apis.api(token)  # type: ignore[arg-type]
    assert apis.api(TOKEN) is kept


def test_api_for_token_gives_the_api_its_limits(stores: MemoryStores) -> None:
    from kvbatch_bulk import Limits

    api = ApiForToken(stores, Limits(max_batch_keys=3)).api(TOKEN)
    assert call(api, "GET", "/limits").json()["max_batch_keys"] == 3


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_api_for_token_answers_a_recent_token_read_without_reading_again(stores: MemoryStores) -> None:
    clock = FakeClock()
    apis = ApiForToken(stores, reread_s=1.0, clock=clock)
    assert apis.recent() is None
    api = apis.api(TOKEN)
    clock.now += 0.5
    assert apis.recent() is api


def test_api_for_token_asks_for_a_new_read_once_the_last_is_reread_s_old(stores: MemoryStores) -> None:
    clock = FakeClock()
    apis = ApiForToken(stores, reread_s=1.0, clock=clock)
    apis.api(TOKEN)
    clock.now += 1.0
    assert apis.recent() is None


def test_a_read_of_the_same_token_keeps_its_api_recent(stores: MemoryStores) -> None:
    clock = FakeClock()
    apis = ApiForToken(stores, reread_s=1.0, clock=clock)
    api = apis.api(TOKEN)
    clock.now += 5.0
    assert apis.api(TOKEN) is api and apis.recent() is api


def test_an_unusable_token_read_first_leaves_nothing_recent(stores: MemoryStores) -> None:
    apis = ApiForToken(stores, clock=FakeClock())
    with pytest.raises(ValueError, match="token"):
        apis.api("short-token")
    assert apis.recent() is None
