"""LD-DPO (Liu et al., 2024, arXiv 2409.06411): length-desensitised DPO, TRL's ``ld_alpha``.

Of a pair's two responses the longer one's tokens past the shorter one's length l_p = min(|y_w|, |y_l|) count
with weight alpha: log pi_hat(y) = sum_{t <= l_p} log pi(y_t) + alpha sum_{t > l_p} log pi(y_t), and the loss is
DPO's on these log-probs, -log sigma(beta (rho_hat(y_w) - rho_hat(y_l))). alpha = 1 is DPO; alpha < 1 takes
away most of the margin a policy gains just by making a response longer. As in TRL's current DPOTrainer,
the reference's log-probs are desensitised with the same split (TRL's older trainer and LLaMA-Factory
desensitise only the policy's). The paper suggests alpha = 0.5 as a starting point.

With ``reduction="mean"`` each weighted log-prob is divided by its weighted token count l_p + alpha (|y| - l_p).
"""

from __future__ import annotations

from torch import Tensor

from bench.errors import ConfigError
from bench.methods import register_method
from bench.methods.base import (
    BetaObjective,
    LossOutput,
    Needs,
    SequenceStats,
    chosen_rejected,
    log_sigmoid,
)
from bench.methods.pairwise import pair_output


def tail_mask(token_mask: Tensor) -> Tensor:
    """The response tokens [B, 2, T] past the pair's shorter response length (none in the shorter one)."""
    position = token_mask.cumsum(-1)
    shared = token_mask.sum(-1).min(dim=1, keepdim=True).values.unsqueeze(-1)
    return token_mask & (position > shared)


@register_method("ld_dpo")
class LDDPO(BetaObjective):
    family = "dpo-length"
    source = ("Liu et al. 2024, LD-DPO: Length Desensitization in Direct Preference Optimization "
              "(arXiv 2409.06411)")
    formula = ("-log sigma(beta (rho_hat(y_w) - rho_hat(y_l))), log pi_hat(y) = sum_{t <= l_p} log pi(y_t) "
               "+ alpha sum_{t > l_p} log pi(y_t), l_p = min(|y_w|, |y_l|)")
    needs = Needs(data="pairs", reference=True, token_logps=True)

    alpha: float = 0.5
    """The weight of the tokens the longer response has beyond the shorter one's length (1 is DPO)."""

    def validate(self) -> None:
        super().validate()
        if not 0 <= self.alpha <= 1:
            raise ConfigError(f"methods.{self.name}.alpha={self.alpha}: must be in [0, 1] (1 is DPO)")

    def loss(self, stats: SequenceStats) -> LossOutput:
        tail = tail_mask(stats.token_mask)
        discount = 1.0 - self.alpha

        def desensitised(logps: Tensor, token_logps: Tensor) -> Tensor:
            return logps - discount * (token_logps * tail).sum(-1)

        policy = desensitised(stats.logps, stats.token_logps)
        reference = desensitised(stats.ref_logps, stats.ref_token_logps)
        if self.reduction == "mean":
            weighted_lengths = stats.lengths.to(policy.dtype) - discount * tail.sum(-1).to(policy.dtype)
            policy, reference = policy / weighted_lengths.clamp(min=1), reference / weighted_lengths.clamp(min=1)
        rho_w, rho_l = chosen_rejected(policy - reference)
        return pair_output(-log_sigmoid(self.beta * (rho_w - rho_l)), self.beta * rho_w, self.beta * rho_l)
