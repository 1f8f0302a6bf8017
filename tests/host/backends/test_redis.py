"""The Redis backend against a real redis-server of its own (fixture `redis_server`)."""

from __future__ import annotations

import threading
from typing import Iterator

import pytest
import redis

from kvbatch_host.backends import open_backend
from kvbatch_host.backends.redis import RedisBackend, RedisError
from kvbatch_host import ConfigError, HostKvError
from kvbatch_host.redis_server import free_port

pytestmark = pytest.mark.redis


@pytest.fixture
def backend(redis_url: str) -> Iterator[RedisBackend]:
    b = RedisBackend(redis_url)
    yield b
    b.close()


def test_open_backend_routes_redis_urls_to_the_redis_backend(redis_url: str) -> None:
    backend = open_backend(redis_url)
    assert isinstance(backend, RedisBackend)
    backend.close()


def test_set_get_delete_round_trip(backend: RedisBackend) -> None:
    backend.set("s", "k", b"v")
    assert backend.get("s", "k") == b"v"
    assert backend.exists("s", "k")
    backend.delete("s", "k")
    assert backend.get("s", "k") is None
    assert not backend.exists("s", "k")


def test_delete_of_a_missing_key_is_not_an_error(backend: RedisBackend) -> None:
    backend.delete("s", "never-written")


def test_get_many_answers_every_requested_key_including_duplicates_and_missing(backend: RedisBackend) -> None:
    backend.set("s", "a", b"1")
    assert backend.get_many("s", ["a", "missing", "a"]) == [b"1", None, b"1"]


def test_set_many_writes_the_last_value_of_a_duplicated_key(backend: RedisBackend) -> None:
    backend.set_many("s", [("a", b"first"), ("b", b"x"), ("a", b"second")])
    assert backend.get_many("s", ["a", "b"]) == [b"second", b"x"]


def test_delete_many_skips_missing_keys_and_duplicates(backend: RedisBackend) -> None:
    backend.set_many("s", [("a", b"1"), ("b", b"2")])
    backend.delete_many("s", ["a", "missing", "a"])
    assert backend.get_many("s", ["a", "b"]) == [None, b"2"]


def test_empty_batches_do_nothing(backend: RedisBackend) -> None:
    backend.set_many("s", [])
    backend.delete_many("s", [])
    assert backend.get_many("s", []) == []


def test_store_names_namespace_keys_even_with_separators_in_the_name(backend: RedisBackend) -> None:
    backend.set("a", "b:c", b"store a")
    backend.set("a:b", "c", b"store a:b")
    assert backend.get("a", "b:c") == b"store a"
    assert backend.get("a:b", "c") == b"store a:b"
    assert [k for k, _ in backend.all_items("a")] == ["b:c"]


def test_values_are_stored_under_the_documented_redis_key(backend: RedisBackend) -> None:
    backend.set("default", "user:1", b"v")
    assert backend.client.get(f"{backend.namespace}:default:user:1") == b"v"


def test_increment_counts_with_incrby_from_missing_as_zero(backend: RedisBackend) -> None:
    assert backend.increment("s", "n", 5) == 5
    assert backend.increment("s", "n", -2) == 3
    assert backend.get("s", "n") == b"3"


def test_increment_of_a_non_integer_value_is_an_other_error(backend: RedisBackend) -> None:
    backend.set("s", "text", b"hello")
    with pytest.raises(HostKvError) as caught:
        backend.increment("s", "text", 1)
    assert caught.value.kind == "other"
    assert "not an integer" in caught.value.message


def test_compare_and_swap_writes_only_when_the_value_is_unchanged(backend: RedisBackend) -> None:
    backend.set("s", "k", b"old")
    assert backend.compare_and_swap("s", "k", b"old", b"new")
    assert not backend.compare_and_swap("s", "k", b"old", b"newer")
    assert backend.get("s", "k") == b"new"


def test_compare_and_swap_of_an_absent_key_expects_none(backend: RedisBackend) -> None:
    assert backend.compare_and_swap("s", "fresh", None, b"v")
    assert not backend.compare_and_swap("s", "fresh", None, b"w")


class _IntrudingRedis(redis.Redis):
    """A client whose transactions let another client write the watched key just before MULTI."""

    intruder: "redis.Redis"
    victim: str

    def pipeline(self, transaction: bool = True, shard_hint: object = None) -> "redis.client.Pipeline":
        pipe = super().pipeline(transaction, shard_hint)  # type: ignore[arg-type]
        original_multi = pipe.multi
        outer = self

        def multi() -> None:
            if not getattr(outer, "done", False):
                outer.intruder.set(outer.victim, b"intruder")
                outer.done = True  # type: ignore[attr-defined]
            original_multi()

        pipe.multi = multi  # type: ignore[method-assign]
        return pipe


def test_a_write_between_watch_and_exec_makes_the_swap_fail(redis_url: str) -> None:
    plain = RedisBackend(redis_url)
    client = _IntrudingRedis.from_url(redis_url.split("?")[0])
    client.intruder = plain.client
    client.victim = plain.prefix("s") + "k"
    backend = RedisBackend(redis_url, client=client)
    backend.set("s", "k", b"seen")
    assert not backend.compare_and_swap("s", "k", b"seen", b"mine")
    assert backend.get("s", "k") == b"intruder"
    plain.close()
    backend.close()


def test_concurrent_compare_and_swap_increments_lose_no_update(redis_url: str) -> None:
    workers, rounds = 4, 40
    seed = RedisBackend(redis_url)
    seed.set("s", "counter", b"0")

    def work() -> None:
        mine = RedisBackend(redis_url)
        for _ in range(rounds):
            while True:
                seen = mine.get("s", "counter")
                assert seen is not None
                if mine.compare_and_swap("s", "counter", seen, str(int(seen) + 1).encode()):
                    break
        mine.close()

    threads = [threading.Thread(target=work) for _ in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert seed.get("s", "counter") == str(workers * rounds).encode()
    seed.close()


def test_list_keys_cursor_visits_every_key_of_a_large_store_once(backend: RedisBackend) -> None:
    keys = [f"k{i:05d}" for i in range(2500)]
    backend.set_many("big", [(k, b"v") for k in keys])
    backend.set("other", "k00001", b"not mine")
    seen, after, pages = [], None, 0
    while True:
        page, after = backend.list_keys("big", after, limit=1000)
        seen.extend(page)
        pages += 1
        if after is None:
            break
    assert sorted(seen) == keys
    assert pages >= 3


def test_list_keys_rejects_a_cursor_it_did_not_hand_out(backend: RedisBackend) -> None:
    with pytest.raises(HostKvError, match="invalid list-keys cursor"):
        backend.list_keys("s", "not-a-cursor")


def test_a_refused_connection_is_an_other_error_whose_write_outcome_is_unknown() -> None:
    backend = RedisBackend(f"redis://127.0.0.1:{free_port()}/0")
    with pytest.raises(RedisError) as caught:
        backend.set("s", "k", b"v")
    assert caught.value.kind == "other"
    assert caught.value.applied is None
    backend.close()


def test_a_malformed_namespace_is_a_config_error_naming_the_url() -> None:
    with pytest.raises(ConfigError, match="namespace"):
        RedisBackend("redis://127.0.0.1:1/0?namespace=a:b")
