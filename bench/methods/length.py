"""Length-controlled DPO: length-regularised DPO (R-DPO) and length-normalised DPO.

Summed log-probs let DPO raise the margin by lengthening chosen responses, which annotators tend to
reward anyway; these two objectives take length out of the margin, one by an explicit penalty on
the length difference, the other by comparing per-token means.

rdpo:     -log sigma(beta h - alpha (|y_w| - |y_l|))
dpo_norm: -log sigma(beta (rho_mean(y_w) - rho_mean(y_l))), rho_mean = rho / |y|
"""

from __future__ import annotations

import math

from bench.methods import register_method
from bench.methods.base import (
    BetaObjective,
    LossOutput,
    Needs,
    Reduction,
    SequenceStats,
    chosen_rejected,
    in_unit_interval,
    log_sigmoid,
)
from bench.methods.pairwise import pair_output, reference_margin


@register_method("rdpo")
class RDPO(BetaObjective):
    """R-DPO: DPO with a penalty alpha per token of length the chosen response has over the rejected.

    The penalty uses raw token counts whatever the ``reduction``; alpha = 0 is DPO.
    """

    family = "dpo-length"
    source = "Park et al. 2024, Disentangling Length from Quality in Direct Preference Optimization"
    formula = "-log sigma(beta h - alpha (|y_w| - |y_l|))"
    needs = Needs(data="pairs", reference=True)

    alpha: float = 0.2

    def validate(self) -> None:
        super().validate()
        in_unit_interval(self.name, upper_open=math.inf, alpha=self.alpha)

    def loss(self, stats: SequenceStats) -> LossOutput:
        rho_w, rho_l, h = reference_margin(stats, self.reduction)
        len_w, len_l = chosen_rejected(stats.lengths.to(h.dtype))
        losses = -log_sigmoid(self.beta * h - self.alpha * (len_w - len_l))
        return pair_output(losses, self.beta * rho_w, self.beta * rho_l)


@register_method("dpo_norm")
class DPONorm(BetaObjective):
    """Length-normalised DPO (TRL's ``sigmoid_norm``; the reward term of FPO).

    The formula is DPO on per-token mean log-ratios, so the default ``reduction`` is ``"mean"``;
    ``reduction="sum"`` makes it plain DPO.
    """

    family = "dpo-length"
    source = ("TRL loss_type='sigmoid_norm'; the reward term of FPO, Yin et al. 2024, Direct Preference "
              "Optimization Using Sparse Feature-Level Constraints (arXiv 2411.07618)")
    formula = "-log sigma(beta (rho_mean(y_w) - rho_mean(y_l)))"
    needs = Needs(data="pairs", reference=True)

    reduction: Reduction = "mean"

    def loss(self, stats: SequenceStats) -> LossOutput:
        rho_w, rho_l, h = reference_margin(stats, self.reduction)
        return pair_output(-log_sigmoid(self.beta * h), self.beta * rho_w, self.beta * rho_l)
