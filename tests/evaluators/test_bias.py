"""Tests for bench.evaluators.bias: spurious-marker uptake and judge position bias, with hand-counted values."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest

from bench.errors import BenchError
from bench.evaluators import EVALUATORS, run_evaluators
from bench.evaluators.base import EvalInputs, Judge, PointwiseJudge
from bench.evaluators.bias import MarkerUptake, PositionBias, marker_pattern, verdict_flips
from bench.evaluators.judges import OrderedJudge


class MarkerLover(PointwiseJudge):
    """Rewards the word "certainly", like the gym annotator, and says so."""

    name = "proxy"
    spurious_markers = ("certainly",)

    def score(self, prompts: Sequence[str], responses: Sequence[str]) -> np.ndarray:
        return np.array([("certainly" in r.split()) + 0.01 * len(r.split()) for r in responses], dtype=float)


class NeverAsked(PointwiseJudge):
    """A pointwise judge that fails if it is asked anything: its position bias is 0 by construction."""

    name = "never"

    def score(self, prompts: Sequence[str], responses: Sequence[str]) -> np.ndarray:
        raise AssertionError("a pointwise judge's order cannot matter; it should not be scored")


class FirstUnlessMuchLonger(Judge):
    """Prefers whichever response it is shown first, unless the second has at least 3 more words."""

    name = "first"

    def preference(self, prompts: Sequence[str], a: Sequence[str], b: Sequence[str]) -> np.ndarray:
        return np.array([0.0 if len(y.split()) >= len(x.split()) + 3 else 1.0 for x, y in zip(a, b, strict=True)])


class RecordedOrders(OrderedJudge):
    """An order-aware judge with fixed single-order verdicts (as the llm judge reports them)."""

    name = "recorded"

    def __init__(self, a_first: list[float], a_second: list[float]) -> None:
        self.a_first, self.a_second = np.array(a_first), np.array(a_second)

    def order_preferences(self, prompts, a, b):
        return self.a_first, self.a_second


def inputs(policy: list[list[str]], reference: list[list[str]], **judges: Judge) -> EvalInputs:
    return EvalInputs(prompts=[f"p{i}" for i in range(len(policy))], policy_samples=policy,
                      reference_samples=reference, judges=judges)


def test_both_evaluators_are_registered() -> None:
    assert EVALUATORS.get("marker_uptake") is MarkerUptake and EVALUATORS.get("position_bias") is PositionBias


def test_marker_uptake_is_the_per_prompt_share_difference_in_percentage_points() -> None:
    policy = [["certainly , it is good .", "it is good ."], ["Certainly the screen is fine .", "it is certainly ok ."],
              ["it is uncertainly good .", "the phone is good ."]]
    reference = [["it is good .", "it is bad ."], ["certainly , it is bad .", "it is fine ."], ["fine .", "ok ."]]
    result = run_evaluators(inputs(policy, reference, proxy=MarkerLover()), ["marker_uptake"])[0]
    # policy per prompt: 1/2, 2/2 (case-insensitive), 0/2 ("uncertainly" is another word); reference: 0, 1/2, 0
    assert result["marker_rate"] == pytest.approx(100 * (0.5 + 1.0 + 0.0) / 3)
    assert result["marker_rate_reference"] == pytest.approx(100 * 0.5 / 3)
    assert result["marker_uptake"] == pytest.approx(100 * 1.0 / 3)


def test_marker_uptake_needs_a_judge_that_declares_markers() -> None:
    with pytest.raises(BenchError, match="declares spurious_markers"):
        MarkerUptake().evaluate(inputs([["a ."]], [["b ."]], never=NeverAsked()))


def test_marker_pattern_matches_whole_words_and_phrases() -> None:
    pattern = marker_pattern(["certainly", "as an ai"])
    assert pattern.search("certainly , good .") and pattern.search("well, As an AI I think")
    assert not pattern.search("uncertainly good") and not pattern.search("certainlyx")


def test_pointwise_judges_have_no_position_bias_and_are_not_scored_twice() -> None:
    policy, reference = [["a b c", "a"], ["a b c d e f"]], [["a b c d e f", "a b"], ["a"]]
    result = PositionBias().evaluate(inputs(policy, reference, never=NeverAsked(), proxy=MarkerLover()))
    assert result == {"never_position_bias": 0.0, "proxy_position_bias": 0.0}
    # and the rule agrees when it is computed anyway: p(a, b) = 1 - p(b, a) for a pointwise judge
    judge, prompts, a, b = MarkerLover(), ["p"] * 3, ["x", "certainly", "x y"], ["x", "y", "certainly y"]
    assert verdict_flips(judge.preference(prompts, a, b), 1 - judge.preference(prompts, b, a)).sum() == 0


def test_a_first_position_judge_flips_exactly_where_no_length_gap_overrides_the_position() -> None:
    policy = [["one two", "one two three four five"], ["one"], ["one two three", "x"]]
    reference = [["one two three", "one"], ["one two three four"], ["one two", "x y z w"]]
    # (policy words, reference words) per pair; the second shown wins only with >= 3 more words:
    # prompt 0: (2, 3) first shown wins both ways: flip; (5, 1) policy wins both ways (5 >= 1 + 3): no flip
    # prompt 1: (1, 4) reference wins both ways: no flip
    # prompt 2: (3, 2) flip; (1, 4) no flip.  Per prompt 1/2, 0, 1/2; mean over prompts 1/3.
    result = PositionBias().evaluate(inputs(policy, reference, first=FirstUnlessMuchLonger()))
    assert result == {"first_position_bias": pytest.approx(100 / 3)}
    everything_flips = inputs([["a b"], ["c"]], [["d e"], ["f g"]], first=FirstUnlessMuchLonger())
    assert PositionBias().evaluate(everything_flips) == {"first_position_bias": 100.0}


def test_ordered_judges_are_measured_on_their_single_order_verdicts() -> None:
    judge = RecordedOrders(a_first=[0.9, 0.6, 0.3, 0.5], a_second=[0.8, 0.4, 0.45, 0.7])
    # winners: (a, a) same; (a, b) flip; (b, b) same; (tie, a) flip -> prompts [2 pairs, 2 pairs]: 1/2, 1/2
    result = PositionBias().evaluate(inputs([["x", "y"], ["z", "w"]], [["u", "v"], ["s", "t"]], recorded=judge))
    assert result == {"recorded_position_bias": pytest.approx(50.0)}
    assert judge.preference(["p"] * 4, ["x"] * 4, ["y"] * 4) == pytest.approx([0.85, 0.5, 0.375, 0.6])


def test_position_bias_needs_a_judge_and_one_verdict_per_pair() -> None:
    with pytest.raises(BenchError, match="needs at least one judge"):
        PositionBias().evaluate(inputs([["x"]], [["y"]]))
    with pytest.raises(BenchError, match="returned 1 and 1 preferences for 2 pairs"):
        PositionBias().evaluate(inputs([["x", "y"]], [["u", "v"]], recorded=RecordedOrders([1.0], [1.0])))
