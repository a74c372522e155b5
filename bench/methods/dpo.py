"""Direct Preference Optimisation (Rafailov et al., 2023, arXiv 2305.18290).

loss = -log sigma(beta h), h = rho(y_w) - rho(y_l), rho = log pi_theta - log pi_ref, summed over
response tokens by default (``reduction="sum"``, as in the paper).
"""

from __future__ import annotations

from bench.methods import register_method
from bench.methods.base import (
    BetaObjective,
    LossOutput,
    Needs,
    SequenceStats,
    log_sigmoid,
)
from bench.methods.pairwise import pair_output, reference_margin


@register_method("dpo")
class DPO(BetaObjective):
    family = "dpo"
    source = "Rafailov et al. 2023, Direct Preference Optimization (arXiv 2305.18290)"
    formula = "-log sigma(beta h)"
    needs = Needs(data="pairs", reference=True)

    def loss(self, stats: SequenceStats) -> LossOutput:
        rho_w, rho_l, h = reference_margin(stats, self.reduction)
        return pair_output(-log_sigmoid(self.beta * h), self.beta * rho_w, self.beta * rho_l)
