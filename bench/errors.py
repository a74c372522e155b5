"""Project exceptions.

Every error a user can cause (bad override, unknown method, malformed row, missing file) is raised
as a :class:`BenchError` at the place the bad value is found, with a message that names the key, row
or file and says what to do. The CLI prints such errors as one line; anything else is a bug and keeps
its traceback.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class BenchError(Exception):
    """An error caused by the user's input or environment, reported as one line."""


class ConfigError(BenchError):
    """A configuration key or value is invalid."""


class RegistryError(BenchError):
    """A name is not registered, or registered twice."""


class DataError(BenchError):
    """A dataset row or file is malformed."""


class PlanError(BenchError):
    """A job cannot run as planned (e.g. an objective needs what the data cannot supply)."""


def closest(name: str, candidates: Iterable[str], n: int = 3) -> str:
    """Return a ' (did you mean: a, b?)' hint for ``name``, or '' when nothing is close."""
    matches = difflib.get_close_matches(name, list(candidates), n=n, cutoff=0.5)
    return f" (did you mean: {', '.join(matches)}?)" if matches else ""
