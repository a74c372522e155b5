"""Mean score of the policy's and the reference's samples under each pointwise judge.

On the gym the ``gold`` judge's score is the true reward, so this is the y-axis of the reward-vs-KL
frontier; with a reward model it shows how far training moved the score the model was tuned for.
Pairwise judges (an LLM comparing two answers) have no score and are skipped.
"""

from __future__ import annotations

import numpy as np

from bench.errors import BenchError
from bench.evaluators import register_evaluator
from bench.evaluators.base import EvalInputs, Evaluator, PointwiseJudge, flatten_samples
from bench.evaluators.statistics import prompt_mean


def mean_score(judge: PointwiseJudge, prompts: list[str], samples: list[list[str]], what: str) -> float:
    """Mean over prompts of the mean score of each prompt's samples (prompts weigh equally)."""
    flat_prompts, flat_samples, counts = flatten_samples(prompts, samples, what)
    scores = np.asarray(judge.score(flat_prompts, flat_samples), dtype=np.float64).ravel()
    if scores.size != len(flat_samples):
        raise BenchError(f"judge {judge.name!r} returned {scores.size} scores for {len(flat_samples)} "
                         f"{what}; it must return one per response")
    return float(prompt_mean(scores, counts).mean())


@register_evaluator("score")
class MeanScore(Evaluator):
    """Emits ``{judge}_reward`` (policy samples) and ``{judge}_reward_reference`` for each pointwise judge."""

    def evaluate(self, inputs: EvalInputs) -> dict[str, float]:
        metrics: dict[str, float] = {}
        for judge_name, judge in inputs.judges.items():
            if not isinstance(judge, PointwiseJudge):
                continue
            metrics[f"{judge_name}_reward"] = mean_score(judge, inputs.prompts, inputs.policy_samples,
                                                         "policy_samples")
            metrics[f"{judge_name}_reward_reference"] = mean_score(judge, inputs.prompts,
                                                                   inputs.reference_samples,
                                                                   "reference_samples")
        return metrics
