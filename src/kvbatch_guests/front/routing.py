"""What the serve front does with a request, decided on plain values: answer it itself (a path no
route matches, Spin's well-known paths, a body over the limit) or forward it to the component
with the headers Spin's HTTP trigger sets.

Stdlib only, so it is tested on CPython and bundled into the front component alike.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import List, Optional, Sequence, Tuple, Union

try:
    from .routes import Match, Route, RouteTable
except ImportError:  # bundled flat into the front component, beside routes.py
    from routes import Match, Route, RouteTable  # type: ignore[no-redef]

ROUTES_ENV = "KVBATCH_SERVE_ROUTES"
"""The served component's routes, a JSON list of route strings (`["/kv/..."]`); unset: `/...`."""
WELL_KNOWN = "/.well-known/spin/"
"""Paths under this belong to the server, as in Spin (`health` answers "OK")."""
MAX_BODY_BYTES = 64 * 1024 * 1024
"""Request bodies declared above this are refused with 413 before the component sees them."""
SPIN_HEADER_PREFIX = "spin-"
"""Client-sent headers starting with this never reach the component: only the front sets Spin's headers."""

Header = Tuple[str, bytes]


@dataclass(frozen=True)
class Answer:
    """The front answers the request itself: `status` with `text` as a plain-text body."""

    status: int
    text: str


@dataclass(frozen=True)
class Forward:
    """The request goes to the component with `headers` (the client's, then Spin's)."""

    headers: List[Header]


def route_table(text: Optional[str]) -> RouteTable[None]:
    """The routes `$KVBATCH_SERVE_ROUTES` names (`text`); every path (`/...`) when it is unset or empty.

    Raises `ValueError` when `text` is not a JSON list of route strings.
    """
    routes = json.loads(text) if text else ["/..."]
    if not isinstance(routes, list) or not all(isinstance(route, str) and route.startswith("/") for route in routes):
        raise ValueError(f"{ROUTES_ENV} must be a JSON list of routes starting with '/', got {text!r}")
    return RouteTable([(Route(route), None) for route in routes])


def spin_headers(routed: Match[object], host: str, target: str) -> List[Header]:
    """The headers Spin's HTTP trigger sets on a request for `target` (path and query) sent to
    `host` and routed to `routed`: `spin-path-info`, `spin-full-url`, the route headers and one
    `spin-path-match-<name>` per `:name` segment."""
    route = routed.route
    headers = [
        ("spin-path-info", routed.path_info),
        ("spin-full-url", f"http://{host}{target}"),
        ("spin-matched-route", route.matched_route),
        ("spin-base-path", "/"),
        ("spin-raw-component-route", route.route),
        ("spin-component-route", route.component_route),
    ]
    headers += [("spin-path-match-" + name.lower(), value) for name, value in routed.params.items()]
    return [(name, value.encode()) for name, value in headers]


def decide(table: RouteTable[None], target: str, headers: Sequence[Header], authority: Optional[str]
           ) -> Union[Answer, Forward]:
    """What to do with a request for `target` (path and query) carrying `headers`, sent to `authority`.

    Client-sent `spin-*` headers never reach the component: only the front sets them.
    """
    path = target.split("?", 1)[0] or "/"
    if path.startswith(WELL_KNOWN):
        return Answer(200, "OK") if path == WELL_KNOWN + "health" else Answer(404, "Not Found")
    routed = table.match(path)
    if routed is None:
        return Answer(404, "Not Found")
    host = authority or ""
    kept: List[Header] = []
    for name, value in headers:
        lowered = name.lower()
        if lowered.startswith(SPIN_HEADER_PREFIX):
            continue
        if lowered == "content-length" and value.isdigit() and int(value) > MAX_BODY_BYTES:
            return Answer(413, f"request body over {MAX_BODY_BYTES} bytes")
        if lowered == "host":
            host = value.decode("latin-1")
        kept.append((name, value))
    return Forward(kept + spin_headers(routed, host, target))
