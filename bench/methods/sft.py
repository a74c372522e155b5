"""Supervised fine-tuning: the negative log-likelihood of demonstrations.

Used by the gym to train its reference model, and a baseline in its own right (SFT on the chosen
responses). The loss is the mean negative log-likelihood per response token over the micro-batch,
the usual causal-LM objective.
"""

from __future__ import annotations

from bench.methods import register_method
from bench.methods.base import LossOutput, Needs, Objective, Reduction, SequenceStats


@register_method("sft")
class SFT(Objective):
    family = "sft"
    source = "maximum likelihood on demonstrations"
    formula = "-sum log pi(y|x) / sum |y|"
    needs = Needs(data="demonstrations")

    reduction: Reduction = "mean"

    def loss(self, stats: SequenceStats) -> LossOutput:
        total_tokens = stats.lengths.sum().clamp(min=1)
        nll = -stats.logps.sum() / total_tokens
        per_token = (-stats.logps / stats.lengths.clamp(min=1)).reshape(-1).detach()
        return LossOutput(loss=nll, metrics={"nll": per_token})
