"""The long sweep: the suite with wide batches and large values, against both implementations.

CI runs a bounded form (12-key batches, 64 KiB values). The long form:
`KVBATCH_SOAK_CHECK_WIDE=200 KVBATCH_SOAK_CHECK_LARGE=1048576 ./dev.sh test -m soak tests/host/conformance/test_soak.py`
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

import pytest

from kvbatch_host.backends import SqliteBackend
from kvbatch_host.conformance import Implementation, render, run_suite

WIDE = int(os.environ.get("KVBATCH_SOAK_CHECK_WIDE", "12"))
LARGE = int(os.environ.get("KVBATCH_SOAK_CHECK_LARGE", str(64 * 1024)))


@pytest.mark.soak
@pytest.mark.component
@pytest.mark.parametrize("kind", ["provider", "native"])
def test_every_rule_holds_over_wide_batches_and_large_values_on_sqlite(built: Callable[[str], Path], tmp_path: Path,
                                                                       kind: str) -> None:
    implementation = Implementation("provider", built("provider")) if kind == "provider" else Implementation("native")
    backend = SqliteBackend(str(tmp_path / "soak.db"))
    report = run_suite(implementation, backend, large_value_size=LARGE, wide=WIDE)
    backend.close()
    assert report.passed, render(report)
    wide_cells = [r for r in report.results if r.scenario.name.endswith(f"{WIDE} keys")]
    assert len(wide_cells) == 3
    assert all(r.cells["other"].cases == WIDE for r in wide_cells)
