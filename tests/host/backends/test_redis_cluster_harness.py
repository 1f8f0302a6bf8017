"""The harness over a real Redis Cluster: the conformance suite and the demo, as a user runs them."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Callable

import pytest

from kvbatch_host.cli import main

from checkout import ROOT

pytestmark = pytest.mark.redis
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


def probe_lines(built: Callable[[str], Path], target: str, backend: object, args: list) -> str:
    from kvbatch_host.runner import Harness
    from kvbatch_host.backends.stores import StoreRegistry

    harness = Harness(StoreRegistry().add("default", backend), batch="native")  # type: ignore[arg-type]
    result = harness.run_command(built(target), ["default", *args], capture=True)
    assert result.trap is None and result.exit_code == 0, result.stderr
    return result.stdout


@pytest.mark.component
@pytest.mark.parametrize("target, args", [
    ("probe", []), ("probe-draft", []),              # every batch scenario, increment and list-keys included
    ("probe", ["list", "2500"]), ("probe-draft", ["list", "2500"]),   # list-keys pages: string and u64 cursors
    ("probe", ["cas", "probe:cas"]),                 # a swap another write interrupts fails, the retry succeeds
])
def test_a_component_observes_on_a_cluster_what_it_observes_on_memory(built: Callable[[str], Path], redis_cluster: object,
                                                                       namespace: str, target: str, args: list) -> None:
    from kvbatch_host.backends import MemoryBackend
    from kvbatch_host.backends.redis_cluster import RedisClusterBackend

    cluster = RedisClusterBackend(f"{redis_cluster.url}?namespace={namespace}")  # type: ignore[attr-defined]
    try:
        on_cluster = probe_lines(built, target, cluster, args)
    finally:
        cluster.close()
    assert on_cluster.strip()
    assert on_cluster == probe_lines(built, target, MemoryBackend(), args)
