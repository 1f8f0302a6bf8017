"""What `kvbatch serve` takes from spin.toml: the HTTP route, the component, its stores and variables."""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional

from kvbatch_host.errors import ConfigError

_TEMPLATE = re.compile(r"\{\{\s*([a-z][a-z0-9_]*)\s*\}\}")


@dataclass(frozen=True)
class Route:
    """A `[[trigger.http]]` route: `/kv/...` (a prefix, wildcard) or an exact path."""

    route: str

    @property
    def prefix(self) -> str:
        return self.route[: -len("/...")] if self.route.endswith("/...") else self.route.rstrip("/")

    @property
    def wildcard(self) -> bool:
        return self.route.endswith("/...")

    def path_info(self, path: str) -> Optional[str]:
        """The path after the route (`spin-path-info`, as Spin sets it), or `None` when `path` is not routed here."""
        prefix = self.prefix
        if path == prefix or (prefix == "" and path == "/"):
            return "" if prefix else path
        if self.wildcard and path.startswith(prefix + "/"):
            return path[len(prefix):]
        return None


@dataclass
class Manifest:
    """The one HTTP component of a spin.toml, as `kvbatch serve` serves it."""

    path: Path
    component: str
    source: Path
    route: Route
    stores: List[str]
    variables: Dict[str, str] = field(default_factory=dict)
    """Component variables with application variables substituted."""


def _table(data: Mapping[str, Any], key: str, where: str) -> Dict[str, Any]:
    value = data.get(key, {})
    if not isinstance(value, dict):
        raise ConfigError(f"{where}: [{key}] is not a table")
    return value


def application_variable(name: str, spec: Any, environ: Mapping[str, str]) -> Optional[str]:
    """The value of application variable `name` as `spin up` resolves it: `SPIN_VARIABLE_<NAME>`, else its default."""
    env = "SPIN_VARIABLE_" + name.upper()
    if env in environ:
        return environ[env]
    if isinstance(spec, dict) and "default" in spec:
        return str(spec["default"])
    return None


def load(path: Path, environ: Optional[Mapping[str, str]] = None) -> Manifest:
    """Reads `path`; raises `ConfigError` naming the file and the problem (a required variable unset included)."""
    environ = os.environ if environ is None else environ
    where = str(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"manifest {where!r} does not exist (--manifest names a spin.toml)") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
        raise ConfigError(f"manifest {where!r} is not valid TOML: {err}") from None
    if data.get("spin_manifest_version") != 2:
        raise ConfigError(f"manifest {where!r}: spin_manifest_version = 2 is the only version kvbatch serve reads")
    triggers = data.get("trigger", {}).get("http", [])
    if not isinstance(triggers, list) or not triggers:
        raise ConfigError(f"manifest {where!r} has no [[trigger.http]] route")
    if len(triggers) > 1:
        raise ConfigError(f"manifest {where!r} has {len(triggers)} [[trigger.http]] routes; kvbatch serve serves one")
    trigger = triggers[0]
    route, component = trigger.get("route"), trigger.get("component")
    if not isinstance(route, str) or not route.startswith("/"):
        raise ConfigError(f"manifest {where!r}: [[trigger.http]] route must be a path starting with '/', got {route!r}")
    components = _table(data, "component", where)
    spec = components.get(component) if isinstance(component, str) else None
    if not isinstance(spec, dict):
        raise ConfigError(f"manifest {where!r}: the route's component {component!r} has no [component.{component}] table")
    source = spec.get("source")
    if not isinstance(source, str):
        raise ConfigError(f"manifest {where!r}: [component.{component}] source must be a path to a .wasm file")
    stores = spec.get("key_value_stores", [])
    if not isinstance(stores, list) or not all(isinstance(s, str) for s in stores):
        raise ConfigError(f"manifest {where!r}: [component.{component}] key_value_stores must be a list of store names")
    app_vars = _table(data, "variables", where)
    variables: Dict[str, str] = {}
    for name, template in _table(spec, "variables", f"{where} [component.{component}]").items():
        def substitute(match: "re.Match[str]") -> str:
            ref = match.group(1)
            if ref not in app_vars:
                raise ConfigError(f"manifest {where!r}: variable {name!r} refers to {{{{ {ref} }}}}, "
                                  "which [variables] does not declare")
            value = application_variable(ref, app_vars[ref], environ)
            if value is None:
                raise ConfigError(f"no value for required variable {ref!r} (set SPIN_VARIABLE_{ref.upper()}, "
                                  "as for spin up)")
            return value
        variables[name] = _TEMPLATE.sub(substitute, str(template))
    return Manifest(path, component, (path.parent / source), Route(route), list(stores), variables)
