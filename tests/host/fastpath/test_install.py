"""The fast path is a gate: it loads wasmtime-py's internals only in `install()`, falls back to the
plain path with one warning line when they are not what it expects, and can be switched off."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path
from typing import Callable, Dict, Optional

import pytest

from kvbatch_host import fastpath, versions

from checkout import ROOT
INTERNALS = "kvbatch_host.fastpath.wasmtime_internals"

WASMTIME_STATE = """
from wasmtime.component import _func, _linker
def wasmtime_state():
    return (_func.Func.__call__, _linker.func_impl, _linker.func_finalize)
"""


def run_python(code: str, env: Optional[Dict[str, str]] = None, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", WASMTIME_STATE + textwrap.dedent(code), *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=300, cwd=ROOT)


def test_the_pin_is_the_wasmtime_version_pyproject_pins() -> None:
    dependencies = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    assert f"wasmtime=={versions.PINNED_WASMTIME}" in dependencies


def test_importing_the_host_loads_no_internals_and_patches_nothing() -> None:
    proc = run_python(f"""
        before = wasmtime_state()
        import sys
        import kvbatch_host.cli, kvbatch_host.runner, kvbatch_host.setup, kvbatch_host.pytest_plugin, kvbatch_host.fastpath
        print({INTERNALS!r} in sys.modules, wasmtime_state() == before)
    """)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["False", "True"]


@pytest.mark.parametrize("breakage, cause", [
    ("del wasmtime.component._linker.FUNCTIONS", "AttributeError"),
    ("del wasmtime._ffi.wasmtime_component_func_callback_t", "AttributeError"),
    ("wasmtime._ffi.WASMTIME_COMPONENT_STRING = ctypes.c_uint8(99)", "AssertionError"),  # the C value layout moved
])
def test_internals_that_changed_leave_wasmtime_py_untouched_with_one_warning_line(breakage: str, cause: str) -> None:
    proc = run_python(f"""
        import ctypes, sys, wasmtime, wasmtime.component
        {breakage}
        before = wasmtime_state()
        from kvbatch_host import fastpath
        print(fastpath.install(), fastpath.active(), fastpath.install(), wasmtime_state() == before, {INTERNALS!r} in sys.modules)
    """)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["False", "False", "False", "True", "False"]
    [line] = proc.stderr.splitlines()
    assert line.startswith("kvbatch: warning: the fast path does not load on this wasmtime-py") and cause in line
    assert "plain" in line


def test_on_another_wasmtime_version_nothing_is_patched_and_one_line_says_why() -> None:
    proc = run_python(f"""
        import sys
        from kvbatch_host import fastpath, versions
        versions.WASMTIME_VERSION = "51.0.0"
        before = wasmtime_state()
        print(fastpath.install(), fastpath.lowers_host_err(), wasmtime_state() == before, {INTERNALS!r} in sys.modules)
        fastpath.install()
    """)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["False", "False", "True", "False"]
    assert proc.stderr.splitlines() == ["kvbatch: warning: wasmtime-py 51.0.0 is not the pinned 50.0.1: values cross on "
                                        "wasmtime-py's plain (slower) path, and an error from bucket.get traps instead "
                                        "of reaching the guest"]


def test_the_environment_switch_keeps_it_from_being_installed() -> None:
    proc = run_python("from kvbatch_host import fastpath as f; print(f.install(), f.installed())", {fastpath.ENV_SWITCH: "0"})
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "False False"
    assert proc.stderr == ""


def test_a_key_value_host_installs_it() -> None:
    proc = run_python(
        """
        from kvbatch_host import fastpath
        from kvbatch_host.keyvalue_functions import KeyValueHost
        from kvbatch_host.backends.stores import StoreRegistry
        print(fastpath.installed())
        KeyValueHost(StoreRegistry())
        print(fastpath.installed(), fastpath.active())
        """
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["False", "True", "True"]


def test_plain_switches_it_off_for_the_block_only() -> None:
    assert fastpath.install()
    with fastpath.plain():
        assert not fastpath.active()
    assert fastpath.active()


# -- kvbatch run on the plain path ----------------------------------------------------------------

RUN_DEMO = """
    import ctypes, sys, wasmtime, wasmtime.component
    exec(sys.argv[1])
    from kvbatch_host.cli import main
    sys.exit(main(["run", sys.argv[2], "--store", "memory:"]))
"""


@pytest.fixture(scope="module")
def demo_run(built: Callable[..., Path]) -> Callable[[str], subprocess.CompletedProcess[str]]:
    demo = str(built("demo"))
    built("provider")
    warm = run_python(RUN_DEMO, None, "pass", demo)  # fills the compile cache, whose one-time line goes to stderr
    assert warm.returncode == 0, warm.stderr
    return lambda breakage: run_python(RUN_DEMO, None, breakage, demo)


def digest(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode == 0, proc.stderr
    [found] = re.findall(r"^summary digest: ([0-9a-f]{16})$", proc.stdout, re.M)
    return found


@pytest.mark.component
@pytest.mark.parametrize("breakage", [
    "del wasmtime._ffi.wasmtime_component_func_callback_t",
    "import kvbatch_host.versions as v; v.WASMTIME_VERSION = '51.0.0'",
])
def test_kvbatch_run_of_the_demo_gives_the_same_digest_on_the_plain_path(demo_run: Callable[[str], subprocess.CompletedProcess[str]],
                                                                      breakage: str) -> None:
    fast = demo_run("pass")
    plain = demo_run(breakage)
    assert digest(plain) == digest(fast)
    assert plain.stdout == fast.stdout
    assert fast.stderr == ""
    warnings = [line for line in plain.stderr.splitlines() if line.startswith("kvbatch: warning:")]
    assert len(warnings) == 1 and "plain" in warnings[0]


RUN_AND_COUNT = """
    import sys
    from kvbatch_host.fastpath import wasmtime_internals as internals
    built = []
    plan_of = internals.Plan.of
    internals.Plan.of = classmethod(lambda cls, fty: built.append(fty) or plan_of(fty))
    from kvbatch_host.cli import main
    code = main(["run", sys.argv[1], "--store", "memory:", "--batch", sys.argv[2]])
    from kvbatch_host import fastpath
    from wasmtime.component import _func, _linker
    print("exit", code, "installed", fastpath.installed(), "active", fastpath.active())
    print("patched", _linker.func_impl is internals._func_impl and _func.Func.__call__ is internals._export_call)
    print("plans", len(built))
"""


@pytest.mark.component
@pytest.mark.parametrize("batch", ["native", "provider"])
def test_a_plain_kvbatch_run_converts_values_on_the_fast_path(built: Callable[..., Path], batch: str) -> None:
    demo = str(built("demo"))
    built("provider")
    proc = run_python(RUN_AND_COUNT, None, demo, batch)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert "exit 0 installed True active True" in lines and "patched True" in lines
    [plans] = [int(line.split()[1]) for line in lines if line.startswith("plans ")]
    assert plans > 0  # the host functions and export calls of the run were converted by the fast path
    assert "warning" not in proc.stderr


def test_with_functions_gone_every_command_still_starts() -> None:
    proc = run_python("""
        import wasmtime.component._linker as linker
        del linker.FUNCTIONS
        import kvbatch_host.runner, kvbatch_host.cli
        from kvbatch_host.cli import main
        main(["build", "--help"])
    """)
    assert proc.returncode == 0, proc.stderr
    assert "usage: kvbatch build" in proc.stdout


# -- the pytest plugin ----------------------------------------------------------------------------


def test_the_plugin_patches_a_users_process_only_when_a_component_runs(pytester: pytest.Pytester, built: Callable[..., Path]) -> None:
    pytester.makepyfile(WASMTIME_STATE + f"""
import sys
BEFORE = wasmtime_state()

def test_a_test_without_kvbatch_leaves_wasmtime_alone():
    assert wasmtime_state() == BEFORE and {INTERNALS!r} not in sys.modules

def test_stores_and_faults_alone_leave_wasmtime_alone(kvbatch):
    kvbatch.store("memory:").fault("op=set,nth=1,error=other")
    assert kvbatch.get("k") is None
    assert wasmtime_state() == BEFORE and {INTERNALS!r} not in sys.modules

def test_running_a_component_installs_the_fast_path(kvbatch):
    run = kvbatch.run({str(built("demo"))!r})
    assert run.exit_code == 0
    assert wasmtime_state() != BEFORE
""")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-q")
    result.assert_outcomes(passed=3)


def test_a_bridged_harness_tunes_the_allocator_bounded_and_never_loosens_an_unbounded_tuning() -> None:
    proc = run_python(
        """
        from kvbatch_host import fastpath
        from kvbatch_host.backends.stores import StoreRegistry
        from kvbatch_host.runner import Harness
        Harness(StoreRegistry(), bridge=True)
        print(fastpath._tuned)
        Harness(StoreRegistry(), bridge=False)
        print(fastpath._tuned)
        Harness(StoreRegistry(), bridge=True)
        print(fastpath._tuned)
        """
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["bounded", "unbounded", "unbounded"]
