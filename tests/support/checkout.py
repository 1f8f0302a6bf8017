"""Where the checkout is, for tests that read its files (docs, examples, pyproject.toml, .venv)."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
"""The top of the kvbatch checkout these tests belong to."""
