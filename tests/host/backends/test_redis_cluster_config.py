"""`redis+cluster://` store URLs and `type = "redis-cluster"` runtime configs: accepted forms and
one-line errors for every malformed one (no cluster needed)."""

from __future__ import annotations

from pathlib import Path

import pytest

from kvbatch_host.backends.redis_cluster import DEFAULT_NAMESPACE, SOCKET_TIMEOUT_S, parse_cluster_url
from kvbatch_host.cli import main
from kvbatch_host import ConfigError
from kvbatch_host.backends.runtime_config import store_specs


def test_a_url_names_every_startup_node_in_order() -> None:
    parsed = parse_cluster_url("redis+cluster://127.0.0.1:7000,localhost:7001,[::1]:7002")
    assert parsed.nodes == (("127.0.0.1", 7000), ("localhost", 7001), ("::1", 7002))
    assert parsed.namespace == DEFAULT_NAMESPACE
    assert parsed.timeout == SOCKET_TIMEOUT_S


def test_namespace_and_timeout_come_from_the_query() -> None:
    parsed = parse_cluster_url("redis+cluster://h:1/?namespace=app&timeout=0.5")
    assert (parsed.namespace, parsed.timeout) == ("app", 0.5)


@pytest.mark.parametrize(
    "url, problem",
    [
        ("redis+cluster://", "names no node"),
        ("redis+cluster://?namespace=x", "names no node"),
        ("redis+cluster://h:1,,h:2", "node 2 is empty"),
        ("redis+cluster://h:1,", "node 2 is empty"),
        ("redis+cluster://h", "node 1 'h' is not HOST:PORT"),
        ("redis+cluster://:7000", "node 1 ':7000' is not HOST:PORT"),
        ("redis+cluster://h:port", "port must be a number in 1..65535"),
        ("redis+cluster://h:0", "port must be a number in 1..65535"),
        ("redis+cluster://h:65536", "port must be a number in 1..65535"),
        ("redis+cluster://user:pw@h:1", "credentials in the URL are not supported"),
        ("redis+cluster://h:1/0", "no path is allowed after the nodes (got /0)"),
        ("redis+cluster://h:1?db=0", "unknown parameter 'db'; expected namespace or timeout"),
        ("redis+cluster://h:1?namespace=a&namespace=b", "parameter 'namespace' is given twice"),
        ("redis+cluster://h:1?namespace=", "namespace must be non-empty"),
        ("redis+cluster://h:1?namespace=a:b", "hold no ':'"),
        ("redis+cluster://h:1?namespace={tag}", "'{' or '}'"),
        ("redis+cluster://h:1?timeout=soon", "timeout must be a number of seconds, got 'soon'"),
        ("redis+cluster://h:1?timeout=0", "timeout must be in (0, 300] seconds"),
        ("redis+cluster://h:1?timeout=301", "timeout must be in (0, 300] seconds"),
        ("redis+cluster://h:1#frag", "a #fragment is not allowed"),
    ],
)
def test_a_malformed_url_is_refused_naming_the_problem(url: str, problem: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_cluster_url(url)
    assert problem in str(caught.value)
    assert repr(url) in str(caught.value)


def test_the_cli_reports_a_malformed_cluster_url_in_one_line_with_status_2(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["check", "--native", "--store", "redis+cluster://h:1,,h:2"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("kvbatch: ") and err.count("\n") == 1 and "node 2 is empty" in err


def test_an_unreachable_cluster_is_a_one_line_config_error(capsys: pytest.CaptureFixture[str]) -> None:
    from kvbatch_host.redis_server import free_port

    code = main(["check", "--native", "--store", f"redis+cluster://127.0.0.1:{free_port()}?timeout=1"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("kvbatch: ") and err.count("\n") == 1 and "no node of the cluster answered" in err


def write_config(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "runtime-config.toml"
    path.write_text(body)
    return path


def test_a_redis_cluster_runtime_config_becomes_a_cluster_store_url(tmp_path: Path) -> None:
    path = write_config(tmp_path, '[key_value_store.default]\ntype = "redis-cluster"\n'
                                  'urls = ["redis://127.0.0.1:7000", "redis://127.0.0.1:7001/"]\nnamespace = "app"\n')
    assert store_specs(path) == ["default=redis+cluster://127.0.0.1:7000,127.0.0.1:7001?namespace=app"]


@pytest.mark.parametrize(
    "table, problem",
    [
        ('type = "redis-cluster"', 'needs urls = ["redis://HOST:PORT", ...]'),
        ('type = "redis-cluster"\nurls = []', 'needs urls = ["redis://HOST:PORT", ...]'),
        ('type = "redis-cluster"\nurls = "redis://h:1"', 'needs urls = ["redis://HOST:PORT", ...]'),
        ('type = "redis-cluster"\nurls = ["h:1"]', "urls[1] is 'h:1'"),
        ('type = "redis-cluster"\nurls = ["redis://h:1/3"]', "with no database, parameters or credentials"),
        ('type = "redis-cluster"\nurls = ["redis://h:1"]\nnamespace = 3', "namespace must be a string"),
        ('type = "redis-cluster"\nurls = ["redis://h:1"]\npassword = "x"', "unknown setting(s) password"),
        ('type = "redis-cluster"\nurls = ["redis://h:x"]', "port must be a number in 1..65535"),
    ],
)
def test_a_malformed_redis_cluster_table_is_refused_naming_the_table(tmp_path: Path, table: str, problem: str) -> None:
    path = write_config(tmp_path, f"[key_value_store.cache]\n{table}\n")
    with pytest.raises(ConfigError) as caught:
        store_specs(path)
    assert "[key_value_store.cache]" in str(caught.value) and problem in str(caught.value)
