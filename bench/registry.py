"""One small generic registry, with plug-in discovery through entry points.

Objectives, evaluators, judges, selectors and data sources are all looked up by name. Third-party
packages add objectives by declaring an entry point in the ``bench.methods`` group that points at a
module (importing it runs its ``@register_method`` decorators) or at an Objective class. Registered
names become directory names and metric-name prefixes, so they must be identifiers (:data:`NAME_RULE`).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from importlib.metadata import entry_points
from typing import Generic, TypeVar

from bench.errors import RegistryError, closest

T = TypeVar("T")

NAME_PATTERN = re.compile(r"[A-Za-z][A-Za-z0-9_]*")
NAME_RULE = "identifiers (letters, digits, _), starting with a letter"
"""What a name that becomes a path or a metric prefix may be (registered plug-ins, judges): never '/', '.',
whitespace or shell metacharacters."""


def is_valid_name(name: str) -> bool:
    """Whether ``name`` is safe as a directory name and a metric-name prefix (see :data:`NAME_RULE`)."""
    return NAME_PATTERN.fullmatch(name) is not None


class Registry(Generic[T]):
    """A name -> object mapping that loads plug-ins from an entry-point group on first lookup."""

    def __init__(self, kind: str, entry_point_group: str | None = None) -> None:
        self.kind = kind
        self._entry_point_group = entry_point_group
        self._items: dict[str, T] = {}
        self._plugins_loaded = entry_point_group is None

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator registering ``obj`` under ``name``; a name twice, or one unfit for a path, is an error."""
        if not is_valid_name(name):
            raise RegistryError(f"{self.kind} name {name!r} is not allowed: {self.kind} names must be "
                                f"{NAME_RULE} (they become directory names); rename it")

        def decorate(obj: T) -> T:
            if name in self._items and self._items[name] is not obj:
                raise RegistryError(f"{self.kind} {name!r} is registered twice; rename one of them")
            self._items[name] = obj
            return obj

        return decorate

    def _load_plugins(self) -> None:
        if self._plugins_loaded:
            return
        self._plugins_loaded = True
        for ep in entry_points(group=self._entry_point_group):
            try:
                loaded = ep.load()
            except Exception as exc:  # a broken plug-in is a user error: one line, naming what to fix
                dist = getattr(ep, "dist", None)
                package = f"the package {dist.name!r}" if dist is not None else "the package that declares it"
                reason = " ".join(f"{type(exc).__name__}: {exc}".split())  # one line, even for multi-line errors
                raise RegistryError(
                    f"plug-in entry point {ep.name!r} ({ep.value}) in group {self._entry_point_group!r} "
                    f"failed to import ({reason}); fix or uninstall {package} (--debug shows the traceback)"
                ) from exc
            if isinstance(loaded, type) and ep.name not in self._items:
                self.register(ep.name)(loaded)

    def get(self, name: str) -> T:
        """Return the object registered as ``name`` or raise with the closest valid names."""
        self._load_plugins()
        if name not in self._items:
            raise RegistryError(f"unknown {self.kind} {name!r}{closest(name, self._items)}; "
                                f"`bench list {self.kind}s` shows the valid names")
        return self._items[name]

    def names(self) -> list[str]:
        """All registered names, in registration order."""
        self._load_plugins()
        return list(self._items)

    def __contains__(self, name: str) -> bool:
        self._load_plugins()
        return name in self._items

