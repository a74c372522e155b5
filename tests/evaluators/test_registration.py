"""Tests for bench.evaluators: registration of the built-ins and running a set of evaluators."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest

from bench.errors import BenchError
from bench.evaluators import DEFAULT_EVALUATORS, EVALUATORS, run_evaluators
from bench.evaluators.base import EvalInputs, Evaluator, PointwiseJudge


class WordCount(PointwiseJudge):
    name = "words"

    def score(self, prompts: Sequence[str], responses: Sequence[str]) -> np.ndarray:
        return np.array([len(r.split()) for r in responses], dtype=float)


def test_default_evaluators_are_registered_under_their_names() -> None:
    for name in DEFAULT_EVALUATORS:
        assert EVALUATORS.get(name).name == name


def test_run_evaluators_merges_every_default_metric() -> None:
    inputs = EvalInputs(["p0", "p1"], [["a b c", "a b"], ["a b c d", "x y"]], [["a b"], ["a"]],
                        judges={"gold": WordCount()},
                        policy_logps=np.array([[-1.0, -2.0], [-3.0, -4.0]]),
                        policy_ref_logps=np.array([[-2.0, -2.0], [-3.0, -5.0]]))
    metrics, identities = run_evaluators(inputs)
    assert set(identities) == set(DEFAULT_EVALUATORS)
    assert {"gold_win_rate", "gold_win_rate_ci_low", "gold_win_rate_ci_high", "gold_reward",
            "gold_reward_reference", "kl", "kl_stderr", "length", "length_reference", "length_gain",
            "distinct_2_across", "distinct_2_per_input"} == set(metrics)
    assert metrics["gold_win_rate"] == 100.0  # policy's first samples are longer than the reference's


def test_two_evaluators_emitting_one_metric_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    class LengthAgain(Evaluator):
        def evaluate(self, inputs: EvalInputs) -> dict[str, float]:
            return {"length": 0.0}

    # registered for this test only, so the global registry stays as the package defines it
    monkeypatch.setitem(EVALUATORS._items, "length_again_for_test", LengthAgain)
    with pytest.raises(BenchError, match="both emit metric 'length'"):
        run_evaluators(EvalInputs(["p"], [["a"]], [["b"]]), ["length", "length_again_for_test"])
