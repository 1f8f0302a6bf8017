"""The key-value explorer: a single web page over the bulk endpoints, served by the component itself.

`GET` on the route's root (`/kv/` in spin.toml) answers the page; its script, style sheet and
icon are separate responses beside it (`explorer.js`, `explorer.css`, `explorer.svg`), so the page's
Content-Security-Policy allows no inline script or style at all. The three are Python string
constants built into the component: no CDN, no file system, nothing fetched at run time. They
hold no secret and need no token; everything they do afterwards goes through the bulk
endpoints with the token the user gives the page (kept in the browser's `sessionStorage`).

`GET` on the route without its trailing slash (`/kv`) is redirected to it, so the page's
relative addresses resolve under the route.
"""

from __future__ import annotations

from typing import Dict, Optional, Tuple
from urllib.parse import urlsplit

from ..messages import HttpError, Request, Response, error_response
from .page import PAGE_HTML
from .script import SCRIPT_JS
from .style import ICON_SVG, STYLE_CSS

CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
"""Only the page's own script and style sheet run; it talks only to its own origin, and no other site may frame it."""

SECURITY_HEADERS: Dict[str, str] = {
    "content-security-policy": CONTENT_SECURITY_POLICY,
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
    "cache-control": "no-cache",
}

ASSETS: Dict[str, Tuple[str, str]] = {
    "/": ("text/html; charset=utf-8", PAGE_HTML),
    "/explorer.js": ("text/javascript; charset=utf-8", SCRIPT_JS),
    "/explorer.css": ("text/css; charset=utf-8", STYLE_CSS),
    "/explorer.svg": ("image/svg+xml", ICON_SVG),
}
"""The explorer's responses by path under the route."""

FULL_URL_HEADER = "spin-full-url"
COMPONENT_ROUTE_HEADER = "spin-component-route"


def explorer_response(request: Request) -> Optional[Response]:
    """The explorer's answer to `request`, or `None` when the request is not for the explorer.

    Only `GET` on `/`, the paths of `ASSETS` and the bare route (path `""`) are the explorer's;
    every other request is left to the bulk endpoints.
    """
    if request.method != "GET":
        return None
    if request.path == "":
        return _to_trailing_slash(request)
    asset = ASSETS.get(request.path)
    if asset is None:
        return None
    content_type, text = asset
    headers = dict(SECURITY_HEADERS)
    headers["content-type"] = content_type
    return Response(200, headers, text.encode("utf-8"))


def _to_trailing_slash(request: Request) -> Response:
    """A redirect from the bare route (`/kv`) to its root (`/kv/`), relative to where it was asked."""
    full_url = request.header(FULL_URL_HEADER)
    path = urlsplit(full_url).path if full_url else (request.header(COMPONENT_ROUTE_HEADER) or "")
    last = path.rstrip("/").rsplit("/", 1)[-1]
    if not last:
        return error_response(HttpError(404, "the explorer is at the route's root: add a trailing slash"))
    headers = dict(SECURITY_HEADERS)
    headers.update({"location": f"{last}/", "content-type": "text/plain; charset=utf-8"})
    return Response(308, headers, b"the explorer is at the route's root, with a trailing slash\n")
