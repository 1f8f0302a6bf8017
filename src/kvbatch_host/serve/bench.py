"""Figures for `kvbatch serve` (prints them; no assertions): start time, small get-many
requests per second with 1 and 8 concurrent clients, one 1,000-item set-many.

    .venv/bin/python -m kvbatch_host.serve.bench [--seconds 5] [--store memory:]

Uses httpx (a test dependency) as the client; the server side is the real served stack.
"""

from __future__ import annotations

import argparse
import os
import secrets
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import List

from kvbatch_host.serve import manifest as manifests
from kvbatch_host.serve import server
from kvbatch_host.setup import HostOptions


def main(argv: List[str] | None = None) -> None:
    """Starts the served component on a free port, measures, prints, stops it."""
    import httpx

    parser = argparse.ArgumentParser(prog="python -m kvbatch_host.serve.bench")
    parser.add_argument("--seconds", type=float, default=5.0, help="how long each requests/s run lasts")
    parser.add_argument("--store", default="memory:", help="the backend of store 'default'")
    args = parser.parse_args(argv)
    token = secrets.token_hex(16)
    manifest = manifests.load(server.default_manifest(), environ=dict(os.environ, SPIN_VARIABLE_KVBATCH_TOKEN=token))
    started = time.monotonic()
    served = server.start(manifest, ("127.0.0.1", 0), HostOptions(stores=(args.store,)))
    print(f"start: {time.monotonic() - started:.2f} s ({'composed and compiled' if served.compiled else 'precompiled, cached'})")
    auth = {"Authorization": f"Bearer {token}"}
    try:
        with httpx.Client(base_url=served.url, headers=auth, timeout=120) as client:
            items = {f"bench:{i:04d}": "x" * 100 for i in range(1000)}
            t = time.monotonic()
            answer = client.post("/kv/stores/default/set-many", json={"items": items, "encoding": "text"})
            print(f"set-many of 1,000 x 100 B: {(time.monotonic() - t) * 1000:.0f} ms (status {answer.status_code})")
            t = time.monotonic()
            answer = client.post("/kv/stores/default/get-many", json={"keys": list(items), "encoding": "text"})
            print(f"get-many of 1,000 x 100 B: {(time.monotonic() - t) * 1000:.0f} ms (status {answer.status_code})")
        keys = [f"bench:{i:04d}" for i in range(10)]
        for clients in (1, 8):
            done = [0]
            lock = threading.Lock()
            deadline = time.monotonic() + args.seconds

            def work() -> None:
                with httpx.Client(base_url=served.url, headers=auth, timeout=120) as http:
                    while time.monotonic() < deadline:
                        assert http.post("/kv/stores/default/get-many", json={"keys": keys}).status_code == 200
                        with lock:
                            done[0] += 1

            t = time.monotonic()
            with ThreadPoolExecutor(clients) as pool:
                for future in [pool.submit(work) for _ in range(clients)]:
                    future.result()
            elapsed = time.monotonic() - t
            print(f"get-many of 10 keys, {clients} client(s): {done[0] / elapsed:.0f} requests/s "
                  f"({elapsed / done[0] * 1000 * clients:.1f} ms a request)")
    finally:
        served.stop()


if __name__ == "__main__":
    main()
