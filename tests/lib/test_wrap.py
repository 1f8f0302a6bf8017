"""`kvbatch.wrap(handle, name)` finds a binding's `batch`, `atomics` and `Err` by itself, for every
layout componentize-py generates (short names as in `wit_world`, full names as in spin-sdk), on
CPython over generated-binding look-alikes written to disk. The same inside a real component built
against spin-sdk's WIT: tests/spin/test_wrap.py."""

from __future__ import annotations

import itertools
import sys
import textwrap
import types
from pathlib import Path
from typing import Callable, Iterator, Optional

import pytest

import kvbatch
from kvbatch.raw import SPIN_SDK_BINDINGS, WitBucket, sibling_name

COUNTER = itertools.count()

TYPES = '''
class Err(Exception):
    def __init__(self, value):
        super().__init__(value)
        self.value = value
'''

STORE = '''
from {pkg}.types import Err

class Error_Other:
    def __init__(self, value):
        self.value = value

class Bucket:
    def __init__(self):
        self.data = {{}}
        self.calls = []
    def get(self, key):
        self.calls.append("get")
        return self.data.get(key)
    def set(self, key, value):
        self.calls.append("set")
        if key == "bad":
            raise Err(Error_Other("disk full"))
        self.data[key] = value
    def delete(self, key):
        self.calls.append("delete")
        self.data.pop(key, None)
    def exists(self, key):
        return key in self.data

def open(identifier):
    return Bucket()
'''

BATCH = '''
def get_many(bucket, keys):
    bucket.calls.append("get_many")
    return [(key, bucket.data.get(key)) for key in keys]

def set_many(bucket, key_values):
    bucket.calls.append("set_many")
    for key, value in key_values:
        bucket.set(key, value)

def delete_many(bucket, keys):
    bucket.calls.append("delete_many")
    for key in keys:
        bucket.data.pop(key, None)
'''

ATOMICS_DRAFT2 = '''
class Cas:
    def __init__(self, bucket, key):
        self.bucket, self.key, self.seen = bucket, key, bucket.data.get(key)
    @classmethod
    def new(cls, bucket, key):
        bucket.calls.append("cas")
        return cls(bucket, key)
    def current(self):
        return self.seen

def swap(cas, value):
    cas.bucket.data[cas.key] = value

def increment(bucket, key, delta):
    return 0
'''

ATOMICS_DRAFT = '''
def increment(bucket, key, delta):
    return 0
'''

LAYOUTS = {
    # name: (store, batch, atomics module leaf names, atomics source)
    "short names (wit_world)": ("store", "batch", "atomics", ATOMICS_DRAFT2),
    "full names, draft2 (spin-sdk)": ("wasi_keyvalue_store_0_2_0_draft2", "wasi_keyvalue_batch_0_2_0_draft2",
                                      "wasi_keyvalue_atomics_0_2_0_draft2", ATOMICS_DRAFT2),
    "full names, draft (wasmtime CLI)": ("wasi_keyvalue_store_0_2_0_draft", "wasi_keyvalue_batch_0_2_0_draft",
                                         "wasi_keyvalue_atomics_0_2_0_draft", ATOMICS_DRAFT),
}

Bindings = Callable[..., types.ModuleType]


@pytest.fixture
def bindings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Bindings]:
    """Writes a generated-bindings look-alike package and imports its `store` module."""
    monkeypatch.syspath_prepend(str(tmp_path))
    made = []

    def make(layout: str, *, batch: bool = True, atomics: bool = True, err: bool = True) -> types.ModuleType:
        store, batch_leaf, atomics_leaf, atomics_source = LAYOUTS[layout]
        pkg = f"fakebindings{next(COUNTER)}"
        made.append(pkg)
        imports = tmp_path / pkg / "imports"
        imports.mkdir(parents=True)
        (tmp_path / pkg / "__init__.py").write_text("")
        (tmp_path / pkg / "types.py").write_text(TYPES)
        (imports / "__init__.py").write_text("")
        source = STORE.format(pkg=pkg)
        (imports / f"{store}.py").write_text(source if err else source.replace(f"from {pkg}.types import Err", "from "
                                                                                + f"{pkg}.types import Err as _E"))
        if batch:
            (imports / f"{batch_leaf}.py").write_text(BATCH)
        if atomics:
            (imports / f"{atomics_leaf}.py").write_text(textwrap.dedent(atomics_source))
        __import__(f"{pkg}.imports.{store}")
        return sys.modules[f"{pkg}.imports.{store}"]

    yield make
    for name in [n for n in sys.modules if n.split(".")[0] in made]:
        del sys.modules[name]


@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_wrap_finds_the_batch_binding_beside_the_handles_module(bindings: Bindings, layout: str) -> None:
    store = bindings(layout)
    handle = store.open("default")
    bucket = kvbatch.wrap(handle, "default")
    result = bucket.set_many({"a": b"1", "b": b"2"})
    assert result.succeeded == ("a", "b") and "set_many" in handle.calls and "set" not in handle.calls[:1]


@pytest.mark.parametrize("layout, has_cas", [("short names (wit_world)", True), ("full names, draft2 (spin-sdk)", True),
                                             ("full names, draft (wasmtime CLI)", False)])
def test_wrap_finds_compare_and_swap_where_the_world_has_it(bindings: Bindings, layout: str, has_cas: bool) -> None:
    raw = WitBucket.wrap(bindings(layout).open("default"), "default")
    assert raw.has_cas is has_cas


def test_a_conditional_write_through_found_atomics_uses_cas(bindings: Bindings) -> None:
    handle = bindings("full names, draft2 (spin-sdk)").open("default")
    result = kvbatch.wrap(handle, "default").set_many({"k": b"v"}, only_if="absent")
    assert result.succeeded == ("k",) and "cas" in handle.calls


def test_wrap_raises_the_bindings_errors_as_kvbatch_errors(bindings: Bindings) -> None:
    raw = WitBucket.wrap(bindings("full names, draft2 (spin-sdk)").open("s"), "s")
    with pytest.raises(kvbatch.StoreError, match="disk full"):
        raw.set("bad", b"1")


def test_a_world_without_batch_goes_key_by_key_when_all_its_bindings_are_readable(bindings: Bindings) -> None:
    raw = WitBucket.wrap(bindings("short names (wit_world)", batch=False).open("s"), "s")
    assert not raw.has_native_batch and raw.has_cas


def test_a_world_without_atomics_has_no_cas(bindings: Bindings) -> None:
    raw = WitBucket.wrap(bindings("full names, draft2 (spin-sdk)", atomics=False).open("s"), "s")
    assert raw.has_native_batch and not raw.has_cas


def test_use_batch_false_goes_key_by_key_and_keeps_cas(bindings: Bindings) -> None:
    raw = WitBucket.wrap(bindings("full names, draft2 (spin-sdk)").open("s"), "s", use_batch=False)
    assert not raw.has_native_batch and raw.has_cas


def test_a_binding_without_an_err_class_asks_for_err_type(bindings: Bindings, monkeypatch: pytest.MonkeyPatch) -> None:
    store = bindings("full names, draft2 (spin-sdk)", err=False)
    monkeypatch.setattr("kvbatch.raw._Err", None)
    with pytest.raises(kvbatch.BindingNotFound, match="pass err_type="):
        kvbatch.wrap(store.open("s"), "s")


def test_a_sibling_that_cannot_be_imported_here_names_the_argument_to_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    """As inside a component at run time: the bindings were bundled, only what was imported exists."""
    name = f"bundled{next(COUNTER)}.imports.wasi_keyvalue_store_0_2_0_draft2"
    store = types.ModuleType(name)

    class Err(Exception):
        pass

    class Bucket:
        pass

    Bucket.__module__ = name
    store.Err = Err  # type: ignore[attr-defined]
    store.Bucket = Bucket  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, name, store)
    with pytest.raises(kvbatch.BindingNotFound, match=r"wasi_keyvalue_batch_0_2_0_draft2 .*import it at module level.*"
                                                      r"pass batch_module="):
        kvbatch.wrap(Bucket(), "s")


@pytest.mark.parametrize("store, interface, expected", [
    (f"{SPIN_SDK_BINDINGS}.wasi_keyvalue_store_0_2_0_draft2", "batch", f"{SPIN_SDK_BINDINGS}.wasi_keyvalue_batch_0_2_0_draft2"),
    (f"{SPIN_SDK_BINDINGS}.wasi_keyvalue_store_0_2_0_draft2", "atomics",
     f"{SPIN_SDK_BINDINGS}.wasi_keyvalue_atomics_0_2_0_draft2"),
    ("wit_world.imports.store", "batch", "wit_world.imports.batch"),
    ("store", "atomics", "atomics"),
    ("app.imports.restore_points", "batch", None),
    ("wit_world.imports.bucket", "batch", None),
])
def test_sibling_names_follow_componentize_pys_module_naming(store: str, interface: str, expected: Optional[str]) -> None:
    assert sibling_name(store, interface) == expected
