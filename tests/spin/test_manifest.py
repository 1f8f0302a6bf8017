"""spin.toml: a Spin manifest v2 whose build is exactly what `kvbatch build spin` runs."""

from __future__ import annotations

import fnmatch
import shlex
import tomllib
from pathlib import Path
from typing import Any, Dict

import pytest

from kvbatch_host.prepare import build as builder

MANIFEST = builder.ROOT / "spin.toml"


@pytest.fixture(scope="module")
def manifest() -> Dict[str, Any]:
    return tomllib.loads(MANIFEST.read_text())


@pytest.fixture(scope="module")
def component(manifest: Dict[str, Any]) -> Dict[str, Any]:
    [trigger] = manifest["trigger"]["http"]
    return manifest["component"][trigger["component"]]


def test_manifest_is_version_2_with_an_http_trigger_on_a_route_prefix(manifest: Dict[str, Any]) -> None:
    assert manifest["spin_manifest_version"] == 2
    [trigger] = manifest["trigger"]["http"]
    assert trigger["route"].endswith("/...") and trigger["route"] != "/..."


def test_spin_build_runs_the_same_componentize_py_command_as_kvbatch_build_spin(component: Dict[str, Any]) -> None:
    target = builder.TARGETS["spin"]
    ours = builder.componentize_command(target, target.output)
    relative = [str(Path(a).relative_to(builder.ROOT)) if Path(a).is_absolute() and Path(a).is_relative_to(builder.ROOT) else a
                for a in ours[1:]]
    assert shlex.split(component["build"]["command"]) == ["componentize-py", *relative]
    assert component["source"] == str(target.output.relative_to(builder.ROOT))


def test_spin_build_targets_spin_sdks_http_trigger_world_without_our_wit(component: Dict[str, Any]) -> None:
    command = shlex.split(component["build"]["command"])
    assert command[command.index("-w") + 1] == "spin:up/http-trigger@4.1.0"
    assert "-d" not in command and builder.TARGETS["spin"].wit is None


def test_the_spin_build_sees_the_venvs_packages_and_builds_against_wit_do_not(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VIRTUAL_ENV", "/somewhere/else")
    import sys

    assert builder.componentize_env(builder.TARGETS["spin"])["VIRTUAL_ENV"] == sys.prefix
    isolated = Path(builder.componentize_env(builder.TARGETS["bulk-driver"])["VIRTUAL_ENV"])
    assert isolated != Path(sys.prefix) and list((isolated / "site-packages").iterdir()) == []


def test_build_watches_every_source_the_component_bundles(component: Dict[str, Any]) -> None:
    watched = component["build"]["watch"]
    for source in builder.TARGETS["spin"].sources:
        files = [source] if source.is_file() else sorted(source.rglob("*.py"))
        for file in files:
            relative = file.relative_to(builder.ROOT)
            assert any(fnmatch.fnmatch(str(relative), pattern.replace("**/", "")) for pattern in watched), relative


def test_component_may_use_only_the_stores_it_names(component: Dict[str, Any]) -> None:
    assert component["key_value_stores"] == ["default"]


def test_the_access_token_is_a_required_secret_variable_bound_to_the_component(manifest: Dict[str, Any],
                                                                               component: Dict[str, Any]) -> None:
    assert manifest["variables"]["kvbatch_token"] == {"required": True, "secret": True}
    assert component["variables"]["token"] == "{{ kvbatch_token }}"
    app = (builder.ROOT / "spin" / "app.py").read_text()
    assert 'TOKEN_VARIABLE = "token"' in app


@pytest.mark.parametrize("config, kind", [("runtime-config.sqlite.toml", "spin"), ("runtime-config.redis.toml", "redis")])
def test_example_runtime_configs_back_exactly_the_granted_stores(component: Dict[str, Any], config: str, kind: str) -> None:
    stores = tomllib.loads((builder.ROOT / "spin" / config).read_text())["key_value_store"]
    assert sorted(stores) == sorted(component["key_value_stores"])
    for store in stores.values():
        assert store["type"] == kind
        assert store["path"] if kind == "spin" else store["url"].startswith("redis://")
