"""Tests for bench.evaluators.length: policy length, reference length and the gain."""

from __future__ import annotations

import math

import pytest

from bench.evaluators.base import EvalInputs
from bench.evaluators.length import Length


def test_length_counts_words_per_prompt_and_the_gain() -> None:
    policy = [["one two three four", "one two"], ["a b c d e f"]]  # prompt means 3 and 6 -> 4.5
    reference = [["one two"], ["a b c d"]]  # 2 and 4 -> 3
    metrics = Length().evaluate(EvalInputs(["p0", "p1"], policy, reference))
    assert metrics == pytest.approx({"length": 4.5, "length_reference": 3.0, "length_gain": 0.5})


def test_length_gain_is_nan_when_the_reference_is_empty() -> None:
    metrics = Length().evaluate(EvalInputs(["p"], [["a b"]], [[""]]))
    assert metrics["length"] == 2.0 and metrics["length_reference"] == 0.0
    assert math.isnan(metrics["length_gain"])
