"""The bulk key-value HTTP API as plain Python: `BulkApi.handle(Request) -> Response`.

Endpoints (paths relative to where the component is mounted; every one needs
`Authorization: Bearer <token>`):

| method | path | what it does |
|---|---|---|
| POST | `/stores/{store}/get-many` | `{"keys": [...], "encoding"?}` → values found, keys missing, keys failed |
| POST | `/stores/{store}/set-many` | `{"items": [{"key", "value"}...] or {key: value}, "encoding"?, "only_if"?}` → per-key outcomes |
| POST | `/stores/{store}/copy-many` | `{"pairs": [[src, dst]...], "overwrite"?, "to_store"?}` → per-key outcomes keyed by source |
| POST | `/stores/{store}/delete-many` | `{"keys": [...]}` → per-key outcomes (missing keys count as deleted) |
| GET | `/stores/{store}/keys?prefix=&cursor=&limit=` | one page of keys and the cursor of the next |
| GET | `/stores/{store}/export?prefix=&cursor=&limit=&encoding=` | one page as NDJSON lines, next cursor in `kvbatch-next-cursor` |
| POST | `/stores/{store}/import?encoding=` | NDJSON lines `{"key", "value"[, "encoding"]}` → per-key outcomes |
| GET | `/limits` | the limits this component enforces |

Cursors are opaque and sealed: valid only for the store that issued them; a garbled or
made-up cursor, or one from another store, answers 400 before any store is asked.

`GET /` (the route's root) serves the key-value explorer, a web page over these endpoints,
with its script and style sheet beside it (`kvbatch_bulk.explorer`); those need no token.

Statuses: 200 all succeeded; 207 some keys failed (the body names them and why); 400
malformed request (the message names the problem); 401 no or wrong token; 403 store not
granted to the component; 404 unknown endpoint or store; 405 wrong method; 413 a documented
limit exceeded (the message names it); 500 internal error; 501 the store cannot do what was
asked race-free (no `cas` for `only_if` or a copy without overwrite); 503 the store failed as a whole.
Clients get a reason string, never a stack trace or a store's own error text: those go to
the log (the component's stderr, which Spin writes to its log files).
"""

from __future__ import annotations

import sys
import time
import traceback
from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

from kvbatch.chunking import chunked
from kvbatch.errors import AccessDenied, KeyExists, KeyNotFound, KvError, NoSuchStore, StoreError, Unsupported, ValidationError

from . import codec
from .auth import authenticate, check_configured_token
from .explorer import explorer_response
from .limits import Limits
from .listing import CursorSeal, Page, list_page
from .messages import NDJSON, HttpError, Request, Response, error_response, json_response
from .stores import OpenStore, StoreAccess

NEXT_CURSOR_HEADER = "kvbatch-next-cursor"
STORE_FAILED = "the store reported an error"
_UNKNOWN = StoreError("the write may or may not have been applied")

Handler = Callable[[Request, OpenStore], Response]


def _stderr(line: str) -> None:
    print(line, file=sys.stderr)


def reason(err: KvError) -> str:
    """The reason string a client gets for `err`: never the store's own message."""
    if isinstance(err, AccessDenied):
        return "access denied"
    if isinstance(err, NoSuchStore):
        return "no such store"
    if isinstance(err, ValidationError):
        return str(err)
    if isinstance(err, KeyExists):
        return f"key {err.key!r} already holds a value"
    if isinstance(err, KeyNotFound):
        return f"key {err.key!r} holds no value"
    if isinstance(err, StoreError):
        return STORE_FAILED
    return "key-value error"


class BulkApi:
    """Bulk key-value endpoints over the stores `stores` opens, guarded by a bearer token.

    Raises `ValueError` when `token` is unusable (empty, or shorter than
    `limits.MIN_TOKEN_CHARS`): a component must not serve requests without a real token.
    """

    def __init__(
        self,
        stores: StoreAccess,
        token: Optional[str],
        limits: Limits = Limits(),
        log: Callable[[str], None] = _stderr,
    ) -> None:
        self._token = check_configured_token(token)
        self._cursors = CursorSeal(self._token)
        self._stores = stores
        self.limits = limits
        self._log = log
        self._routes: Dict[str, Tuple[str, Handler]] = {
            "get-many": ("POST", self._get_many),
            "set-many": ("POST", self._set_many),
            "delete-many": ("POST", self._delete_many),
            "copy-many": ("POST", self._copy_many),
            "keys": ("GET", self._keys),
            "export": ("GET", self._export),
            "import": ("POST", self._import),
        }

    def handle(self, request: Request) -> Response:
        """Answers one request; never raises."""
        try:
            page = explorer_response(request)
            if page is not None:
                return page
            authenticate(request.header("authorization"), self._token)
            if len(request.body) > self.limits.max_body_bytes:
                raise HttpError(413, f"the request body is {len(request.body)} bytes; the limit is {self.limits.max_body_bytes} bytes")
            return self._dispatch(request)
        except HttpError as err:
            return error_response(err)
        except Exception:  # the last line of defence: log it, tell the client nothing more
            self._log("kvbatch: internal error\n" + traceback.format_exc())
            return error_response(HttpError(500, "internal error"))

    def _dispatch(self, request: Request) -> Response:
        segments = request.segments()
        if segments == ["limits"]:
            self._expect(request, "GET")
            return json_response(200, self.limits.as_dict())
        if len(segments) != 3 or segments[0] != "stores" or not segments[1]:
            raise HttpError(404, f"no such endpoint: {request.path}; endpoints are /stores/{{store}}/"
                                 f"{{{','.join(self._routes)}}} and /limits")
        store_name, operation = segments[1], segments[2]
        if operation not in self._routes:
            raise HttpError(404, f"no such operation {operation!r}; expected one of {', '.join(self._routes)}")
        method, handler = self._routes[operation]
        self._expect(request, method)
        store = self._open(store_name)
        try:
            return handler(request, store)
        except KvError as err:
            raise self._store_error(store_name, err) from None
        finally:
            store.close()

    @staticmethod
    def _expect(request: Request, method: str) -> None:
        if request.method != method:
            raise HttpError(405, f"{request.method} is not allowed here; use {method}", {"allow": method})

    def _open(self, name: str) -> OpenStore:
        try:
            return self._stores.open(name)
        except KvError as err:
            raise self._store_error(name, err) from None

    def _store_error(self, store: str, err: KvError) -> HttpError:
        """The response for an error that stopped a whole request."""
        if isinstance(err, AccessDenied):
            return HttpError(403, f"this component is not granted store {store!r}")
        if isinstance(err, NoSuchStore):
            return HttpError(404, f"no such store {store!r}")
        if isinstance(err, ValidationError):
            return HttpError(400, str(err))
        if isinstance(err, Unsupported):
            return HttpError(501, f"store {store!r} offers no compare-and-swap (wasi:keyvalue/atomics cas), which "
                                  "only_if and copy-many without overwrite need to be race-free")
        self._log(f"kvbatch: store {store!r}: {err}")
        return HttpError(503, STORE_FAILED, {"retry-after": "1"})

    # -- endpoints ---------------------------------------------------------------------------

    def _get_many(self, request: Request, store: OpenStore) -> Response:
        self._no_query(request, ())
        document = codec.parse_json_object(request.body, ("keys", "encoding"), self.limits.max_json_depth)
        encoding = codec.parse_encoding(document.get("encoding"))
        keys = _distinct(codec.parse_keys(document, self.limits.max_batch_keys))
        values: Dict[str, str] = {}
        missing: List[str] = []
        failed: Dict[str, str] = {}
        size = 0
        limit = self.limits.max_response_bytes
        as_base64 = encoding == codec.BASE64
        for chunk in chunked(keys, self.limits.read_chunk_keys):
            result = store.bucket.get_many(chunk)
            found = result.values
            # A lower bound of the body, checked as it grows: every key found appears in it
            # (with its value, or in `failed`), each value as its JSON string, plus ':' and ','.
            size += codec.json_sizes(list(found)) + 2 * len(found)
            for key, value in found.items():
                try:
                    text = values[key] = codec.encode_value(value, encoding)
                except codec.NotText as err:
                    failed[key] = str(err)
                    continue
                size += len(text) + 2 if as_base64 else codec.json_size(text)  # base64 needs no escapes
                if size > limit:
                    raise self._too_large()
            missing.extend(result.missing)
            failed.update(self._failures(store.name, result.failed))
        body = {"store": store.name, "encoding": encoding, "values": values, "missing": missing, "failed": failed}
        response = json_response(207 if failed else 200, body)
        if len(response.body) > self.limits.max_response_bytes:  # what is sent, names and lists included
            raise self._too_large()
        return response

    def _too_large(self) -> HttpError:
        return HttpError(413, f"the values read exceed the response limit of {self.limits.max_response_bytes} bytes "
                              "(max_response_bytes, counted as sent: JSON-escaped UTF-8); ask for fewer keys per request")

    def _set_many(self, request: Request, store: OpenStore) -> Response:
        self._no_query(request, ())
        document = codec.parse_json_object(request.body, ("items", "encoding", "only_if"), self.limits.max_json_depth)
        encoding = codec.parse_encoding(document.get("encoding"))
        only_if = codec.parse_only_if(document.get("only_if"))
        items = codec.parse_items(document, encoding, self.limits.max_batch_keys)
        return self._outcomes(store.name, store.bucket.set_many(items, only_if=only_if))

    def _copy_many(self, request: Request, store: OpenStore) -> Response:
        self._no_query(request, ())
        document = codec.parse_json_object(request.body, ("pairs", "overwrite", "to_store"), self.limits.max_json_depth)
        pairs = codec.parse_pairs(document, self.limits.max_batch_keys)
        overwrite = codec.parse_flag(document, "overwrite")
        name = None if document.get("to_store") is None else codec.parse_store_name(document["to_store"], "'to_store'")
        if name is None or name == store.name:  # within one store: its own rules on sources and destinations
            return self._outcomes(store.name, store.bucket.copy_many(pairs, overwrite=overwrite))
        target = self._open(name)
        try:
            result = store.bucket.copy_many(pairs, overwrite=overwrite, to=target.bucket)
        except KvError as err:
            raise self._store_error(name if isinstance(err, Unsupported) else store.name, err) from None
        finally:
            target.close()
        return self._outcomes(store.name, result, {"to_store": name})

    def _delete_many(self, request: Request, store: OpenStore) -> Response:
        self._no_query(request, ())
        document = codec.parse_json_object(request.body, ("keys",), self.limits.max_json_depth)
        keys = codec.parse_keys(document, self.limits.max_batch_keys)
        return self._outcomes(store.name, store.bucket.delete_many(keys))

    def _import(self, request: Request, store: OpenStore) -> Response:
        self._no_query(request, ("encoding",))
        encoding = codec.parse_encoding(request.param("encoding"), "the encoding parameter")
        items = codec.parse_ndjson_items(request.body, encoding, self.limits.max_batch_keys,
                                          self.limits.max_json_depth)
        return self._outcomes(store.name, store.bucket.set_many(items), {"lines": len(items)})

    def _keys(self, request: Request, store: OpenStore) -> Response:
        self._no_query(request, ("prefix", "cursor", "limit"))
        page = self._page(request, store)
        body = {"store": store.name, "keys": page.keys,
                "cursor": self._cursors.seal(store.name, page.next) if page.next else None}
        return json_response(200, body)

    def _export(self, request: Request, store: OpenStore) -> Response:
        self._no_query(request, ("prefix", "cursor", "limit", "encoding"))
        encoding = codec.parse_encoding(request.param("encoding"), "the encoding parameter")
        page = self._page(request, store)
        lines: List[bytes] = []
        size = 0
        next_position = page.next
        failed: Dict[str, str] = {}
        position_of = dict(page.entries)
        last: Optional[str] = None
        for chunk in chunked(page.keys, self.limits.read_chunk_keys):
            result = store.bucket.get_many(chunk)
            failed.update(self._failures(store.name, result.failed))
            for key in chunk:
                if key not in result.values:
                    continue  # deleted since it was listed, or failed (reported below)
                line = codec.ndjson_line(key, result.values[key], encoding)
                if last is not None and size + len(line) > self.limits.max_response_bytes:
                    next_position = position_of[last]  # resume after the last key written
                    break
                lines.append(line)
                size += len(line)
                last = key
            else:
                continue
            break
        if failed:
            body = {"error": f"{STORE_FAILED} for {len(failed)} key(s); retry with the same cursor", "failed": failed}
            return json_response(503, body, {"retry-after": "1"})
        headers = {"content-type": NDJSON, "cache-control": "no-store", "kvbatch-keys": str(len(lines))}
        if next_position is not None:
            headers[NEXT_CURSOR_HEADER] = self._cursors.seal(store.name, next_position)
        return Response(200, headers, b"".join(lines))

    # -- helpers ----------------------------------------------------------------------------

    def _page(self, request: Request, store: OpenStore) -> Page:
        limit = self._limit(request.param("limit"))
        start = self._cursors.open(store.name, request.param("cursor"))
        return list_page(store.lister, request.param("prefix") or "", start, limit, self.limits.max_store_pages)

    def _limit(self, raw: Optional[str]) -> int:
        if raw is None or raw == "":
            return self.limits.default_page_keys
        digits = len(str(self.limits.max_page_keys))
        if not (raw.isascii() and raw.isdigit() and len(raw) <= digits) or not 1 <= int(raw) <= self.limits.max_page_keys:
            raise HttpError(400, f"limit must be a whole number from 1 to {self.limits.max_page_keys}, got {raw!r}")
        return int(raw)

    @staticmethod
    def _no_query(request: Request, allowed: Sequence[str]) -> None:
        for name, _ in request.query:
            if name not in allowed:
                expected = f"expected {', '.join(allowed)}" if allowed else "this endpoint takes none"
                raise HttpError(400, f"unknown query parameter {name!r}; {expected}")

    def _failures(self, store: str, failed: Mapping[str, KvError]) -> Dict[str, str]:
        for key, err in list(failed.items())[:10]:
            self._log(f"kvbatch: store {store!r}: key {key!r}: {err}")
        if len(failed) > 10:
            self._log(f"kvbatch: store {store!r}: {len(failed) - 10} more failed key(s)")
        return {key: reason(err) for key, err in failed.items()}

    def _outcomes(self, store: str, result: Any, extra: Optional[Dict[str, Any]] = None) -> Response:
        """The per-key outcomes of a write or delete: 200 if every key succeeded, else 207."""
        body: Dict[str, Any] = {"store": store}
        body.update(extra or {})
        body.update({
            "total": result.total,
            "succeeded": list(result.succeeded),
            "failed": self._failures(store, result.failed),
            "unknown": self._failures(store, {key: result.unknown_errors.get(key, _UNKNOWN) for key in result.unknown}),
            "not_attempted": list(result.not_attempted),
            "duplicates": list(result.duplicates),
        })
        return json_response(200 if result.all_succeeded else 207, body)


TOKEN_REREAD_S = 1.0
"""How long a token read stays current for `ApiForToken.recent`: a changed token is in effect within this."""


class ApiForToken:
    """The `BulkApi` over `stores` for the access token a request reads: the same one for as
    long as the token stays the same, a new one (same stores, limits and log) when it changes.

    `api(token)` raises `ValueError` as `BulkApi` does for an unusable token, and then keeps
    nothing of it: a later request with a usable token gets an API for that token.
    `recent()` spares a request the read: it answers the API of a usable token read less than
    `reread_s` seconds ago (by `clock`), else `None` (read the token and call `api`).
    """

    def __init__(self, stores: StoreAccess, limits: Limits = Limits(), log: Callable[[str], None] = _stderr,
                 reread_s: float = TOKEN_REREAD_S, clock: Callable[[], float] = time.monotonic) -> None:
        self._stores = stores
        self._limits = limits
        self._log = log
        self._reread_s = reread_s
        self._clock = clock
        self._current: Optional[Tuple[str, BulkApi]] = None
        self._read_at = float("-inf")

    def api(self, token: Optional[str]) -> BulkApi:
        """The `BulkApi` that accepts exactly `token` (a token just read)."""
        current = self._current
        if current is None or current[0] != token:
            api = BulkApi(self._stores, token, self._limits, self._log)
            current = self._current = (api._token, api)
        self._read_at = self._clock()
        return current[1]

    def recent(self) -> Optional[BulkApi]:
        """The API of the usable token read within the last `reread_s` seconds, else `None`."""
        current = self._current
        if current is None or self._clock() - self._read_at >= self._reread_s:
            return None
        return current[1]


def _distinct(keys: Iterable[str]) -> List[str]:
    return list(dict.fromkeys(keys))

