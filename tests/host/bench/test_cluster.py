"""`kvbatch bench-cluster` runs end to end, prints its figures, checks its values and writes JSON
(never a timing check)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Dict

import pytest

from kvbatch_host.backends import MemoryBackend
from kvbatch_host.bench import cluster as bench_cluster
from kvbatch_host.bench.measure import BenchError
from kvbatch_host.cli import main

pytestmark = pytest.mark.redis

PATHS = ["single-node", "cluster-3", "redis-py-nonatomic", "cluster-6"]


@pytest.fixture(scope="module")
def small_run(tmp_path_factory: pytest.TempPathFactory) -> Dict[str, Any]:
    """One small run (300 keys, 1 repeat) for the whole module: its stdout and JSON."""
    import contextlib
    import io

    from kvbatch_host.redis_server import redis_server_binary

    if redis_server_binary() is None:
        pytest.skip("redis-server is not installed (./dev.sh test installs it)")
    path = tmp_path_factory.mktemp("bench-cluster") / "cluster.json"
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(["bench-cluster", "--keys", "300", "--repeat", "1", "--json", str(path)])
    assert code == 0, out.getvalue()
    return {"stdout": out.getvalue(), "doc": json.loads(path.read_text())}


def test_every_path_is_measured_on_the_same_workload(small_run: Dict[str, Any]) -> None:
    runs = small_run["doc"]["runs"]
    assert [r["path"] for r in runs] == PATHS
    for r in runs:
        assert (r["keys"], r["value_bytes"], r["repeat"]) == (300, 100, 1)
        assert all(math.isfinite(r[f]) and r[f] > 0 for f in ("set_ms", "get_ms", "delete_ms", "total_ms"))


def test_the_ratios_are_reported_and_printed(small_run: Dict[str, Any]) -> None:
    ratios = small_run["doc"]["ratios"]
    for name in ("cluster_vs_single_node", "cluster_vs_redis_py_nonatomic", "masters_6_vs_3"):
        assert isinstance(ratios[name], float) and ratios[name] > 0
        assert name in small_run["stdout"]
    assert ratios["guest_cluster_vs_single_node"] is None  # only with --guest
    for path in PATHS:
        assert f"  {path} " in small_run["stdout"]


def test_a_backend_that_loses_values_fails_the_run() -> None:
    class Lossy(MemoryBackend):
        def get_many(self, store: str, keys: Any) -> Any:
            return [None for _ in keys]

    with pytest.raises(BenchError, match="values read back differ"):
        bench_cluster.measure_backend("lossy", Lossy(), 10, 100, 1)


@pytest.mark.parametrize("argv, problem", [
    (["--keys", "0"], "--keys must be in 1..1,000,000, got 0"),
    (["--value-bytes", "-1"], "--value-bytes must be in 0..1048576, got -1"),
    (["--repeat", "0"], "--repeat must be at least 1, got 0"),
])
def test_bad_arguments_are_one_line_errors_with_status_2(argv: list, problem: str, capsys: pytest.CaptureFixture[str],
                                                         tmp_path: Path) -> None:
    assert main(["bench-cluster", *argv]) == 2
    err = capsys.readouterr().err
    assert err == f"kvbatch: bench-cluster: {problem}\n"
