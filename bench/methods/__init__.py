"""Objectives: the registry, and the built-in objective modules (imported so they register).

Third-party objectives register through the ``bench.methods`` entry-point group; see
:mod:`bench.registry`.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from collections.abc import Callable, Mapping
from typing import Any

from bench.errors import ConfigError, closest
from bench.methods.base import Objective
from bench.registry import Registry

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


def coerce(value: Any, annotation: Any, key: str) -> Any:
    """``value`` as the type ``annotation`` declares, or a ConfigError naming ``key=value`` and the type wanted.

    Ints are accepted for floats and numeric strings for numbers; floats must be finite; bools come
    only from true/false; ``Literal`` values must be one of the choices; None only where the type is
    Optional; tuples are converted item by item. Other annotations take the value as it is.
    """
    converted, wanted = _convert(value, annotation)
    if wanted is not None:
        raise ConfigError(f"{key}={_shown(value)}: must be {wanted}")
    return converted


_INVALID = object()


def _convert(value: Any, annotation: Any) -> tuple[Any, str | None]:
    """``(converted, None)``, or ``(_INVALID, what the annotation wants)`` when ``value`` does not fit it."""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if annotation is type(None):
        return (None, None) if value is None else (_INVALID, "null")
    if origin in (typing.Union, types.UnionType):
        wanted = []
        for arm in args:
            converted, why = _convert(value, arm)
            if why is None:
                return converted, None
            wanted.append(why)
        return _INVALID, " or ".join(wanted)
    if origin is typing.Literal:
        if any(type(value) is type(choice) and value == choice for choice in args):
            return value, None
        return _INVALID, f"one of {', '.join(_shown(choice) for choice in args)}"
    if origin is tuple:
        return _convert_tuple(value, args)
    if annotation is bool:
        text = _shown(value).lower()
        return (text == "true", None) if text in ("true", "false") else (_INVALID, "true or false")
    if annotation is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value, None
        if isinstance(value, str):
            try:
                return int(value), None
            except ValueError:
                pass
        return _INVALID, "an integer"
    if annotation is float:
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            return _INVALID, "a number"
        try:
            number = float(value)
        except (ValueError, OverflowError):
            return _INVALID, "a number"
        return (number, None) if math.isfinite(number) else (_INVALID, "a finite number")
    if annotation is str:
        scalar = isinstance(value, str | int | float)  # YAML read 2024 or true as a number or a bool
        return (_shown(value), None) if scalar else (_INVALID, "a string")
    return value, None


def _convert_tuple(value: Any, args: tuple[Any, ...]) -> tuple[Any, str | None]:
    """A list given for a ``tuple[X, Y]`` or ``tuple[X, ...]`` field, converted item by item."""
    variadic = len(args) == 2 and args[1] is Ellipsis
    if not isinstance(value, list | tuple) or not (variadic or len(value) == len(args)):
        return _INVALID, "a list like [a,b]" if variadic else f"a list of {len(args)} values"
    arms = args[:1] * len(value) if variadic else args
    converted = []
    for position, (item, arm) in enumerate(zip(value, arms, strict=True)):
        item, why = _convert(item, arm)
        if why is not None:
            return _INVALID, f"a list whose item {position + 1} is {why}"
        converted.append(item)
    return tuple(converted), None


def _shown(value: Any) -> str:
    """A value as it is written on the command line: null, true/false, strings unquoted."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


# Built-in objectives register themselves on import.
from bench.methods import (  # noqa: E402
    adaptive,
    anchored,
    causal,
    distributional,
    dpo,
    fpo,
    ipo,
    kto,
    length,
    margin,
    reference_free,
    reward_aware,
    rloo,
    sft,
    simpo,
    smoothed,
    tdpo,
)

__all__ = ["METHODS", "Objective", "adaptive", "anchored", "build_objective", "causal", "coerce",
           "distributional", "dpo", "fpo", "ipo", "kto", "length", "margin", "reference_free", "register_method",
           "reward_aware", "rloo", "sft", "simpo", "smoothed", "tdpo"]
