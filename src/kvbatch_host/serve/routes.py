"""Spin's HTTP routes as `kvbatch serve` reads them from a manifest.

The matching itself (`Route`, `RouteTable`, `Match`) is the serve front's
(`kvbatch_guests.front.routes`), so a manifest is checked with the same rules the served
component routes its requests by.
"""

from __future__ import annotations

from kvbatch_guests.front.routes import Match, Route, RouteTable
from kvbatch_host.errors import ConfigError

__all__ = ["Match", "Route", "RouteTable", "check_route"]


def check_route(text: object, where: str) -> Route:
    """`text` as a `Route`, or `ConfigError` naming `where` and what a route looks like."""
    if not isinstance(text, str) or not text.startswith("/"):
        raise ConfigError(f"{where}: route must be a path starting with '/' (e.g. \"/...\" or \"/api/...\"), got {text!r}")
    body = text[: -len("/...")] if text.endswith("/...") else text[: -len("/*")] if text.endswith("/*") else text
    if "..." in body or "*" in body:
        raise ConfigError(f"{where}: route {text!r}: a wildcard ('/...') may only end a route")
    route = Route(text)
    try:
        route.pattern()
    except ValueError as err:
        raise ConfigError(f"{where}: {err}") from None
    return route
