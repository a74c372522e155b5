"""Tests for bench.evaluators.winrate: the win-rate statistic and the per-judge evaluator."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest

from bench.errors import BenchError
from bench.evaluators.base import EvalInputs, Judge, PointwiseJudge
from bench.evaluators.winrate import WinRate, win_rate


class LongerIsBetter(PointwiseJudge):
    """Scores a response by its number of whitespace words, so the longer response wins."""

    name = "longer"

    def score(self, prompts: Sequence[str], responses: Sequence[str]) -> np.ndarray:
        return np.array([len(r.split()) for r in responses], dtype=float)


class Constant(Judge):
    """A pairwise judge with one fixed verdict for every pair."""

    name = "constant"

    def __init__(self, value: float) -> None:
        self.value = value

    def preference(self, prompts: Sequence[str], a: Sequence[str], b: Sequence[str]) -> np.ndarray:
        return np.full(len(a), self.value)


def test_all_ties_is_fifty_and_all_wins_is_a_hundred() -> None:
    ties = win_rate(np.full((20, 3), 0.5))
    assert ties["win_rate"] == pytest.approx(50.0)
    assert ties["win_rate_ci_low"] == pytest.approx(50.0) and ties["win_rate_ci_high"] == pytest.approx(50.0)
    assert ties["n_prompts"] == 20
    wins = win_rate(np.ones((20, 3)))
    assert wins["win_rate"] == pytest.approx(100.0)
    assert win_rate(np.zeros((5, 1)))["win_rate"] == 0.0


def test_win_rate_averages_per_prompt_then_over_prompts_with_a_ci_around_it() -> None:
    prefs = np.array([[1, 0], [1, 1], [0.5, 0], [0, 0]], dtype=float)  # prompt means .5, 1, .25, 0
    result = win_rate(prefs)
    assert result["win_rate"] == pytest.approx(100 * (0.5 + 1 + 0.25 + 0) / 4)
    assert result["win_rate_ci_low"] <= result["win_rate"] <= result["win_rate_ci_high"]
    assert 0 <= result["win_rate_ci_low"] < result["win_rate_ci_high"] <= 100


def test_win_rate_rejects_values_outside_zero_one() -> None:
    with pytest.raises(BenchError, match=r"\[0, 1\]"):
        win_rate(np.array([[1.0, 2.0]]))


def test_longer_judge_gives_the_hand_counted_win_rate() -> None:
    prompts = ["p0", "p1", "p2", "p3"]
    policy = [["a b c", "a"], ["a b", "a b"], ["a", "a"], ["a b c d", "a b c d", "extra unpaired"]]
    reference = [["a b", "a b"], ["a b", "a b c"], ["a b", "a b"], ["a", "a"]]
    # pair verdicts: p0 win, loss -> .5; p1 tie, loss -> .25; p2 loss, loss -> 0; p3 win, win -> 1
    # (p3's third policy sample has no reference partner and is not compared)
    inputs = EvalInputs(prompts, policy, reference, judges={"gold": LongerIsBetter()}, seed=0)
    metrics = WinRate().evaluate(inputs)
    assert set(metrics) == {"gold_win_rate", "gold_win_rate_ci_low", "gold_win_rate_ci_high"}
    assert metrics["gold_win_rate"] == pytest.approx(100 * (0.5 + 0.25 + 0 + 1) / 4)
    assert metrics["gold_win_rate_ci_low"] <= metrics["gold_win_rate"] <= metrics["gold_win_rate_ci_high"]


def test_every_judge_gets_its_own_metrics() -> None:
    inputs = EvalInputs(["p"] * 3, [["x"]] * 3, [["y"]] * 3,
                        judges={"gold": Constant(1.0), "proxy": Constant(0.5)})
    metrics = WinRate().evaluate(inputs)
    assert metrics["gold_win_rate"] == 100.0 and metrics["proxy_win_rate"] == 50.0


def test_misaligned_or_missing_samples_are_errors() -> None:
    judges = {"gold": Constant(1.0)}
    with pytest.raises(BenchError, match="2 entries for 3 prompts"):
        WinRate().evaluate(EvalInputs(["a", "b", "c"], [["x"]] * 2, [["y"]] * 3, judges=judges))
    with pytest.raises(BenchError, match="prompt 1"):
        WinRate().evaluate(EvalInputs(["a", "b"], [["x"], []], [["y"], ["y"]], judges=judges))
    with pytest.raises(BenchError, match="at least one judge"):
        WinRate().evaluate(EvalInputs(["a"], [["x"]], [["y"]]))
