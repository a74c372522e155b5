"""DPO under noisy preference labels: conservative DPO and robust DPO.

Both assume each pair's label is flipped with probability eps and mix the DPO loss of the pair with
that of the flipped pair. cDPO (label smoothing) adds the flipped loss, which keeps the optimum at a
finite margin; robust DPO (Chowdhury et al. 2024) subtracts it and rescales by 1/(1 - 2 eps), which
makes the loss an unbiased estimate of the clean-label DPO loss. The sign of the eps term is the
only difference between the two formulas, which is why they live side by side. With eps = 0 both
are DPO.

cdpo:       -(1 - eps) log sigma(beta h) - eps log sigma(-beta h)
robust_dpo: [-(1 - eps) log sigma(beta h) + eps log sigma(-beta h)] / (1 - 2 eps)
"""

from __future__ import annotations

from dataclasses import dataclass

from bench.methods import register_method
from bench.methods.base import (
    BetaObjective,
    LossOutput,
    Needs,
    SequenceStats,
    in_unit_interval,
    log_sigmoid,
)
from bench.methods.pairwise import pair_output, reference_margin

MAX_EPS = 0.5
"""eps is a flip probability; at 0.5 labels carry no information (and robust DPO divides by zero)."""


@dataclass
class _LabelNoiseDPO(BetaObjective):
    """DPO corrected for an assumed label-flip rate ``eps`` (the two variants differ only in the loss)."""

    family = "dpo-label-noise"
    needs = Needs(data="pairs", reference=True)

    eps: float = 0.1

    def validate(self) -> None:
        super().validate()
        in_unit_interval(self.name, upper_open=MAX_EPS, eps=self.eps)


@register_method("cdpo")
class ConservativeDPO(_LabelNoiseDPO):
    """Conservative DPO: DPO with label smoothing eps, the assumed probability of a flipped label.

    The smoothed target keeps the optimal margin finite instead of pushing h to infinity.
    """

    source = "Mitchell 2023, A note on DPO with noisy preferences and relationship to IPO (cDPO)"
    formula = "-(1-eps) log sigma(beta h) - eps log sigma(-beta h)"

    def loss(self, stats: SequenceStats) -> LossOutput:
        rho_w, rho_l, h = reference_margin(stats, self.reduction)
        z = self.beta * h
        losses = -(1 - self.eps) * log_sigmoid(z) - self.eps * log_sigmoid(-z)
        return pair_output(losses, self.beta * rho_w, self.beta * rho_l)


@register_method("robust_dpo")
class RobustDPO(_LabelNoiseDPO):
    """Robust DPO: an unbiased estimate of the clean-label DPO loss when labels flip with rate eps.

    Unlike cDPO the flipped term enters with a plus sign, and the 1/(1 - 2 eps) factor undoes the
    shrinkage of the expected loss under noise (Chowdhury et al. 2024, eq. 8).
    """

    source = "Chowdhury et al. 2024, Provably Robust DPO: Aligning Language Models with Noisy Feedback"
    formula = "[-(1-eps) log sigma(beta h) + eps log sigma(-beta h)] / (1 - 2 eps)"

    def loss(self, stats: SequenceStats) -> LossOutput:
        rho_w, rho_l, h = reference_margin(stats, self.reduction)
        z = self.beta * h
        losses = (-(1 - self.eps) * log_sigmoid(z) + self.eps * log_sigmoid(-z)) / (1 - 2 * self.eps)
        return pair_output(losses, self.beta * rho_w, self.beta * rho_l)
