"""The versioned JSON results file of a published leaderboard (schema: docs/results-schema.md).

One file holds every table of a publication: per comparability key, its provenance (model, data,
judges, evaluators, sampling, training settings, package versions), its ranked rows with intervals,
rank intervals and tied groups, the Holm-corrected comparisons, and one record per job. Beside the
tables, lm-eval-style provenance of the publication itself: bench's version, the git commit of the
working tree, the Python and platform, and hashes of the chat templates and prompt sets the
provenance names. ``bench compare`` reads two such files; :func:`read_results` refuses any other
schema version with a line that says what to do.
"""

from __future__ import annotations

import json
import math
import platform
import subprocess
from pathlib import Path
from typing import Any

import pandas as pd

from bench import __version__
from bench.errors import BenchError
from bench.fingerprint import fingerprint
from bench.leaderboards.collect import PublishedTable, job_record
from bench.leaderboards.ranking import comparisons_frame
from bench.leaderboards.table import CI_HIGH, CI_LOW, GROUP_COLUMNS, value_columns

SCHEMA = "bench.results"
SCHEMA_VERSION = 1
RESULTS_FILE = "results.json"
ROW_TEXT = ("method", "family", "selector", "reduction", "steps", "chosen", "seeds", "job_ids")
STDERR = "_stderr"
NORMAL_95 = 1.959964
"""The standard normal's 97.5% quantile: a standard error's 95% interval."""
ROW_NUMBERS = ("rank", "rank_low", "rank_high", "tied_group", "n_seeds", "grid")


def _number(value: Any) -> float | None:
    """JSON has no NaN: a missing number is null."""
    try:
        x = float(value)
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None


def git_commit() -> str | None:
    """The commit of the git working tree bench runs from (None outside one), '+dirty' when bench's own code there
    has changes. Only the package counts: a publication written into the same repository (leaderboards/gym) changes
    tracked files while it is written, which says nothing about the code that computed it."""
    package = Path(__file__).resolve().parents[1]
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=package, capture_output=True, text=True,
                                timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", str(package)],
                               cwd=package, capture_output=True, text=True, timeout=10, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return f"{commit}+dirty" if dirty else commit


def _row(row: pd.Series, values: list[str]) -> dict[str, Any]:
    """One configuration: its labels, rank statistics and every metric as mean with its 95% interval (a win
    rate's own interval; mean +- 1.96 standard errors for a metric reported with ``<name>_stderr``, such as KL)."""
    metrics = {}
    for column in values:
        if column.endswith((CI_LOW, CI_HIGH, STDERR)):
            continue
        entry = {"mean": _number(row.get(column))}
        if column + CI_LOW in row.index:
            entry.update(ci_low=_number(row[column + CI_LOW]), ci_high=_number(row[column + CI_HIGH]))
        elif column + STDERR in row.index and entry["mean"] is not None and _number(row[column + STDERR]) is not None:
            half = NORMAL_95 * float(row[column + STDERR])
            entry.update(ci_low=entry["mean"] - half, ci_high=entry["mean"] + half)
        metrics[column] = entry
    record = {name: ("" if pd.isna(row.get(name)) else str(row.get(name, ""))) for name in ROW_TEXT}
    record["hyperparameters"] = json.loads(str(row["hyperparameters"]) or "{}")
    record.update({name: _number(row.get(name)) for name in ROW_NUMBERS})
    record["metrics"] = metrics
    return record


def _job(run: pd.Series) -> dict[str, Any]:
    payload = job_record(run) or {}
    return {"job_id": str(run["job_id"]), "seed": int(run["seed"]),
            **{c: str(run[c]) for c in GROUP_COLUMNS if c != "hyperparameters"},
            "hyperparameters": json.loads(str(run["hyperparameters"]) or "{}"),
            "metrics": {name: _number(value) for name, value in (payload.get("metrics") or {}).items()},
            "cost": payload.get("cost") or {}, "path": str(run["path"])}


def _hashes(provenance: dict[str, Any]) -> dict[str, str]:
    """Hashes of what decides the prompts a model saw: the data settings and the chat template source."""
    data = provenance.get("data_settings")
    return {"data_settings": fingerprint(data) if data is not None else "",
            "sampling": fingerprint(provenance.get("sampling")) if provenance.get("sampling") else "",
            "model": str(provenance.get("model", "")), "dataset": str(provenance.get("dataset", ""))}


def table_record(published: PublishedTable) -> dict[str, Any]:
    table = published.table
    values = [c for c in value_columns(table) if c not in ROW_NUMBERS]
    provenance = published.provenance()
    return {
        "comparability_key": published.key,
        "primary_metric": published.primary,
        "provenance": {name: provenance.get(name) for name in (
            "model", "model_path", "model_dtype", "dataset", "training_source", "evaluation", "judges",
            "evaluators", "sampling", "train", "data_settings", "packages", "bench_version") if name in provenance},
        "hashes": _hashes(provenance),
        "rows": [_row(row, values) for _, row in table.iterrows()],
        "comparisons": comparisons_frame(published.comparisons).to_dict(orient="records"),
        "jobs": [_job(run) for _, run in published.runs.iterrows()],
    }


def results_record(tables: list[PublishedTable], stores: list[Path]) -> dict[str, Any]:
    """The whole results file (module docstring): schema, provenance of the publication, every table."""
    return {
        "schema": SCHEMA, "schema_version": SCHEMA_VERSION,
        "generated_by": {"bench_version": __version__, "git_commit": git_commit(),
                         "python": platform.python_version(), "platform": platform.platform(),
                         "machine": platform.machine(), "stores": [str(s) for s in stores]},
        "tables": [table_record(t) for t in tables],
    }


def read_results(path: Path) -> dict[str, Any]:
    """A results file written by ``bench publish``, or a one-line error naming the file and the fix."""
    path = Path(path)
    try:
        record = json.loads(path.read_text())
    except FileNotFoundError as exc:
        raise BenchError(f"{path}: no such results file; `bench publish STORE --out DIR` writes DIR/{RESULTS_FILE}"
                         ) from exc
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BenchError(f"{path}: not a readable results file ({exc}); publish it again with `bench publish`"
                         ) from exc
    if not isinstance(record, dict) or record.get("schema") != SCHEMA:
        raise BenchError(f"{path}: not a bench results file (no schema {SCHEMA!r}); point at the {RESULTS_FILE} "
                         f"`bench publish` wrote")
    if record.get("schema_version") != SCHEMA_VERSION:
        raise BenchError(f"{path}: results schema version {record.get('schema_version')!r}, this bench reads "
                         f"{SCHEMA_VERSION}; publish it again with this bench (`bench publish`)")
    return record


__all__ = ["RESULTS_FILE", "SCHEMA", "SCHEMA_VERSION", "git_commit", "read_results", "results_record",
           "table_record"]
