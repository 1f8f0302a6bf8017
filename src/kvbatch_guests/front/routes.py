"""Spin's HTTP routes: which `[[trigger.http]]` route answers a request path, and what Spin tells the component.

Routes are matched as Spin's router matches them:
- `/path` is exact (a trailing slash on either side is ignored); `/` is the root;
- `/path/...` (or `/path/*`) is a trailing wildcard: `/path`, `/path/` and everything below;
  the rest of the path (`""`, `/`, `/x/y`) is the `spin-path-info` header;
- `:name` in a route matches one path segment, sent as header `spin-path-match-<name>`;
- when several routes match, the most specific wins, compared segment by segment from the left
  (a literal beats a `:name`, which beats the wildcard); at equal segments an exact route beats a
  wildcard one.

`RouteTable` compiles every route once; matching a path is one regular-expression match per
route, most specific first, and stops at the first that matches.

Stdlib only: the serve front (`front.py`) matches requests with it inside the served
component, and `kvbatch serve` checks manifests and dispatches between components with it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Dict, Generic, List, Optional, Sequence, Tuple, TypeVar

T = TypeVar("T")

_LITERAL, _PARAM, _END, _WILDCARD = 3, 2, 1, 0
"""Specificity ranks of route parts: higher is more specific."""


@dataclass(frozen=True)
class Route:
    """One `[[trigger.http]]` route as written in spin.toml (`/kv/...`, `/items/:id`, `/`)."""

    route: str

    @property
    def wildcard(self) -> bool:
        return self.route.endswith("/...") or self.route.endswith("/*")

    @property
    def prefix(self) -> str:
        """The route without its wildcard and trailing slash (`spin-component-route`); `""` for the root."""
        text = self.route
        for suffix in ("/...", "/*"):
            if text.endswith(suffix):
                return text[: -len(suffix)]
        return text.rstrip("/")

    @property
    def component_route(self) -> str:
        """What Spin sends as `spin-component-route`: the route without a trailing `/...`."""
        return self.route[: -len("/...")] if self.route.endswith("/...") else self.route

    @property
    def matched_route(self) -> str:
        """What Spin sends as `spin-matched-route`: the route without one trailing slash."""
        return self.route[:-1] if self.route.endswith("/") else self.route

    def segments(self) -> List[str]:
        return [part for part in self.prefix.split("/") if part]

    def specificity(self) -> Tuple[int, ...]:
        """A key that sorts more specific routes higher (Spin's order)."""
        ranks = [_PARAM if part.startswith(":") else _LITERAL for part in self.segments()]
        return (*ranks, _WILDCARD if self.wildcard else _END)

    def pattern(self) -> "re.Pattern[str]":
        """The compiled matcher: group `rest` is the path after a wildcard route, named groups the `:name` segments."""
        parts = []
        for part in self.segments():
            if part.startswith(":"):
                name = part[1:]
                if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
                    raise ValueError(f"route {self.route!r}: {part!r} is not a valid :name segment")
                parts.append(f"/(?P<p_{name}>[^/]+)")
            else:
                parts.append("/" + re.escape(part))
        body = "".join(parts)
        return re.compile(f"{body}(?P<rest>/.*)?" if self.wildcard else f"{body}/?" if body else "/?")

    def path_info(self, path: str) -> Optional[str]:
        """The path after the route (`spin-path-info`), or `None` when `path` is not routed here."""
        match = self.pattern().fullmatch(path)
        if match is None:
            return None
        return (match.group("rest") or "") if self.wildcard else ""


@dataclass(frozen=True)
class Match(Generic[T]):
    """A routed request: the route, what it leads to, the path after it and the `:name` captures."""

    route: Route
    target: T
    path_info: str
    params: Dict[str, str] = field(default_factory=dict)


class RouteTable(Generic[T]):
    """Routes compiled once, most specific first; `match` finds the one Spin would pick."""

    def __init__(self, routes: Sequence[Tuple[Route, T]]) -> None:
        ordered = sorted(routes, key=lambda entry: entry[0].specificity(), reverse=True)
        self.entries: List[Tuple[Route, T, "re.Pattern[str]", bool]] = [
            (route, target, route.pattern(), ":" in route.route) for route, target in ordered]

    def __len__(self) -> int:
        return len(self.entries)

    def match(self, path: str) -> Optional[Match[T]]:
        """The most specific route matching `path` (no query string), or `None` (Spin answers 404)."""
        for route, target, pattern, has_params in self.entries:
            found = pattern.fullmatch(path)
            if found is None:
                continue
            info = (found.group("rest") or "") if route.wildcard else ""
            params = ({key[2:]: value for key, value in found.groupdict().items() if key.startswith("p_") and value}
                      if has_params else {})
            return Match(route, target, info, params)
        return None
