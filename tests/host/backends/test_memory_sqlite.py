"""The memory and SQLite backends keep the Backend contract."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

import pytest

from kvbatch_host.backends import MemoryBackend, SqliteBackend, open_backend
from kvbatch_host import ConfigError, HostKvError
from kvbatch_host import StoreRegistry

from backend_helpers import write_range


@pytest.fixture(params=["memory", "sqlite"])
def backend(request, tmp_path):
    b = MemoryBackend() if request.param == "memory" else SqliteBackend(str(tmp_path / "kv.db"))
    yield b
    b.close()


def test_get_of_a_missing_key_is_none(backend):
    assert backend.get("s", "nope") is None


def test_set_then_get_returns_the_bytes(backend):
    backend.set("s", "k", b"\x00\xffvalue")
    assert backend.get("s", "k") == b"\x00\xffvalue"


def test_stores_are_separate_namespaces(backend):
    backend.set("one", "k", b"1")
    assert backend.get("two", "k") is None


def test_delete_of_a_missing_key_is_not_an_error(backend):
    backend.delete("s", "never-set")


def test_get_many_answers_duplicates_and_missing_in_order(backend):
    backend.set("s", "a", b"1")
    assert backend.get_many("s", ["a", "b", "a"]) == [b"1", None, b"1"]


def test_set_many_duplicate_key_last_value_wins(backend):
    backend.set_many("s", [("a", b"1"), ("a", b"2")])
    assert backend.get("s", "a") == b"2"


def test_list_keys_pages_through_every_key_once_in_order(backend):
    keys = [f"k{i:04d}" for i in range(2345)]
    backend.set_many("s", [(k, b"v") for k in keys])
    seen, after, pages = [], None, 0
    while True:
        page, after = backend.list_keys("s", after, limit=1000)
        seen += page
        pages += 1
        if after is None:
            break
    assert seen == keys and pages == 3


def test_list_keys_of_an_exact_multiple_of_the_page_ends_with_no_cursor(backend):
    backend.set_many("s", [(f"k{i}", b"v") for i in range(10)])
    page, after = backend.list_keys("s", None, limit=10)
    assert len(page) == 10 and after is None


def test_increment_creates_then_adds(backend):
    assert backend.increment("s", "n", 5) == 5
    assert backend.increment("s", "n", -2) == 3


def test_increment_of_a_non_integer_value_is_an_error(backend):
    backend.set("s", "n", b"not a number")
    with pytest.raises(HostKvError, match="not an integer"):
        backend.increment("s", "n", 1)


def test_compare_and_swap_fails_when_the_value_changed(backend):
    backend.set("s", "k", b"v1")
    assert backend.compare_and_swap("s", "k", b"v1", b"v2")
    assert not backend.compare_and_swap("s", "k", b"v1", b"v3")
    assert backend.get("s", "k") == b"v2"


def test_compare_and_swap_expecting_absent_creates_a_key_only_while_it_is_absent(backend):
    assert backend.compare_and_swap("s", "fresh", None, b"first")
    assert not backend.compare_and_swap("s", "fresh", None, b"second")  # what an insert that lost a race sees
    backend.delete("s", "fresh")
    assert backend.compare_and_swap("s", "fresh", None, b"third")
    assert backend.get("s", "fresh") == b"third"


def test_compare_and_swap_expecting_a_value_fails_once_the_key_is_deleted(backend):
    backend.set("s", "k", b"v1")
    backend.delete("s", "k")
    assert not backend.compare_and_swap("s", "k", b"v1", b"v2")  # an update never resurrects a deleted key
    assert backend.get("s", "k") is None


def test_sqlite_is_safe_with_concurrent_processes(tmp_path: Path):
    path = str(tmp_path / "kv.db")
    SqliteBackend(path).close()
    procs = [multiprocessing.get_context("spawn").Process(target=write_range, args=(path, n * 200)) for n in range(3)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    b = SqliteBackend(path)
    assert b.get("s", "counter") == b"600"
    assert len([k for k, _ in b.all_items("s") if k.startswith("k")]) == 600
    b.close()


def test_sqlite_data_survives_reopening(tmp_path: Path):
    first = SqliteBackend(str(tmp_path / "kv.db"))
    first.set("s", "k", b"kept")
    first.close()
    assert SqliteBackend(str(tmp_path / "kv.db")).get("s", "k") == b"kept"


@pytest.mark.parametrize("url", ["postgres://x", "sqlite:", "sqlite://host/db", "memcache"])
def test_malformed_store_url_is_rejected_naming_it(url):
    with pytest.raises(ConfigError, match="URL"):
        open_backend(url)


def test_registry_denies_stores_outside_the_allow_list():
    registry = StoreRegistry(allowed={"default"}).add("default", MemoryBackend()).add("other", MemoryBackend())
    with pytest.raises(HostKvError) as raised:
        registry.open("other")
    assert raised.value.kind == "access-denied"


def test_registry_reports_unknown_store_names_as_no_such_store():
    with pytest.raises(HostKvError) as raised:
        StoreRegistry().add("default", MemoryBackend()).open("nope")
    assert raised.value.kind == "no-such-store"


def test_store_specs_map_names_to_shared_backends(tmp_path):
    url = f"sqlite:{tmp_path / 'kv.db'}"
    registry = StoreRegistry.from_specs([url, f"archive={url}", "cache=memory:"])
    assert registry.open("default") is registry.open("archive")
    assert isinstance(registry.open("cache"), MemoryBackend)
    registry.close()


def test_store_configured_twice_is_rejected():
    with pytest.raises(ConfigError, match="configured twice"):
        StoreRegistry.from_specs(["memory:", "default=memory:"])
