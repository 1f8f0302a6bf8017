"""The pytest plugin (`kvbatch_host.pytest_plugin`) in a user's own suite, run under pytester: what its
`kvbatch` fixture accepts, and when."""

from __future__ import annotations

import pytest


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
