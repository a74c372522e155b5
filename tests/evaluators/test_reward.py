"""Tests for bench.evaluators.reward: mean pointwise scores of policy and reference samples."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest

from bench.evaluators.base import EvalInputs, Judge, PointwiseJudge
from bench.evaluators.reward import MeanScore


class CountsPlease(PointwiseJudge):
    """Scores a response by how often it says 'please'."""

    name = "polite"

    def score(self, prompts: Sequence[str], responses: Sequence[str]) -> np.ndarray:
        return np.array([r.split().count("please") for r in responses], dtype=float)


class PairwiseOnly(Judge):
    name = "pairwise"

    def preference(self, prompts: Sequence[str], a: Sequence[str], b: Sequence[str]) -> np.ndarray:
        return np.full(len(a), 0.5)


def test_mean_score_weighs_prompts_equally_and_skips_pairwise_judges() -> None:
    policy = [["please please", "no"], ["please"]]  # prompt means 1.0 and 1.0
    reference = [["no"], ["please please please"]]  # prompt means 0 and 3
    inputs = EvalInputs(["p0", "p1"], policy, reference,
                        judges={"gold": CountsPlease(), "llm": PairwiseOnly()})
    metrics = MeanScore().evaluate(inputs)
    assert metrics == pytest.approx({"gold_reward": 1.0, "gold_reward_reference": 1.5})
