"""Tests for bench.evaluators.diversity: distinct-n across and within prompts."""

from __future__ import annotations

import pytest

from bench.errors import BenchError
from bench.evaluators.base import EvalInputs
from bench.evaluators.diversity import Distinct, distinct_n


def test_distinct_n_on_hand_made_strings() -> None:
    # "a b a b": bigrams ab, ba, ab -> 2 unique of 3
    assert distinct_n(["a b a b"], 2) == pytest.approx(2 / 3)
    # pooled: "a b c" -> ab, bc; "a b d" -> ab, bd; unique {ab, bc, bd} = 3 of 4; no bigram "c a" across texts
    assert distinct_n(["a b c", "a b d"], 2) == pytest.approx(3 / 4)
    assert distinct_n(["x x x x"], 1) == pytest.approx(1 / 4)
    assert distinct_n(["single", ""], 2) == 0.0
    assert distinct_n([], 2) == 0.0
    with pytest.raises(BenchError):
        distinct_n(["a"], 0)


def test_distinct_evaluator_across_and_per_input() -> None:
    policy = [["a b c", "a b c"], ["a b d", "x y z"]]
    metrics = Distinct().evaluate(EvalInputs(["p0", "p1"], policy, [["r"], ["r"]]))
    # across: first samples "a b c", "a b d" -> 3/4
    assert metrics["distinct_2_across"] == pytest.approx(3 / 4)
    # per input: p0 -> {ab, bc} of 4 = 0.5; p1 -> 4 of 4 = 1.0; mean 0.75
    assert metrics["distinct_2_per_input"] == pytest.approx(0.75)


def test_per_input_diversity_needs_two_samples() -> None:
    metrics = Distinct().evaluate(EvalInputs(["p0", "p1"], [["a b"], ["c d"]], [["r"], ["r"]]))
    assert metrics == {"distinct_2_across": 1.0}
