"""Checks every key and value against the limits before anything is sent.

Each check raises `ValidationError` naming the offending key, the limit it broke (and, in a
batch, its position), so a bad item is found on the caller's side, not as an opaque store
error half-way through a batch.
"""

from __future__ import annotations

from operator import countOf
from typing import Any, Iterable, Iterator, Mapping, NamedTuple, Optional, Tuple, Union

from .errors import ValidationError
from .limits import MAX_KEY_BYTES, MAX_KEYS_PER_CALL, MAX_VALUE_BYTES

Items = Union[Mapping[str, bytes], Iterable[Tuple[str, bytes]]]
"""What `set_many` accepts: a mapping, or `(key, value)` pairs (duplicates allowed)."""


def _shown(key: str) -> str:
    return repr(key if len(key) <= 40 else key[:40] + "...")


def _where(index: int | None) -> str:
    return f"item {index}: " if index is not None else ""


def check_key(key: object, *, max_key_bytes: int = MAX_KEY_BYTES, index: int | None = None) -> str:
    """Returns `key` if it is a non-empty `str` of at most `max_key_bytes` bytes of UTF-8."""
    if not isinstance(key, str):
        raise ValidationError(
            f"{_where(index)}key {key!r} is {type(key).__name__}; keys must be str "
            f"of 1 to {max_key_bytes} bytes (UTF-8)", repr(key), max_key_bytes, index)
    if not key:
        raise ValidationError(
            f"{_where(index)}empty key; keys must be 1 to {max_key_bytes} bytes (UTF-8)", key, max_key_bytes, index)
    try:
        size = len(key) if key.isascii() else len(key.encode("utf-8"))
    except UnicodeEncodeError:
        raise ValidationError(
            f"{_where(index)}key {_shown(key)} cannot be encoded as UTF-8 (lone surrogate)", key, max_key_bytes, index,
        ) from None
    if size > max_key_bytes:
        raise ValidationError(
            f"{_where(index)}key {_shown(key)} is {size} bytes in UTF-8; the limit is {max_key_bytes} bytes"
            + (" (kvbatch.MAX_KEY_BYTES, Spin's limit)" if max_key_bytes == MAX_KEY_BYTES else ""),
            key, max_key_bytes, index)
    return key


def check_value(key: str, value: object, *, max_value_bytes: int = MAX_VALUE_BYTES, index: int | None = None) -> bytes:
    """Returns `value` as `bytes` if it is bytes-like (`bytes`, `bytearray`, `memoryview`)
    of at most `max_value_bytes` bytes."""
    if isinstance(value, bytes):
        data = value
    elif isinstance(value, (bytearray, memoryview)):
        data = bytes(value)
    else:
        hint = " (encode text first, e.g. value.encode())" if isinstance(value, str) else ""
        raise ValidationError(
            f"{_where(index)}value for key {_shown(key)} is {type(value).__name__}; values must be bytes{hint}",
            key, None, index)
    if len(data) > max_value_bytes:
        raise ValidationError(
            f"{_where(index)}value for key {_shown(key)} is {len(data)} bytes; the limit is {max_value_bytes} bytes"
            + (" (kvbatch.MAX_VALUE_BYTES, Spin's limit)" if max_value_bytes == MAX_VALUE_BYTES else ""),
            key, max_value_bytes, index)
    return data


def check_count(count: int, max_keys: int, what: str) -> None:
    """Rejects a call with more than `max_keys` keys or items, naming the limit."""
    if count > max_keys:
        raise ValidationError(
            f"{count} {what} in one call; the limit is {max_keys}"
            + (" (kvbatch.MAX_KEYS_PER_CALL)" if max_keys == MAX_KEYS_PER_CALL else "")
            + ": give the work in parts, or raise Bucket(max_keys_per_call=...)",
            None, max_keys)


def _plain_keys(keys: Iterable[str], max_key_bytes: int) -> Optional[Tuple[int, int]]:
    """The bytes of the longest of `keys` and of all of them, when all are non-empty ASCII `str`
    of at most `max_key_bytes` (the common case, checked in a few passes that make no call per
    key); else `None`. `keys` is best a dict's keys (looking for an empty key is then one lookup)."""
    try:
        joined = "".join(keys)
    except TypeError:  # not all str
        return None
    if not joined.isascii() or "" in keys:
        return None
    # The longest key by `max(key=len)`: one call per key, where `max(map(len, ...))` makes two.
    longest = len(max(keys, key=len)) if len(joined) > max_key_bytes else len(joined)
    return (longest, len(joined)) if longest <= max_key_bytes else None


def check_keys(keys: Iterable[str], *, max_key_bytes: int = MAX_KEY_BYTES, max_keys: int = MAX_KEYS_PER_CALL,
               start: int = 0) -> list[str]:
    """All of `keys`, checked, in order (duplicates kept). A lone `str` is rejected: it
    would otherwise be read as its characters. Errors name positions counted from `start`."""
    return check_distinct_keys(keys, max_key_bytes=max_key_bytes, max_keys=max_keys, start=start)[0]


def check_distinct_keys(keys: Iterable[str], *, max_key_bytes: int = MAX_KEY_BYTES, max_keys: int = MAX_KEYS_PER_CALL,
                        start: int = 0) -> Tuple[list[str], dict[str, None]]:
    """`check_keys`, with the de-duplication a batch needs made in the same go: all of `keys`,
    checked, in order (duplicates kept), and each distinct key once, in order of first appearance
    (a dict whose values are all `None`)."""
    if isinstance(keys, (str, bytes)):
        raise ValidationError(f"keys must be an iterable of str, not a single {type(keys).__name__} ({keys!r})")
    checked = list(keys)
    check_count(len(checked), max_keys, "keys")
    try:
        distinct: dict[Any, None] = dict.fromkeys(checked)
    except TypeError:  # an unhashable key: found below
        distinct = {}
    if distinct and _plain_keys(distinct, max_key_bytes) is not None:
        return checked, distinct
    for i, key in enumerate(checked):
        # The common case without a call per key: a short ASCII str.
        if type(key) is str and key and key.isascii() and len(key) <= max_key_bytes:
            continue
        check_key(key, max_key_bytes=max_key_bytes, index=start + i)
    return checked, distinct


def iter_items(items: Items) -> Iterator[Tuple[object, object]]:
    """The `(key, value)` pairs of a mapping or of an iterable of pairs."""
    if isinstance(items, Mapping):
        yield from items.items()
        return
    if isinstance(items, (str, bytes)):
        raise ValidationError(f"items must be a mapping or (key, value) pairs, not {type(items).__name__}")
    for i, pair in enumerate(items):
        yield pair if type(pair) is tuple and len(pair) == 2 else _pair(pair, i)


def _pair(pair: object, index: int) -> Tuple[object, object]:
    if isinstance(pair, (tuple, list)) and len(pair) == 2:
        return pair[0], pair[1]
    raise ValidationError(f"item {index}: {pair!r} is not a (key, value) pair", None, None, index)


def check_items(items: Items, *, max_key_bytes: int = MAX_KEY_BYTES,
                max_value_bytes: int = MAX_VALUE_BYTES, max_keys: int = MAX_KEYS_PER_CALL,
                start: int = 0) -> list[Tuple[str, bytes]]:
    """All `(key, value)` pairs of `items`, checked, in order (duplicates kept). Errors name
    positions counted from `start`."""
    if isinstance(items, (Mapping, list)):
        check_count(len(items), max_keys, "items")
    checked: list[Tuple[str, bytes]] = []
    append = checked.append
    source = items.items() if isinstance(items, Mapping) else (items if type(items) is list else iter_items(items))
    for i, pair in enumerate(source):
        if type(pair) is not tuple or len(pair) != 2:  # a list given as items may hold anything
            pair = _pair(pair, start + i)
        key, value = pair
        # The common case without a call per item: a short ASCII str key and a bytes value.
        if (type(key) is str and key and key.isascii() and len(key) <= max_key_bytes
                and type(value) is bytes and len(value) <= max_value_bytes):
            append(pair)
            continue
        k = check_key(key, max_key_bytes=max_key_bytes, index=start + i)
        append((k, check_value(k, value, max_value_bytes=max_value_bytes, index=start + i)))
    check_count(len(checked), max_keys, "items")
    return checked


class CheckedItems(NamedTuple):
    """`check_latest`'s answer: the pairs checked, the last value of each distinct key (in order
    of first appearance), and, when the check measured it, a bound on the bytes of any one item
    (at least its key's plus its value's)."""

    pairs: list[Tuple[str, bytes]]
    latest: dict[str, bytes]
    widest_bytes: Optional[int] = None


def check_latest(items: Items, *, max_key_bytes: int = MAX_KEY_BYTES, max_value_bytes: int = MAX_VALUE_BYTES,
                 max_keys: int = MAX_KEYS_PER_CALL) -> CheckedItems:
    """`check_items` with the de-duplication a write needs: the pairs checked and each distinct
    key's last value. A list of `(str, bytes)` tuples with distinct ASCII keys (or a mapping of
    them) is checked in a few passes that make no call per item, and its pairs are the caller's
    list itself; anything else is checked item by item, with the same errors as `check_items`."""
    if isinstance(items, list):
        pairs: list[Any] = items
    elif isinstance(items, Mapping):
        pairs = list(items.items())
    elif isinstance(items, (str, bytes)):
        raise ValidationError(f"items must be a mapping or (key, value) pairs, not {type(items).__name__}")
    else:
        pairs = list(iter_items(items))
    check_count(len(pairs), max_keys, "items")
    try:
        latest: dict[Any, Any] = dict(pairs)
    except (TypeError, ValueError):  # an item that is not a pair, or an unhashable key: found below
        latest = {}
    # Types are counted (`countOf` compares by identity first) rather than collected in a set:
    # no hashing per item.
    if pairs and len(latest) == len(pairs) and countOf(map(type, pairs), tuple) == len(pairs):
        keys = _plain_keys(latest, max_key_bytes)
        values = latest.values()
        if keys is not None and countOf(map(type, values), bytes) == len(values):
            longest_value = max(map(len, values))
            if longest_value <= max_value_bytes:
                return CheckedItems(pairs, latest, keys[0] + longest_value)
    checked = check_items(pairs, max_key_bytes=max_key_bytes, max_value_bytes=max_value_bytes, max_keys=max_keys)
    return CheckedItems(checked, dict(checked))


Pairs = Union[Mapping[str, str], Iterable[Tuple[str, str]]]
"""What `copy_many` accepts: a mapping source → destination, or `(source, destination)` pairs."""


def check_pairs(pairs: Pairs, *, max_key_bytes: int = MAX_KEY_BYTES, max_destination_bytes: int = MAX_KEY_BYTES,
                max_keys: int = MAX_KEYS_PER_CALL, same_bucket: bool = True) -> list[Tuple[str, str]]:
    """All `(source, destination)` pairs of `pairs`, checked, in order.

    Outcomes are keyed by source, so a source may appear once; a destination may appear once
    (two sources into one key would leave one of them reported `succeeded` without its value);
    and within one bucket (`same_bucket`) no key may be both a source and a destination (the
    result would depend on the order the store applies them in).
    """
    if isinstance(pairs, (str, bytes)):
        raise ValidationError(f"pairs must be a mapping or (source, destination) pairs, not {type(pairs).__name__}")
    source = pairs.items() if isinstance(pairs, Mapping) else pairs
    checked: list[Tuple[str, str]] = []
    sources: dict[str, int] = {}
    destinations: dict[str, int] = {}
    for i, pair in enumerate(source):
        if not (isinstance(pair, (tuple, list)) and len(pair) == 2):
            raise ValidationError(f"item {i}: {pair!r} is not a (source, destination) pair", None, None, i)
        src = check_key(pair[0], max_key_bytes=max_key_bytes, index=i)
        dst = check_key(pair[1], max_key_bytes=max_destination_bytes, index=i)
        if src in sources:
            raise ValidationError(f"item {i}: source {_shown(src)} is named twice (items {sources[src]} and {i}); "
                                  "outcomes are keyed by source, so copy each source once per call", src, None, i)
        if dst in destinations:
            raise ValidationError(f"item {i}: destination {_shown(dst)} is named twice (items {destinations[dst]} and "
                                  f"{i}); copy into each destination once per call", dst, None, i)
        sources[src] = destinations[dst] = i
        checked.append((src, dst))
        check_count(len(checked), max_keys, "pairs")
    if same_bucket:
        for i, (src, dst) in enumerate(checked):
            both = dst if dst in sources else (src if src in destinations else None)
            if both is not None:
                raise ValidationError(f"item {i}: key {_shown(both)} is both a source and a destination of this call; "
                                      "within one bucket copy it in a separate call", both, None, i)
    return checked


__all__ = ["CheckedItems", "Items", "Pairs", "check_count", "check_distinct_keys", "check_items", "check_key", "check_keys",
           "check_latest", "check_pairs", "check_value", "iter_items"]
