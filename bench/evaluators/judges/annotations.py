"""The ``annotations`` judge: verdicts judged elsewhere, read back from alpaca_eval annotation files.

bench writes every job's outputs as alpaca_eval ``model_outputs`` files (:mod:`bench.generate.outputs`), so
they can be judged by any annotator alpaca_eval runs, on another machine or with an API bench is not given.
This judge reads the resulting ``annotations.json`` files (``instruction``, ``output_1``, ``output_2``,
``preference``: 1 when output_1 wins, 2 when output_2 wins, 1.5 or 0 a draw) and answers bench's questions
from them, in either order of the two outputs, so the run's win rates, head-to-head and judge checks use
those verdicts. A comparison no file holds is an error naming how many are missing: the annotations must
cover the outputs the run compares.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from bench.data.conversation import Prompt, as_text
from bench.errors import BenchError, ConfigError
from bench.evaluators.alpaca_metrics import load_annotations
from bench.evaluators.base import Judge
from bench.fingerprint import file_fingerprint, fingerprint


class AnnotationsJudge(Judge):
    """Pairwise verdicts looked up in alpaca_eval annotation files (one path, or several joined by ``,``)."""

    name: ClassVar[str] = "annotations"

    def __init__(self, path: str) -> None:
        self.paths = [Path(p.strip()).expanduser() for p in str(path).split(",") if p.strip()]
        missing = [str(p) for p in self.paths if not p.is_file()]
        if not self.paths or missing:
            raise ConfigError(f"judge annotations: {', '.join(missing) or 'no file'} does not exist; give alpaca_eval "
                              f"annotations.json files, comma-separated")
        self.verdicts: dict[tuple[str, str, str], float] = {}
        for file in self.paths:
            frame = load_annotations(file)
            for instruction, first, second, preference in zip(frame["instruction"], frame["output_1"],
                                                              frame["output_2"], frame["preference"], strict=True):
                if np.isnan(preference):
                    continue  # the annotator failed on this pair: unknown, as if absent
                first_wins = 0.5 if preference in (0.0, 1.5) else 2.0 - float(preference)
                self.verdicts[(str(instruction), str(first), str(second))] = first_wins
                self.verdicts.setdefault((str(instruction), str(second), str(first)), 1.0 - first_wins)

    def identity(self) -> dict[str, Any]:
        return {"name": self.name, "files": fingerprint([file_fingerprint(p) for p in self.paths])}

    def preference(self, prompts: Sequence[Prompt], a: Sequence[str], b: Sequence[str]) -> np.ndarray:
        keys = [(as_text(p), x, y) for p, x, y in zip(prompts, a, b, strict=True)]
        missing = sum(key not in self.verdicts for key in keys)
        if missing:
            raise BenchError(f"judge annotations: {missing} of {len(keys)} comparisons are in none of "
                             f"{', '.join(map(str, self.paths))}; annotate the run's model_outputs files (and its "
                             f"reference_outputs) with alpaca_eval first")
        return np.array([self.verdicts[key] for key in keys], dtype=np.float64)
