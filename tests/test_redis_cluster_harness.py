"""The harness over a real Redis Cluster: the conformance suite and the demo, as a user runs them."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Callable

import pytest

from kvbatch_host.cli import main

pytestmark = pytest.mark.redis

ROOT = Path(__file__).resolve().parents[1]
DEMO_DIGEST = "b528c2e7952ab6a9"


def test_kvbatch_check_native_passes_on_a_redis_cluster(redis_cluster_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["check", "--native", "--store", redis_cluster_url, "--large-value-size", "16384"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert re.search(r"PASS: \d+ cases, every rule held", out), out


@pytest.mark.component
def test_the_demo_gives_its_digest_on_a_redis_cluster_with_native_batch(built: Callable[[str], Path],
                                                                        redis_cluster_url: str) -> None:
    demo = built("demo")
    done = subprocess.run([str(ROOT / ".venv/bin/kvbatch"), "run", str(demo), "--store", redis_cluster_url,
                           "--batch", "native"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert f"summary digest: {DEMO_DIGEST}" in done.stdout, done.stdout
    assert "get-many:    read 300 keys: 300 match, 0 differ, 0 missing" in done.stdout
