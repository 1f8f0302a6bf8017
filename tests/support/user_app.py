"""A user's own command component, as docs/tutorials/first-component.md has them write it."""

from __future__ import annotations

from pathlib import Path

APP = '''"""My app: writes three keys in one set-many and prints what happened to each."""
from wit_world import exports

import kvbatch


class Run(exports.Run):
    def run(self) -> None:
        bucket = kvbatch.open("default")
        result = bucket.set_many({"a": b"1", "b": b"2", "c": b"3"})
        for key, status in result.outcomes().items():
            print(f"{key}: {status}")
'''


def write_app(directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "app.py").write_text(APP)
    return directory
