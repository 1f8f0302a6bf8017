"""JSON parsing that refuses deep nesting before the parser goes deep.

`json.loads` recurses once per nesting level: on CPython a body of a few kilobytes nested
2,000 deep raises `RecursionError`, and inside a component it overflows the wasm stack and
traps with no response at all. So the nesting depth is measured first, without recursion
(strings removed, then innermost bracket pairs peeled a level at a time), and a document deeper than the
limit is refused with a 400 that names the limit.
"""

from __future__ import annotations

import json
import re
from typing import Any

from .messages import HttpError

_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"')
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")
_AS_SQUARE = str.maketrans("{}", "[]")


def nesting_depth(text: str, stop_above: int) -> int:
    """How deep arrays and objects nest in JSON `text` (0 for a scalar), counting brackets
    outside strings; returns a number above `stop_above` as soon as the depth is known to
    pass it.

    Exact for well-formed JSON. Malformed text gets at least the depth `json.loads` would
    reach before failing (an unclosed `[[[` counts). No Python loop runs per bracket: each
    round removes every innermost `[]` pair (C-speed `str.replace`), which lowers the
    maximum depth by exactly one, so the cost is at most `stop_above + 1` passes.
    """
    if "[" not in text and "{" not in text:
        return 0
    stripped = _STRING.sub("", text) if '"' in text else text
    brackets = _NOT_BRACKET.sub("", stripped).translate(_AS_SQUARE)
    depth = rounds = 0
    while brackets:
        core = brackets.rstrip("[")  # an unclosed run at the end: its depth is known at once
        if len(core) < len(brackets):
            depth = max(depth, rounds + core.count("[") - core.count("]") + len(brackets) - len(core))
        if depth > stop_above:
            return depth
        peeled = core.replace("[]", "")
        if len(peeled) == len(core):  # no pair left: only closing brackets remain
            break
        rounds += 1
        depth = max(depth, rounds)
        brackets = peeled
    return depth


def check_depth(text: str, max_depth: int, what: str) -> None:
    """Raises `HttpError(400)` naming `what` and the limit when `text` nests deeper than `max_depth`."""
    if nesting_depth(text, max_depth) > max_depth:
        raise HttpError(400, f"{what} nests arrays and objects more than {max_depth} levels deep; "
                             f"the limit is {max_depth} (max_json_depth)")


def loads(text: str, max_depth: int, what: str) -> Any:
    """`json.loads(text)` once `check_depth` has passed; `ValueError` for malformed JSON."""
    check_depth(text, max_depth, what)
    return json.loads(text)
