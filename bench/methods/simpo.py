"""Simple Preference Optimisation (Meng et al., 2024, arXiv 2405.14734), reference-free.

loss = -log sigma(beta LN(pi, y_w) - beta LN(pi, y_l) - gamma), gamma = gamma_beta_ratio * beta.
The margin is the paper's ratio, not TRL's absolute ``simpo_gamma``. LN is the per-token mean
(``reduction="mean"``); ``reduction="sum"`` uses summed log-probs instead.
"""

from __future__ import annotations

from bench.methods import register_method
from bench.methods.base import (
    BetaObjective,
    LossOutput,
    Needs,
    Reduction,
    SequenceStats,
    log_sigmoid,
)
from bench.methods.pairwise import pair_output, reference_free_margin


@register_method("simpo")
class SimPO(BetaObjective):
    family = "reference-free"
    source = "Meng et al. 2024, SimPO: Simple Preference Optimization with a Reference-Free Reward"
    formula = "-log sigma(beta LN(y_w) - beta LN(y_l) - gamma_beta_ratio beta)"
    needs = Needs(data="pairs", reference=False)

    beta: float = 2.0
    gamma_beta_ratio: float = 0.5
    reduction: Reduction = "mean"

    def loss(self, stats: SequenceStats) -> LossOutput:
        logp_w, logp_l, gap = reference_free_margin(stats, self.reduction)
        gamma = self.gamma_beta_ratio * self.beta
        losses = -log_sigmoid(self.beta * gap - gamma)
        return pair_output(losses, self.beta * logp_w, self.beta * logp_l)
