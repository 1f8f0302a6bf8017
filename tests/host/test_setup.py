"""Host setup (`kvbatch_host.setup`): one value built once from options, opened in a `with` block."""

from __future__ import annotations

import argparse
import copy
from pathlib import Path

import pytest

from kvbatch_host import cli
from kvbatch_host.backends import STORE_URLS
from kvbatch_host import ConfigError, HostKvError
from kvbatch_host.faults import FaultLayer, FaultPlan, FaultPlanError
from kvbatch_host.pytest_plugin import KvbatchHarness
from kvbatch_host.setup import HostOptions


def parse(*argv: str) -> argparse.Namespace:
    return cli.parser(argv[0]).parse_args(list(argv))


def help_of(command: str) -> str:
    for action in cli.parser(command)._subparsers._group_actions:  # type: ignore[union-attr]
        return action.choices[command].format_help()  # type: ignore[index]
    raise AssertionError(command)


@pytest.mark.parametrize("command", ["run", "demo", "serve"])
def test_every_host_command_offers_every_store_url_and_the_fault_options(command: str) -> None:
    text = " ".join(help_of(command).split())
    assert STORE_URLS in text
    for option in ("--store", "--runtime-config", "--fault", "--fault-file", "--events"):
        assert option in text


def test_check_names_every_store_url_for_its_backend() -> None:
    assert STORE_URLS in " ".join(help_of("check").split())


def test_options_from_run_arguments_carry_every_host_option() -> None:
    args = parse("run", "x.wasm", "--store", "memory:", "--store", "c=memory:", "--allow-store", "default",
                 "--fault", "op=set,nth=2,error=other", "--events", "ev.jsonl", "--batch", "provider",
                 "--provider", "p.wasm", "--no-bridge")
    options = HostOptions.from_args(args)
    assert options.stores == ("memory:", "c=memory:")
    assert options.allow == ("default",)
    assert [rule.source for rule in options.plan.rules] == ["op=set,nth=2,error=other"]
    assert (options.events_path, options.batch, options.provider, options.bridge) == ("ev.jsonl", "provider", Path("p.wasm"), False)


def test_building_options_never_writes_to_the_arguments() -> None:
    args = parse("demo", "--fault", "op=get,latency=1ms")
    before = copy.deepcopy(vars(args))
    HostOptions.from_args(args).with_stores("memory:")
    assert vars(args) == before


def test_the_fault_file_and_the_rules_make_one_plan(tmp_path: Path) -> None:
    plan = tmp_path / "plan.json"
    plan.write_text('[{"op": "delete", "error": "access-denied"}]')
    options = HostOptions.from_args(parse("run", "x.wasm", "--fault", "op=get,latency=1ms", "--fault-file", str(plan)))
    assert [rule.effect for rule in options.plan.rules] == ["latency", "error"]


def test_a_malformed_rule_fails_when_the_options_are_built_before_any_store_opens(tmp_path: Path) -> None:
    db = tmp_path / "kv.db"
    with pytest.raises(FaultPlanError, match="unknown op 'put'"):
        HostOptions.from_args(parse("run", "x.wasm", "--store", f"sqlite:{db}", "--fault", "op=put,error=other"))
    assert not db.exists()


def test_a_provider_outside_provider_mode_is_refused() -> None:
    with pytest.raises(ConfigError, match="--provider goes with --batch provider, not --batch native"):
        HostOptions.from_args(parse("run", "x.wasm", "--batch", "native", "--provider", "p.wasm"))


def test_without_a_plan_or_log_the_stores_are_served_directly() -> None:
    with HostOptions(stores=("memory:",)).open() as host:
        assert host.events is None and host.layers == []
        assert not isinstance(host.registry.open("default"), FaultLayer)


def test_a_plan_puts_one_layer_per_backend_sharing_the_event_log() -> None:
    options = HostOptions(stores=("a=memory:", "b=memory:", "c=memory://"), plan=FaultPlan.parse(["op=get,latency=1ms"]))
    with options.open() as host:
        assert len(host.layers) == 2
        assert host.registry.open("a") is host.registry.open("b")
        assert all(layer.events is host.events for layer in host.layers)


def test_nothing_configured_serves_default_from_the_default_url() -> None:
    with HostOptions(default_url="memory:").open() as host:
        assert list(host.registry.backends) == ["default"]
        assert host.registry.backends["default"].url == "memory:"


def test_serving_allowed_names_gives_each_unconfigured_one_the_default_backend() -> None:
    options = HostOptions(stores=("a=memory:",), allow=("a", "b", "c"), default_url="memory:", serve_allowed=True)
    with options.open() as host:
        backends = host.registry.backends
        assert backends["b"] is backends["c"] is not backends["a"]
        assert host.registry.allowed == {"a", "b", "c"}


def test_an_event_log_that_cannot_open_closes_the_stores_it_opened(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    closed: list[str] = []
    from kvbatch_host.backends.memory import MemoryBackend

    monkeypatch.setattr(MemoryBackend, "close", lambda self: closed.append(self.url))
    with pytest.raises(ConfigError, match="event log"):
        HostOptions(stores=("memory:",), events_path=str(tmp_path)).open()
    assert closed == ["memory:"]


def test_closing_the_host_closes_the_stores_and_the_event_log(tmp_path: Path) -> None:
    options = HostOptions(stores=(f"sqlite:{tmp_path / 'kv.db'}",), events_path=str(tmp_path / "ev.jsonl"))
    with options.open() as host:
        host.registry.open("default").set("default", "k", b"v")
    assert host.events is not None and host.events.sink is None
    assert (tmp_path / "ev.jsonl").read_text().count("\n") == 1


def test_the_harness_takes_the_mode_provider_and_bridge_of_the_options() -> None:
    with HostOptions(stores=("memory:",), batch="native", bridge=False).open() as host:
        harness = host.harness()
        assert (harness.batch, harness.bridge, harness.registry) == ("native", False, host.registry)
        assert host.harness("none").batch == "none"


def test_the_pytest_plugin_builds_the_same_options_from_its_calls() -> None:
    harness = KvbatchHarness().store("memory:", name="cache").fault("op=set,nth=1,error=other")
    options = harness.options()
    assert options.stores == ("cache=memory:",)
    assert harness.rules == ["op=set,nth=1,error=other"]
    with pytest.raises(HostKvError):
        harness.registry.open("cache").set("cache", "k", b"v")
    assert [event.fault for event in harness.events] == ["error"]
    harness.close()


def test_the_host_package_exports_its_public_names_and_loads_them_on_first_use() -> None:
    import subprocess
    import sys

    code = ("import sys, kvbatch_host; print('kvbatch_host.runner' in sys.modules); "
            "from kvbatch_host import Harness, StoreRegistry, FaultPlan, EventLog, HarnessBucket, HostKvError, ConfigError; "
            "print(Harness.__module__, StoreRegistry.__module__, HarnessBucket.__module__)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["False", "kvbatch_host.runner", "kvbatch_host.backends.stores", "kvbatch_host.host_bucket"]


def test_a_backend_declares_whether_its_batches_are_atomic_and_the_layer_takes_it_over() -> None:
    from kvbatch_host.backends import MemoryBackend

    class Sharded(MemoryBackend):
        atomic_batches = False

    assert FaultLayer(MemoryBackend()).atomic_batches and not FaultLayer(Sharded()).atomic_batches
