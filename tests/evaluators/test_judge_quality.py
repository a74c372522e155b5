"""Tests for bench.evaluators.judge_quality: a judge's held-out accuracy, position bias and agreement, by hand."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import cohen_kappa_score

from bench.data.records import Example, Response
from bench.evaluators.base import Judge, PointwiseJudge
from bench.evaluators.judge_quality import judge_quality, untrustworthy


class FirstShown(Judge):
    """Prefers whichever answer it reads first: pure position bias."""

    name = "first"

    def preference(self, prompts, a, b):
        return np.ones(len(a))


class Longer(PointwiseJudge):
    name = "longer"

    def score(self, prompts, responses):
        return np.array([float(len(r)) for r in responses])


def pairs(n: int = 40) -> list[Example]:
    """Chosen responses are longer in 3 of 4 pairs."""
    rows = []
    for i in range(n):
        chosen, rejected = ("a long answer", "short") if i % 4 else ("tiny", "a longer answer")
        rows.append(Example(id=str(i), prompt=f"q{i}", kind="pairs", responses=(Response(chosen), Response(rejected))))
    return rows


def test_accuracy_position_bias_and_agreement_match_hand_counts() -> None:
    metrics = judge_quality({"first": FirstShown(), "longer": Longer()}, pairs(), n_boot=200)
    assert metrics["longer_heldout_accuracy"] == pytest.approx(75.0)
    assert metrics["longer_heldout_position_bias"] == 0.0
    assert metrics["first_heldout_accuracy"] == pytest.approx(50.0)  # both orders: 1 then 0, a tie every time
    assert metrics["first_heldout_position_bias"] == 100.0
    assert metrics["longer_heldout_accuracy_ci_low"] < 75.0 < metrics["longer_heldout_accuracy_ci_high"]
    longer = np.where(np.arange(40) % 4, 1, -1)
    assert metrics["agreement_first_vs_longer"] == 0.0  # "first" always ties, "longer" never does
    expected = cohen_kappa_score(np.zeros(40), longer)
    assert metrics["kappa_first_vs_longer"] == pytest.approx(expected)


def test_a_position_biased_judge_at_chance_is_flagged_and_a_good_one_is_not() -> None:
    metrics = judge_quality({"first": FirstShown(), "longer": Longer()}, pairs(), n_boot=200)
    reason = untrustworthy(metrics, "first")
    assert reason is not None and "100% of its held-out verdicts flip" in reason and "not above chance" in reason
    assert untrustworthy(metrics, "longer") is None
    assert judge_quality({"first": FirstShown()}, []) == {}


def test_a_judge_that_defines_the_labels_is_compared_but_not_graded() -> None:
    class Truth(Longer):
        name, measured = "truth", False

    metrics = judge_quality({"truth": Truth(), "first": FirstShown()}, pairs(), n_boot=100)
    assert "truth_heldout_accuracy" not in metrics and "first_heldout_accuracy" in metrics
    assert "agreement_first_vs_truth" in metrics
    assert judge_quality({"truth": Truth()}, pairs()) == {}
