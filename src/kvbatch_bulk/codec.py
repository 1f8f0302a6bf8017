"""Request bodies in, values out: JSON and NDJSON parsing, value encodings, size checks.

Values travel as base64 (standard alphabet, padded) by default, or as UTF-8 text when the
request asks for `"encoding": "text"`. Every problem raises `HttpError` with a message that
names the field, key or line and, for sizes, the limit: 400 for malformed input, 413 for a
documented limit exceeded.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any, Dict, Iterable, List, Literal, Mapping, Optional, Sequence, Tuple

from kvbatch.limits import MAX_KEY_BYTES, MAX_VALUE_BYTES

from . import jsondepth
from .limits import MAX_JSON_DEPTH
from .messages import HttpError

BASE64 = "base64"
TEXT = "text"
ENCODINGS = (BASE64, TEXT)


class NotText(ValueError):
    """A stored value is not valid UTF-8, so it cannot be returned as text."""


def parse_encoding(value: Any, where: str = "encoding") -> str:
    """`base64` (the default, for `None`) or `text`; anything else is a 400."""
    if value is None:
        return BASE64
    if value not in ENCODINGS:
        raise HttpError(400, f"{where} must be one of {', '.join(ENCODINGS)}, got {_show(value)}")
    return str(value)


def parse_json_object(body: bytes, allowed: Sequence[str], max_depth: int = MAX_JSON_DEPTH) -> Dict[str, Any]:
    """The body as a JSON object whose fields are all in `allowed`, nested at most `max_depth` deep."""
    if not body:
        raise HttpError(400, "the request body is empty: a JSON object is expected")
    try:
        document = jsondepth.loads(body.decode("utf-8"), max_depth, "the request body")
    except UnicodeDecodeError:
        raise HttpError(400, "the request body is not UTF-8") from None
    except ValueError as err:
        raise HttpError(400, f"the request body is not valid JSON: {err}") from None
    if not isinstance(document, dict):
        raise HttpError(400, f"the request body must be a JSON object, got {_kind(document)}")
    unknown = sorted(set(document) - set(allowed))
    if unknown:
        raise HttpError(400, f"unknown field {unknown[0]!r}; expected {', '.join(allowed)}")
    return document


def _utf8(text: str, where: str) -> bytes:
    """`text` as UTF-8; a lone surrogate (e.g. the JSON escape backslash-u-d800 alone, which no UTF-8 can hold) is a 400."""
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError as err:
        raise HttpError(400, f"{where} is not valid Unicode text: lone surrogate {text[err.start]!r} at character "
                             f"{err.start} (send the bytes in base64 instead)") from None


def check_key(key: Any, where: str) -> str:
    """A key: a string of valid Unicode (no lone surrogate) of at most `MAX_KEY_BYTES` UTF-8 bytes."""
    if not isinstance(key, str):
        raise HttpError(400, f"{where} must be a string, got {_kind(key)}")
    size = len(_utf8(key, where))
    if size > MAX_KEY_BYTES:
        raise HttpError(413, f"{where} is {size} bytes; keys are limited to {MAX_KEY_BYTES} bytes of UTF-8")
    return key


def parse_keys(document: Mapping[str, Any], max_keys: int) -> List[str]:
    """The `keys` field: a non-empty list of at most `max_keys` keys."""
    if "keys" not in document:
        raise HttpError(400, "missing field 'keys': a list of keys is expected")
    keys = document["keys"]
    if not isinstance(keys, list):
        raise HttpError(400, f"'keys' must be a list of strings, got {_kind(keys)}")
    if len(keys) > max_keys:
        raise HttpError(413, f"{len(keys)} keys in one request; the limit is {max_keys}")
    return [check_key(key, f"keys[{i}]") for i, key in enumerate(keys)]


def decode_value(value: Any, encoding: str, where: str) -> bytes:
    """A value from the wire in `encoding`, at most `MAX_VALUE_BYTES` once decoded."""
    if not isinstance(value, str):
        raise HttpError(400, f"{where} must be a string ({encoding}), got {_kind(value)}")
    if encoding == TEXT:
        raw = _utf8(value, where)
    else:
        try:
            raw = base64.b64decode(value.encode("ascii"), validate=True)
        except (binascii.Error, UnicodeEncodeError):
            raise HttpError(400, f"{where} is not valid base64 (send \"encoding\": \"text\" for plain text)") from None
    if len(raw) > MAX_VALUE_BYTES:
        raise HttpError(413, f"{where} is {len(raw)} bytes; values are limited to {MAX_VALUE_BYTES} bytes")
    return raw


def json_size(text: str) -> int:
    """The bytes `text` takes in a response body: as a JSON string (quotes and escapes
    included), UTF-8 encoded, exactly as `messages.json_response` writes it."""
    if text.isascii() and text.isprintable() and '"' not in text and "\\" not in text:
        return len(text) + 2  # the common case (e.g. base64): nothing to escape
    return len(json.dumps(text, ensure_ascii=False).encode("utf-8"))


def json_sizes(texts: Sequence[str]) -> int:
    """The bytes `texts` take together in a response body, each as `json_size` counts it."""
    joined = "".join(texts)
    if joined.isascii() and joined.isprintable() and '"' not in joined and "\\" not in joined:
        return len(joined) + 2 * len(texts)  # the common case: nothing to escape in any of them
    return sum(map(json_size, texts))


def encode_value(value: bytes, encoding: str) -> str:
    """A stored value for the wire; raises `NotText` for non-UTF-8 bytes in `text`."""
    if encoding == TEXT:
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            raise NotText("the value is not UTF-8 text; ask for encoding base64") from None
    return base64.b64encode(value).decode("ascii")


def parse_items(document: Mapping[str, Any], encoding: str, max_keys: int) -> List[Tuple[str, bytes]]:
    """The `items` field: `[{"key": k, "value": v}, ...]` or `{"k": "v", ...}`, in order."""
    if "items" not in document:
        raise HttpError(400, "missing field 'items': a list of {\"key\", \"value\"} objects or an object of key: value is expected")
    items = document["items"]
    pairs: Iterable[Tuple[Any, Any, str]]
    if isinstance(items, dict):
        pairs = [(key, value, f"items[{key!r}]") for key, value in items.items()]
    elif isinstance(items, list):
        pairs = [_item_pair(item, f"items[{i}]") for i, item in enumerate(items)]
    else:
        raise HttpError(400, f"'items' must be a list or an object, got {_kind(items)}")
    pairs = list(pairs)
    if len(pairs) > max_keys:
        raise HttpError(413, f"{len(pairs)} items in one request; the limit is {max_keys}")
    return [(check_key(key, f"{where}.key"), decode_value(value, encoding, f"{where}.value")) for key, value, where in pairs]


def parse_only_if(value: Any) -> Optional[Literal["absent", "present"]]:
    """`set-many`'s `only_if`: `"absent"`, `"present"` or `null` (the default: write unconditionally)."""
    if value is None:
        return None
    if value == "absent":
        return "absent"
    if value == "present":
        return "present"
    raise HttpError(400, f"only_if must be one of \"absent\", \"present\" or null, got {_show(value)}")


def parse_flag(document: Mapping[str, Any], name: str, default: bool = False) -> bool:
    """A boolean field (JSON `true`/`false`); absent means `default`."""
    value = document.get(name, default)
    if not isinstance(value, bool):
        raise HttpError(400, f"{name!r} must be true or false, got {_show(value)}")
    return value


def parse_pairs(document: Mapping[str, Any], max_pairs: int) -> List[Tuple[str, str]]:
    """The `pairs` field: a non-empty list of at most `max_pairs` `[source, destination]` key pairs."""
    if "pairs" not in document:
        raise HttpError(400, "missing field 'pairs': a list of [source, destination] key pairs is expected")
    pairs = document["pairs"]
    if not isinstance(pairs, list):
        raise HttpError(400, f"'pairs' must be a list of [source, destination] pairs, got {_kind(pairs)}")
    if len(pairs) > max_pairs:
        raise HttpError(413, f"{len(pairs)} pairs in one request; the limit is {max_pairs}")
    checked: List[Tuple[str, str]] = []
    for i, pair in enumerate(pairs):
        if not isinstance(pair, list) or len(pair) != 2:
            raise HttpError(400, f"pairs[{i}] must be a list of two keys [source, destination], got {_kind(pair)}")
        checked.append((check_key(pair[0], f"pairs[{i}][0]"), check_key(pair[1], f"pairs[{i}][1]")))
    return checked


def parse_store_name(value: Any, where: str) -> str:
    """A store name given in a body field: a non-empty string."""
    if not isinstance(value, str) or not value:
        raise HttpError(400, f"{where} must be a store name (a non-empty string), got {_show(value)}")
    return value


def _item_pair(item: Any, where: str) -> Tuple[Any, Any, str]:
    if not isinstance(item, dict):
        raise HttpError(400, f"{where} must be an object with 'key' and 'value', got {_kind(item)}")
    extra = sorted(set(item) - {"key", "value"})
    if extra or "key" not in item or "value" not in item:
        raise HttpError(400, f"{where} must have exactly the fields 'key' and 'value'")
    return item["key"], item["value"], where


def parse_ndjson_items(body: bytes, encoding: str, max_lines: int,
                       max_depth: int = MAX_JSON_DEPTH) -> List[Tuple[str, bytes]]:
    """NDJSON import lines `{"key": k, "value": v[, "encoding": e]}`; blank lines are skipped.

    A line's own `encoding` overrides the request's (export writes one where a value is not
    text). Errors name the line number (1-based).
    """
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise HttpError(400, "the request body is not UTF-8") from None
    items: List[Tuple[str, bytes]] = []
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        if len(items) == max_lines:
            raise HttpError(413, f"more than {max_lines} lines in one import request; split the file into parts of at most {max_lines} lines")
        where = f"line {number}"
        try:
            record = jsondepth.loads(line, max_depth, where)
        except ValueError as err:
            raise HttpError(400, f"{where} is not valid JSON: {err}") from None
        if not isinstance(record, dict):
            raise HttpError(400, f"{where} must be a JSON object, got {_kind(record)}")
        extra = sorted(set(record) - {"key", "value", "encoding"})
        if extra or "key" not in record or "value" not in record:
            raise HttpError(400, f"{where} must have the fields 'key' and 'value' (and optionally 'encoding')")
        line_encoding = parse_encoding(record.get("encoding", encoding), f"{where}: encoding")
        key = check_key(record["key"], f"{where}: key")
        items.append((key, decode_value(record["value"], line_encoding, f"{where}: value")))
    return items


def ndjson_line(key: str, value: bytes, encoding: str) -> bytes:
    """One export line; a value that is not text is written in base64 with `"encoding": "base64"`."""
    record: Dict[str, Optional[str]] = {"key": key}
    try:
        record["value"] = encode_value(value, encoding)
    except NotText:
        record["value"] = encode_value(value, BASE64)
        record["encoding"] = BASE64
    return json.dumps(record, ensure_ascii=False, separators=(",", ":")).encode("utf-8") + b"\n"


def _kind(value: Any) -> str:
    names = {dict: "an object", list: "a list", str: "a string", bool: "a boolean", int: "a number", float: "a number"}
    return "null" if value is None else names.get(type(value), type(value).__name__)


def _show(value: Any) -> str:
    return repr(value) if isinstance(value, str) else _kind(value)
