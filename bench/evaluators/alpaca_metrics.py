"""AlpacaEval leaderboard metrics of alpaca_eval-format files, computed by alpaca_eval's own code.

bench writes generations with alpaca_eval's field names (``instruction``, ``output``, ``generator``)
so that anyone can re-score them; this module reads such files back, with a judge's annotations
(``output_1`` the baseline, ``output_2`` the model, ``preference`` in [1, 2], 2 meaning the model
wins, 0 or 1.5 a draw, empty when the judge failed), and reports the leaderboard columns of an
AlpacaEval leaderboard. The numbers come from ``alpaca_eval.metrics.get_winrate``, so they are
alpaca_eval's by construction; ``avg_length`` is the one column alpaca_eval computes outside its
metric functions (``alpaca_eval.main.evaluate``: mean character count of the model's outputs,
truncated to an int), and is reproduced here from that definition.
"""

from __future__ import annotations

import importlib
import json
from pathlib import Path
from typing import Any

import pandas as pd

from bench.errors import BenchError, DataError
from bench.evaluators.length_controlled import length_controlled_from_annotations

LEADERBOARD_COLUMNS: tuple[str, ...] = ("win_rate", "standard_error", "n_wins", "n_wins_base", "n_draws",
                                        "n_total", "discrete_win_rate", "avg_length")
"""The columns of an AlpacaEval leaderboard CSV that :func:`leaderboard_metrics` produces."""
ANNOTATIONS_FILE = "annotations.json"
MODEL_OUTPUTS_FILE = "model_outputs.json"
"""File names in alpaca_eval's ``results/<model>/`` folders (annotations sit under the judge's name
there; a folder holding one judge's files keeps them side by side)."""


def _read_records(path: Path, required: tuple[str, ...]) -> pd.DataFrame:
    """A JSON list of objects as a DataFrame, every object checked for the ``required`` keys."""
    try:
        records = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise DataError(f"{path} does not exist; point to an alpaca_eval {Path(path).name}") from exc
    except json.JSONDecodeError as exc:
        raise DataError(f"{path} is not valid JSON ({exc.msg} at line {exc.lineno}); re-export it") from exc
    if not isinstance(records, list) or not records:
        raise DataError(f"{path} must hold a non-empty JSON list of objects, as alpaca_eval writes them")
    for row, record in enumerate(records):
        missing = [key for key in required if not isinstance(record, dict) or key not in record]
        if missing:
            raise DataError(f"{path} row {row} lacks {missing}; every row needs {list(required)}")
    return pd.DataFrame.from_records(records)


def load_model_outputs(path: str | Path) -> pd.DataFrame:
    """A model's outputs (``instruction``, ``output``, ``generator``) as alpaca_eval writes them."""
    outputs = _read_records(Path(path), ("instruction", "output"))
    if not outputs["output"].map(lambda text: isinstance(text, str)).all():
        row = int((~outputs["output"].map(lambda text: isinstance(text, str))).to_numpy().argmax())
        raise DataError(f"{path} row {row}: 'output' must be a string (the model's response)")
    return outputs


def load_annotations(path: str | Path) -> pd.DataFrame:
    """A judge's pairwise annotations, with every ``preference`` checked to be alpaca_eval's code.

    A preference must be empty (the judge failed; alpaca_eval drops the row), 0 (legacy draw) or in
    [1, 2]; anything else would be silently dropped by alpaca_eval, so here it is an error. Each file
    must compare one model with one baseline.
    """
    annotations = _read_records(Path(path), ("instruction", "output_1", "output_2", "preference"))
    preference = pd.to_numeric(annotations["preference"], errors="coerce")
    given = annotations["preference"].notna()
    valid = preference.isna() & ~given | (preference == 0) | preference.between(1.0, 2.0)
    if not valid.all():
        row = int((~valid).to_numpy().argmax())
        raise DataError(f"{path} row {row}: preference {annotations['preference'].tolist()[row]!r} is not an "
                        f"alpaca_eval preference (1 baseline wins, 2 model wins, 1.5 or 0 draw, null failed)")
    annotations["preference"] = preference
    for column in ("generator_1", "generator_2"):
        if column in annotations and annotations[column].nunique() > 1:
            raise DataError(f"{path} mixes several {column} values {sorted(annotations[column].unique())[:3]}; "
                            f"split it into one file per model and baseline")
    return annotations


def leaderboard_metrics(annotations: pd.DataFrame, model_outputs: pd.DataFrame) -> dict[str, float]:
    """The AlpacaEval leaderboard columns of one model: :data:`LEADERBOARD_COLUMNS`.

    ``win_rate`` (percent, the preference weighted: 1.7 counts 0.7 of a win), ``standard_error``
    (its standard error of the mean, percent), ``n_wins``, ``n_wins_base``, ``n_draws``, ``n_total``
    (rated rows), ``discrete_win_rate`` (each row rounded to win, loss or draw) from
    ``alpaca_eval.metrics.get_winrate``, and ``avg_length`` in characters.
    """
    try:
        winrate = importlib.import_module("alpaca_eval.metrics.winrate")
    except ImportError as exc:
        raise BenchError(f"AlpacaEval metrics need alpaca_eval ({exc}); install it with "
                         f"pip install 'bench[eval]'") from exc
    metrics = {key: float(value) for key, value in winrate.get_winrate(annotations).items()}
    metrics["avg_length"] = float(int(model_outputs["output"].str.len().mean()))
    return {key: metrics[key] for key in LEADERBOARD_COLUMNS}


def evaluate_model_folder(folder: str | Path, length_controlled: bool = False) -> dict[str, Any]:
    """Leaderboard metrics of one ``results/<model>/`` folder holding annotations and outputs.

    With ``length_controlled`` it adds ``length_controlled_winrate``, ``lc_standard_error`` and
    ``lc_method`` (``alpaca_eval_glm`` when alpaca_eval's own GLM could run offline, else
    ``local_glm``; see :mod:`bench.evaluators.length_controlled`).
    """
    folder = Path(folder)
    annotations = load_annotations(folder / ANNOTATIONS_FILE)
    metrics: dict[str, Any] = dict(leaderboard_metrics(annotations, load_model_outputs(folder / MODEL_OUTPUTS_FILE)))
    if length_controlled:
        result = length_controlled_from_annotations(annotations)
        metrics.update(length_controlled_winrate=result.lc_win_rate, lc_standard_error=result.lc_standard_error,
                       lc_method=result.method)
    return metrics


def load_leaderboard(path: str | Path) -> pd.DataFrame:
    """A published AlpacaEval leaderboard CSV, one row per model (the first of any duplicate rows)."""
    try:
        table = pd.read_csv(path, index_col=0)
    except FileNotFoundError as exc:
        raise DataError(f"{path} does not exist; point to an AlpacaEval leaderboard CSV") from exc
    missing = [column for column in LEADERBOARD_COLUMNS if column not in table.columns]
    if missing:
        raise DataError(f"{path} lacks the leaderboard column(s) {missing}; is it an AlpacaEval leaderboard?")
    return table[~table.index.duplicated(keep="first")]

