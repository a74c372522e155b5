"""``bench compare OLD NEW``: the regression check between two published results files.

Tables are matched by comparability key (a key present in one file only is reported, never compared
with another key), rows by configuration (method, selector, reduction; hyper-parameters that changed
are reported beside the row). A metric with an interval in both files has moved when either file's
mean lies outside the other's interval; every such metric is flagged, and the check fails when any is.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Change:
    """One metric of one configuration that moved beyond its intervals."""

    key: str
    configuration: str
    metric: str
    old: tuple[float, float, float]
    new: tuple[float, float, float]
    hyperparameters: str = ""

    def line(self) -> str:
        (old, old_low, old_high), (new, new_low, new_high) = self.old, self.new
        changed = f" (hyper-parameters {self.hyperparameters})" if self.hyperparameters else ""
        return (f"MOVED {self.configuration}{changed}: {self.metric} {old:.2f} [{old_low:.2f}, {old_high:.2f}] -> "
                f"{new:.2f} [{new_low:.2f}, {new_high:.2f}]  (table {self.key})")


@dataclass(frozen=True)
class Comparison:
    changes: list[Change]
    notes: list[str]
    compared: int
    """Configurations present in both files."""

    @property
    def passed(self) -> bool:
        return not self.changes


def _configuration(row: dict[str, Any]) -> tuple[str, str, str]:
    return (row["method"], row.get("selector", ""), row.get("reduction", ""))


def _label(configuration: tuple[str, str, str]) -> str:
    method, selector, reduction = configuration
    return method + (f" [{selector}]" if selector not in ("", "all", "-") else "") + (
        f" ({reduction})" if reduction not in ("", "-") else "")


def _interval(entry: dict[str, Any]) -> tuple[float, float, float] | None:
    values = (entry.get("mean"), entry.get("ci_low"), entry.get("ci_high"))
    return None if any(v is None for v in values) else tuple(float(v) for v in values)  # type: ignore[return-value]


def _moved(old: tuple[float, float, float], new: tuple[float, float, float]) -> bool:
    return not (old[1] <= new[0] <= old[2]) or not (new[1] <= old[0] <= new[2])


def compare(old: dict[str, Any], new: dict[str, Any]) -> Comparison:
    """Compare two results records (:func:`bench.leaderboards.results_file.read_results`)."""
    old_tables = {t["comparability_key"]: t for t in old["tables"]}
    new_tables = {t["comparability_key"]: t for t in new["tables"]}
    notes = [f"table {key}: only in OLD" for key in old_tables if key not in new_tables]
    notes += [f"table {key}: only in NEW" for key in new_tables if key not in old_tables]
    changes, compared = [], 0
    for key in (k for k in old_tables if k in new_tables):
        old_rows = {_configuration(r): r for r in old_tables[key]["rows"]}
        new_rows = {_configuration(r): r for r in new_tables[key]["rows"]}
        notes += [f"{_label(c)}: only in OLD (table {key})" for c in old_rows if c not in new_rows]
        notes += [f"{_label(c)}: only in NEW (table {key})" for c in new_rows if c not in old_rows]
        for configuration in (c for c in old_rows if c in new_rows):
            compared += 1
            before, after = old_rows[configuration], new_rows[configuration]
            hyper = ("" if before["hyperparameters"] == after["hyperparameters"]
                     else f"{before['hyperparameters']} -> {after['hyperparameters']}")
            for metric, entry in before["metrics"].items():
                old_interval = _interval(entry)
                new_interval = _interval(after["metrics"].get(metric, {}))
                if old_interval and new_interval and _moved(old_interval, new_interval):
                    changes.append(Change(key, _label(configuration), metric, old_interval, new_interval, hyper))
    return Comparison(changes, notes, compared)


__all__ = ["Change", "Comparison", "compare"]
