"""Which store names a component can open, and which backend serves each.

Like Spin's runtime config plus a component's `key_value_stores` list: `StoreRegistry` maps
store names to backends, and an optional allow-list says which of them this component may
open. Opening a name outside the allow-list gives `access-denied`; a name no backend serves
gives `no-such-store`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Dict, Iterable, List, Optional, Sequence, Set, TypeVar

from kvbatch_host.backends import DEFAULT_STORE_URL, Backend, open_backend
from kvbatch_host.errors import ConfigError, HostKvError

W = TypeVar("W", bound=Backend)

DEFAULT_STORE = "default"
"""The store name a component gets when the configuration names none (as in Spin)."""


@dataclass
class StoreRegistry:
    """Store name → backend, plus the allow-list of names a component may open."""

    backends: Dict[str, Backend] = field(default_factory=dict)
    allowed: Optional[Set[str]] = None

    def add(self, name: str, backend: Backend) -> "StoreRegistry":
        self.backends[name] = backend
        return self

    def open(self, name: str) -> Backend:
        """The backend for store `name`, or `HostKvError` as `wasi:keyvalue/store.open` reports it."""
        if self.allowed is not None and name not in self.allowed:
            raise HostKvError("access-denied")
        backend = self.backends.get(name)
        if backend is None:
            raise HostKvError("no-such-store")
        return backend

    def distinct(self) -> List[Backend]:
        """Each backend once, in the order of the first store it serves."""
        return list({id(b): b for b in self.backends.values()}.values())

    def wrap(self, wrapper: Callable[[Backend], W]) -> List[W]:
        """Puts `wrapper(backend)` in front of every backend (once per backend: stores that share
        one share its wrapper); returns the wrappers, one per backend."""
        made: Dict[int, W] = {}
        for name, backend in list(self.backends.items()):
            wrapped = made.get(id(backend))
            if wrapped is None:
                wrapped = made[id(backend)] = wrapper(backend)
            self.backends[name] = wrapped
        return list(made.values())

    def serve_unconfigured(self, names: Sequence[str], url: str) -> "StoreRegistry":
        """Serves every store of `names` that no backend serves yet from one backend at `url`."""
        missing = [name for name in names if name not in self.backends]
        if missing:
            backend = open_backend(url)
            for name in missing:
                self.add(name, backend)
        return self

    def close(self) -> None:
        for backend in self.distinct():
            backend.close()

    @classmethod
    def from_specs(cls, specs: Iterable[str], allow: Optional[Iterable[str]] = None) -> "StoreRegistry":
        """Builds a registry from `--store` specs: `URL` (serves store `default`) or `NAME=URL`.

        With no specs, store `default` is served from `DEFAULT_STORE_URL`. Names mapped to
        the same URL share one backend. `allow`, when given, is the allow-list.
        """
        registry = cls(allowed=set(allow) if allow is not None else None)
        by_url: Dict[str, Backend] = {}
        parsed: List[tuple[str, str]] = []
        for spec in specs or [DEFAULT_STORE_URL]:
            name, url = _split_spec(spec)
            parsed.append((name, url))
        for name, url in parsed:
            if name in registry.backends:
                raise ConfigError(f"store {name!r} is configured twice")
            backend = by_url.get(url) or open_backend(url)
            by_url[url] = backend
            registry.add(name, backend)
        return registry


def _split_spec(spec: str) -> tuple[str, str]:
    head, sep, tail = spec.partition("=")
    if sep and ":" not in head:
        if not tail:
            raise ConfigError(f"store spec {spec!r} names no URL after '='")
        return head, tail
    return DEFAULT_STORE, spec
