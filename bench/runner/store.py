"""The results store: one directory per job holding its config, training log, checkpoint and metrics.

``metrics.json`` is written last and atomically; its presence (with the current evaluation key) is
what marks a job done, so a killed run redoes only unfinished work. A record replaced by a later
evaluation is kept (:mod:`bench.store_layout`), and a job evaluated under it before counts as finished.
"""

from __future__ import annotations

import platform
import tempfile
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from bench.cached import read_record, write_record
from bench.errors import ConfigError
from bench.leaderboards.record import ALSO_COMPARABLE_UNDER, SUPERSEDED_BY
from bench.store_layout import METRICS_FILE, earlier_evaluation_path

PACKAGES = ("bench", "torch", "transformers", "accelerate", "tokenizers", "numpy", "pandas", "vllm",
            "alpaca_eval", "lm_eval")


def check_writable(path: Path, key: str) -> None:
    """Create the directory ``path`` if needed and prove it writable, before a run does any work, so a read-only
    or mistyped store fails in one line naming ``key`` instead of after an hour of training."""
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as exc:
        raise ConfigError(f"{key}={path}: cannot write there ({exc.strerror}); give a writable directory with "
                          f"{key}=DIR (nothing was changed)") from exc


def job_dir(store: Path, method: str, seed: int, key: str) -> Path:
    """Where a job lives: readable name first (a composite's '+' and '*' made path-safe), content key last."""
    readable = method.replace("*", "x").replace("+", "_plus_")
    return Path(store) / "jobs" / f"{readable}-seed{seed}-{key}"


def finished(directory: Path, evaluation_key: str) -> dict[str, Any] | None:
    """The job's record if it finished under ``evaluation_key`` (latest or kept earlier), else None."""
    for path in (Path(directory) / METRICS_FILE, earlier_evaluation_path(directory, evaluation_key)):
        record = _read_record(path)
        if record is not None and _evaluation(record) == evaluation_key:
            return record
    return None


def latest_record(directory: Path) -> dict[str, Any] | None:
    """The job's ``metrics.json`` record, whatever its evaluation; None when there is none."""
    return _read_record(Path(directory) / METRICS_FILE)


def earlier_training(directory: Path) -> tuple[dict[str, Any], int]:
    """The ``train_*`` cost entries and resume step of the job's latest record ({} and 0 without one): a job
    evaluated again without retraining still cost what training it took."""
    earlier = latest_record(directory) or {}
    training = {name: value for name, value in (earlier.get("cost") or {}).items() if name.startswith("train_")}
    return training, earlier.get("job", {}).get("resumed_from", 0)


def _read_record(path: Path) -> dict[str, Any] | None:
    """None when missing, or damaged (said): the runner then redoes the job's evaluation and rewrites it."""
    return read_record(path, "the job's evaluation")


def _evaluation(record: dict[str, Any]) -> str | None:
    provenance = record.get("provenance")
    return provenance.get("evaluation") if isinstance(provenance, dict) else None


def admit_to_benchmark(directory: Path, record: dict[str, Any], key: str) -> None:
    """Record that the finished job in ``directory`` (its metrics ``record``) also belongs to benchmark ``key``.

    A run reuses a finished job when its job key matches (same model, data, training, objective) and its
    evaluation key matches, so the runs' comparability keys can differ only in what the job never read
    (the world's native datasets it did not train on). Listing the key keeps the job in that run's table;
    the file is rewritten only when the key is new.
    """
    provenance = record["provenance"]
    also = provenance.setdefault(ALSO_COMPARABLE_UNDER, [])
    if key != provenance["comparability_key"] and key not in also:
        also.append(key)
        write_metrics(directory, record)


SAME_CONFIGURATION = ("method", "seed", "selector", "hyperparameters")


def _configuration(job: dict[str, Any]) -> tuple:
    """What makes two job records the same row of a table: :data:`SAME_CONFIGURATION` and the sweep point (which
    holds the learning rate when it is swept, not a hyper-parameter of the objective)."""
    return (*(job.get(name) for name in SAME_CONFIGURATION), (job.get("sweep") or {}).get("point"))


def supersede_earlier(directory: Path, record: dict[str, Any]) -> list[Path]:
    """Mark the store's other jobs that ran the configuration of ``record`` for the same table as replaced by it.

    An objective whose code changed is trained again under a new job key, into a new directory; its earlier
    result, from the earlier code, must not count as a second seed of the same row. The earlier record stays
    on disk (nothing computed is lost) with ``provenance.superseded_by`` naming the job that replaced it, and
    the leaderboard reads past it. Returns the directories marked.
    """
    directory = Path(directory)
    job, key = record["job"], record["provenance"]["comparability_key"]
    marked = []
    for other in sorted(directory.parent.glob(f"*-seed{job['seed']}-*")):
        if other == directory or not other.is_dir():
            continue
        earlier = read_record(other / METRICS_FILE, "an earlier job's record", quiet=True)
        if earlier is None or SUPERSEDED_BY in earlier.get("provenance", {}):
            continue
        tables = {earlier["provenance"].get("comparability_key"),
                  *earlier["provenance"].get(ALSO_COMPARABLE_UNDER, [])}
        if key in tables and _configuration(earlier["job"]) == _configuration(job):
            earlier["provenance"][SUPERSEDED_BY] = directory.name
            write_record(other / METRICS_FILE, earlier)
            marked.append(other)
    return marked


def write_metrics(directory: Path, record: dict[str, Any]) -> Path:
    """Write ``metrics.json`` atomically and sealed (the last step of a job), keeping the record it replaces.

    The replaced record moves to the earlier evaluations when it holds metrics under another evaluation
    key; a kept copy of the new record's own evaluation goes (it is the latest again). Each step is
    atomic; a kill between them leaves a record twice, which the leaderboard reads once.
    """
    directory = Path(directory)
    path = directory / METRICS_FILE
    key = _evaluation(record)
    current = latest_record(directory)
    replaced = None if current is None else _evaluation(current)
    if current is not None and current.get("metrics") and replaced not in (key, None):
        write_record(earlier_evaluation_path(directory, replaced), current)
    write_record(path, record)
    if key is not None:
        earlier_evaluation_path(directory, key).unlink(missing_ok=True)
    return path


def package_versions() -> dict[str, str]:
    """Versions of the packages that can change a number, for provenance."""
    versions = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            versions[name] = version(name)
        except PackageNotFoundError:
            continue
    return versions
