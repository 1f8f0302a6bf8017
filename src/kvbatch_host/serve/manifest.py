"""What `kvbatch serve` takes from a spin.toml: every HTTP route, the component each leads to, and
each component's source, stores, variables and build command.

Read as `spin up` reads a version 2 manifest: `[[trigger.http]]` entries name a component (by id
or as an inline table) and a route (`{ private = true }` routes are not served); component
variables are templates over the application's `[variables]`, each resolved from
`SPIN_VARIABLE_<NAME>` or its default; sources and build working directories are relative to
the manifest's directory.
"""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Tuple

from kvbatch_host.errors import ConfigError
from kvbatch_host.serve.routes import Route, check_route

_TEMPLATE = re.compile(r"\{\{\s*([a-z][a-z0-9_]*)\s*\}\}")


@dataclass(frozen=True)
class BuildStep:
    """A component's `[component.NAME.build]`: shell commands run in `workdir`, in order."""

    commands: Tuple[str, ...]
    workdir: Path


@dataclass
class Component:
    """One served component: where its wasm is, the stores it may open, its resolved variables."""

    name: str
    source: Path
    stores: List[str]
    variables: Dict[str, str] = field(default_factory=dict)
    """Component variables with application variables substituted."""
    build: Optional[BuildStep] = None


@dataclass(frozen=True)
class Trigger:
    """A served `[[trigger.http]]`: its route and the component it leads to."""

    route: Route
    component: str


@dataclass
class Manifest:
    """The HTTP part of a spin.toml, as `kvbatch serve` serves it."""

    path: Path
    triggers: List[Trigger]
    components: Dict[str, Component]
    """The components some route leads to, in the order their first route appears."""

    def routes_of(self, component: str) -> List[Route]:
        return [t.route for t in self.triggers if t.component == component]


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


def _variables(spec: Mapping[str, Any], app_vars: Mapping[str, Any], environ: Mapping[str, str], where: str,
               component: str) -> Dict[str, str]:
    variables: Dict[str, str] = {}
    for name, template in _table(spec, "variables", f"{where} [component.{component}]").items():
        def substitute(match: "re.Match[str]") -> str:
            ref = match.group(1)
            if ref not in app_vars:
                raise ConfigError(f"manifest {where!r}: variable {name!r} of component {component!r} refers to "
                                  f"{{{{ {ref} }}}}, which [variables] does not declare")
            value = application_variable(ref, app_vars[ref], environ)
            if value is None:
                raise ConfigError(f"no value for required variable {ref!r} (set SPIN_VARIABLE_{ref.upper()}, "
                                  "as for spin up)")
            return value
        variables[name] = _TEMPLATE.sub(substitute, str(template))
    return variables


def _build_step(spec: Mapping[str, Any], base: Path, where: str, component: str) -> Optional[BuildStep]:
    build = spec.get("build")
    if build is None:
        return None
    label = f"manifest {where!r}: [component.{component}.build]"
    if not isinstance(build, dict):
        raise ConfigError(f"{label} is not a table")
    command = build.get("command")
    commands = [command] if isinstance(command, str) else command
    if not isinstance(commands, list) or not commands or not all(isinstance(c, str) and c.strip() for c in commands):
        raise ConfigError(f"{label} command must be a command line or a list of them")
    workdir = build.get("workdir", ".")
    if not isinstance(workdir, str) or Path(workdir).is_absolute():
        raise ConfigError(f"{label} workdir must be a path relative to the manifest's directory")
    return BuildStep(tuple(commands), base / workdir)


def _component(name: str, spec: Any, base: Path, app_vars: Mapping[str, Any], environ: Mapping[str, str],
               where: str) -> Component:
    if not isinstance(spec, dict):
        raise ConfigError(f"manifest {where!r}: a route's component {name!r} has no [component.{name}] table")
    source = spec.get("source")
    if isinstance(source, dict):
        raise ConfigError(f"manifest {where!r}: [component.{name}] source is a remote (url) source; kvbatch serve "
                          "serves local .wasm files (download it and name its path)")
    if not isinstance(source, str):
        raise ConfigError(f"manifest {where!r}: [component.{name}] source must be a path to a .wasm file")
    stores = spec.get("key_value_stores", [])
    if not isinstance(stores, list) or not all(isinstance(s, str) for s in stores):
        raise ConfigError(f"manifest {where!r}: [component.{name}] key_value_stores must be a list of store names")
    return Component(name, base / source, list(stores), _variables(spec, app_vars, environ, where, name),
                     _build_step(spec, base, where, name))


def load(path: Path, environ: Optional[Mapping[str, str]] = None) -> Manifest:
    """Reads `path`; raises `ConfigError` naming the file and the problem (a required variable unset,
    a route two components claim, a component without a table included)."""
    environ = os.environ if environ is None else environ
    where = str(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"manifest {where!r} does not exist (--manifest names a spin.toml)") from None
    except IsADirectoryError:
        raise ConfigError(f"manifest {where!r} is a directory (--manifest names a spin.toml file)") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
        raise ConfigError(f"manifest {where!r} is not valid TOML: {err}") from None
    if data.get("spin_manifest_version") != 2:
        raise ConfigError(f"manifest {where!r}: spin_manifest_version = 2 is the only version kvbatch serve reads")
    triggers = _table(data, "trigger", where).get("http", [])
    if not isinstance(triggers, list) or not triggers:
        raise ConfigError(f"manifest {where!r} has no [[trigger.http]] route")
    base = path.parent
    app_vars = _table(data, "variables", where)
    declared = _table(data, "component", where)
    components: Dict[str, Component] = {}
    served: List[Trigger] = []
    claimed: Dict[str, str] = {}
    for index, trigger in enumerate(triggers):
        if not isinstance(trigger, dict):
            raise ConfigError(f"manifest {where!r}: [[trigger.http]] number {index + 1} is not a table")
        label = f"manifest {where!r}: [[trigger.http]] number {index + 1}"
        if "executor" in trigger and (trigger["executor"] or {}).get("type", "http") != "http":
            raise ConfigError(f"{label}: executor {trigger['executor'].get('type')!r} is not served (kvbatch serve "
                              "serves wasi:http components)")
        ref = trigger.get("component")
        if isinstance(ref, dict):  # an inline component: named after the trigger's id
            name = str(trigger.get("id") or f"inline-component-{index + 1}")
            spec: Any = ref
        elif isinstance(ref, str):
            name, spec = ref, declared.get(ref)
        else:
            raise ConfigError(f"{label}: component must name a [component.NAME] or be an inline table")
        raw = trigger.get("route")
        if isinstance(raw, dict) and raw.get("private") is True:
            continue  # private endpoints are reachable only from other components, never routed
        route = check_route(raw, label)
        key = route.matched_route
        owner = claimed.get(key)
        if owner is not None and owner != name:
            raise ConfigError(f"manifest {where!r}: route {route.route!r} is claimed by components {owner!r} and "
                              f"{name!r}; a route leads to one component")
        if owner is None:
            claimed[key] = name
            served.append(Trigger(route, name))
        if name not in components:
            components[name] = _component(name, spec, base, app_vars, environ, where)
    if not served:
        raise ConfigError(f"manifest {where!r} has no public [[trigger.http]] route (all are private)")
    return Manifest(path, served, components)
