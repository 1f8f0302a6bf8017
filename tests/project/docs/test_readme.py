"""The README's quick start runs as written: the blocks marked `<!-- quickstart:... -->`, in a fresh
directory with this checkout's venv active (kvbatch's own components come from build/)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from docs_blocks import ROOT, lay_out, marked_blocks, served

pytestmark = pytest.mark.component

TOKEN = "quickstart-token-0123456789abcdef"
BLOCKS = marked_blocks((ROOT / "README.md").read_text(), "quickstart")


def active_venv_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    env["VIRTUAL_ENV"] = str(Path(sys.executable).parent.parent)
    env["SPIN_VARIABLE_KVBATCH_TOKEN"] = TOKEN
    return env


def test_the_quick_start_of_the_library_the_harness_and_the_provider_runs_as_written(tmp_path: Path) -> None:
    script = lay_out([block for block in BLOCKS if block[0] in ("sh", "file")], tmp_path)
    assert sum(1 for want in script.expected if want) >= 5
    proc = script.run(tmp_path, active_venv_env(), timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert not script.mismatches(proc.stdout), script.mismatches(proc.stdout)


def test_the_quick_start_of_the_served_spin_component_runs_as_written(tmp_path: Path) -> None:
    (serve,) = [body for kind, _, body in BLOCKS if kind == "serve"]
    (client,) = [body for kind, _, body in BLOCKS if kind == "client"]
    serve = serve.replace('"$(openssl rand -hex 32)"', TOKEN)  # the client's shell has the same token
    with served(serve, tmp_path, active_venv_env()) as port:
        requests = lay_out([("sh", "", client.replace("127.0.0.1:3000", f"127.0.0.1:{port}"))], tmp_path)
        proc = requests.run(tmp_path, active_venv_env(), timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert sum(1 for want in requests.expected if want) == 2
    assert not requests.mismatches(proc.stdout), requests.mismatches(proc.stdout)
