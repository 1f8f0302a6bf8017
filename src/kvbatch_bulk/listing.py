"""Paged key listing with a prefix, over any store's `list-keys`.

`wasi:keyvalue@0.2.0-draft2`'s `list-keys(cursor)` returns a page of keys in no promised order
and an opaque store cursor (Spin returns every key in one page). This module filters a page
by prefix, sorts it and hands out pages of at most `limit` keys. The client's cursor names a
position: the store cursor of the page being read and the last key returned from it. So a
listing resumes after keys that were deleted meanwhile, and keys added behind the position
are not repeated.

Cursors handed to clients are sealed (`CursorSeal`): signed with a key derived from the
component's access token and bound to the store they list, so a cursor a client garbled,
made up or took from another store is refused with a 400 before any store sees it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from dataclasses import dataclass
from typing import List, Optional, Protocol, Sequence, Tuple

from .jsondepth import nesting_depth
from .messages import HttpError

CURSOR_DEPTH = 1
"""A cursor decodes to one flat JSON pair; anything nested is malformed, refused before parsing."""


class KeyLister(Protocol):
    """A store's `list-keys`: one page of keys and the store's cursor of the next page (`None` at the end)."""

    def list_keys(self, cursor: Optional[str]) -> Tuple[Sequence[str], Optional[str]]: ...


@dataclass(frozen=True)
class Position:
    """Where a listing resumes: inside the store page at `store_cursor`, after key `after`."""

    store_cursor: Optional[str] = None
    after: Optional[str] = None

    def token(self) -> str:
        """The opaque cursor string clients send back."""
        raw = json.dumps([self.store_cursor, self.after], separators=(",", ":")).encode("utf-8")
        return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")

    @classmethod
    def parse(cls, token: Optional[str]) -> "Position":
        """The position a cursor string names; the start for `None` or `""`; 400 if malformed."""
        if not token:
            return cls()
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode("utf-8")
            if nesting_depth(raw, CURSOR_DEPTH) > CURSOR_DEPTH:  # a cursor is one flat pair
                raise ValueError("nested too deeply")
            pair = json.loads(raw)
        except (binascii.Error, UnicodeDecodeError, ValueError, TypeError):
            raise HttpError(400, MALFORMED) from None
        if not (isinstance(pair, list) and len(pair) == 2 and all(part is None or isinstance(part, str) for part in pair)):
            raise HttpError(400, MALFORMED)
        return cls(pair[0], pair[1])


MALFORMED = "the cursor is malformed: send back a cursor a previous response returned, or none to start over"


class CursorSeal:
    """Seals the cursors given to clients and opens only sealed ones: an HMAC-SHA256 tag (keyed
    by `secret`, bound to the store name) after the position's token."""

    def __init__(self, secret: str) -> None:
        self._key = hashlib.sha256(b"kvbatch listing cursor\0" + secret.encode("utf-8")).digest()

    def _tag(self, store: str, body: str) -> str:
        digest = hmac.new(self._key, store.encode("utf-8") + b"\0" + body.encode("ascii"), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest[:18]).decode("ascii")

    def seal(self, store: str, position: Position) -> str:
        """The cursor string a client of `store` gets for `position`."""
        body = position.token()
        return f"{body}.{self._tag(store, body)}"

    def open(self, store: str, cursor: Optional[str]) -> Position:
        """The position `cursor` names (the start for `None` or `""`); `HttpError(400)` unless it
        is a cursor sealed for `store`."""
        if not cursor:
            return Position()
        body, dot, tag = cursor.rpartition(".")
        if not dot or not body.isascii() or not hmac.compare_digest(tag.encode("utf-8"), self._tag(store, body).encode()):
            raise HttpError(400, f"the cursor is malformed or was not issued for store {store!r}: send back a cursor "
                                 "a previous response returned, or none to start over")
        return Position.parse(body)


@dataclass(frozen=True)
class Page:
    """Keys of one page, each with the position just after it, and where the next page starts."""

    entries: List[Tuple[str, Position]]
    next: Optional[Position]

    @property
    def keys(self) -> List[str]:
        return [key for key, _ in self.entries]


def list_page(lister: KeyLister, prefix: str, start: Position, limit: int, max_store_pages: int) -> Page:
    """Up to `limit` keys starting with `prefix`, from `start` on.

    Reads at most `max_store_pages` store pages; when it stops early, `next` resumes the scan.
    `next` is `None` only when the store has no more keys.
    """
    entries: List[Tuple[str, Position]] = []
    cursor, after = start.store_cursor, start.after
    for _ in range(max_store_pages):
        keys, store_next = lister.list_keys(cursor)
        matching = sorted(k for k in set(keys) if k.startswith(prefix) and (after is None or k > after))
        for key in matching:
            if len(entries) == limit:
                return Page(entries, Position(cursor, entries[-1][0]))
            entries.append((key, Position(cursor, key)))
        if store_next is None or store_next == cursor:
            return Page(entries, None)
        cursor, after = store_next, None
        if len(entries) == limit:
            break
    return Page(entries, Position(cursor, None))
