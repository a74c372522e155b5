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


class MarkedWordCount(WordCount):
    spurious_markers = ("x",)


def test_run_evaluators_merges_every_default_metric() -> None:
    prompts = [f"p{i}" for i in range(6)]
    policy = [[f"a b c {i}", f"x b {i}"] for i in range(6)]
    reference = [[f"a {i}", f"b {i}"] for i in range(6)]
    inputs = EvalInputs(prompts, policy, reference, judges={"gold": MarkedWordCount()},
                        policy_logps=np.full((6, 2), -2.0), policy_ref_logps=np.full((6, 2), -3.0),
                        policy_token_entropy=np.full((6, 2), 0.5),
                        heldout_logps=np.array([[-1.0, -3.0], [-2.0, -1.0]]),
                        heldout_ref_logps=np.array([[-2.0, -2.0], [-2.0, -2.0]]))
    metrics, identities = run_evaluators(inputs)
    assert set(identities) == set(DEFAULT_EVALUATORS)
    emitted_by = {name: set(run_evaluators(inputs, [name])[0]) for name in DEFAULT_EVALUATORS}
    assert all(emitted_by.values()), [name for name, emitted in emitted_by.items() if not emitted]
    assert set(metrics) == set().union(*emitted_by.values())
    assert metrics["gold_win_rate"] == 100.0  # every policy sample is longer than its reference sample
    assert metrics["kl"] == pytest.approx(1.0) and metrics["entropy"] == pytest.approx(0.5)
    assert metrics["marker_uptake"] == pytest.approx(50.0)  # half the policy samples carry "x", none of the reference's


def test_two_evaluators_emitting_one_metric_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    class LengthAgain(Evaluator):
        def evaluate(self, inputs: EvalInputs) -> dict[str, float]:
            return {"length": 0.0}

    # registered for this test only, so the global registry stays as the package defines it
    monkeypatch.setitem(EVALUATORS._items, "length_again_for_test", LengthAgain)
    with pytest.raises(BenchError, match="both emit metric 'length'"):
        run_evaluators(EvalInputs(["p"], [["a"]], [["b"]]), ["length", "length_again_for_test"])
