"""The gym's judges: the gold reward (the truth) and the annotator's utility (the biased proxy).

Evaluating a gym policy with both shows what an objective learned from the annotator's biases: a
method that raises the proxy score but not the gold one has learned length or the marker, not quality.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np

from bench.errors import DataError
from bench.evaluators.base import PointwiseJudge
from bench.gym.annotator import Annotator, AnnotatorConfig
from bench.gym.language import LANGUAGE_VERSION, MARKER
from bench.gym.reward import REWARD_VERSION, gold_reward


def _aligned(prompts: Sequence[str], responses: Sequence[str], judge: str) -> None:
    if len(prompts) != len(responses):
        raise DataError(f"judge {judge}: {len(prompts)} prompts but {len(responses)} responses; pass one "
                        f"response per prompt")


class GoldJudge(PointwiseJudge):
    """Scores responses by the gold reward r* (:func:`bench.gym.reward.gold_reward`)."""

    name: ClassVar[str] = "gold"
    measured: ClassVar[bool] = False
    length_blind: ClassVar[bool] = True

    def identity(self) -> dict[str, Any]:
        return {"name": self.name, "version": REWARD_VERSION, "language_version": LANGUAGE_VERSION}

    def score(self, prompts: Sequence[str], responses: Sequence[str]) -> np.ndarray:
        _aligned(prompts, responses, self.name)
        return np.array([gold_reward(p, r) for p, r in zip(prompts, responses, strict=True)], dtype=float)


class AnnotatorJudge(PointwiseJudge):
    """Scores responses by the annotator's noiseless utility: the proxy the training labels came from."""

    name: ClassVar[str] = "proxy"
    measured: ClassVar[bool] = False

    @property
    def spurious_markers(self) -> tuple[str, ...]:
        """Words this judge rewards that the gold reward ignores (read by the marker_uptake evaluator)."""
        return (MARKER,) if self.annotator.config.marker_bonus else ()

    def __init__(self, annotator: Annotator | AnnotatorConfig | None = None) -> None:
        if not isinstance(annotator, Annotator):
            annotator = Annotator(annotator)
        self.annotator = annotator

    def identity(self) -> dict[str, Any]:
        return {"name": self.name, "version": REWARD_VERSION, "language_version": LANGUAGE_VERSION,
                "annotator": self.annotator.utility_identity()}

    def score(self, prompts: Sequence[str], responses: Sequence[str]) -> np.ndarray:
        _aligned(prompts, responses, self.name)
        return self.annotator.utilities(prompts, responses)
