"""Values from the command line, converted to the type a field declares, or refused in one line.

``KEY=VALUE`` overrides of plug-in options (an objective's hyper-parameters, a sweep's grid) arrive untyped:
strings, or numbers and booleans as YAML read them. A plug-in declares its options as typed dataclass
fields; :func:`coerce` converts a value to that type where the key is known, so ``methods.dpo.beta=abc`` or
``=nan`` is a one-line error naming the key rather than a TypeError deep in a loss.
"""

from __future__ import annotations

import math
import types
import typing
from typing import Any

from bench.errors import ConfigError


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
