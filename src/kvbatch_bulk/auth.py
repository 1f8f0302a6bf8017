"""Bearer-token authentication, compared in constant time."""

from __future__ import annotations

import hmac
from typing import Optional

from .limits import MIN_TOKEN_CHARS
from .messages import HttpError

CHALLENGE = 'Bearer realm="kvbatch"'


def check_configured_token(token: Optional[str]) -> str:
    """Returns `token` if it is usable as the access token; raises `ValueError` naming the problem."""
    if token is None or not token.strip():
        raise ValueError("the access token is not configured")
    if len(token) < MIN_TOKEN_CHARS:
        raise ValueError(f"the configured access token is too short: at least {MIN_TOKEN_CHARS} characters are required")
    return token


def authenticate(authorization: Optional[str], expected: str) -> None:
    """Accepts `Authorization: Bearer <expected>`; raises `HttpError(401)` otherwise.

    The token comparison takes the same time wherever the tokens differ (`hmac.compare_digest`).
    """
    if authorization is None:
        raise HttpError(401, "authentication required: send Authorization: Bearer <token>", {"www-authenticate": CHALLENGE})
    scheme, _, given = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not given.strip():
        raise HttpError(401, "the Authorization header must be: Bearer <token>", {"www-authenticate": CHALLENGE})
    if not hmac.compare_digest(given.strip().encode("utf-8"), expected.encode("utf-8")):
        raise HttpError(401, "invalid token", {"www-authenticate": CHALLENGE + ', error="invalid_token"'})
