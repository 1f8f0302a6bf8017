"""MkDocs hook: reference sections generated from the code they describe, so they cannot drift.

- `<!-- kvbatch:cli -->` becomes one section per `kvbatch` subcommand, from
  `kvbatch_host.cli.parser()`: its help line, its usage, a table of its arguments and options (with
  defaults and choices) and its epilog of examples.
- `<!-- kvbatch:check-rules -->` becomes the table of the rules `kvbatch check` judges, from
  `kvbatch_host.conformance.scenarios.RULES`.
"""

from __future__ import annotations

import argparse
import html
import os
from typing import Any, Callable, Dict, List



def _cell(text: str) -> str:
    return html.escape(" ".join(text.split()), quote=False).replace("|", "&#124;")


def _invocation(action: argparse.Action) -> str:
    if not action.option_strings:
        return action.metavar if isinstance(action.metavar, str) else action.dest
    names = ", ".join(action.option_strings)
    if action.nargs == 0:
        return names
    metavar = action.metavar if isinstance(action.metavar, str) else action.dest.upper()
    return f"{names} {metavar}"


def _details(action: argparse.Action) -> str:
    parts = [action.help or ""]
    if action.choices is not None and not isinstance(action, argparse._SubParsersAction):
        parts.append("one of: " + ", ".join(str(c) for c in action.choices))
    if action.default not in (None, False, [], argparse.SUPPRESS) and action.nargs != 0:
        parts.append(f"default: {action.default}")
    if isinstance(action, argparse._AppendAction):
        parts.append("repeatable")
    if action.required and action.option_strings:
        parts.append("required")
    return "; ".join(p for p in parts if p)


def _section(name: str, sub: argparse.ArgumentParser, help_line: str) -> List[str]:
    lines = [f"## `kvbatch {name}`", "", _cell(help_line) + ("." if help_line else ""), "",
             "```text", sub.format_usage().strip(), "```", "",
             "| argument or option | meaning |", "|---|---|"]
    for action in sub._actions:
        if isinstance(action, argparse._HelpAction):
            continue
        lines.append(f"| `{_invocation(action)}` | {_cell(_details(action))} |")
    lines.append("")
    if sub.epilog:
        lines += ["```text", sub.epilog.strip("\n"), "```", ""]
    return lines


def reference() -> str:
    """The Markdown of every `kvbatch` subcommand, in the parser's order."""
    from kvbatch_host.cli import parser

    columns = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = "100"  # argparse wraps usage to the terminal: the same width wherever the site is built
    try:
        top = parser()
        subparsers = next(a for a in top._actions if isinstance(a, argparse._SubParsersAction))
        helps = {choice.dest: choice.help or "" for choice in subparsers._choices_actions}
        lines = ["```text", top.format_usage().strip(), "```", ""]
        for name, sub in subparsers.choices.items():
            lines += _section(name, sub, helps.get(name, ""))
    finally:
        if columns is None:
            del os.environ["COLUMNS"]
        else:
            os.environ["COLUMNS"] = columns
    return "\n".join(lines)


def check_rules() -> str:
    """The Markdown table of every rule `kvbatch check` judges, by id."""
    from kvbatch_host.conformance.scenarios import RULES

    return "\n".join(["| rule | what must hold |", "|---|---|"]
                     + [f"| `{rule}` | {_cell(text)} |" for rule, text in RULES.items()])


GENERATORS: Dict[str, Callable[[], str]] = {
    "<!-- kvbatch:cli -->": reference,
    "<!-- kvbatch:check-rules -->": check_rules,
}


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    for marker, generate in GENERATORS.items():
        if marker in markdown:
            markdown = markdown.replace(marker, generate())
    return markdown
