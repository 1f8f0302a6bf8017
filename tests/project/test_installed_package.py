"""kvbatch installed as a user installs it, used from another directory (the tutorials in docs/tutorials/).

One sdist is built from this checkout (`python -m build --sdist`), one wheel is built from that sdist
(what `pip install kvbatch-*.tar.gz` does) and installed into one fresh venv for the whole module by
the tutorial's own install commands; the user's commands run from temporary directories, with the venv
not activated (its `bin/kvbatch` called by path) or activated (`bin/` first on PATH, `VIRTUAL_ENV`
set). Components are built on first use into one per-user cache (`XDG_CACHE_HOME`) shared by the
module's tests. The last test runs the rest of the tutorials' walk-through as written. Slow: a few
minutes (pip's cache warm).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tarfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from kvbatch_host.prepare import build as builder

from docs_blocks import lay_out, marked_blocks, served
from served import TOKEN, Command
from user_app import APP

pytestmark = pytest.mark.component

FAULTED = ["a: succeeded", "b: failed", "c: succeeded"]

TUTORIALS = ("docs/tutorials/first-component.md", "docs/tutorials/testing.md")
"""The pages whose walk-through a newcomer follows, in order."""


def walkthrough() -> list[tuple[str, str, str]]:
    """The tutorials' blocks marked `<!-- walkthrough:sh -->` or `<!-- walkthrough:file PATH -->`, in order:
    (kind, path, text)."""
    return [block for page in TUTORIALS for block in marked_blocks((builder.ROOT / page).read_text(), "walkthrough")]


def user_env(cache: Path) -> dict[str, str]:
    """This process's environment as a user's shell has it: no venv active, kvbatch's build dirs not
    overridden, this checkout's venv not on PATH, the per-user cache under `cache`."""
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "KVBATCH_BUILD_DIR", "KVBATCH_CACHE_DIR")}
    env["PATH"] = os.pathsep.join(p for p in env["PATH"].split(os.pathsep) if Path(p) != Path(sys.executable).parent)
    env["XDG_CACHE_HOME"] = str(cache)
    return env


def activated_env(venv: Path, cache: Path) -> dict[str, str]:
    """A user's shell after `source venv/bin/activate`."""
    env = user_env(cache)
    env["VIRTUAL_ENV"] = str(venv)
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env['PATH']}"
    return env


def shell(script: str, cwd: Path, cache: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", "-c", "set -eo pipefail\n" + script], cwd=cwd, env=user_env(cache),
                          capture_output=True, text=True)


@dataclass(frozen=True)
class Installed:
    sdist: Path
    wheel: Path
    venv: Path
    cache: Path
    """The per-user cache (`XDG_CACHE_HOME`) every command of the module shares."""

    @property
    def bin(self) -> Path:
        return self.venv / "bin"


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    """The sdist of this checkout, the wheel built from it, and a fresh venv holding that wheel and its deps."""
    root = tmp_path_factory.mktemp("installed")
    subprocess.run([sys.executable, "-m", "build", "--sdist", "-o", str(root / "dist"), str(builder.ROOT)],
                   check=True, capture_output=True)
    sdist = next((root / "dist").glob("kvbatch-*.tar.gz"))
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(root / "dist"), str(sdist)],
                   check=True, capture_output=True)
    wheel = next((root / "dist").glob("kvbatch-*.whl"))
    shutil.copy(wheel, root)
    kind, _, install = walkthrough()[0]  # python3.11 -m venv venv && source venv/bin/activate; pip install ...
    assert kind == "sh" and f"pip install {wheel.name}" in install
    proc = shell(install, root, root / "cache")
    assert proc.returncode == 0, proc.stderr[-3000:]
    return Installed(sdist, wheel, root / "venv", root / "cache")


def user(installed: Installed, cwd: Path, *argv: str, activated: bool = False) -> subprocess.CompletedProcess[str]:
    """`kvbatch ARGV` run from `cwd` by the installed venv, as a user's shell would (`activated`: after
    `source venv/bin/activate`)."""
    env = activated_env(installed.venv, installed.cache) if activated else user_env(installed.cache)
    command = "kvbatch" if activated else str(installed.bin / "kvbatch")
    return subprocess.run([command, *argv], cwd=cwd, env=env, capture_output=True, text=True)


@pytest.fixture(scope="module")
def user_dir(installed: Installed, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A user's directory holding `myapp/app.py`, built there into `my.wasm` by the installed kvbatch."""
    home = tmp_path_factory.mktemp("user")
    (home / "myapp").mkdir()
    (home / "myapp" / "app.py").write_text(APP)
    built = user(installed, home, "build", "--app", "myapp", "-o", "my.wasm")
    assert built.returncode == 0, built.stderr[-3000:]
    return home


def names_in_sdist(sdist: Path) -> set[str]:
    with tarfile.open(sdist) as archive:
        return {name.split("/", 1)[1] for name in archive.getnames() if "/" in name}


def test_the_sdist_holds_the_wit_the_guest_sources_and_the_type_markers(installed: Installed) -> None:
    names = names_in_sdist(installed.sdist)
    assert {
        "wit/kvbatch.wit", "wit/bridge.wit",
        "wit/deps/keyvalue-draft2/batch.wit", "wit/deps/keyvalue-draft/keyvalue.wit",
        "src/kvbatch_host/prepare/bridge/draft2.wat",             # the byte bridge, built on first use
        "src/kvbatch_guests/provider.py", "src/kvbatch_guests/check_driver.py",  # the provider, the check driver
        "wit/serve/adapter.wit",                                  # kvbatch serve's adapter world
        "src/kvbatch/py.typed", "src/kvbatch_host/py.typed",
    } <= names


def test_the_wheel_built_from_the_sdist_holds_what_the_checkouts_wheel_holds(installed: Installed, tmp_path: Path) -> None:
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(builder.ROOT)],
                   check=True, capture_output=True)
    direct = next(tmp_path.glob("kvbatch-*.whl"))
    with zipfile.ZipFile(direct) as a, zipfile.ZipFile(installed.wheel) as b:
        assert set(a.namelist()) == set(b.namelist())


def test_the_installed_package_ships_the_wit(installed: Installed, tmp_path: Path) -> None:
    proc = user(installed, tmp_path, "wit", "--out", "wit")
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "wit" / "deps" / "keyvalue-draft2").is_dir()


def test_the_install_leaves_plotting_out_and_bench_says_so(installed: Installed, tmp_path: Path) -> None:
    has_matplotlib = subprocess.run([str(installed.bin / "python"), "-c", "import matplotlib"], capture_output=True)
    assert has_matplotlib.returncode == 1 and b"No module named 'matplotlib'" in has_matplotlib.stderr
    proc = user(installed, tmp_path, "bench", "--quick")
    assert (proc.returncode, proc.stderr) == (2, "kvbatch: the plots need matplotlib: pip install 'kvbatch[bench]' (or pass --no-plots)\n")


def test_a_user_guest_runs_under_a_fault_with_the_provider_built_on_first_use(installed: Installed, user_dir: Path) -> None:
    ran = user(installed, user_dir, "run", "my.wasm", "--store", "memory:", "--fault", "op=set,key=b,error=other:disk full")
    assert ran.returncode == 0, ran.stderr[-3000:]
    assert ran.stdout.splitlines() == FAULTED
    assert (installed.cache / "kvbatch" / "0.1.0" / "provider.wasm").is_file()  # built into the per-user cache


def test_a_user_guest_composed_with_the_provider_runs_where_no_batch_is_served(installed: Installed, user_dir: Path) -> None:
    composed = user(installed, user_dir, "compose", "my.wasm", "-o", "my-composed.wasm")
    assert composed.returncode == 0, composed.stderr[-3000:]
    assert composed.stdout.startswith("composed my-composed.wasm: imports wasi:keyvalue/store@0.2.0-draft2")
    ran = user(installed, user_dir, "run", "my-composed.wasm", "--store", "memory:", "--batch", "none",
               "--fault", "op=set,key=b,error=other:disk full")
    assert (ran.returncode, ran.stdout.splitlines()) == (0, FAULTED), ran.stderr[-3000:]


def test_check_holds_the_installed_provider_to_the_semantics(installed: Installed, user_dir: Path) -> None:
    proc = user(installed, user_dir, "check", "--store", "memory:")
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    assert proc.stdout.splitlines()[-1] == "PASS: 84 cases, every rule held"


def test_with_the_venv_activated_a_user_guest_builds_and_runs(installed: Installed, user_dir: Path) -> None:
    built = user(installed, user_dir, "build", "--app", "myapp", "-o", "activated.wasm", "--force", activated=True)
    assert built.returncode == 0, built.stderr[-3000:]
    ran = user(installed, user_dir, "run", "activated.wasm", "--store", "memory:", "--batch", "native",
               "--fault", "op=set,key=b,error=other:disk full", activated=True)
    assert (ran.returncode, ran.stdout.splitlines()) == (0, FAULTED), ran.stderr[-3000:]


def test_the_readmes_walkthrough_runs_as_written(installed: Installed, tmp_path: Path) -> None:
    """Every command of the tutorials after the install (build, run under a fault, compose,
    the wasmtime CLI, the pytest plugin), in a fresh directory with the venv activated; a command's
    `# ...` lines are its standard output."""
    script = [f"source {installed.venv}/bin/activate"]
    expected: list[list[str]] = []
    for kind, path, body in walkthrough()[1:]:
        if kind == "file":
            (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
            (tmp_path / path).write_text(body)
            continue
        for line in body.splitlines():
            if line.startswith("# "):
                expected[-1].append(line[2:])
                continue
            script += [f"echo '@@@ step {len(expected)}'", line]
            expected.append([])
    proc = shell("\n".join(script), tmp_path, installed.cache)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    outputs = re.split(r"^@@@ step \d+\n", proc.stdout, flags=re.M)[1:]
    assert len(outputs) == len(expected) and sum(1 for want in expected if want) >= 6
    for step, (out, want) in enumerate(zip(outputs, expected)):
        if want:
            assert out.splitlines() == want, f"step {step}: {script[2 * step + 2]}"


def test_serve_in_an_empty_directory_builds_and_serves_kvbatchs_own_bulk_component(installed: Installed, tmp_path: Path) -> None:
    served = Command(tmp_path, "--store", "memory:", kvbatch=str(installed.bin / "kvbatch"), environ=user_env(installed.cache),
                     timeout=900)
    try:
        auth = {"Authorization": f"Bearer {TOKEN}"}
        written = httpx.post(served.url + "/kv/stores/default/set-many", headers=auth,
                             json={"items": {"a": "1", "b": "2"}, "encoding": "text"}, timeout=60)
        assert written.status_code == 200, written.text
        read = httpx.post(served.url + "/kv/stores/default/get-many", headers=auth, json={"keys": ["a", "b"], "encoding": "text"},
                          timeout=60)
        assert read.json()["values"] == {"a": "1", "b": "2"}
    finally:
        served.stop()
    assert (installed.cache / "kvbatch" / "0.1.0" / "spin.wasm").is_file()  # built from the shipped sources on first use
    assert any("kvbatch: building spin" in line for line in served.lines)


def test_serve_of_a_command_component_is_one_line_naming_kvbatch_run(installed: Installed, user_dir: Path, tmp_path: Path) -> None:
    (tmp_path / "spin.toml").write_text(
        'spin_manifest_version = 2\n[application]\nname = "c"\n[[trigger.http]]\nroute = "/..."\ncomponent = "c"\n'
        f'[component.c]\nsource = "{user_dir / "my.wasm"}"\n')
    proc = user(installed, tmp_path, "serve", "--listen", "127.0.0.1:0")
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1, proc.stderr[-3000:]
    assert "is not an HTTP component" in proc.stderr and "kvbatch run" in proc.stderr


def _user_pytest(installed: Installed, project: Path, activated: bool) -> subprocess.CompletedProcess[str]:
    """The project's own tests as its README says to run them (pytest installed as the README installs it)."""
    env = activated_env(installed.venv, installed.cache) if activated else user_env(installed.cache)
    python = "python" if activated else str(installed.bin / "python")
    pip = subprocess.run([python, "-m", "pip", "install", "-q", "pytest==9.2.0"], env=env, capture_output=True, text=True)
    assert pip.returncode == 0, pip.stderr[-2000:]
    return subprocess.run([python, "-m", "pytest", "-q", "-p", "no:cacheprovider"], cwd=project, env=env,
                          capture_output=True, text=True, timeout=1800)


def test_the_readmes_spin_app_quick_start_serves_a_new_project_and_its_tests_pass(installed: Installed, tmp_path: Path) -> None:
    """The README's "Your own Spin app" blocks as written (kvbatch new, kvbatch serve --build, curl),
    then the generated project's own tests."""
    blocks = marked_blocks((builder.ROOT / "README.md").read_text(), "quickstart")
    (serve,) = [body for kind, _, body in blocks if kind == "app_serve"]
    (client,) = [body for kind, _, body in blocks if kind == "app_client"]
    with served(serve, tmp_path, activated_env(installed.venv, installed.cache), seconds=900) as port:
        requests = lay_out([("sh", "", client.replace("127.0.0.1:3000", f"127.0.0.1:{port}"))], tmp_path)
        proc = requests.run(tmp_path, activated_env(installed.venv, installed.cache), timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert sum(1 for want in requests.expected if want) == 2
    assert not requests.mismatches(proc.stdout), requests.mismatches(proc.stdout)
    tested = _user_pytest(installed, tmp_path / "shop", activated=False)
    assert tested.returncode == 0, (tested.stdout + tested.stderr)[-4000:]
    assert "3 passed" in tested.stdout


def test_a_new_command_project_builds_runs_and_its_tests_pass(installed: Installed, tmp_path: Path) -> None:
    made = user(installed, tmp_path, "new", "command", "my-tool")
    assert made.returncode == 0, made.stderr
    project = tmp_path / "my-tool"
    built = user(installed, project, "build", "--app", ".", "-o", "app.wasm")
    assert built.returncode == 0, built.stderr[-3000:]
    ran = user(installed, project, "run", "app.wasm", "--store", "memory:", "--", "a=1", "b=2", activated=True)
    assert (ran.returncode, ran.stdout.splitlines()) == (0, ["a: succeeded", "b: succeeded"]), ran.stderr[-3000:]
    tested = _user_pytest(installed, project, activated=True)
    assert tested.returncode == 0, (tested.stdout + tested.stderr)[-4000:]
    assert "2 passed" in tested.stdout
