"""Response length of the policy against the reference: the most common bias preference training adds.

Judges (LLMs and reward models alike) favour longer answers, and many objectives exploit that, so a
win rate means little without the length gain next to it (METHODS.md, Metrics: bias). Length is
counted in whitespace words so it does not depend on any tokenizer.
"""

from __future__ import annotations

import math

import numpy as np

from bench.evaluators import register_evaluator
from bench.evaluators.base import EvalInputs, Evaluator, flatten_samples
from bench.evaluators.statistics import prompt_mean


def mean_words(prompts: list[str], samples: list[list[str]], what: str) -> float:
    """Mean over prompts of the mean number of whitespace words of each prompt's samples."""
    _, flat, counts = flatten_samples(prompts, samples, what)
    words = np.array([len(text.split()) for text in flat], dtype=np.float64)
    return float(prompt_mean(words, counts).mean())


@register_evaluator("length")
class Length(Evaluator):
    """Emits ``length``, ``length_reference`` (mean words) and ``length_gain`` (policy / reference - 1)."""

    def evaluate(self, inputs: EvalInputs) -> dict[str, float]:
        policy = mean_words(inputs.prompts, inputs.policy_samples, "policy_samples")
        reference = mean_words(inputs.prompts, inputs.reference_samples, "reference_samples")
        gain = policy / reference - 1.0 if reference > 0 else math.nan
        return {"length": policy, "length_reference": reference, "length_gain": gain}
