"""The documented limits of the bulk endpoints.

Every limit is a named default that `Limits` can override. A request over a size limit is
answered 413 with the limit named; nothing is written. Key and value sizes come from the
kvbatch library (`kvbatch.limits`), which matches Spin's key-value store: keys up to 256
bytes of UTF-8, values up to 1 MiB.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict

MAX_BODY_BYTES = 8 * 1024 * 1024
"""Largest request body accepted (8 MiB): about five 1 MiB values in base64."""

MAX_BATCH_KEYS = 1000
"""Most keys (or items, or NDJSON lines) one request may name."""

MAX_RESPONSE_BYTES = 8 * 1024 * 1024
"""Largest response body produced (8 MiB). `get-many` over it answers 413; `export` ends its page early."""

DEFAULT_PAGE_KEYS = 100
"""Keys a `keys` or `export` page holds when the request names no `limit`."""

MAX_PAGE_KEYS = 1000
"""Largest `limit` a `keys` or `export` request may ask for."""

READ_CHUNK_KEYS = 100
"""Keys read from the store per `get-many` call while answering `get-many` and `export`."""

MAX_STORE_PAGES = 64
"""Store `list-keys` pages scanned per request; a sparse prefix resumes from the returned cursor."""

MAX_JSON_DEPTH = 32
"""Deepest nesting of arrays and objects accepted in a JSON body, an NDJSON line or a cursor
(a request needs 3); deeper input is a 400, refused before it is parsed."""

MIN_TOKEN_CHARS = 16
"""Shortest access token the component accepts in its configuration."""


@dataclass(frozen=True)
class Limits:
    """The limits one `BulkApi` enforces (defaults above)."""

    max_body_bytes: int = MAX_BODY_BYTES
    max_batch_keys: int = MAX_BATCH_KEYS
    max_response_bytes: int = MAX_RESPONSE_BYTES
    default_page_keys: int = DEFAULT_PAGE_KEYS
    max_page_keys: int = MAX_PAGE_KEYS
    read_chunk_keys: int = READ_CHUNK_KEYS
    max_store_pages: int = MAX_STORE_PAGES
    max_json_depth: int = MAX_JSON_DEPTH

    def __post_init__(self) -> None:
        for name, value in self.as_dict().items():
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"limit {name} must be a positive integer, got {value!r}")
        if self.default_page_keys > self.max_page_keys:
            raise ValueError(f"default_page_keys ({self.default_page_keys}) exceeds max_page_keys ({self.max_page_keys})")

    def as_dict(self) -> Dict[str, int]:
        """The limits by name, as `GET /limits` reports them."""
        return {
            "max_body_bytes": self.max_body_bytes,
            "max_batch_keys": self.max_batch_keys,
            "max_response_bytes": self.max_response_bytes,
            "default_page_keys": self.default_page_keys,
            "max_page_keys": self.max_page_keys,
            "read_chunk_keys": self.read_chunk_keys,
            "max_store_pages": self.max_store_pages,
            "max_json_depth": self.max_json_depth,
        }
