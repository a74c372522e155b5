"""From the results store to leaderboard tables: load every metrics.json, group, aggregate seeds, rank.

A leaderboard is only worth reading if its rows were produced the same way, so rows are split by
their provenance's comparability key before anything is averaged, and a table never mixes keys.
Within a key, the runs of one configuration (method, selector, reduction, steps, hyper-parameters)
differ only in their seed; they aggregate to a mean, and win rates get an interval: one run's paired
bootstrap CI when there is one seed, the Student-t interval over seeds when there are several.
A key holds every selector of a run (the selector is a row label, not part of the key), and
:func:`selector_grid` lays its rows out as the objective x selector grid.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pandas as pd

from bench.data.selectors import SELECTORS
from bench.errors import BenchError
from bench.evaluators.statistics import seed_aggregate
from bench.integrity import CHECKSUM, Damaged, unseal
from bench.leaderboards.record import JobRecord, malformed
from bench.notices import notice
from bench.store_layout import METRICS_FILE, evaluation_records

REFERENCE_METHOD = "reference"
"""``job.method`` of the untrained reference model's row (win rate 50 by construction): never ranked."""
PRIMARY_METRIC = "gold_win_rate"
"""Ranked by when present (the gym's true reward as judge); otherwise the first ``*_win_rate``."""
WIN_RATE_SUFFIX = "win_rate"
LC_WIN_RATE_SUFFIX = "_lc_win_rate"
CI_LOW, CI_HIGH = "_ci_low", "_ci_high"

RUN_COLUMNS: tuple[str, ...] = (
    "job_id", "method", "selector", "seed", "reduction", "steps", "hyperparameters",
    "comparability_key", "model", "dataset", "evaluation", "bench_version", "path",
    "chosen", "grid", "selection_score", "family",
)
"""What :func:`load_results` puts beside the metrics; every other column is a number to aggregate
(metrics under their own names, costs as ``cost_<name>``)."""
GROUP_COLUMNS: tuple[str, ...] = ("method", "selector", "reduction", "steps", "hyperparameters")
"""Runs that agree on these (within one comparability key) are seeds of one configuration."""
KEY_COLUMNS: tuple[str, ...] = ("comparability_key", "model", "dataset", "evaluation")
TABLE_COLUMNS: tuple[str, ...] = (
    "rank", "method", "selector", "reduction", "steps", "hyperparameters", "chosen", "grid", "n_seeds", "seeds",
)
TRAILING_COLUMNS: tuple[str, ...] = ("comparability_key", "model", "dataset", "evaluation", "bench_version",
                                     "family", "job_ids")
RESERVED_COLUMNS = frozenset(RUN_COLUMNS + TABLE_COLUMNS + TRAILING_COLUMNS)
REPORTED_ATTR = "bench_reported_columns"
"""``DataFrame.attrs`` entry: the value columns the runs of each key reported, so a metric that is NaN
in every run of a key stays in its table (as NaN) while another key's metrics stay out."""
KL_METRIC = "kl"
GOLD_REWARD_METRIC = "gold_reward"
"""What regret is computed from: the kl evaluator's mean KL and the score evaluator's gold reward."""
REGRET = "regret"
REGRET_IS_BOUND = "regret_is_bound"
"""1 when the run's KL lies beyond the frontier's valid range, so its regret is a lower bound; the seed
mean of this column is the share of seeds for which that holds."""


# ---- loading --------------------------------------------------------------------------------------

def read_metrics_rows(path: Path, store: Path | None = None) -> list[dict[str, Any]]:
    """The flat leaderboard rows of one metrics.json, or a BenchError naming the file.

    One row per benchmark the job belongs to: its own comparability key, then the keys of later runs
    that reused it (:attr:`~bench.leaderboards.record.JobRecord.comparability_keys`), so a reused job shows
    in every table it belongs to. The fields are checked by :meth:`JobRecord.from_payload`. A record whose
    checksum does not match (truncated, edited) raises :class:`~bench.integrity.Damaged`.
    """
    path = Path(path)
    try:
        payload = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError) as exc:
        raise BenchError(f"{path}: cannot be read ({exc}); fix its permissions or delete its job directory "
                         f"and re-run that job with `bench run`") from exc
    except json.JSONDecodeError as exc:
        raise Damaged(path, f"invalid JSON ({exc.msg} at line {exc.lineno})") from exc
    if isinstance(payload, dict) and CHECKSUM in payload:  # records of earlier bench versions carry none
        unseal(payload, path)
    record = JobRecord.from_payload(payload, path)
    job = record.job
    row: dict[str, Any] = {
        "job_id": job.id, "method": job.method, "selector": job.selector, "seed": job.seed,
        "reduction": job.reduction, "steps": "" if job.steps is None else str(job.steps),
        "hyperparameters": json.dumps(job.hyperparameters, sort_keys=True, separators=(",", ":"), default=str),
        "comparability_key": record.comparability_key,
        **{name: _provenance_text(record, name, path) for name in ("model", "dataset", "evaluation", "bench_version")},
        "family": job.family,
        "path": str(path.relative_to(store)) if store is not None else str(path),
        "chosen": "" if job.sweep is None else point_label(job.sweep.point),
        "grid": 0 if job.sweep is None else job.sweep.size,
        "selection_score": record.selection_score,
    }
    for name, value in record.metrics.items():
        if name in RESERVED_COLUMNS:
            raise malformed(path, f"metric {name!r} clashes with the leaderboard column of that name; "
                                  f"rename the evaluator's metric")
        row[name] = value
    for name, value in record.cost.items():
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            row[f"cost_{name}"] = float(value)  # non-numeric cost entries (device names) are not aggregated
    if record.superseded:
        return []
    return [{**row, "comparability_key": key} for key in record.comparability_keys]


def _provenance_text(record: JobRecord, name: str, path: Path) -> str:
    value = record.provenance.get(name, "")
    if not isinstance(value, str):
        raise malformed(path, f"provenance.{name} must be a string, got {value!r}")
    return value


def point_label(point: Mapping[str, Any]) -> str:
    """A sweep point as the table's ``chosen`` column shows it: ``beta=0.4, lr=0.0003``."""
    return ", ".join(f"{key}={value}" for key, value in sorted(point.items()))


def best_points(swept: pd.DataFrame) -> dict[tuple[str, str], str]:
    """For each swept (method, selector), the ``chosen`` label of its grid point with the best validation score.

    The score is the mean, over the seeds every point of the grid was trained on, of the validation win rate
    named by ``eval.select_on`` (``selection_score``): with ``tuning.select_seeds`` the chosen point alone goes
    on to the other seeds, which must not change the choice. Ties go to the label that sorts first, so the
    choice does not depend on the order the store lists its jobs in.
    """
    chosen = {}
    for (method, selector), runs in swept.groupby(["method", "selector"], sort=False, dropna=False):
        shared = set.intersection(*(set(seeds) for _, seeds in runs.groupby("chosen", sort=False)["seed"]))
        means = runs[runs["seed"].isin(shared)].groupby("chosen", sort=True)["selection_score"].mean()
        if means.isna().all():
            raise BenchError(f"sweep of {method}: no grid point has a validation score; re-run the sweep with "
                             f"`bench run`")
        chosen[(method, selector)] = str(means.idxmax())
    return chosen


def select_sweep_points(rows: pd.DataFrame) -> pd.DataFrame:
    """Keep, for each swept (method, selector), only the grid point with the best validation score
    (:func:`best_points`); the test metrics of the kept point, over all its seeds, are what the leaderboard
    reports (SimPO's equal-budget protocol: tune on validation prompts, report on test prompts). Rows that
    were not swept pass through unchanged.
    """
    if "grid" not in rows.columns or not (rows["grid"] > 0).any():
        return rows
    swept = rows[rows["grid"] > 0]
    chosen = best_points(swept)
    keep = [chosen[(method, selector)] == label
            for method, selector, label in zip(swept["method"], swept["selector"], swept["chosen"], strict=True)]
    return pd.concat([rows[rows["grid"] == 0], swept[keep]]).sort_index()


def load_results(store: Path) -> pd.DataFrame:
    """One row per job record found anywhere under ``store`` (run columns, then metrics and costs): each
    job's ``metrics.json`` and the earlier evaluations it kept (:mod:`bench.store_layout`), once per table.

    Metrics a run did not emit, and NaN metrics, are NaN. An empty store gives an empty frame with
    the run columns; a missing store is an error.
    """
    store = Path(store)
    if not store.is_dir():
        raise BenchError(f"results store {store} does not exist or is not a directory; point at the "
                         f"directory `bench run` wrote (its results.store setting)")
    rows, seen = [], set()
    for latest in sorted(store.rglob(METRICS_FILE)):
        for path in evaluation_records(latest) if latest.is_file() else []:
            try:
                read = read_metrics_rows(path, store)
            except Damaged as damage:
                notice(f"{damage}; its job is left out of the leaderboard until `bench run` evaluates it again")
                continue
            for row in read:
                if (row["job_id"], row["comparability_key"]) not in seen:  # a kill mid-write can leave a copy
                    seen.add((row["job_id"], row["comparability_key"]))
                    rows.append(row)
    if not rows:
        return pd.DataFrame(columns=list(RUN_COLUMNS))
    frame = pd.DataFrame(rows)
    reported: dict[str, list[str]] = {}
    for row in rows:
        names = reported.setdefault(row["comparability_key"], [])
        names.extend(name for name in row if name not in RESERVED_COLUMNS and name not in names)
    frame.attrs[REPORTED_ATTR] = reported
    return frame


class RewardFrontier(Protocol):
    """What leaderboards need of an optimal reward-vs-KL frontier; :class:`bench.gym.frontier.Frontier` is one.

    A protocol rather than an import: leaderboards sit beside the gym, not above it (DESIGN.md).
    """

    reference: str
    """Fingerprint of the reference model the frontier was estimated for (the rows' ``model``)."""
    table: pd.DataFrame
    """beta, reward, kl, ess_min, valid."""
    best_of_n: pd.DataFrame
    """n, reward, kl."""
    min_ess: float

    def regret(self, kl: np.ndarray, reward: np.ndarray, beyond: str = "nan") -> np.ndarray | float: ...

    def beyond(self, kl: np.ndarray) -> np.ndarray | bool: ...

    def note(self) -> str: ...


def add_regret(rows: pd.DataFrame, frontier: RewardFrontier, key: str | None = None) -> pd.DataFrame:
    """``rows`` (from :func:`load_results`) with ``regret`` and ``regret_is_bound`` for the frontier's model.

    Regret is the frontier's gold reward at the run's KL minus the run's gold reward (METHODS.md,
    "The optimal frontier"), computed per run before seeds are aggregated, so the table's seed mean
    is the mean regret. Past the frontier's last valid KL the true frontier is only known to be at
    least its last valid reward, so the regret there is that lower bound and ``regret_is_bound`` is 1.
    Only rows whose ``model`` is the frontier's reference get a value (a frontier is a property of one
    reference model) and, when ``key`` is given, to that comparability key; other rows, and runs without ``kl``
    or ``gold_reward``, get NaN (or keep the regret an earlier call gave them).
    """
    rows = rows.copy()
    applies = rows["model"].astype(str).to_numpy() == frontier.reference
    if key is not None:
        applies &= rows["comparability_key"].astype(str).to_numpy() == key
    kl = pd.to_numeric(rows.get(KL_METRIC, pd.Series(math.nan, index=rows.index)), errors="coerce")
    reward = pd.to_numeric(rows.get(GOLD_REWARD_METRIC, pd.Series(math.nan, index=rows.index)), errors="coerce")
    kl, reward = kl.to_numpy(dtype=np.float64), reward.to_numpy(dtype=np.float64)
    known = applies & np.isfinite(kl) & np.isfinite(reward)
    values = rows[REGRET].to_numpy(dtype=np.float64, copy=True) if REGRET in rows else np.full(len(rows), math.nan)
    bounds = (rows[REGRET_IS_BOUND].to_numpy(dtype=np.float64, copy=True) if REGRET_IS_BOUND in rows
              else np.full(len(rows), math.nan))
    values[applies], bounds[applies] = math.nan, math.nan
    if known.any():
        values[known] = frontier.regret(kl[known], reward[known], beyond="last")
        bounds[known] = np.asarray(frontier.beyond(kl[known]), dtype=np.float64)
    rows[REGRET], rows[REGRET_IS_BOUND] = values, bounds
    reported = {key: list(names) for key, names in rows.attrs.get(REPORTED_ATTR, {}).items()}
    for key in sorted(set(rows.loc[applies, "comparability_key"].astype(str))):
        names = reported.setdefault(key, [])
        names.extend(name for name in (REGRET, REGRET_IS_BOUND) if name not in names)
    rows.attrs[REPORTED_ATTR] = reported
    return rows


# ---- aggregation ----------------------------------------------------------------------------------

def value_columns(frame: pd.DataFrame) -> list[str]:
    """The numeric columns (metrics and costs), in the order the runs first reported them."""
    return [column for column in frame.columns if column not in RESERVED_COLUMNS]


def win_rate_metrics(columns: list[str] | pd.Index) -> list[str]:
    """The win-rate metrics among ``columns`` (``gold_win_rate``, ``proxy_win_rate``, ...), not their CIs."""
    return [str(c) for c in columns if str(c).endswith(WIN_RATE_SUFFIX)]


def primary_metric(table: pd.DataFrame) -> str | None:
    """The metric a table is ranked by: gold_win_rate when present, else its first raw win rate (a judge's own
    verdicts before any length control), else its first win rate, else None."""
    candidates = [m for m in win_rate_metrics(table.columns) if table[m].notna().any()]
    if PRIMARY_METRIC in candidates:
        return PRIMARY_METRIC
    raw = [m for m in candidates if not m.endswith(LC_WIN_RATE_SUFFIX)]
    return (raw or candidates or [None])[0]


def _check_one_key(rows: pd.DataFrame, key: str) -> None:
    """The comparability key must pin the model, data and evaluation; if it does not, the runner is wrong."""
    for column in ("model", "dataset", "evaluation"):
        values = sorted(set(rows[column].astype(str)))
        if len(values) > 1:
            raise BenchError(f"comparability key {key!r} covers runs with different {column} fingerprints "
                             f"({', '.join(values)}); the key must include the {column}: fix the runner's "
                             f"comparability key, or delete the stale runs")


def _check_unique_seeds(runs: pd.DataFrame, label: str) -> None:
    duplicated = runs[runs["seed"].duplicated(keep=False)]
    if not duplicated.empty:
        seed = int(duplicated["seed"].iloc[0])
        paths = ", ".join(duplicated.loc[duplicated["seed"] == seed, "path"].astype(str))
        raise BenchError(f"{label} has more than one result for seed {seed} ({paths}); a seed would count "
                         f"twice: delete the stale job directory")


def _aggregate_runs(runs: pd.DataFrame, values: list[str]) -> dict[str, Any]:
    first = runs.iloc[0]
    label = f"{first['method']} (selector {first['selector'] or '-'}, {first['hyperparameters']})"
    _check_unique_seeds(runs, label)
    seeds = sorted(int(s) for s in runs["seed"])
    row: dict[str, Any] = {column: first[column] for column in GROUP_COLUMNS}
    row.update(chosen=first.get("chosen", ""), grid=int(first.get("grid", 0)))
    row.update(n_seeds=len(runs), seeds=",".join(str(s) for s in seeds))
    for column in values:
        numbers = pd.to_numeric(runs[column], errors="coerce").to_numpy(dtype=np.float64)
        finite = numbers[np.isfinite(numbers)]
        # shifted by the first value, so identical seeds give exactly that value (3 x 0.7 -> 0.7)
        row[column] = float(finite[0] + (finite - finite[0]).mean()) if finite.size else math.nan
    for metric in win_rate_metrics(values):
        numbers = pd.to_numeric(runs[metric], errors="coerce").to_numpy(dtype=np.float64)
        finite = np.isfinite(numbers)
        low, high = math.nan, math.nan
        if finite.sum() == 1:  # one seed: the run's own bootstrap interval over prompts
            only = runs.iloc[int(np.flatnonzero(finite)[0])]
            low = float(only.get(metric + CI_LOW, math.nan))
            high = float(only.get(metric + CI_HIGH, math.nan))
        elif finite.sum() >= 2:  # several seeds: the t interval of the seed means, within [0, 100]
            _, low, high = seed_aggregate(numbers)
            low, high = max(low, 0.0), min(high, 100.0)
        row[metric + CI_LOW], row[metric + CI_HIGH] = low, high
    for column in TRAILING_COLUMNS[:-1]:
        row[column] = first[column]
    row["job_ids"] = ",".join(runs["job_id"].astype(str))
    return row


def _rank_and_sort(table: pd.DataFrame) -> pd.DataFrame:
    is_reference = table["method"] == REFERENCE_METHOD
    metric = primary_metric(table[~is_reference]) if (~is_reference).any() else None
    if metric is None:
        table["rank"] = pd.array([pd.NA] * len(table), dtype="Int64")
        order = table.assign(_ref=is_reference).sort_values(["_ref", "method", "selector"], kind="stable")
        return order.drop(columns="_ref").reset_index(drop=True)
    scores = table[metric].where(~is_reference)
    table["rank"] = scores.rank(ascending=False, method="min").round().astype("Int64")
    order = table.assign(_ref=is_reference, _unranked=table["rank"].isna(), _score=-scores.fillna(0.0))
    order = order.sort_values(["_ref", "_unranked", "_score", "method", "selector"], kind="stable")
    return order.drop(columns=["_ref", "_unranked", "_score"]).reset_index(drop=True)


def aggregate_key(rows: pd.DataFrame, reported: list[str] | None = None) -> pd.DataFrame:
    """The leaderboard of ONE comparability key: one row per configuration, ranked, reference last.

    ``reported`` names the metric and cost columns the key's runs wrote (default: those with a value
    in some run), so columns that only other keys' runs have are left out.
    """
    keys = sorted(set(rows["comparability_key"].astype(str)))
    if len(keys) != 1:
        raise BenchError(f"refusing to aggregate runs with different comparability keys ({', '.join(keys)}) "
                         f"into one table: their numbers are not comparable; use aggregate(), which "
                         f"returns one table per key")
    _check_one_key(rows, keys[0])
    if reported is None:
        reported = rows.attrs.get(REPORTED_ATTR, {}).get(keys[0])
    if reported is None:
        reported = [c for c in value_columns(rows) if rows[c].notna().any()]
    present = set(value_columns(rows))
    values = [c for c in reported if c in present]  # the key's own order: other tables cannot reorder it
    rows = select_sweep_points(rows)
    grouped = rows.groupby(list(GROUP_COLUMNS), sort=False, dropna=False)
    table = _rank_and_sort(pd.DataFrame([_aggregate_runs(runs, values) for _, runs in grouped]))
    ordered = [c for c in TABLE_COLUMNS if c in table.columns]
    win_rates = set(win_rate_metrics(values))
    for column in values:
        if any(column.endswith(end) and column[:-len(end)] in win_rates for end in (CI_LOW, CI_HIGH)):
            continue  # placed right after its win rate
        ordered.append(column)
        if column in win_rates:
            ordered += [column + CI_LOW, column + CI_HIGH]
    ordered += [c for c in TRAILING_COLUMNS if c not in ordered]
    return table[ordered]


def aggregate(df: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """One leaderboard per comparability key: seed means, win-rate CIs, ``n_seeds`` and ``rank``.

    Rank 1 is the best mean of the primary metric (:func:`primary_metric`); the reference row and
    rows without the primary metric have no rank and come last (the reference after them).
    """
    if df.empty:
        return {}
    reported = df.attrs.get(REPORTED_ATTR, {})
    return {str(key): aggregate_key(rows, reported.get(key))
            for key, rows in df.groupby("comparability_key", sort=True, dropna=False)}


# ---- the objective x selector grid ----------------------------------------------------------------

def _selector_order(spec: str) -> tuple[int, str]:
    """``all`` first, then the registry's order (random, then the margin selectors), then by spec."""
    names = SELECTORS.names()
    name = spec.partition(":")[0]
    return (names.index(name) if name in names else len(names), spec)


def selector_grid(table: pd.DataFrame, metric: str) -> pd.DataFrame | None:
    """One key's table as a grid: a row per objective configuration, a column per selector, cells ``metric``.

    ``table`` is :func:`aggregate_key`'s output (seeds already aggregated, sweeps already resolved per
    (method, selector)); the grid only rearranges its cells, so every number is the one in the table.
    Rows are the configurations minus the selector (a swept method is one row: its chosen point may
    differ per selector), in the table's ranked order; cells a configuration lacks (on-policy
    objectives run under ``all`` only) are NaN. Columns ``<selector>``, ``<selector>_ci_low`` and
    ``<selector>_ci_high`` hold the value and its interval. None when the table has fewer than two
    selectors, where a grid says nothing the table does not.
    """
    trained = table[table["method"] != REFERENCE_METHOD]
    selectors = sorted(set(trained["selector"].astype(str)), key=_selector_order)
    if len(selectors) < 2:
        return None
    swept = trained["grid"] > 0 if "grid" in trained.columns else pd.Series(False, index=trained.index)
    configuration = trained["hyperparameters"].where(~swept, "swept")
    keys = list(zip(trained["method"], trained["reduction"], trained["steps"], configuration, strict=True))
    rows: dict[tuple, dict[str, Any]] = {}
    for key, (_, run) in zip(keys, trained.iterrows(), strict=True):
        row = rows.setdefault(key, {"method": key[0], "reduction": key[1], "steps": key[2],
                                    "hyperparameters": key[3]})
        for suffix in ("", CI_LOW, CI_HIGH):
            row[f"{run['selector']}{suffix}"] = run.get(metric + suffix, math.nan)
    columns = ["method", "reduction", "steps", "hyperparameters"] + [f"{s}{suffix}" for s in selectors
                                                                     for suffix in ("", CI_LOW, CI_HIGH)]
    return pd.DataFrame(list(rows.values())).reindex(columns=columns)
