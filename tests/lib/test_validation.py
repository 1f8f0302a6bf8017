"""Validation before sending: bad keys and values are rejected with the key and the limit, nothing sent."""

from __future__ import annotations

import pytest

import kvbatch
from kvbatch.testing import MemoryBucket


@pytest.fixture
def store() -> MemoryBucket:
    return MemoryBucket()


@pytest.fixture
def bucket(store: MemoryBucket) -> kvbatch.Bucket:
    return kvbatch.Bucket(store)


def test_limits_are_spins_documented_ones():
    assert kvbatch.limits.MAX_KEY_BYTES == 256
    assert kvbatch.limits.MAX_VALUE_BYTES == 1_048_576
    assert kvbatch.DEFAULT_CHUNK_SIZE == kvbatch.limits.DEFAULT_CHUNK_SIZE >= 1


def test_empty_key_is_rejected_naming_the_limit_and_nothing_is_sent(bucket, store):
    with pytest.raises(kvbatch.ValidationError, match="empty key") as info:
        bucket.set_many([("ok", b"1"), ("", b"2")])
    assert info.value.key == "" and info.value.limit == 256 and info.value.index == 1
    assert store.calls == [] and store.data == {}


def test_key_over_the_limit_is_rejected_with_its_size(bucket, store):
    key = "k" * 257
    with pytest.raises(kvbatch.ValidationError, match="257 bytes in UTF-8; the limit is 256") as info:
        bucket.set_many({key: b"v"})
    assert info.value.key == key and info.value.limit == 256
    assert store.calls == []


def test_key_limit_counts_utf8_bytes_not_characters(bucket):
    key = "é" * 129  # 129 characters, 258 bytes
    with pytest.raises(kvbatch.ValidationError, match="258 bytes"):
        bucket.get_many([key])
    assert bucket.set_many({"é" * 128: b"v"}).all_succeeded  # exactly 256 bytes


def test_value_over_the_limit_is_rejected_naming_the_key(bucket, store):
    with pytest.raises(kvbatch.ValidationError, match="1048577 bytes; the limit is 1048576") as info:
        bucket.set_many([("small", b"x"), ("big", b"x" * 1_048_577)])
    assert info.value.key == "big" and info.value.limit == 1_048_576 and info.value.index == 1
    assert store.calls == []


def test_value_of_exactly_the_limit_is_accepted(bucket, store):
    assert bucket.set_many({"max": b"x" * 1_048_576}).all_succeeded
    assert len(store.data["max"]) == 1_048_576


def test_text_value_is_rejected_with_a_hint_to_encode(bucket):
    with pytest.raises(kvbatch.ValidationError, match=r"value for key 'k' is str; values must be bytes \(encode") as info:
        bucket.set_many({"k": "text"})  # type: ignore[dict-item]
    assert info.value.key == "k"


def test_bytearray_and_memoryview_values_are_accepted_as_bytes(bucket, store):
    bucket.set_many([("a", bytearray(b"1")), ("b", memoryview(b"2"))])  # type: ignore[list-item]
    assert store.data == {"a": b"1", "b": b"2"}


def test_non_string_key_is_rejected(bucket):
    with pytest.raises(kvbatch.ValidationError, match="key 7 is int; keys must be str"):
        bucket.delete_many([7])  # type: ignore[list-item]


def test_a_single_string_given_as_keys_is_rejected_rather_than_split_into_characters(bucket):
    with pytest.raises(kvbatch.ValidationError, match="iterable of str, not a single str"):
        bucket.get_many("abc")


def test_items_that_are_not_pairs_are_rejected(bucket):
    with pytest.raises(kvbatch.ValidationError, match="item 0: .* is not a \\(key, value\\) pair"):
        bucket.set_many([("a", b"1", "extra")])  # type: ignore[list-item]


def test_validation_error_is_a_value_error_and_a_kv_error(bucket):
    with pytest.raises(ValueError):
        bucket.exists_many([""])
    assert issubclass(kvbatch.ValidationError, kvbatch.KvError)


def test_limits_can_be_raised_per_bucket_for_hosts_that_allow_more(store):
    bucket = kvbatch.Bucket(store, max_key_bytes=1024, max_value_bytes=10)
    assert bucket.set_many({"k" * 1000: b"0123456789"}).all_succeeded
    with pytest.raises(kvbatch.ValidationError, match="the limit is 10 bytes"):
        bucket.set_many({"k": b"01234567890"})


def test_single_key_calls_are_validated_too(bucket, store):
    with pytest.raises(kvbatch.ValidationError):
        bucket.set("", b"v")
    with pytest.raises(kvbatch.ValidationError):
        bucket.set("k", "v")  # type: ignore[arg-type]
    assert store.calls == []


# -- the checks a batch makes in a few passes over all its keys ------------------------------------


def test_a_key_over_the_limit_among_many_short_ones_is_found_before_anything_is_sent(bucket, store):
    keys = [f"k{i}" for i in range(500)]
    keys[321] = "k" * 257
    for call in (bucket.get_many, bucket.delete_many, bucket.exists_many):
        with pytest.raises(kvbatch.ValidationError, match="257 bytes in UTF-8") as info:
            call(keys)
        assert info.value.index == 321
    with pytest.raises(kvbatch.ValidationError, match="257 bytes in UTF-8") as info:
        bucket.set_many([(key, b"v") for key in keys])
    assert info.value.index == 321
    assert store.calls == []


def test_keys_of_exactly_the_limit_are_accepted_in_a_batch(bucket, store):
    keys = ["a" * 256, "b" * 256, "c"]
    assert bucket.set_many([(key, b"v") for key in keys]).all_succeeded
    assert bucket.get_many(keys).values == {key: b"v" for key in keys}


def test_an_empty_key_after_many_good_ones_is_found_in_reads_and_deletes(bucket, store):
    keys = [f"k{i}" for i in range(300)] + [""]
    for call in (bucket.get_many, bucket.delete_many):
        with pytest.raises(kvbatch.ValidationError, match="empty key") as info:
            call(keys)
        assert info.value.index == 300
    assert store.calls == []


def test_an_unhashable_key_is_rejected_as_not_a_string(bucket, store):
    with pytest.raises(kvbatch.ValidationError, match="is list; keys must be str") as info:
        bucket.get_many(["a", ["b"]])  # type: ignore[list-item]
    assert info.value.index == 1
    assert store.calls == []


def test_check_distinct_keys_gives_every_key_checked_and_each_distinct_key_once():
    from kvbatch.validation import check_distinct_keys

    checked, distinct = check_distinct_keys(iter(["b", "a", "b", "é", "a"]))
    assert checked == ["b", "a", "b", "é", "a"]
    assert list(distinct) == ["b", "a", "é"] and set(distinct.values()) == {None}


def test_a_bytes_subclass_value_and_a_list_pair_are_checked_item_by_item_and_written(bucket, store):
    class Blob(bytes):
        pass

    result = bucket.set_many([("a", Blob(b"1")), ["b", b"2"], ("c", bytearray(b"3"))])  # type: ignore[list-item]
    assert result.all_succeeded
    assert store.data == {"a": b"1", "b": b"2", "c": b"3"}
