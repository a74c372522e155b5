"""Identity Preference Optimisation (Azar et al., 2023, arXiv 2310.12036).

loss = (h - 1/(2 beta))^2. The default reduction is the per-token mean, as TRL implements it and the
authors confirmed; ``reduction="sum"`` gives the sum form of OpenRLHF and NeMo-Aligner.
"""

from __future__ import annotations

from bench.methods import register_method
from bench.methods.base import BetaObjective, LossOutput, Needs, Reduction, SequenceStats
from bench.methods.pairwise import pair_output, reference_margin


@register_method("ipo")
class IPO(BetaObjective):
    family = "ipo"
    source = "Azar et al. 2023, A General Theoretical Paradigm to Understand Learning from Human Preferences"
    formula = "(h - 1/(2 beta))^2"
    needs = Needs(data="pairs", reference=True)

    reduction: Reduction = "mean"

    def loss(self, stats: SequenceStats) -> LossOutput:
        rho_w, rho_l, h = reference_margin(stats, self.reduction)
        return pair_output((h - 1 / (2 * self.beta)) ** 2, self.beta * rho_w, self.beta * rho_l)
