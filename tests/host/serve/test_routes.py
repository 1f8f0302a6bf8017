"""`kvbatch serve` routes as Spin routes: which route answers a path, and what a manifest with
several components and routes gives (on CPython, no server)."""

from __future__ import annotations

from pathlib import Path

import pytest

from kvbatch_host.errors import ConfigError
from kvbatch_host.serve import builds
from kvbatch_host.serve import manifest as manifests
from kvbatch_host.serve import server
from kvbatch_host.serve.routes import Route, RouteTable, check_route
from kvbatch_host.setup import HostOptions

from served import spin_toml


def table(*routes: str) -> RouteTable[str]:
    return RouteTable([(Route(r), r) for r in routes])


def routed(t: RouteTable[str], path: str) -> str | None:
    found = t.match(path)
    return None if found is None else found.target


@pytest.mark.parametrize("path", ["/foo", "/foo/"])
def test_an_exact_route_matches_its_path_with_or_without_a_trailing_slash(path: str) -> None:
    assert routed(table("/foo", "/foo/bar"), path) == "/foo"


def test_an_exact_route_does_not_match_below_it() -> None:
    assert routed(table("/foo"), "/foo/bar") is None and routed(table("/foo"), "/foobar") is None


def test_the_longest_wildcard_prefix_wins_whatever_the_manifest_order() -> None:
    for order in (("/one/...", "/one/two/...", "/one/two/three/..."), ("/one/two/three/...", "/one/two/...", "/one/...")):
        assert routed(table(*order), "/one/two/three/four") == "/one/two/three/..."
        assert routed(table(*order), "/one/two/x") == "/one/two/..."


def test_an_exact_route_beats_a_wildcard_on_its_own_path() -> None:
    t = table("/...", "/one", "/one/...")
    assert routed(t, "/one") == "/one"
    assert routed(t, "/one/x") == "/one/..."
    assert routed(t, "/other") == "/..."


def test_a_literal_segment_beats_a_named_one_which_beats_the_wildcard() -> None:
    t = table("/foo/...", "/foo/:bar", "/foo/bar")
    assert routed(t, "/foo/bar") == "/foo/bar"
    assert routed(t, "/foo/qux") == "/foo/:bar"
    assert routed(t, "/foo/qux/more") == "/foo/..."


def test_a_root_wildcard_catches_everything_and_an_unrouted_path_is_none() -> None:
    assert routed(table("/..."), "/") == "/..." and routed(table("/..."), "/a/b?") == "/..."
    assert routed(table("/api/..."), "/") is None


@pytest.mark.parametrize("path, info", [("/test", ""), ("/test/", "/"), ("/test/hello", "/hello"), ("/test/hello/", "/hello/")])
def test_spin_path_info_is_the_rest_after_a_wildcard_route_trailing_slash_kept(path: str, info: str) -> None:
    found = table("/test/...").match(path)
    assert found is not None and found.path_info == info


def test_spin_path_info_of_the_root_wildcard_is_the_whole_path() -> None:
    found = table("/...").match("/1/2/3")
    assert found is not None and found.path_info == "/1/2/3"


def test_named_segments_are_captured_for_spin_path_match_headers() -> None:
    found = table("/users/:id/...").match("/users/42/posts")
    assert found is not None and found.params == {"id": "42"} and found.path_info == "/posts"


def test_the_route_headers_are_spins() -> None:
    route = Route("/kv/...")
    assert (route.matched_route, route.component_route) == ("/kv/...", "/kv")
    assert (Route("/").matched_route, Route("/").component_route) == ("", "/")


@pytest.mark.parametrize("text, problem", [
    ("kv/...", "must be a path starting with '/'"), (7, "must be a path"), ("/a/.../b", "may only end a route"),
    ("/a/:9x", "not a valid :name segment"),
])
def test_a_malformed_route_is_refused_naming_it(text: object, problem: str) -> None:
    with pytest.raises(ConfigError, match=problem):
        check_route(text, "spin.toml")


TWO = """spin_manifest_version = 2
[application]
name = "two"
[variables]
label = { default = "L" }
[[trigger.http]]
route = "/a/..."
component = "alpha"
[[trigger.http]]
route = "/b"
component = "beta"
[[trigger.http]]
route = "/b/extra/..."
component = "beta"
[[trigger.http]]
route = { private = true }
component = "hidden"
[component.alpha]
source = "alpha.wasm"
key_value_stores = ["one"]
[component.alpha.variables]
who = "alpha of {{ label }}"
[component.alpha.build]
command = "make alpha"
workdir = "alpha"
[component.beta]
source = "out/beta.wasm"
key_value_stores = ["two", "default"]
[component.beta.build]
command = ["echo one", "echo two"]
[component.hidden]
source = "hidden.wasm"
"""


def test_every_public_route_and_its_component_is_served(tmp_path: Path) -> None:
    manifest = manifests.load(spin_toml(tmp_path, TWO), environ={})
    assert [(t.route.route, t.component) for t in manifest.triggers] == [("/a/...", "alpha"), ("/b", "beta"),
                                                                          ("/b/extra/...", "beta")]
    assert list(manifest.components) == ["alpha", "beta"]


def test_each_component_keeps_its_own_stores_variables_and_source(tmp_path: Path) -> None:
    manifest = manifests.load(spin_toml(tmp_path, TWO), environ={"SPIN_VARIABLE_LABEL": "x"})
    alpha, beta = manifest.components["alpha"], manifest.components["beta"]
    assert (alpha.stores, alpha.variables, alpha.source) == (["one"], {"who": "alpha of x"}, tmp_path / "alpha.wasm")
    assert (beta.stores, beta.variables, beta.source) == (["two", "default"], {}, tmp_path / "out" / "beta.wasm")


def test_build_commands_run_in_the_workdir_relative_to_the_manifest(tmp_path: Path) -> None:
    manifest = manifests.load(spin_toml(tmp_path, TWO), environ={})
    alpha, beta = manifest.components["alpha"].build, manifest.components["beta"].build
    assert alpha is not None and (alpha.commands, alpha.workdir) == (("make alpha",), tmp_path / "alpha")
    assert beta is not None and (beta.commands, beta.workdir) == (("echo one", "echo two"), tmp_path)


def test_a_route_two_components_claim_is_refused_naming_both(tmp_path: Path) -> None:
    text = TWO.replace('route = "/b"\n', 'route = "/a/..."\n')
    with pytest.raises(ConfigError, match=r"route '/a/\.\.\.' is claimed by components 'alpha' and 'beta'"):
        manifests.load(spin_toml(tmp_path, text), environ={})


def test_a_route_naming_a_component_without_a_table_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"component 'gamma' has no \[component.gamma\] table"):
        manifests.load(spin_toml(tmp_path, TWO.replace('component = "beta"\n', 'component = "gamma"\n', 1)), environ={})


def test_an_inline_component_is_served_under_the_triggers_id(tmp_path: Path) -> None:
    text = ('spin_manifest_version = 2\n[application]\nname = "i"\n[[trigger.http]]\nid = "web"\nroute = "/..."\n'
            'component = { source = "web.wasm", key_value_stores = ["default"] }\n')
    manifest = manifests.load(spin_toml(tmp_path, text), environ={})
    assert manifest.components["web"].source == tmp_path / "web.wasm" and manifest.components["web"].stores == ["default"]


def test_a_remote_source_is_refused_with_what_to_do(tmp_path: Path) -> None:
    text = TWO.replace('source = "alpha.wasm"', 'source = { url = "https://example.com/a.wasm", digest = "sha256:00" }')
    with pytest.raises(ConfigError, match=r"remote \(url\) source; .*download it"):
        manifests.load(spin_toml(tmp_path, text), environ={})


def test_an_absolute_build_workdir_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="workdir must be a path relative"):
        manifests.load(spin_toml(tmp_path, TWO.replace('workdir = "alpha"', 'workdir = "/alpha"')), environ={})


def test_each_component_opens_only_its_own_stores_from_one_shared_set_of_backends(tmp_path: Path,
                                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    manifest = manifests.load(spin_toml(tmp_path, TWO), environ={})
    options = HostOptions(stores=("one=memory:", "two=memory:", "default=memory:"))
    registry = server.host_options(manifest, options).registry()
    try:
        alpha = server.component_view(registry, manifest.components["alpha"])
        beta = server.component_view(registry, manifest.components["beta"])
        assert alpha.open("one") is registry.backends["one"] and beta.open("two") is registry.backends["two"]
        with pytest.raises(Exception, match="access-denied"):
            alpha.open("two")
        with pytest.raises(Exception, match="access-denied"):
            beta.open("one")
    finally:
        registry.close()


def test_a_source_that_does_not_exist_suggests_build(tmp_path: Path) -> None:
    manifest = manifests.load(spin_toml(tmp_path, TWO), environ={})
    with pytest.raises(ConfigError, match=r"component 'alpha': source '.*alpha.wasm' does not exist \(run kvbatch serve --build"):
        server.prepare_sources(manifest)


def test_a_failing_build_command_fails_with_its_output(tmp_path: Path) -> None:
    (tmp_path / "alpha").mkdir()
    text = TWO.replace('command = "make alpha"', 'command = "echo compiling; echo broken >&2; exit 3"')
    manifest = manifests.load(spin_toml(tmp_path, text), environ={})
    with pytest.raises(builds.BuildFailed, match="the build command of component 'alpha' failed with exit status 3") as err:
        builds.build_components(manifest)
    assert err.value.output == "compiling\nbroken\n"


def test_build_commands_see_this_interpreters_bin_directory_first_on_path(tmp_path: Path) -> None:
    import sys

    (tmp_path / "alpha").mkdir()
    text = TWO.replace('command = "make alpha"', 'command = "command -v python > found.txt"')
    manifest = manifests.load(spin_toml(tmp_path, text), environ={})
    manifest.components.pop("beta")
    assert builds.build_components(manifest) == 1
    assert Path((tmp_path / "alpha" / "found.txt").read_text().strip()).parent == Path(sys.executable).parent


def test_find_manifest_prefers_the_option_then_the_current_directory(tmp_path: Path) -> None:
    assert server.find_manifest(None, cwd=tmp_path) is None
    spin_toml(tmp_path, TWO)
    assert server.find_manifest(None, cwd=tmp_path) == tmp_path / "spin.toml"
    assert server.find_manifest(str(tmp_path)) == tmp_path / "spin.toml"
    assert server.find_manifest("other.toml", cwd=tmp_path) == Path("other.toml")
