"""docs/how-to/testing-with-pytest.md runs as written: its `myapp/app.py` and `test_myapp.py`
blocks, put in a fresh directory, pass under pytest with the plugin."""

from __future__ import annotations

import re
from typing import Dict

import pytest

from checkout import ROOT

pytestmark = pytest.mark.component

DOC = ROOT / "docs" / "how-to" / "testing-with-pytest.md"


def doc_files() -> Dict[str, str]:
    """The page's files, by the path its `<!-- docs-test:file PATH -->` markers give."""
    return dict(re.findall(r"<!-- docs-test:file (\S+) -->\n```python\n(.*?)```", DOC.read_text(), re.S))


def test_the_page_gives_the_app_and_its_tests() -> None:
    assert set(doc_files()) == {"myapp/app.py", "test_myapp.py"}


def test_the_pages_tests_pass_as_written(pytester: pytest.Pytester) -> None:
    files = doc_files()
    for path, text in files.items():
        target = pytester.path / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
    expected = len(re.findall(r"^def test_", files["test_myapp.py"], re.M))
    result = pytester.runpytest_subprocess("-q", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=expected)
