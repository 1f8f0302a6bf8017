"""The pytest plugin (`kvbatch_host.pytest_plugin`) in a user's own suite, run under pytester: what its
`kvbatch` fixture accepts, and when."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import pytest

from kvbatch_host.cli import main


def test_the_plugin_refuses_faults_after_the_first_run(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_late='''
import pytest

def test_late(kvbatch):
    kvbatch.fault("op=get,latency=1ms")
    _ = kvbatch.registry
    with pytest.raises(RuntimeError, match="before the first run"):
        kvbatch.fault("op=set,error=other:x")
''')
    pytester.runpytest_subprocess("-q").assert_outcomes(passed=1)


def test_the_plugin_rejects_a_malformed_fault_rule_at_once(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_bad='''
import pytest
from kvbatch_host.faults import FaultPlanError

def test_bad(kvbatch):
    with pytest.raises(FaultPlanError):
        kvbatch.fault("op=sett")
''')
    pytester.runpytest_subprocess("-q").assert_outcomes(passed=1)


RULE = "op=set,position=2,error=other:disk full"
"""Selects by the batch call: it cannot fire when the provider is composed into the guest."""


@pytest.mark.component
def test_a_fault_rule_that_cannot_fire_with_the_provider_is_the_error_kvbatch_run_gives(
        pytester: pytest.Pytester, built: Callable[..., Path], capsys: pytest.CaptureFixture[str]) -> None:
    demo = built("demo")
    pytester.makepyfile(test_plan=f'''
import pytest
from kvbatch_host import ConfigError

def test_plan(kvbatch, tmp_path):
    kvbatch.fault({RULE!r})
    with pytest.raises(ConfigError) as refused:
        kvbatch.run({str(demo)!r}, batch="provider")
    (tmp_path.parent.parent / "message.txt").write_text(str(refused.value))
''')
    pytester.runpytest_subprocess("-q", f"--basetemp={pytester.path / 'tmp'}").assert_outcomes(passed=1)
    assert main(["run", str(demo), "--store", "memory:", "--batch", "provider", "--fault", RULE]) == 2
    message = (pytester.path / "message.txt").read_text()
    assert "position=" in message
    assert capsys.readouterr().err == f"kvbatch: {message}\n"
