"""Fault plans: the command-line form, JSON and TOML files, and the errors for malformed plans."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kvbatch_host import ConfigError
from kvbatch_host.faults import FaultPlan, FaultPlanError, PositionSet, parse_rule


def test_a_command_line_rule_parses_every_field() -> None:
    rule = parse_rule("op=set|delete,key=user:*,store=default,batch=set-many,position=1-3,times=2,error=other:disk full")
    assert rule.ops == frozenset({"set", "delete"})
    assert rule.key == "user:*"
    assert rule.store == "default"
    assert rule.batch == "set-many"
    assert rule.positions is not None and rule.positions.ranges == ((1, 3),)
    assert rule.times == 2
    assert rule.error == ("other", "disk full")
    assert rule.effect == "error"


def test_in_doubt_is_an_error_returned_after_the_operation() -> None:
    rule = parse_rule("op=set,nth=3,in-doubt=other:timeout")
    assert rule.error == ("other", "timeout")
    assert rule.in_doubt and rule.effect == "in-doubt"
    assert rule.nth == 3


def test_capability_errors_take_no_message() -> None:
    assert parse_rule("op=get,error=access-denied").error == ("access-denied", "access-denied")
    with pytest.raises(FaultPlanError, match="access-denied carries no message"):
        parse_rule("op=get,error=access-denied:nope")


def test_an_other_error_without_message_gets_the_default_message() -> None:
    assert parse_rule("error=other").error == ("other", "injected fault")


def test_latency_accepts_milliseconds_and_seconds() -> None:
    assert parse_rule("latency=50ms").latency_ms == 50.0
    assert parse_rule("latency=0.2s").latency_ms == 200.0
    assert parse_rule("latency=7").latency_ms == 7.0
    assert parse_rule("latency=5ms,error=other:slow then failed").effect == "error"


def test_trap_without_message_gets_a_default_message() -> None:
    assert parse_rule("op=set,trap").trap == "injected host trap"
    assert parse_rule("op=set,trap=boom").trap == "boom"


def test_a_quoted_value_may_hold_commas() -> None:
    assert parse_rule('op=set,error="other:disk full, really"').error == ("other", "disk full, really")


def test_positions_accept_lists_and_ranges() -> None:
    assert parse_rule("position=0|4|6-7,error=other").positions == PositionSet(((0, 0), (4, 4), (6, 7)))


@pytest.mark.parametrize(
    "spec, problem",
    [
        ("op=sett,error=other", "unknown op 'sett'; expected one of get, set"),
        ("op=set-many,error=other", "op=set-many is a batch call"),
        ("opp=set,error=other", "unknown field 'opp'"),
        ("op=set", "the rule has no effect"),
        ("", "empty rule"),
        ("op=set,error=fatal", "unknown error kind 'fatal'"),
        ("op=set,error=other,trap", "error and trap exclude each other"),
        ("op=set,error=other,in-doubt=other", "error and in-doubt exclude each other"),
        ("position=-1,error=other", "position='-1'"),
        ("position=3-1,error=other", "position range 3-1 is empty"),
        ("nth=0,error=other", "nth=0 must be at least 1"),
        ("nth=x,error=other", "nth='x' is not an integer"),
        ("nth=2,times=2,error=other", "not both"),
        ("latency=fast", "latency='fast'"),
        ("latency=2h", "latency='2h'"),
        ("latency=120s", "outside 0..60 s"),
        ("batch=sets,error=other", "batch='sets'"),
        ("key=,error=other", "key= needs a non-empty text value"),
        ("op=set,error=other,op=get", "field 'op' given twice"),
        ('error="other:unclosed', "unbalanced double quote"),
    ],
)
def test_malformed_rules_are_rejected_with_the_problem_named(spec: str, problem: str) -> None:
    with pytest.raises(FaultPlanError) as caught:
        parse_rule(spec, 2)
    assert problem in str(caught.value)
    assert "fault rule 2" in str(caught.value)


def test_a_plan_error_is_a_config_error() -> None:
    assert issubclass(FaultPlanError, ConfigError)


def test_plans_from_several_command_line_rules_keep_their_order() -> None:
    plan = FaultPlan.parse(["op=get,latency=1ms", "op=set,error=other:x"])
    assert [r.effect for r in plan.rules] == ["latency", "error"]


def test_a_json_file_holds_a_list_of_rules(tmp_path: Path) -> None:
    path = tmp_path / "plan.json"
    path.write_text(json.dumps({"faults": [{"op": ["set", "delete"], "position": [1, 2], "error": "other:disk full"},
                                           {"op": "get", "latency": 5}]}))
    plan = FaultPlan.load(path)
    assert plan.rules[0].ops == frozenset({"set", "delete"})
    assert plan.rules[0].positions == PositionSet(((1, 2),))
    assert plan.rules[1].latency_ms == 5.0


def test_a_toml_file_holds_fault_tables(tmp_path: Path) -> None:
    path = tmp_path / "plan.toml"
    path.write_text('[[fault]]\nop = "set"\nnth = 3\nin_doubt = "other:timeout"\n\n[[fault]]\nkey = "user:*"\ntrap = "boom"\n')
    plan = FaultPlan.load(path)
    assert [r.effect for r in plan.rules] == ["in-doubt", "trap"]
    assert plan.rules[0].nth == 3


@pytest.mark.parametrize(
    "name, text, problem",
    [
        ("plan.json", "{not json", "invalid JSON"),
        ("plan.toml", "[[fault]\n", "invalid TOML"),
        ("plan.yaml", "[]", "expected a .json or .toml file"),
        ("plan.json", '{"rules": []}', "unknown top-level key(s) rules"),
        ("plan.json", '{"faults": {"op": "set"}}', "expected a list of fault rules"),
        ("plan.json", '["op=set"]', "rule 1 is a str"),
        ("plan.json", '[{"op": "set", "error": "other"}, {"op": "put", "error": "other"}]', "rule 2"),
    ],
)
def test_malformed_plan_files_are_rejected_naming_the_file_and_problem(tmp_path: Path, name: str, text: str,
                                                                       problem: str) -> None:
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(FaultPlanError) as caught:
        FaultPlan.load(path)
    assert problem in str(caught.value)
    assert name in str(caught.value)


def test_a_missing_plan_file_is_reported_by_name(tmp_path: Path) -> None:
    with pytest.raises(FaultPlanError, match="nowhere.json.*cannot read"):
        FaultPlan.load(tmp_path / "nowhere.json")


def test_key_alternatives_match_any_of_their_globs() -> None:
    rule = parse_rule("op=set,key=user:1|cache:*,error=other")
    assert rule.matches("set", "default", "user:1", None, None)
    assert rule.matches("set", "default", "cache:9", None, None)
    assert not rule.matches("set", "default", "user:2", None, None)


def test_key_alternatives_in_a_file_are_a_list(tmp_path: Path) -> None:
    path = tmp_path / "plan.json"
    path.write_text(json.dumps([{"op": "set", "key": ["a", "b*"], "error": "other"}]))
    rule = FaultPlan.load(path).rules[0]
    assert rule.matches("set", "s", "a", None, None) and rule.matches("set", "s", "bee", None, None)
    assert not rule.matches("set", "s", "c", None, None)


def test_an_empty_key_alternative_is_rejected() -> None:
    with pytest.raises(FaultPlanError, match="empty alternative"):
        parse_rule("op=set,key=a||b,error=other")
