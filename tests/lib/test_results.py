"""BatchResult, GetResult and ExistsResult: frozen, exhaustive, and able to raise one error."""

from __future__ import annotations

import dataclasses

import pytest

import kvbatch
from kvbatch.results import combine


def sample() -> kvbatch.BatchResult:
    return kvbatch.BatchResult(
        succeeded=("a", "c"), failed={"b": kvbatch.StoreError("disk full")}, unknown=("d",),
        not_attempted=("e",), order=("a", "b", "c", "d", "e"), operation="set_many",
    )


def test_result_is_frozen():
    result = sample()
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.succeeded = ()  # type: ignore[misc]
    with pytest.raises(TypeError):
        result.failed["x"] = kvbatch.StoreError("no")  # type: ignore[index]


def test_total_counts_every_distinct_key_and_all_succeeded_needs_every_one():
    result = sample()
    assert result.total == 5
    assert not result.all_succeeded
    assert kvbatch.BatchResult(succeeded=("a", "b")).all_succeeded


def test_outcomes_keep_input_order():
    assert list(sample().outcomes().items()) == [
        ("a", "succeeded"), ("b", "failed"), ("c", "succeeded"), ("d", "unknown"), ("e", "not_attempted")]
    assert sample().outcome("d") == "unknown"
    with pytest.raises(KeyError):
        sample().outcome("zz")


def test_raise_for_failures_lists_failed_unknown_and_not_attempted_keys():
    with pytest.raises(kvbatch.BatchFailed) as info:
        sample().raise_for_failures()
    message = str(info.value)
    assert "set_many: 2 of 5 keys succeeded" in message
    assert "1 failed ('b'; first error: StoreError: disk full)" in message
    assert "1 unknown ('d')" in message and "1 not attempted ('e')" in message
    assert info.value.failed == ("b",) and info.value.result == sample()


def test_raise_for_failures_returns_the_result_when_all_succeeded():
    result = kvbatch.BatchResult(succeeded=("a",))
    assert result.raise_for_failures() is result


def test_a_key_cannot_be_in_two_groups():
    with pytest.raises(ValueError, match="more than one group"):
        kvbatch.BatchResult(succeeded=("a",), unknown=("a",))


def test_get_result_is_per_key_like_batch_result():
    result = kvbatch.GetResult(succeeded=("a", "b"), failed={"c": kvbatch.StoreError("x")},
                               values={"a": b"1"}, missing=("b",))
    assert isinstance(result, kvbatch.BatchResult)
    assert result.values == {"a": b"1"} and result.get("b") is None and result.get("a") == b"1"
    assert result.outcome("c") == "failed" and result.total == 3


def test_exists_result_is_a_mapping_of_the_keys_answered():
    result = kvbatch.ExistsResult(succeeded=("a", "b"), failed={"c": kvbatch.StoreError("x")},
                                  exists={"a": True, "b": False})
    assert dict(result.items()) == {"a": True, "b": False}
    assert result["a"] and not result["b"] and "c" not in result and len(result) == 2
    assert result.present() == ("a",)


def test_combine_keeps_the_latest_outcome_of_each_key():
    first = kvbatch.BatchResult(succeeded=("a",), failed={"b": kvbatch.StoreError("x")})
    second = kvbatch.BatchResult(succeeded=("b", "c"))
    combined = combine([first, second])
    assert combined.succeeded == ("a", "b", "c") and not combined.failed
    assert combined.duplicates == ("b",)


def test_error_gives_the_error_of_failed_and_unknown_keys():
    result = kvbatch.BatchResult(failed={"a": kvbatch.StoreError("x")}, unknown=("b",),
                                 unknown_errors={"b": kvbatch.StoreError("y")})
    assert result.error("a") == kvbatch.StoreError("x")
    assert result.error("b") == kvbatch.StoreError("y")


def test_combine_keeps_an_earlier_sent_outcome_of_a_key_whose_latest_was_not_attempted():
    first = kvbatch.BatchResult(succeeded=("a",), failed={"b": kvbatch.StoreError("x")})
    later = kvbatch.BatchResult(not_attempted=("a", "b"), succeeded=("c",))
    both = combine([first, later])
    assert both.outcomes() == {"a": "not_attempted", "b": "not_attempted", "c": "succeeded"}
    assert both.earlier.outcomes() == {"a": "succeeded", "b": "failed"} and both.earlier.error("b") == first.failed["b"]


def test_combine_needs_no_earlier_outcome_for_a_key_that_succeeded_last():
    first = kvbatch.BatchResult(failed={"a": kvbatch.StoreError("x")})
    assert combine([first, kvbatch.BatchResult(succeeded=("a",))]).earlier is None


def test_an_earlier_outcome_must_answer_keys_of_the_result_that_did_not_succeed():
    with pytest.raises(ValueError, match="earlier"):
        kvbatch.BatchResult(succeeded=("a",), earlier=kvbatch.BatchResult(succeeded=("a",)))
