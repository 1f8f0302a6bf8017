"""Plain HTTP request and response values, independent of any HTTP runtime.

The Spin shell (and the test guest) turn their runtime's request into a `Request` and the
`Response` back into theirs; everything between is plain Python.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping, Optional, Tuple
from urllib.parse import parse_qsl, unquote, urlsplit

JSON = "application/json"
NDJSON = "application/x-ndjson"


@dataclass(frozen=True)
class Request:
    """One HTTP request as the bulk API sees it.

    `path` is relative to where the component is mounted (Spin's `spin-path-info`), e.g.
    `/stores/default/get-many`; `query` holds the decoded query parameters in order.
    Header names are matched case-insensitively.
    """

    method: str
    path: str
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""
    query: Tuple[Tuple[str, str], ...] = ()

    @classmethod
    def from_target(
        cls,
        method: str,
        target: str,
        headers: Mapping[str, str],
        body: Optional[bytes],
        path_info: Optional[str] = None,
    ) -> "Request":
        """A request from a request target (`/kv/stores/x/keys?prefix=a`).

        `path_info`, when given (Spin's `spin-path-info` header), replaces the target's path:
        it is the part after the route prefix the component is mounted on (`""` for the bare
        route, `/kv` of `/kv/...`).
        """
        try:
            parts = urlsplit(target)
            target_path, target_query = parts.path, parts.query
        except ValueError:  # a target urlsplit refuses (an unbalanced '[' read as an IPv6 host): taken as written
            target_path, _, target_query = target.split("#", 1)[0].partition("?")
        path = path_info if path_info is not None else (target_path or "/")
        query = tuple(parse_qsl(target_query, keep_blank_values=True))
        return cls(method.upper(), path, dict(headers), body or b"", query)

    def header(self, name: str) -> Optional[str]:
        """The value of header `name` (case-insensitive), or `None`."""
        wanted = name.lower()
        for key, value in self.headers.items():
            if key.lower() == wanted:
                return value
        return None

    def segments(self) -> List[str]:
        """The path's non-empty segments, percent-decoded."""
        return [unquote(part) for part in self.path.split("/") if part]

    def param(self, name: str) -> Optional[str]:
        """The last value of query parameter `name`, or `None`."""
        found = None
        for key, value in self.query:
            if key == name:
                found = value
        return found


@dataclass(frozen=True)
class Response:
    """One HTTP response: status, headers (lower-case names) and body bytes."""

    status: int
    headers: Dict[str, str]
    body: bytes

    def json(self) -> Any:
        """The body parsed as JSON (for callers and tests)."""
        return json.loads(self.body.decode("utf-8"))


class HttpError(Exception):
    """A request the API refuses: the status and the reason string the client gets."""

    def __init__(self, status: int, reason: str, headers: Optional[Mapping[str, str]] = None) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason
        self.headers = dict(headers or {})


def json_response(status: int, document: Any, headers: Optional[Mapping[str, str]] = None) -> Response:
    """A JSON response that no cache keeps; the body ends with a newline, as a terminal wants it."""
    body = json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode("utf-8") + b"\n"
    merged = {"content-type": JSON, "cache-control": "no-store"}
    merged.update(headers or {})
    return Response(status, merged, body)


def error_response(error: HttpError) -> Response:
    """The response for a refused request: `{"error": reason}` and nothing more."""
    return json_response(error.status, {"error": error.reason}, error.headers)
