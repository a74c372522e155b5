"""The job record: what a job's ``metrics.json`` holds, typed, shared by its writer and its readers.

The runner builds a :class:`JobRecord` and writes :meth:`JobRecord.payload` (sealed, atomically); the
leaderboards read one back with :meth:`JobRecord.from_payload`, which checks every field where the bad
value is found and names the file, so a damaged or hand-edited record is one clear line, not a pandas
KeyError three steps later. Provenance stays a mapping: it is reported, never computed on, except for
the keys named here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.errors import BenchError

SUPERSEDED_BY = "superseded_by"
"""Provenance entry of a job's record that a later job of the same configuration replaced in its table."""
ALSO_COMPARABLE_UNDER = "also_comparable_under"


def malformed(path: Path, what: str) -> BenchError:
    return BenchError(f"{path}: {what}; this is not a metrics.json the runner wrote (or it was edited): "
                      f"delete its job directory and re-run that job with `bench run`")


def _section(payload: dict[str, Any], name: str, path: Path, required: bool = True) -> dict[str, Any]:
    section = payload.get(name)
    if section is None and not required:
        return {}
    if not isinstance(section, dict):
        raise malformed(path, f"section {name!r} is missing or not an object")
    return section


def _text(section: dict[str, Any], key: str, where: str, path: Path, default: str | None = None) -> str:
    value = section.get(key, default)
    if value is None:
        raise malformed(path, f"{where}.{key} is missing")
    if not isinstance(value, str):
        raise malformed(path, f"{where}.{key} must be a string, got {value!r}")
    return value


def _integer(value: Any, where: str, path: Path, optional: bool = False) -> int | None:
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise malformed(path, f"{where} must be an integer, got {value!r}")
    return value


def number(value: Any, where: str, path: Path) -> float:
    """A metric: a JSON number, or null for "not computed" (NaN)."""
    if value is None:
        return math.nan
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise malformed(path, f"{where} must be a number, got {value!r}")
    return float(value)


@dataclass(frozen=True)
class Sweep:
    """The grid point a swept job trained at, the grid's size, and the validation metric to select on."""

    point: dict[str, Any]
    size: int
    select_on: str


@dataclass(frozen=True)
class JobInfo:
    """What was trained: the ``job`` section."""

    id: str
    method: str
    seed: int
    selector: str = ""
    hyperparameters: dict[str, Any] = field(default_factory=dict)
    reduction: str = ""
    family: str = ""
    steps: int | None = None
    details: dict[str, Any] = field(default_factory=dict)
    """Reported only (data kind, selection, resumption, truncation, outcome inputs)."""
    sweep: Sweep | None = None

    def payload(self) -> dict[str, Any]:
        payload = {"id": self.id, "method": self.method, "seed": self.seed, "selector": self.selector,
                   "hyperparameters": self.hyperparameters, "reduction": self.reduction, "family": self.family,
                   "steps": self.steps, **self.details}
        if self.sweep is not None:
            payload["sweep"] = {"point": self.sweep.point, "size": self.sweep.size, "select_on": self.sweep.select_on}
        return payload


@dataclass(frozen=True)
class JobRecord:
    """One evaluated (or train-only) job: the content of its ``metrics.json``."""

    job: JobInfo
    metrics: dict[str, float]
    provenance: dict[str, Any]
    cost: dict[str, Any] = field(default_factory=dict)
    validation: dict[str, float] | None = None
    """Metrics on the validation prompts (swept jobs: the grid point is selected on them)."""

    def payload(self) -> dict[str, Any]:
        payload = {"job": self.job.payload(), "metrics": self.metrics, "provenance": self.provenance, "cost": self.cost}
        if self.validation is not None:
            payload["validation"] = self.validation
        return payload

    @property
    def comparability_key(self) -> str:
        return str(self.provenance["comparability_key"])

    @property
    def comparability_keys(self) -> list[str]:
        """Its own key, then the keys of later runs that reused it (:func:`bench.runner.store.admit_to_benchmark`)."""
        also = [key for key in self.provenance.get(ALSO_COMPARABLE_UNDER, []) if key != self.comparability_key]
        return [self.comparability_key, *also]

    @property
    def superseded(self) -> bool:
        """Replaced in its table by a later job of the same configuration (:mod:`bench.runner.store`)."""
        return bool(self.provenance.get(SUPERSEDED_BY))

    @property
    def selection_score(self) -> float:
        if self.job.sweep is None:
            return math.nan
        return (self.validation or {}).get(self.job.sweep.select_on, math.nan)

    @classmethod
    def from_payload(cls, payload: Any, path: Path) -> JobRecord:
        """The record of a parsed metrics.json, every field checked (a BenchError naming ``path`` otherwise)."""
        if not isinstance(payload, dict):
            raise malformed(path, "the top level is not an object")
        job = _section(payload, "job", path)
        metrics = _section(payload, "metrics", path)
        provenance = _section(payload, "provenance", path)
        cost = _section(payload, "cost", path, required=False)
        hyperparameters = job.get("hyperparameters", {})
        if not isinstance(hyperparameters, dict):
            raise malformed(path, f"job.hyperparameters must be an object, got {hyperparameters!r}")
        _text(provenance, "comparability_key", "provenance", path)
        also = provenance.get(ALSO_COMPARABLE_UNDER, [])
        if not isinstance(also, list) or not all(isinstance(key, str) for key in also):
            raise malformed(path, f"provenance.{ALSO_COMPARABLE_UNDER} must be a list of keys, got {also!r}")
        named = {"id", "method", "seed", "selector", "hyperparameters", "reduction", "family", "steps", "sweep"}
        info = JobInfo(id=_text(job, "id", "job", path), method=_text(job, "method", "job", path),
                       seed=_integer(job.get("seed"), "job.seed", path),
                       selector=_text(job, "selector", "job", path, default=""), hyperparameters=hyperparameters,
                       reduction=_text(job, "reduction", "job", path, default=""),
                       family=_text(job, "family", "job", path, default=""),
                       steps=_integer(job.get("steps"), "job.steps", path, optional=True),
                       details={k: v for k, v in job.items() if k not in named},
                       sweep=_sweep(job, path))
        validation = None
        if "validation" in payload or info.sweep is not None:
            validation = {name: number(value, f"validation.{name}", path)
                          for name, value in _section(payload, "validation", path).items()}
        return cls(info, {name: number(value, f"metrics.{name}", path) for name, value in metrics.items()},
                   provenance, cost, validation)


def _sweep(job: dict[str, Any], path: Path) -> Sweep | None:
    sweep = job.get("sweep")
    if not sweep:
        return None
    if not isinstance(sweep, dict) or not isinstance(sweep.get("point"), dict) or "select_on" not in sweep:
        raise malformed(path, "job.sweep must be an object with point, size and select_on")
    return Sweep(point=sweep["point"], size=int(sweep.get("size", 0)), select_on=str(sweep["select_on"]))


__all__ = ["ALSO_COMPARABLE_UNDER", "SUPERSEDED_BY", "JobInfo", "JobRecord", "Sweep", "malformed", "number"]
