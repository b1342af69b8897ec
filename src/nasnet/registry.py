"""One registry pattern for every kind of plug-in: ops, models, strategies, evaluators, rewards,
executors and datasets.

As in timm's ``_registry.py``, a registry never imports its plug-ins. A plug-in module registers
itself when it is imported (``@STRATEGIES.register("rl")``), and the package that owns the kind
imports its built-in plug-ins in its ``__init__``. Plug-ins from outside the package arrive in two
ways:

* an installed distribution's entry point in the kind's group (``nasnet.strategies``, ...), loaded
  the first time the registry is asked for a name it lacks or for its list of names;
* ``--plugin module`` on the command line (`load_plugins`), which imports the module, whose own
  registration lines do the rest. The loaded modules are remembered (`loaded_plugins`) so that
  worker processes and resumed experiments import them too.
"""

from __future__ import annotations

import importlib
import inspect
import warnings
from collections.abc import Iterable, Iterator
from importlib.metadata import entry_points
from typing import Any, Generic, TypeVar

from nasnet.errors import NasnetError, exception_summary, short_repr

T = TypeVar("T")


class RegistryError(NasnetError, ValueError):
    """An unknown name, a name registered twice, or a plug-in that cannot be imported."""


class PluginWarning(RuntimeWarning):
    """An installed entry point could not be loaded; the rest of nasnet works without it."""


class Registry(Generic[T]):
    """Names to plug-ins of one ``kind`` (e.g. ``strategy``), filled at import, extended by entry points.

    ``error`` is the exception class raised for an unknown name, so that each layer keeps its own
    error type (a `StrategyError` for strategies, ...).
    """

    def __init__(self, kind: str, group: str, error: type[NasnetError] = RegistryError) -> None:
        self.kind = kind
        self.group = group
        self.error = error
        self._items: dict[str, T] = {}
        self._entry_points_loaded = False

    def register(self, name: str, item: T | None = None) -> Any:
        """Register ``item`` as ``name``; without ``item``, a decorator that registers what it decorates."""
        if item is None:

            def decorator(obj: T) -> T:
                self._add(name, obj)
                return obj

            return decorator
        self._add(name, item)
        return item

    def _add(self, name: str, item: T) -> None:
        if not isinstance(name, str) or not name.strip():
            raise RegistryError(f"a {self.kind} needs a non-empty name, got {short_repr(name)}")
        existing = self._items.get(name)
        if existing is not None and existing is not item:
            raise RegistryError(f"{self.kind} {name!r} is already registered ({_describe(existing)})")
        self._items[name] = item

    def unregister(self, name: str) -> None:
        """Forget ``name`` (a test's toy plug-in, say); an unknown name is an error, as in `get`."""
        self.get(name)
        del self._items[name]

    def get(self, name: str) -> T:
        """The plug-in registered as ``name``; an error naming the known ones if there is none."""
        if name not in self._items:
            self.load_entry_points()
        if name not in self._items:
            raise self.error(f"unknown {self.kind} {short_repr(name)}; known: {', '.join(self.names())}")
        return self._items[name]

    def names(self) -> list[str]:
        """Every registered name, sorted (for CLI choices and ``--help``)."""
        self.load_entry_points()
        return sorted(self._items)

    def __contains__(self, name: object) -> bool:
        if name not in self._items:
            self.load_entry_points()
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def items(self) -> list[tuple[str, T]]:
        self.load_entry_points()
        return sorted(self._items.items())

    def load_entry_points(self) -> None:
        """Import every installed entry point of this registry's group, once.

        An entry point may name a module (which registers what it defines) or an object, which is
        registered under the entry point's name unless loading it already registered that name.
        One that fails to load is skipped with a `PluginWarning`: a broken third-party package must
        not take the rest of nasnet down with it.
        """
        if self._entry_points_loaded:
            return
        self._entry_points_loaded = True
        for point in entry_points(group=self.group):
            try:
                loaded = point.load()
            except Exception as err:
                warnings.warn(
                    f"entry point {point.name} = {point.value} ({self.group}) not loaded: {exception_summary(err)}",
                    PluginWarning,
                    stacklevel=2,
                )
                continue
            if point.name not in self._items and not inspect.ismodule(loaded):
                self._add(point.name, loaded)


def _describe(item: Any) -> str:
    return f"{getattr(item, '__module__', '?')}.{getattr(item, '__qualname__', type(item).__name__)}"


_LOADED_PLUGINS: list[str] = []


def load_plugins(modules: Iterable[str], flag: str = "--plugin") -> list[str]:
    """Import each module named in ``modules`` (their registration lines run); returns the names loaded.

    A module that cannot be imported is a one-line RegistryError naming ``flag`` and the module.
    """
    loaded = []
    for module in modules:
        if not isinstance(module, str) or not module.strip():
            raise RegistryError(f"{flag}: name a Python module, got {short_repr(module)}")
        try:
            importlib.import_module(module)
        except Exception as err:
            summary = " ".join(exception_summary(err).split())[:300]
            raise RegistryError(f"{flag} {module}: cannot be imported ({summary})") from None
        if module not in _LOADED_PLUGINS:
            _LOADED_PLUGINS.append(module)
        loaded.append(module)
    return loaded


def loaded_plugins() -> list[str]:
    """The modules `load_plugins` has imported in this process, in order (for workers and experiments)."""
    return list(_LOADED_PLUGINS)
