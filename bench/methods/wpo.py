"""WPO (Zhou et al., 2024, arXiv 2406.11827): DPO with each pair weighted by how likely the policy is to produce it.

Preference data usually comes from other models; DPO learns from every pair alike, however unlikely the
current policy is to write either response. WPO reweights pairs so that off-policy data counts as if it had
been sampled from the policy: a pair's weight is the product of its responses' length-normalised
probabilities under the current policy, with the paper's weight alignment (Eq. 2) dividing each token's
probability by sum_v pi_theta(v|x, y<t)^2, the probability the policy gives, on average, a token it samples
itself. The ratio then has expectation 1 for tokens sampled from the policy, whatever its entropy, and is
small for tokens the policy would rarely write:

    w(x, y) = exp( (1/|y|) sum_t [ log pi_theta(y_t|x, y<t) - log sum_v pi_theta(v|x, y<t)^2 ] )
    loss = -min(w(x, y_w) w(x, y_l), max_weight) log sigma(beta h),   the weights detached

This is TRL 1.16's ``use_weighting`` (computed under no_grad, per response token, no clamp: ``max_weight``
None, the default). Earlier TRL releases clamped the product at 1 (``methods.wpo.max_weight=1`` reproduces the clamp)
and paired each token's log-prob with the sum of squares of the position before it (their per-token log-probs
were rolled by one, the sums of squares were not); here both are always the same response token's.

Cost: the sum of squares needs the policy's distribution over the whole vocabulary at every response
position, as TDPO's KL does, so the scorer keeps the full log-softmax for this objective.
"""

from __future__ import annotations

import torch
from torch import Tensor

from bench.errors import ConfigError, PlanError
from bench.methods import register_method
from bench.methods.base import BetaObjective, LossOutput, Needs, SequenceStats, chosen_rejected, log_sigmoid
from bench.methods.pairwise import pair_output, reference_margin


def log_weights(stats: SequenceStats) -> Tensor:
    """log w(x, y) per response [B, n], detached: the mean over response tokens of log pi(y_t) - log sum_v pi(v)^2."""
    if stats.token_log_collision is None:
        raise PlanError("token collision probabilities were read but not declared in needs (set token_collision=True)")
    collision = (stats.token_log_collision * stats.token_mask).sum(-1)
    return ((stats.logps - collision) / stats.lengths.clamp(min=1)).detach()


@register_method("wpo")
class WPO(BetaObjective):
    family = "dpo"
    source = "Zhou et al. 2024, WPO: Enhancing RLHF with Weighted Preference Optimization (arXiv 2406.11827)"
    formula = ("-min(w(y_w) w(y_l), max_weight) log sigma(beta h), "
               "w(y) = sg[exp(mean_t log pi(y_t) - log sum_v pi(v)^2)]")
    needs = Needs(data="pairs", reference=True, token_collision=True)

    max_weight: float | None = None
    """A clamp on a pair's weight: None (TRL 1.16) leaves weights above 1 (pairs likelier than on-policy samples)
    as they are; 1 is earlier TRL releases' clamp."""

    def validate(self) -> None:
        super().validate()
        if self.max_weight is not None and not self.max_weight > 0:
            raise ConfigError(f"methods.{self.name}.max_weight={self.max_weight}: must be > 0 (or null: no clamp)")

    def loss(self, stats: SequenceStats) -> LossOutput:
        rho_w, rho_l, h = reference_margin(stats, self.reduction)
        log_w, log_l = chosen_rejected(log_weights(stats))
        weights = torch.exp(log_w + log_l)
        if self.max_weight is not None:
            weights = weights.clamp(max=self.max_weight)
        return pair_output(-weights * log_sigmoid(self.beta * h), self.beta * rho_w, self.beta * rho_l,
                           weight=weights)
