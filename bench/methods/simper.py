"""SimPER (Xiao et al., 2025, arXiv 2502.00883): preference optimisation by inverse perplexity, no hyper-parameters.

loss = -exp(LN(pi, y_w)) + exp(LN(pi, y_l)), LN the per-token mean log-prob, so exp(LN) is the inverse
perplexity of a response. No beta, no margin, no reference model: the gradient of each term is its
inverse perplexity times that of LN, a weight in (0, 1] that fades as a rejected response becomes unlikely,
which is how the loss avoids pushing rejected responses towards zero probability without a reference.
The formula is the authors' code's (``loss_type="SimPER"``: ``-exp(chosen) + exp(rejected)`` on per-token
averaged log-probs); SimPER is not in TRL. Logged rewards are the per-token mean log-probs, as the authors log.
"""

from __future__ import annotations

import torch

from bench.methods import register_method
from bench.methods.base import LossOutput, Needs, Objective, Reduction, SequenceStats
from bench.methods.pairwise import pair_output, reference_free_margin


@register_method("simper")
class SimPER(Objective):
    family = "reference-free"
    source = ("Xiao et al. 2025, SimPER: A Minimalist Approach to Preference Alignment without "
              "Hyperparameters (arXiv 2502.00883)")
    formula = "-exp(LN(y_w)) + exp(LN(y_l))"
    needs = Needs(data="pairs", reference=False)

    reduction: Reduction = "mean"
    """``"mean"`` is the paper's inverse perplexity; ``"sum"`` uses whole-sequence probabilities instead."""

    def loss(self, stats: SequenceStats) -> LossOutput:
        logp_w, logp_l, _ = reference_free_margin(stats, self.reduction)
        return pair_output(torch.exp(logp_l) - torch.exp(logp_w), logp_w, logp_l)
