"""Reward accuracy: how often the policy's implicit reward ranks held-out chosen above rejected.

The implicit reward is DPO's, r(y) = log pi(y|x) - log pi_ref(y|x) (summed over tokens), for every
objective alike, so the number says how much of the held-out preference signal the policy's movement
away from the reference encodes, whatever loss produced it (METHODS.md, Metrics). A tie (no movement,
as for the reference itself) counts one half.
"""

from __future__ import annotations

import numpy as np

from bench.errors import BenchError
from bench.evaluators import register_evaluator
from bench.evaluators.base import EvalInputs, Evaluator


def reward_accuracy(logps: np.ndarray, ref_logps: np.ndarray) -> float:
    """Share of pairs [N, 2] (chosen first) whose implicit reward margin is positive; ties count 0.5."""
    logps, ref_logps = np.asarray(logps, dtype=np.float64), np.asarray(ref_logps, dtype=np.float64)
    if logps.shape != ref_logps.shape or logps.ndim != 2 or logps.shape[1] != 2:
        raise BenchError(f"held-out log-probs must both be shaped [pairs, 2], got {logps.shape} and "
                         f"{ref_logps.shape}")
    margin = (logps[:, 0] - ref_logps[:, 0]) - (logps[:, 1] - ref_logps[:, 1])
    return float(np.mean(np.where(margin > 0, 1.0, np.where(margin < 0, 0.0, 0.5))))


@register_evaluator("reward_accuracy")
class RewardAccuracy(Evaluator):
    """``reward_accuracy`` on the run's held-out (validation) pairs; nothing when the run has none."""

    needs_heldout_pairs = True

    def evaluate(self, inputs: EvalInputs) -> dict[str, float]:
        if inputs.heldout_logps is None or inputs.heldout_ref_logps is None:
            return {}
        return {"reward_accuracy": reward_accuracy(inputs.heldout_logps, inputs.heldout_ref_logps)}
