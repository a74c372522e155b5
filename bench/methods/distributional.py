"""Distributional preference alignment: Alignment via Optimal Transport (AOT).

AOT asks the distribution of the policy's log-likelihood gaps over a batch to dominate the
reference's (first-order stochastic dominance) instead of asking each pair to improve on its own
reference gap. In one dimension the optimal transport plan between two empirical distributions
matches sorted values, hence the sorts: the i-th smallest policy gap is compared with the i-th
smallest reference gap, whichever pairs they came from.

aot: d_i = sort(log pi(y_w) - log pi(y_l))_i - sort(log pi_ref(y_w) - log pi_ref(y_l))_i,
     loss = mean_i -log sigma(beta d_i)
"""

from __future__ import annotations

import torch

from bench.methods import register_method
from bench.methods.base import (
    BetaObjective,
    LossOutput,
    Needs,
    SequenceStats,
    chosen_rejected,
    log_sigmoid,
)
from bench.methods.pairwise import pair_output, reference_margin


@register_method("aot")
class AOT(BetaObjective):
    """AOT, paired form over policy and reference gaps (TRL's ``aot``).

    Batch-level: the sort couples the pairs of one micro-batch, so the per-device batch size is part
    of the objective's definition (a batch of one pair is DPO). Per-pair reward metrics are the
    usual unsorted beta rho.
    """

    family = "distributional"
    source = ("Melnyk et al. 2024, Distributional Preference Alignment of LLMs via Optimal Transport "
              "(arXiv 2406.05882)")
    formula = ("-log sigma(beta d_i), d_i = sort_i(log pi(y_w) - log pi(y_l)) "
               "- sort_i(log pi_ref(y_w) - log pi_ref(y_l))")
    needs = Needs(data="pairs", reference=True, batch_level=True)

    def loss(self, stats: SequenceStats) -> LossOutput:
        rho_w, rho_l, _ = reference_margin(stats, self.reduction)
        policy_w, policy_l = chosen_rejected(stats.policy(self.reduction))
        ref_w, ref_l = chosen_rejected(stats.reference(self.reduction))
        policy_sorted, _ = torch.sort(policy_w - policy_l)
        ref_sorted, _ = torch.sort(ref_w - ref_l)
        losses = -log_sigmoid(self.beta * (policy_sorted - ref_sorted))
        return pair_output(losses, self.beta * rho_w, self.beta * rho_l)
