"""Output diversity: distinct-n across prompts and within one prompt's samples.

Preference training tends to collapse a policy onto a few phrasings; diversity is what the seed
objectives (FPO, TDPO) claim to keep. Across-input diversity uses one sample per prompt (does the
model say the same thing to everyone?), per-input diversity k samples of one prompt (does it say the
same thing every time?), following Kirk et al. 2023 (METHODS.md, Metrics).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import ClassVar

import numpy as np

from bench.errors import BenchError
from bench.evaluators import register_evaluator
from bench.evaluators.base import EvalInputs, Evaluator, flatten_samples


def distinct_n(texts: Iterable[str], n: int) -> float:
    """Unique n-grams / all n-grams over whitespace tokens, pooled over ``texts`` (0 when none).

    N-grams never cross from one text into the next. Pooling (rather than averaging per text) is what
    makes the across-input number measure repetition between texts.
    """
    if n < 1:
        raise BenchError(f"distinct_n needs n >= 1, got {n}")
    seen: set[tuple[str, ...]] = set()
    total = 0
    for text in texts:
        tokens = text.split()
        grams = [tuple(tokens[i:i + n]) for i in range(len(tokens) - n + 1)]
        total += len(grams)
        seen.update(grams)
    return len(seen) / total if total else 0.0


@register_evaluator("distinct")
class Distinct(Evaluator):
    """Emits ``distinct_2_across`` and, where prompts have k >= 2 samples, ``distinct_2_per_input``.

    Per-input diversity is averaged over the prompts with at least two samples; with one sample per
    prompt it is not defined and not emitted.
    """

    n: ClassVar[int] = 2

    def evaluate(self, inputs: EvalInputs) -> dict[str, float]:
        flatten_samples(inputs.prompts, inputs.policy_samples, "policy_samples")
        metrics = {f"distinct_{self.n}_across": distinct_n([s[0] for s in inputs.policy_samples], self.n)}
        per_input = [distinct_n(samples, self.n) for samples in inputs.policy_samples if len(samples) >= 2]
        if per_input:
            metrics[f"distinct_{self.n}_per_input"] = float(np.mean(per_input))
        return metrics
