"""The commands of the docs pages run as written: every block marked `<!-- run:sh -->` (and the files
marked `<!-- run:file PATH -->`), page by page, in a fresh directory holding what the page starts from
(the tutorial's `myapp/` and its `myapp.wasm`), with this checkout's venv active.

The tutorials' own blocks (`walkthrough:`) run from the installed wheel in tests/project/test_installed_package.py.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sys
from importlib import metadata
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from docs_blocks import ROOT, docs_pages, lay_out, marked_blocks

from kvbatch_host.prepare import build as builder
from kvbatch_host.prepare import node

pytestmark = pytest.mark.component

PAGES = {page: marked_blocks(text, "run") for page, text in docs_pages().items()}
NEEDS_NODE = {"how-to/javascript-guest.md"}
NEEDS_REDIS = {"how-to/redis.md"}
"""Pages whose commands name `127.0.0.1:6379`: they run against the session's own `redis-server`."""


def active_venv_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    env["VIRTUAL_ENV"] = str(Path(sys.executable).parent.parent)
    return env


def tutorial_app() -> str:
    (app,) = [body for kind, path, body in marked_blocks(docs_pages()["tutorials/first-component.md"], "walkthrough")
              if kind == "file" and path == "myapp/app.py"]
    return app


@pytest.fixture(scope="module")
def myapp(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory holding the tutorial's `myapp/` and `myapp.wasm` (kept in build/examples/ while the
    app, the library and componentize-py are unchanged)."""
    home = tmp_path_factory.mktemp("myapp")
    (home / "myapp").mkdir()
    (home / "myapp" / "app.py").write_text(tutorial_app())
    digest = hashlib.sha256(tutorial_app().encode() + metadata.version("componentize-py").encode())
    for source in sorted((ROOT / "src" / "kvbatch").glob("*.py")):
        digest.update(source.read_bytes())
    cached = builder.BUILD / "examples" / f"myapp-{digest.hexdigest()[:16]}.wasm"
    if not cached.is_file():
        script = lay_out([("sh", "", "kvbatch build --app myapp -o myapp.wasm\n")], home)
        proc = script.run(home, active_venv_env(), timeout=600)
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
        cached.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(home / "myapp.wasm", cached)
    shutil.copyfile(cached, home / "myapp.wasm")
    return home


def test_the_how_to_guides_mark_their_commands_to_be_run() -> None:
    for page in ("how-to/faults-and-events.md", "how-to/compose.md", "how-to/wasmtime-cli.md",
                 "how-to/conformance.md", "how-to/javascript-guest.md"):
        assert any(kind == "sh" for kind, _, _ in PAGES[page]), page


@pytest.mark.parametrize("page", sorted(page for page, blocks in PAGES.items() if blocks))
def test_the_commands_of_a_page_run_as_written(page: str, myapp: Path, tmp_path: Path,
                                                request: pytest.FixtureRequest) -> None:
    directory = Path(shutil.copytree(myapp, tmp_path / "work"))
    blocks = PAGES[page]
    if page in NEEDS_REDIS:
        server = urlsplit(request.getfixturevalue("redis_server").url)  # type: ignore[attr-defined]
        blocks = [(kind, path, body.replace("127.0.0.1:6379", server.netloc)) for kind, path, body in blocks]
    if page in NEEDS_NODE:
        if node.missing_tools() is not None:
            pytest.skip(node.missing_tools() or "")
        shutil.copyfile(ROOT / "examples" / "js-guest" / "guest.js", directory / "guest.js")
        (directory / "node_modules").symlink_to(node.ensure_toolchain().parents[1])  # the suite's npm ci
        blocks = [(kind, path, "".join(line for line in body.splitlines(keepends=True) if not line.startswith("npm ")))
                  for kind, path, body in blocks]
    script = lay_out(blocks, directory)
    proc = script.run(directory, active_venv_env(), timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert not script.mismatches(proc.stdout), script.mismatches(proc.stdout)
