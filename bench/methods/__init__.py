"""Objectives: the registry, and the built-in objective modules (imported so they register).

Third-party objectives register through the ``bench.methods`` entry-point group; see
:mod:`bench.registry`.
"""

from __future__ import annotations

import dataclasses
import importlib
import pkgutil
import typing
from collections.abc import Callable, Mapping
from typing import Any

from bench.errors import ConfigError, closest
from bench.methods.base import Objective
from bench.registry import Registry
from bench.typed_values import coerce

METHODS: Registry[type[Objective]] = Registry("method", entry_point_group="bench.methods")


def register_method(name: str) -> Callable[[type[Objective]], type[Objective]]:
    """Class decorator: make ``cls`` a dataclass (if it is not one) and register it as ``name``."""

    def decorate(cls: type[Objective]) -> type[Objective]:
        if "__dataclass_fields__" not in vars(cls):  # inheriting the base's fields is not enough
            cls = dataclasses.dataclass(cls)
        cls.name = name
        return METHODS.register(name)(cls)

    return decorate


def build_objective(name: str, overrides: Mapping[str, Any] | None = None,
                    point: Mapping[str, Any] | None = None) -> Objective:
    """Instantiate the objective ``name`` with hyper-parameter ``overrides`` and a sweep ``point``, and validate it.

    Values come from the command line untyped (strings, or numbers as YAML read them), so each is
    converted to its field's declared type here, where the key is known: a bad value fails as one
    line naming ``methods.NAME.PARAM`` (``sweep.NAME.PARAM`` for a point's values) before anything runs.
    """
    cls = METHODS.get(name)
    fields = {f.name for f in dataclasses.fields(cls)}
    hints = typing.get_type_hints(cls)
    values = {}
    for section, given in (("methods", overrides or {}), ("sweep", point or {})):
        for key, value in given.items():
            if key not in fields:
                raise ConfigError(f"{section}.{name}.{key} is not a hyper-parameter of {name}"
                                  f"{closest(key, fields)}; valid: {', '.join(sorted(fields))}")
            values[key] = coerce(value, hints[key], f"{section}.{name}.{key}")
    objective = cls(**values)
    objective.validate()
    return objective


def _import_builtin_objectives() -> None:
    """Import every module of this package, so that the objectives they define register.

    Discovered rather than listed: this file is part of every job's key (the trainer reaches the
    registry), so a new objective module must not have to edit it and thereby retrain everything else.
    Sorted, so objectives register (and plans list them) in the same order everywhere.
    """
    for module in sorted(info.name for info in pkgutil.iter_modules(__path__)):
        importlib.import_module(f"{__name__}.{module}")


_import_builtin_objectives()

__all__ = ["METHODS", "Objective", "build_objective", "register_method"]
