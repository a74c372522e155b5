"""Reward accuracy on held-out pairs: DPO's implicit reward margin, ties counted one half."""

from __future__ import annotations

import numpy as np
import pytest

from bench.errors import BenchError
from bench.evaluators.base import EvalInputs
from bench.evaluators.reward_accuracy import RewardAccuracy, reward_accuracy


def test_counts_pairs_whose_margin_over_the_reference_is_positive():
    policy = np.array([[-1.0, -3.0], [-2.0, -1.0], [-5.0, -5.0], [-4.0, -6.0]])
    reference = np.array([[-2.0, -2.0], [-2.0, -2.0], [-5.0, -5.0], [-1.0, -6.0]])
    # margins: (1) - (-1) = 2 > 0; 0 - 1 = -1 < 0; 0 tie; (-3) - 0 = -3 < 0
    assert reward_accuracy(policy, reference) == pytest.approx((1 + 0 + 0.5 + 0) / 4)


def test_the_reference_itself_scores_one_half():
    logps = np.array([[-1.0, -2.0], [-3.0, -1.0]])
    assert reward_accuracy(logps, logps) == 0.5


def test_shape_errors_and_absent_pairs():
    with pytest.raises(BenchError, match="pairs, 2"):
        reward_accuracy(np.zeros((3, 3)), np.zeros((3, 3)))
    assert RewardAccuracy().evaluate(EvalInputs(prompts=[], policy_samples=[], reference_samples=[])) == {}
