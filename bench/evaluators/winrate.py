"""Win rate of the policy against the reference outputs, per judge, with a paired bootstrap CI.

The headline number of every preference-optimisation paper (alpaca_eval's win rate): how often a
judge prefers the trained policy's response to the reference model's response for the same prompt.
Ties count half. Prompts weigh equally, and the interval resamples prompts (METHODS.md, Metrics).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from bench.errors import BenchError
from bench.evaluators import register_evaluator
from bench.evaluators.base import EvalInputs, Evaluator, judge_preferences, judged_pairs
from bench.evaluators.statistics import DEFAULT_LEVEL, DEFAULT_N_BOOT, paired_bootstrap_ci, prompt_mean


def check_preferences(preferences: np.ndarray) -> np.ndarray:
    """``preferences`` as floats, or an error when a finite one lies outside [0, 1] (a judge's bug)."""
    preferences = np.asarray(preferences, dtype=np.float64)
    finite = preferences[np.isfinite(preferences)]
    if finite.size and (finite.min() < 0.0 or finite.max() > 1.0):
        raise BenchError(f"preferences must lie in [0, 1] (1 win, 0.5 tie, 0 loss); got values in "
                         f"[{finite.min():g}, {finite.max():g}]: check the judge's output")
    return preferences


def win_rate_from_prompt_means(per_prompt: np.ndarray, n_boot: int = DEFAULT_N_BOOT, seed: int = 0,
                               level: float = DEFAULT_LEVEL) -> dict[str, float]:
    """Win rate (percent) and its bootstrap CI from one preference value per prompt.

    Separate from :func:`win_rate` so prompts with different numbers of sample pairs can be averaged
    per prompt first.
    """
    per_prompt = check_preferences(per_prompt)
    low, high = paired_bootstrap_ci(per_prompt, n_boot=n_boot, seed=seed, level=level)
    return {"win_rate": 100.0 * float(per_prompt.mean()), "win_rate_ci_low": 100.0 * low,
            "win_rate_ci_high": 100.0 * high, "n_prompts": float(per_prompt.size)}


def win_rate(preferences: np.ndarray, n_boot: int = DEFAULT_N_BOOT, seed: int = 0,
             level: float = DEFAULT_LEVEL) -> dict[str, float]:
    """Win rate in percent from P(policy preferred) per prompt and sample pair, shape [P, k].

    Averaging over the k pairs of a prompt first makes the prompt the unit of the bootstrap, so the
    interval reflects the evaluation set's size, not k. A 1-D array is read as k = 1. Returns
    ``win_rate``, ``win_rate_ci_low``, ``win_rate_ci_high`` (percent) and ``n_prompts``.
    """
    prefs = np.asarray(preferences, dtype=np.float64)
    if prefs.ndim == 1:
        prefs = prefs[:, None]
    if prefs.ndim != 2 or prefs.shape[1] == 0:
        raise BenchError(f"preferences must be shaped [prompts, pairs] with at least one pair, "
                         f"got {prefs.shape}")
    return win_rate_from_prompt_means(prefs.mean(axis=1), n_boot=n_boot, seed=seed, level=level)


@register_evaluator("win_rate")
@dataclass
class WinRate(Evaluator):
    """Per judge: the policy's j-th sample against the reference's j-th sample, for every prompt.

    Pairs are formed up to the smaller sample count of a prompt, so sampling more from one side never
    adds unpaired comparisons. Emits ``{judge}_win_rate`` and its ``_ci_low`` / ``_ci_high`` (percent).
    ``n_boot`` is the run's ``eval.bootstrap_samples``.
    """

    n_boot: int = DEFAULT_N_BOOT
    needs_judges: ClassVar[bool] = True

    def evaluate(self, inputs: EvalInputs) -> dict[str, float]:
        prompts, policy, reference, counts = judged_pairs(inputs, self.name)
        metrics: dict[str, float] = {}
        for judge_name, judge in inputs.judges.items():
            prefs = judge_preferences(judge_name, judge, prompts, policy, reference)
            result = win_rate_from_prompt_means(prompt_mean(prefs, counts), n_boot=self.n_boot,
                                                seed=inputs.seed)
            metrics[f"{judge_name}_win_rate"] = result["win_rate"]
            metrics[f"{judge_name}_win_rate_ci_low"] = result["win_rate_ci_low"]
            metrics[f"{judge_name}_win_rate_ci_high"] = result["win_rate_ci_high"]
        return metrics
