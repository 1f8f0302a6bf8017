"""The fast path installs only on the wasmtime it was written for, and can be switched off."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from kvbatch_host.serving import fastpath


def run_python(code: str, env: dict | None = None) -> subprocess.CompletedProcess:
    import os

    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=120)


def test_it_is_pinned_to_the_wasmtime_version_the_project_pins() -> None:
    assert fastpath.PINNED_WASMTIME == "50.0.1"


def test_on_another_wasmtime_it_warns_and_leaves_wasmtime_py_untouched() -> None:
    proc = run_python(
        """
        import warnings
        import kvbatch_host.serving.fastpath as fastpath
        from wasmtime.component import _func, _linker
        before = (_func.Func.__call__, _linker.func_impl)
        fastpath.WASMTIME_VERSION = "51.0.0"
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            print(fastpath.install(), fastpath.active())
        print((_func.Func.__call__, _linker.func_impl) == before)
        print([str(w.message) for w in caught])
        """
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0] == "False False"
    assert lines[1] == "True"
    assert "wasmtime 51.0.0 is not the pinned 50.0.1" in lines[2] and "plain" in lines[2]


def test_the_environment_switch_keeps_it_from_being_installed() -> None:
    proc = run_python("import kvbatch_host.serving.fastpath as f; print(f.install(), f.installed())", {fastpath.ENV_SWITCH: "0"})
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "False False"


def test_a_key_value_host_installs_it() -> None:
    proc = run_python(
        """
        from kvbatch_host.serving import fastpath
        from kvbatch_host.serving.keyvalue import KeyValueHost
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
