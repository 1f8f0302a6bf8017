"""The HTTP reference (docs/reference/http-api.md): its curl examples run as written against the bulk API.

The API is served by a local `http.server` that does what Spin's route does (strip `/kv`, as
`spin-path-info` does) over in-memory stores; the shell block of the page's "Examples" runs
against it with the real `curl`.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Iterator

import pytest

from bulk_helpers import TOKEN, MemoryStores, api_for

from kvbatch_bulk import BulkApi, Limits, Request
from kvbatch_host.prepare.build import ROOT


def http_reference() -> str:
    return (ROOT / "docs" / "reference" / "http-api.md").read_text()


def serve(api: BulkApi, prefix: str = "/kv") -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def _any(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length") or 0))
            path = self.path.split("?")[0]
            path_info = path[len(prefix):] if path.startswith(prefix) else None
            response = api.handle(Request.from_target(self.command, self.path, dict(self.headers), body, path_info))
            self.send_response(response.status)
            for name, value in response.headers.items():
                self.send_header(name, value)
            self.send_header("content-length", str(len(response.body)))
            self.end_headers()
            self.wfile.write(response.body)

        do_GET = do_POST = do_DELETE = _any

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.fixture
def stores() -> Iterator[MemoryStores]:
    yield MemoryStores(granted=("default", "sessions"))


@pytest.mark.skipif(shutil.which("curl") is None, reason="needs curl")
def test_the_http_references_curl_examples_run_as_written(stores: MemoryStores, tmp_path: Path) -> None:
    block = re.search(r"## Examples\n\n```sh\n(.*?)```", http_reference(), re.S)
    assert block, "the HTTP reference has an Examples shell block"
    server = serve(api_for(stores, Limits(default_page_keys=1)))
    try:
        script = block.group(1).replace("http://127.0.0.1:3000", f"http://127.0.0.1:{server.server_address[1]}")
        stores.data().update({f"rec:{i}": bytes([i, 255]) for i in range(5)})  # export needs several pages
        proc = subprocess.run(["bash", "-euc", script], cwd=tmp_path, capture_output=True, text=True, timeout=60,
                              env={"PATH": "/usr/bin:/bin", "SPIN_VARIABLE_KVBATCH_TOKEN": TOKEN})
    finally:
        server.shutdown()
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout.splitlines()
    documented = [line[2:] for line in block.group(1).splitlines() if line.startswith("# {")]
    assert out[:len(documented)] == documented
    records = {f"rec:{i}": bytes([i, 255]) for i in range(5)}
    # the copy-many examples left backup:1 and user:3 in default, and copied user:1, user:2 into sessions
    exported = {**records, "backup:1": b"ann", "user:3": b"cy"}
    assert stores.data("sessions") == {**exported, "user:1": b"ann", "user:2": b"bob"}
    assert len((tmp_path / "dump.ndjson").read_text().splitlines()) == len(exported)


def test_the_http_reference_documents_every_limit() -> None:
    page = http_reference()
    for name in Limits().as_dict():
        assert f"`{name}`" in page
