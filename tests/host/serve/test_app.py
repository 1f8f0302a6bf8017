"""A user's own Spin app under `kvbatch serve --build`: the spin-sdk HTTP handler over kvbatch that
`kvbatch new spin-http` writes (the app the Spin tutorial walks through), built by its manifest's
build command and served per route, per component, per store, answering per key over HTTP.

One app.wasm is built for the module; a second manifest serves it as two components (each with its
own route, variables and granted stores). In a checkout kvbatch is installed editable, so the build
command names the source tree with `-p` (componentize-py bundles only what is on its path and in
site-packages); installed, the command in the template is used as written (test_installed_package).
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Iterator

import httpx
import pytest

from kvbatch_host import scaffold
from kvbatch_host.prepare import build as builder
from kvbatch_host.serve import manifest as manifests
from kvbatch_host.serve import server
from kvbatch_host.setup import HostOptions

from served import Command, spin_toml

pytestmark = [pytest.mark.component, pytest.mark.wasmtime_cli]

SRC = builder.ROOT / "src"
TUTORIAL = builder.ROOT / "docs" / "tutorials" / "spin-app.md"


def checkout_build_command(manifest: Path) -> None:
    text = manifest.read_text()
    manifest.write_text(text.replace("componentize app -o app.wasm", f"componentize -p . -p {SRC} app -o app.wasm"))


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`kvbatch new spin-http shop`, its build command pointed at this checkout's kvbatch."""
    parent = tmp_path_factory.mktemp("app")
    made = subprocess.run([str(Path(sys.executable).parent / "kvbatch"), "new", "spin-http", "shop"], cwd=parent,
                          capture_output=True, text=True)
    assert made.returncode == 0, made.stderr
    checkout_build_command(parent / "shop" / "spin.toml")
    return parent / "shop"


@pytest.fixture(scope="module")
def command(project: Path) -> Iterator[Command]:
    """`kvbatch serve --build --store memory:` in the project directory (its spin.toml found there)."""
    running = Command(project, "--build", "--store", "memory:", "--fault", "op=set,key=bad*,error=other:disk full",
                      timeout=900)
    try:
        yield running
    finally:
        running.stop()


def test_serve_build_runs_the_manifests_build_command_then_serves_it(command: Command, project: Path) -> None:
    assert (project / "app.wasm").is_file()
    assert any("building component 'shop' with `componentize-py" in line for line in command.lines)


def test_the_app_writes_and_reads_many_keys_answering_per_key(command: Command) -> None:
    written = httpx.put(command.url + "/items", json={"a": "1", "b": "2"}, timeout=60)
    assert (written.status_code, written.json()["outcomes"]) == (200, {"a": "succeeded", "b": "succeeded"})
    read = httpx.get(command.url + "/items", params={"keys": "a,b,zz"}, timeout=60)
    assert read.json()["values"] == {"a": "1", "b": "2"} and read.json()["missing"] == ["zz"]


def test_a_store_failure_mid_batch_is_207_with_that_key_failed_and_the_others_written(command: Command) -> None:
    written = httpx.put(command.url + "/items", json={"x": "1", "bad1": "2", "y": "3"}, timeout=60)
    assert written.status_code == 207
    assert written.json()["outcomes"] == {"x": "succeeded", "bad1": "failed", "y": "succeeded"}
    assert "disk full" in written.json()["errors"]["bad1"]
    read = httpx.get(command.url + "/items", params={"keys": "x,bad1,y"}, timeout=60)
    assert read.json()["missing"] == ["bad1"]


def test_spins_health_check_is_answered_ok(command: Command) -> None:
    answer = httpx.get(command.url + "/.well-known/spin/health", timeout=60)
    assert (answer.status_code, answer.text) == (200, "OK")


TWO_COMPONENTS = """spin_manifest_version = 2
[application]
name = "two"
[variables]
store = {{ default = "default" }}
[[trigger.http]]
route = "/alpha/..."
component = "alpha"
[[trigger.http]]
route = "/beta/..."
component = "beta"
[[trigger.http]]
route = "/beta/denied/..."
component = "denied"
[component.alpha]
source = "{wasm}"
key_value_stores = ["one"]
[component.alpha.variables]
store = "one"
[component.beta]
source = "{wasm}"
key_value_stores = ["two"]
[component.beta.variables]
store = "{{{{ store }}}}"
[component.denied]
source = "{wasm}"
key_value_stores = ["two"]
[component.denied.variables]
store = "one"
"""


@pytest.fixture(scope="module")
def two(command: Command, project: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[server.Served]:
    """The built app as three components: alpha (store one), beta (store two, from a variable) and
    denied (granted two, asking for one), on the routes /alpha/..., /beta/... and /beta/denied/...."""
    directory = tmp_path_factory.mktemp("two")
    path = spin_toml(directory, TWO_COMPONENTS.format(wasm=project / "app.wasm"))
    manifest = manifests.load(path, environ={"SPIN_VARIABLE_STORE": "two"})
    running = server.start(manifest, ("127.0.0.1", 0), HostOptions(stores=("one=memory:", "two=memory:")))
    try:
        yield running
    finally:
        running.stop()


def test_each_route_reaches_its_own_component_and_store(two: server.Served) -> None:
    assert httpx.put(two.url + "/alpha/items", json={"k": "from alpha"}, timeout=60).status_code == 200
    assert httpx.put(two.url + "/beta/items", json={"k": "from beta"}, timeout=60).status_code == 200
    assert two.registry.backends["one"].get("one", "k") == b"from alpha"
    assert two.registry.backends["two"].get("two", "k") == b"from beta"
    assert httpx.get(two.url + "/alpha/items", params={"keys": "k"}, timeout=60).json()["values"] == {"k": "from alpha"}


def test_a_component_opening_a_store_it_is_not_granted_is_refused(two: server.Served) -> None:
    answer = httpx.get(two.url + "/beta/denied/items", params={"keys": "k"}, timeout=60)
    assert answer.status_code == 403


def test_a_path_no_route_matches_is_404_from_the_router(two: server.Served) -> None:
    assert httpx.get(two.url + "/gamma/items", timeout=60).status_code == 404


def test_several_components_share_the_listening_address_through_the_router(two: server.Served) -> None:
    assert two.router is not None
    assert {instance.backend for instance in two.instances}.isdisjoint({two.router.address})


def test_the_tutorial_shows_the_app_kvbatch_new_writes() -> None:
    text = TUTORIAL.read_text()
    blocks = dict(re.findall(r"<!-- file: (\S+) -->\n```\w*\n(.*?)```", text, re.S))
    assert set(blocks) >= {"app.py", "items.py", "spin.toml"}
    for name, body in blocks.items():
        template = (scaffold.TEMPLATES / "spin-http" / f"{name}{scaffold.SUFFIX}").read_text()
        assert body == template.replace(scaffold.TOKEN, "shop"), name
