"""`kvbatch.wrap` on a bucket opened through spin-sdk's own bindings, inside a real Spin component.

A small spin-sdk HTTP handler (built here against spin-sdk's world, as `spin build` would) opens
its store with `spin_sdk.wit.imports.wasi_keyvalue_store_0_2_0_draft2.open` and wraps it with
nothing but `kvbatch.wrap(handle, name)`; `kvbatch serve` serves it on the wasmtime CLI. Its
answer says whether batch and compare-and-swap were found, and what the store holds afterwards.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict, Iterator

import httpx
import pytest

from kvbatch_host import resources
from kvbatch_host.prepare import build as builder

pytestmark = [pytest.mark.component, pytest.mark.wasmtime_cli]

APP = '''
"""A Spin HTTP handler over spin-sdk's keyvalue bindings, through kvbatch.wrap."""
import json

from spin_sdk import http
from spin_sdk.wit.imports import wasi_keyvalue_store_0_2_0_draft2 as kv

import kvbatch


class HttpHandler(http.Handler):
    async def handle_request(self, request: http.Request) -> http.Response:
        bucket = kvbatch.wrap(kv.open("default"), "default")
        written = bucket.set_many({"a": b"1", "b": b"2"})
        inserted = bucket.set_many({"a": b"changed", "c": b"3"}, only_if="absent")
        got = bucket.get_many(["a", "b", "c", "d"])
        body = {
            "batch": bucket.raw.has_native_batch,
            "cas": kvbatch.has_cas(bucket.raw),
            "written": list(written.succeeded),
            "inserted": list(inserted.succeeded),
            "refused": sorted(inserted.failed),
            "values": {key: value.decode() for key, value in got.values.items()},
            "missing": list(got.missing),
        }
        return http.Response(200, {"content-type": "application/json"}, json.dumps(body).encode())
'''

MANIFEST = '''spin_manifest_version = 2

[application]
name = "wrap-example"

[[trigger.http]]
route = "/..."
component = "app"

[component.app]
source = "{source}"
key_value_stores = ["default"]
'''


@pytest.fixture(scope="module")
def spin_app(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The handler above, built against spin-sdk's world `spin:up/http-trigger@4.1.0`."""
    directory = tmp_path_factory.mktemp("spin-wrap")
    (directory / "app").mkdir()
    (directory / "app" / "app.py").write_text(APP)
    target = builder.Target("spin-wrap", builder.SPIN_WORLD, "app", (directory / "app", resources.guest_source_root()),
                            (directory / "app" / "app.py",), directory / "app.wasm", wit=None)
    builder.build(target, log=lambda line: None)
    (directory / "spin.toml").write_text(MANIFEST.format(source=target.output))
    return directory


@pytest.fixture(scope="module")
def answer(spin_app: Path) -> Iterator[Dict[str, Any]]:
    """What the served component answers to one request."""
    kvbatch = str(Path(sys.executable).parent / "kvbatch")
    process = subprocess.Popen([kvbatch, "serve", "--manifest", str(spin_app / "spin.toml"), "--listen", "127.0.0.1:0",
                                "--store", "default=memory:"], stderr=subprocess.PIPE, text=True, cwd=spin_app)
    try:
        assert process.stderr is not None
        url = None
        for line in process.stderr:
            found = re.search(r"at (http://127\.0\.0\.1:\d+)", line)
            if found:
                url = found.group(1)
                break
        assert url, f"kvbatch serve did not start (exit {process.poll()})"
        yield httpx.get(url + "/", timeout=120).json()
    finally:
        os.kill(process.pid, signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def test_wrap_finds_spin_sdks_batch_binding(answer: Dict[str, Any]) -> None:
    assert answer["batch"] is True


def test_wrap_finds_spin_sdks_compare_and_swap(answer: Dict[str, Any]) -> None:
    assert answer["cas"] is True


def test_a_conditional_insert_through_the_wrapped_bucket_writes_only_absent_keys(answer: Dict[str, Any]) -> None:
    assert answer["written"] == ["a", "b"] and answer["inserted"] == ["c"] and answer["refused"] == ["a"]
    assert answer["values"] == {"a": "1", "b": "2", "c": "3"} and answer["missing"] == ["d"]



def test_kvbatch_run_of_an_http_component_is_one_line_naming_kvbatch_serve(spin_app: Path) -> None:
    kvbatch = str(Path(sys.executable).parent / "kvbatch")
    proc = subprocess.run([kvbatch, "run", str(spin_app / "app.wasm"), "--store", "memory:"], capture_output=True, text=True)
    assert proc.returncode == 2 and len(proc.stderr.splitlines()) == 1
    assert "is an HTTP component" in proc.stderr and "serve it with `kvbatch serve`" in proc.stderr
