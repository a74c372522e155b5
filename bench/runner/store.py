"""The results store: one directory per job holding its config, training log, checkpoint and metrics.

``metrics.json`` is written last and atomically; its presence (with the current evaluation key) is
what marks a job done, so a killed run redoes only unfinished work.
"""

from __future__ import annotations

import json
import platform
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from bench import atomic

METRICS = "metrics.json"
PACKAGES = ("bench", "torch", "transformers", "accelerate", "tokenizers", "numpy", "pandas", "vllm",
            "alpaca_eval", "lm_eval")


def job_dir(store: Path, method: str, seed: int, key: str) -> Path:
    """Where a job lives: readable name first, content key last."""
    return Path(store) / "jobs" / f"{method}-seed{seed}-{key}"


def finished(directory: Path, evaluation_key: str) -> dict[str, Any] | None:
    """The job's metrics if it finished under ``evaluation_key``, else None."""
    path = Path(directory) / METRICS
    if not path.is_file():
        return None
    record = json.loads(path.read_text())
    return record if record.get("provenance", {}).get("evaluation") == evaluation_key else None


def admit_to_benchmark(directory: Path, record: dict[str, Any], key: str) -> None:
    """Record that the finished job in ``directory`` (its metrics ``record``) also belongs to benchmark ``key``.

    A run reuses a finished job when its job key matches (same model, data, training, objective) and its
    evaluation key matches, so the runs' comparability keys can differ only in what the job never read
    (the world's native datasets it did not train on). Listing the key keeps the job in that run's table;
    the file is rewritten only when the key is new.
    """
    provenance = record["provenance"]
    also = provenance.setdefault("also_comparable_under", [])
    if key != provenance["comparability_key"] and key not in also:
        also.append(key)
        write_metrics(directory, record)


def write_metrics(directory: Path, record: dict[str, Any]) -> Path:
    """Write ``metrics.json`` atomically (the last step of a job)."""
    path = Path(directory) / METRICS
    atomic.write_json(path, record)
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
