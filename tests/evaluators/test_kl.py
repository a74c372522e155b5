"""Tests for bench.evaluators.kl: the sequence-level KL estimate from policy samples."""

from __future__ import annotations

import math

import numpy as np
import pytest

from bench.errors import BenchError
from bench.evaluators.base import EvalInputs
from bench.evaluators.kl import KL, sequence_kl


def test_sequence_kl_is_the_mean_log_ratio_with_a_per_prompt_stderr() -> None:
    policy = np.array([[-10.0, -12.0], [-5.0, -7.0], [-20.0, -20.0]])
    ref = np.array([[-11.0, -15.0], [-5.0, -6.0], [-22.0, -21.0]])
    # log ratios: [1, 3], [0, -1], [2, 1] -> prompt means 2, -0.5, 1.5
    per_prompt = np.array([2.0, -0.5, 1.5])
    mean, stderr = sequence_kl(policy, ref)
    assert mean == pytest.approx(per_prompt.mean())
    assert stderr == pytest.approx(per_prompt.std(ddof=1) / math.sqrt(3))


def test_sequence_kl_skips_absent_samples_and_checks_shapes() -> None:
    policy = np.array([[-1.0, np.nan], [-2.0, -4.0]])
    ref = np.array([[-3.0, np.nan], [-2.0, -2.0]])
    mean, _ = sequence_kl(policy, ref)  # prompt means 2 and -1
    assert mean == pytest.approx(0.5)
    assert sequence_kl(np.array([-1.0]), np.array([-2.0]))[0] == 1.0
    assert math.isnan(sequence_kl(np.array([-1.0]), np.array([-2.0]))[1])
    with pytest.raises(BenchError, match="same shape"):
        sequence_kl(np.zeros((2, 2)), np.zeros((2, 3)))


def test_kl_evaluator_needs_logps() -> None:
    assert KL.needs_logps
    inputs = EvalInputs(["p"], [["x"]], [["y"]])
    with pytest.raises(BenchError, match="policy_logps"):
        KL().evaluate(inputs)
    inputs.policy_logps, inputs.policy_ref_logps = np.array([[-1.0], [-3.0]]), np.array([[-2.0], [-2.0]])
    assert KL().evaluate(inputs)["kl"] == pytest.approx(0.0)
