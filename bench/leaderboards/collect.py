"""What a published leaderboard is made of, gathered from one or several results stores.

Several stores merge by comparability key: rows of the same key from different stores are one table
(a job present in two stores is read once), and rows of different keys are never mixed (each key is
its own :class:`PublishedTable`). Each table carries its ranked rows with rank intervals and tied
groups (:mod:`bench.leaderboards.ranking`), its per-seed runs, its Holm-corrected comparisons, the
head-to-head matrices its runs left beside their leaderboards, and the gym's frontier where there is one.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from bench.errors import BenchError
from bench.integrity import Damaged, read_sealed_json
from bench.leaderboards.ranking import Comparison, add_rank_statistics
from bench.leaderboards.render import key_directory
from bench.leaderboards.table import (
    REFERENCE_METHOD,
    REPORTED_ATTR,
    RewardFrontier,
    add_regret,
    aggregate,
    load_results,
    primary_metric,
)
from bench.notices import notice

STORE_COLUMN = "store"
HEAD_TO_HEAD_PATTERN = "head_to_head_*.json"


@dataclass(frozen=True)
class PublishedTable:
    """One comparability key's leaderboard and everything drawn or written from it."""

    key: str
    table: pd.DataFrame
    """Aggregated rows (one per configuration), ranked, with ``rank_low``/``rank_high``/``tied_group``."""
    runs: pd.DataFrame
    """One row per job (seed), with the store it came from in ``store``."""
    primary: str | None
    comparisons: list[Comparison] = field(default_factory=list)
    head_to_head: dict[str, dict[str, Any]] = field(default_factory=dict)
    frontier: RewardFrontier | None = None

    @property
    def directory(self) -> str:
        return key_directory(self.key)

    def provenance(self) -> dict[str, Any]:
        """The provenance section of the key's reference row (or first row): model, data, judges, sampling."""
        runs = self.runs.sort_values("method", key=lambda s: s != REFERENCE_METHOD)
        for _, run in runs.iterrows():
            record = job_record(run)
            if record is not None:
                return record.get("provenance", {})
        return {}


def job_record(run: pd.Series) -> dict[str, Any] | None:
    """The metrics.json a run row was read from (None when it cannot be read any more)."""
    path = Path(run[STORE_COLUMN]) / str(run["path"])
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None


def load_stores(stores: Sequence[Path]) -> pd.DataFrame:
    """Every run of every store, a job seen in several stores once (the first store's copy)."""
    if not stores:
        raise BenchError("no results store given: name at least one directory `bench run` wrote")
    frames, reported = [], {}
    for store in stores:
        frame = load_results(Path(store))
        if frame.empty:
            notice(f"{store}: no metrics.json in this store; it adds nothing")
            continue
        frames.append(frame.assign(**{STORE_COLUMN: str(store)}))
        for key, names in frame.attrs.get(REPORTED_ATTR, {}).items():
            merged = reported.setdefault(key, [])
            merged.extend(name for name in names if name not in merged)
    if not frames:
        raise BenchError(f"no results in {', '.join(map(str, stores))}: run `bench run` first, or point at the "
                         f"store it wrote")
    rows = pd.concat(frames, ignore_index=True).drop_duplicates(["job_id", "comparability_key"], keep="first")
    rows.attrs[REPORTED_ATTR] = reported
    return rows.reset_index(drop=True)


def _head_to_head(stores: Sequence[Path], key: str) -> dict[str, dict[str, Any]]:
    matrices: dict[str, dict[str, Any]] = {}
    for store in stores:
        for path in sorted((Path(store) / key_directory(key)).glob(HEAD_TO_HEAD_PATTERN)):
            try:
                record = read_sealed_json(path)
            except Damaged as damage:
                notice(f"{damage}; its head-to-head matrix is left out until its run is repeated")
                continue
            matrices.setdefault(str(record["judge"]), record)
    return matrices


def collect(stores: Sequence[Path], frontiers: Mapping[str, RewardFrontier] | None = None,
            keys: Sequence[str] = ()) -> list[PublishedTable]:
    """One :class:`PublishedTable` per comparability key found in ``stores``, in key order; only the keys that
    start with one of ``keys`` when given (a store keeps every benchmark its jobs were evaluated for)."""
    rows = load_stores(stores)
    if keys:
        found = sorted(set(rows["comparability_key"].astype(str)))
        for key in keys:
            if not any(name.startswith(key) for name in found):
                raise BenchError(f"--key {key}: no table of that comparability key in the stores; they hold "
                                 f"{', '.join(found)}")
        rows = rows[[any(name.startswith(key) for key in keys) for name in rows["comparability_key"].astype(str)]]
    for key, frontier in (frontiers or {}).items():
        rows = add_regret(rows, frontier, key=key)
    tables = []
    for key, table in aggregate(rows.drop(columns=[STORE_COLUMN])).items():
        runs = rows[rows["comparability_key"] == key]
        primary = primary_metric(table[table["method"] != REFERENCE_METHOD])
        comparisons: list[Comparison] = []
        if primary is not None:
            table, comparisons = add_rank_statistics(table, runs, primary)
        tables.append(PublishedTable(key, table, runs, primary, comparisons, _head_to_head(stores, key),
                                     (frontiers or {}).get(key)))
    return tables


__all__ = ["PublishedTable", "collect", "job_record", "load_stores"]
