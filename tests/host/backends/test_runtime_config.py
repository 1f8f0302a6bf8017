"""Stores named by a Spin runtime config file (`--runtime-config`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from kvbatch_host.backends import MemoryBackend, SqliteBackend
from kvbatch_host import ConfigError
from kvbatch_host.backends.runtime_config import store_specs
from kvbatch_host import StoreRegistry


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "runtime-config.toml"
    path.write_text(text)
    return path


def test_each_key_value_store_table_becomes_a_named_store(tmp_path: Path) -> None:
    path = write(tmp_path, '[key_value_store.default]\ntype = "redis"\nurl = "redis://127.0.0.1:6379/0"\n\n'
                           '[key_value_store.cache]\ntype = "memory"\n')
    assert store_specs(path) == ["default=redis://127.0.0.1:6379/0", "cache=memory:"]


def test_a_spin_store_is_a_sqlite_file_relative_to_the_config_file(tmp_path: Path) -> None:
    path = write(tmp_path, '[key_value_store.default]\ntype = "spin"\npath = "data/kv.db"\n')
    registry = StoreRegistry.from_specs(store_specs(path))
    backend = registry.open("default")
    assert isinstance(backend, SqliteBackend)
    assert Path(backend.path) == tmp_path / "data" / "kv.db"
    registry.close()


def test_a_spin_store_without_path_uses_spins_default_file(tmp_path: Path) -> None:
    path = write(tmp_path, '[key_value_store.default]\ntype = "spin"\n')
    assert store_specs(path) == [f"default=sqlite://{tmp_path / '.spin' / 'sqlite_key_value.db'}"]


def test_runtime_config_stores_combine_with_store_options(tmp_path: Path) -> None:
    path = write(tmp_path, '[key_value_store.cache]\ntype = "memory"\n')
    registry = StoreRegistry.from_specs(["default=memory:", *store_specs(path)])
    assert isinstance(registry.open("cache"), MemoryBackend)
    assert isinstance(registry.open("default"), MemoryBackend)


@pytest.mark.parametrize(
    "text, problem",
    [
        ('[key_value_store.default]\ntype = "azure_cosmos"\n',
         "type 'azure_cosmos' is not supported; expected one of spin, redis, redis-cluster, memory"),
        ('[key_value_store.default]\ntype = "redis"\n', 'type redis needs url = "redis://HOST:PORT/DB"'),
        ('[key_value_store.default]\ntype = "spin"\npath = 3\n', "path must be a file name"),
        ('[variables]\nx = 1\n', "has no [key_value_store.NAME] table"),
        ("[key_value_store.default\n", "invalid TOML"),
    ],
)
def test_a_malformed_runtime_config_names_the_store_and_the_problem(tmp_path: Path, text: str, problem: str) -> None:
    with pytest.raises(ConfigError) as caught:
        store_specs(write(tmp_path, text))
    assert problem in str(caught.value)
    assert "runtime-config.toml" in str(caught.value)
