"""KL(pi || pi_ref) estimated from the policy's own samples, at the sequence level in nats.

How far a method moved from the reference is the price paid for its reward; the reward-vs-KL
frontier and the regret against the optimal frontier both need it (METHODS.md, Metrics). The
estimator is the mean of log pi(y|x) - log pi_ref(y|x) over y ~ pi, unbiased but noisy, so it comes
with its standard error.
"""

from __future__ import annotations

import math

import numpy as np

from bench.errors import BenchError
from bench.evaluators import register_evaluator
from bench.evaluators.base import EvalInputs, Evaluator


def sequence_kl(policy_logps: np.ndarray, ref_logps: np.ndarray) -> tuple[float, float]:
    """Mean of log pi(y|x) - log pi_ref(y|x) over policy samples, and its standard error (nats).

    Inputs are summed response log-probs shaped [P, k] (or [P] for one sample per prompt). Samples
    of one prompt are correlated, so the standard error treats prompts as the independent unit: each
    prompt's samples are averaged first. NaN marks an absent sample (ragged k) and is skipped; a
    prompt with no sample at all is dropped. With fewer than two prompts the standard error is NaN.
    """
    policy = np.asarray(policy_logps, dtype=np.float64)
    ref = np.asarray(ref_logps, dtype=np.float64)
    if policy.shape != ref.shape:
        raise BenchError(f"policy log-probs {policy.shape} and reference log-probs {ref.shape} must have the "
                         f"same shape [prompts, samples]; both score the policy's samples")
    if policy.ndim == 1:
        policy, ref = policy[:, None], ref[:, None]
    if policy.ndim != 2:
        raise BenchError(f"log-probs must be shaped [prompts, samples], got {policy.shape}")
    diff = policy - ref
    present = ~np.isnan(diff)
    counts = present.sum(axis=1)
    keep = counts > 0
    if not keep.any():
        return math.nan, math.nan
    per_prompt = np.where(present, diff, 0.0)[keep].sum(axis=1) / counts[keep]
    mean = float(per_prompt.mean())
    if per_prompt.size < 2:
        return mean, math.nan
    return mean, float(per_prompt.std(ddof=1) / math.sqrt(per_prompt.size))


@register_evaluator("kl")
class KL(Evaluator):
    """Emits ``kl`` and ``kl_stderr`` (nats, sequence level) from the policy samples' log-probs."""

    needs_logps = True

    def evaluate(self, inputs: EvalInputs) -> dict[str, float]:
        if inputs.policy_logps is None or inputs.policy_ref_logps is None:
            raise BenchError("the kl evaluator needs policy_logps and policy_ref_logps (the policy's samples "
                             "scored under the policy and the reference); the runner computes them for "
                             "evaluators with needs_logps, so pass them or drop kl from the evaluators")
        mean, stderr = sequence_kl(inputs.policy_logps, inputs.policy_ref_logps)
        return {"kl": mean, "kl_stderr": stderr}
