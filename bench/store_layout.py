"""File names of the results store, shared by the runner that writes it and the leaderboards that read it.

A job directory holds its latest evaluation record in ``metrics.json``. When the job is evaluated again
under another evaluation (an evaluator added, a judge changed), the record it replaces moves to
``earlier_evaluations/<evaluation key>.json`` instead of being lost, so the job stays a row of the
table it was published in. A record with no metrics (a train-only run's) is never kept there: the
record that replaces it inherits its training cost.
"""

from __future__ import annotations

from pathlib import Path

METRICS_FILE = "metrics.json"
EARLIER_EVALUATIONS = "earlier_evaluations"


def earlier_evaluation_path(directory: Path, evaluation_key: str) -> Path:
    """Where the job in ``directory`` keeps its record for ``evaluation_key`` once a later one replaced it."""
    return Path(directory) / EARLIER_EVALUATIONS / f"{evaluation_key}.json"


def evaluation_records(metrics_path: Path) -> list[Path]:
    """A job's record files, latest first: ``metrics.json``, then the earlier evaluations it kept."""
    metrics_path = Path(metrics_path)
    return [metrics_path, *sorted((metrics_path.parent / EARLIER_EVALUATIONS).glob("*.json"))]
