"""Test guest: feeds HTTP requests to the bulk API inside a component (world `guest`).

`kvbatch_bulk` is the logic the Spin component serves; this command component runs the very
same code over the harness's `wasi:keyvalue@0.2.0-draft2`, so faults injected by the host
reach it exactly as a failing Spin store would.

Arguments: `TOKEN REQUEST...`, each request a JSON object
`{"method": "POST", "target": "/stores/default/set-many?x=y", "headers": {...}, "body": "<base64>"}`.
Prints one JSON line per request: `{"status": 207, "headers": {...}, "body": "<base64>"}`.
"""

from __future__ import annotations

import base64
import json
import sys
from typing import Any, Dict

from componentize_py_types import Err
from wit_world import exports
from wit_world.imports import atomics, batch, environment, store

from kvbatch_bulk import BulkApi, Request, WitStores

WRITE_CHUNK = 16 * 1024


def answer(api: BulkApi, spec: Dict[str, Any]) -> Dict[str, Any]:
    """The response to one request given as a JSON object, as a JSON object."""
    request = Request.from_target(
        spec["method"], spec["target"], spec.get("headers", {}), base64.b64decode(spec.get("body", ""))
    )
    response = api.handle(request)
    return {"status": response.status, "headers": response.headers, "body": base64.b64encode(response.body).decode("ascii")}


class Run(exports.Run):  # type: ignore[misc]
    """`wasi:cli/run`: answers every request named on the command line, in order."""

    def run(self) -> None:
        args = environment.get_arguments()[1:]
        if not args:
            print("usage: bulk_driver TOKEN REQUEST_JSON...")
            raise SystemExit(2)
        api = BulkApi(WitStores(store, batch, Err, atomics_module=atomics), args[0])
        for raw in args[1:]:
            write_line(json.dumps(answer(api, json.loads(raw))))


def write_line(line: str) -> None:
    """Writes one output line in pieces: a single write larger than 64 KiB is cut short."""
    data = line + "\n"
    for start in range(0, len(data), WRITE_CHUNK):
        sys.stdout.write(data[start : start + WRITE_CHUNK])
        sys.stdout.flush()
