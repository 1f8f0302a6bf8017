"""The documentation: the site builds strictly, its examples run as written, its references match the
code, the README stays short and fit for a package index, and nothing points to a file that is not there."""

from __future__ import annotations

import dataclasses
import doctest
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from docs_blocks import ROOT, docs_pages, fenced

PAGES = docs_pages()
README = (ROOT / "README.md").read_text()


def test_the_site_builds_strictly(tmp_path: Path) -> None:
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    proc = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-q", "-f", str(ROOT / "mkdocs.yml"),
                           "-d", str(tmp_path / "site")], cwd=ROOT, capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    built = sorted(str(p.relative_to(tmp_path / "site")) for p in (tmp_path / "site").rglob("index.html"))
    assert len(built) == len(PAGES)  # every page is in the nav and built
    cli = (tmp_path / "site" / "reference" / "cli" / "index.html").read_text()
    assert "kvbatch check" in cli and "--large-value-size" in cli


@pytest.mark.parametrize("page", [name for name, text in PAGES.items() if fenced(text, "pycon")])
def test_the_python_examples_of_a_page_run_as_written(page: str) -> None:
    session = "\n".join(fenced(PAGES[page], "pycon"))
    test = doctest.DocTestParser().get_doctest(session, {}, page, page, 0)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    output: list[str] = []
    runner.run(test, out=output.append)
    assert runner.failures == 0, "".join(output)


def test_the_cli_reference_documents_every_command_and_option() -> None:
    sys.path.insert(0, str(ROOT / "docs" / "hooks"))
    try:
        import generated
    finally:
        sys.path.remove(str(ROOT / "docs" / "hooks"))
    from kvbatch_host import cli

    reference = generated.reference()
    for command in cli.COMMANDS:
        assert f"## `kvbatch {command}`" in reference
        sub = cli.parser(command)._subparsers._group_actions[0].choices[command]  # type: ignore[union-attr]
        for action in sub._actions:
            if action.help == "show this help message and exit":
                continue
            for option in action.option_strings:
                assert f"`{option}" in reference or f", {option}" in reference, f"kvbatch {command} {option}"


def test_every_fault_rule_field_and_operation_is_documented() -> None:
    from kvbatch_host import faults

    page = PAGES["reference/fault-rules.md"]
    for name in faults.FIELDS:
        assert f"| `{name}` |" in page, name
    for op in faults.OPERATIONS:
        assert f"`{op}`" in page, op


@pytest.mark.parametrize("page", ["reference/fault-rules.md", "how-to/faults-and-events.md"])
def test_the_fault_plan_files_of_a_page_load(page: str, tmp_path: Path) -> None:
    from kvbatch_host.faults import FaultPlan

    plans = [("json", body) for body in fenced(PAGES[page], "json") if body.lstrip().startswith("[")]
    plans += [("toml", body) for body in fenced(PAGES[page], "toml")]
    assert plans
    for index, (suffix, body) in enumerate(plans):
        (tmp_path / f"plan{index}.{suffix}").write_text(body)
        assert FaultPlan.load(tmp_path / f"plan{index}.{suffix}").rules


def test_every_event_log_field_is_documented() -> None:
    from kvbatch_host.faults.events import Event

    page = PAGES["reference/event-log.md"]
    for item in dataclasses.fields(Event):
        assert f"| `{item.name}` |" in page, item.name


def test_every_constant_the_limits_page_names_exists() -> None:
    import importlib

    named = set(re.findall(r"`(kvbatch(?:_host|_bulk)?(?:\.[a-z_]+)*\.[A-Z][A-Z_]+)`", PAGES["reference/limits.md"]))
    assert len(named) >= 8
    for dotted in named:
        module, _, constant = dotted.rpartition(".")
        assert hasattr(importlib.import_module(module), constant), dotted


def test_the_readme_is_short_and_fit_for_a_package_index() -> None:
    assert len(README.splitlines()) <= 200
    links = re.findall(r"\]\(([^)]+)\)", README)
    assert all(link.startswith("https://") for link in links), links  # relative links break on an index page
    for machine_specific in (".venv/", "tests/", "build/", "/work/", "/home/"):
        assert machine_specific not in README, machine_specific
    assert "./dev.sh demo" in README and "./dev.sh test" in README


def test_the_readme_names_only_docs_pages_that_exist() -> None:
    for path in re.findall(r"`(docs/[\w/.-]+\.md)`", README):
        assert (ROOT / path).is_file(), path


def tracked_text_files() -> list[Path]:
    listed = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    return [ROOT / name for name in listed.split("\0") if name and (ROOT / name).is_file()]


def test_no_tracked_file_names_a_design_or_notes_file_the_repository_lacks() -> None:
    missing = [name for name in ("DESIGN" + ".md", "NOTES" + ".md") if not (ROOT / name).exists()]
    offenders = []
    for path in tracked_text_files():
        try:
            text = path.read_text()
        except (UnicodeDecodeError, OSError):
            continue
        offenders += [f"{path.relative_to(ROOT)}: {name}" for name in missing if name in text]
        if re.search(r"\bsee " + "NOTES" + r"\b", text):
            offenders.append(f"{path.relative_to(ROOT)}: NOTES")
    assert not offenders


def test_the_license_is_the_apache_2_text_pyproject_declares() -> None:
    text = (ROOT / "LICENSE").read_text()
    assert tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["license"] == "Apache-2.0"
    assert " ".join(text.split()[:6]) == "Apache License Version 2.0, January 2004"
    assert "END OF TERMS AND CONDITIONS" in text and "APPENDIX: How to apply the Apache License to your work." in text
    assert len(text.split()) > 1500


def test_the_changelog_describes_this_version() -> None:
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    text = (ROOT / "CHANGELOG.md").read_text()
    assert text.startswith("# Changelog")
    assert re.search(rf"^## \[{re.escape(version)}\] - \d{{4}}-\d{{2}}-\d{{2}}$", text, re.M)
    assert "### Added" in text


def test_the_runtime_config_examples_name_the_stores_they_say(tmp_path: Path) -> None:
    from kvbatch_host.backends.runtime_config import store_specs

    configs = [body for page in ("reference/stores.md", "how-to/redis.md", "reference/spin-component.md")
               for body in fenced(PAGES[page], "toml") if "[key_value_store." in body]
    assert len(configs) >= 3
    for index, body in enumerate(configs):
        (tmp_path / f"rc{index}.toml").write_text(body)
        specs = store_specs(tmp_path / f"rc{index}.toml")
        assert [spec.split("=", 1)[0] for spec in specs] == re.findall(r"^\[key_value_store\.([\w-]+)\]", body, re.M)
