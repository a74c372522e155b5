"""Token-level DPO (Zeng et al. 2024): DPO plus a sequential KL term per response.

DPO constrains the policy only through the sequence log-ratio, so the per-token distributions can
drift far from the reference (and lose diversity) while the margin grows. TDPO subtracts from the
margin the difference in sequential KL divergence, computed over the full vocabulary at every
response position, which penalises drifting more on the rejected than on the chosen response.

D(y) = sum_t KL(pi_ref(.|x, y<t) || pi_theta(.|x, y<t)); loss = -log sigma(beta h - delta)
tdpo1: delta = beta (D(y_l) - D(y_w))
tdpo2: delta = alpha (beta D(y_l) - sg[beta D(y_w)])

The trainer fills ``token_kl`` with the per-token KL, masked to response tokens. With
``reduction="mean"`` D is divided by the response length like the log-ratios, so both terms of the
logit stay on the same scale.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from torch import Tensor

from bench.errors import PlanError
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


def sequential_kl(stats: SequenceStats, reduction: Reduction) -> tuple[Tensor, Tensor]:
    """(D(y_w), D(y_l)), each [B]: the summed (or per-token mean) KL over response positions."""
    if stats.token_kl is None:
        raise PlanError("token-level KL was read but not declared in needs (set token_kl=True)")
    token_kl = stats.token_kl if stats.token_mask is None else stats.token_kl * stats.token_mask
    return chosen_rejected(stats.reduce(token_kl.sum(-1), reduction))


@dataclass
class _TDPO(BetaObjective):
    """Shared loss of the two TDPO variants; they differ only in ``delta``."""

    family = "tdpo"
    source = "Zeng et al. 2024, Token-level Direct Preference Optimization (arXiv 2404.11999)"
    needs = Needs(data="pairs", reference=True, token_kl=True)

    def delta(self, kl_w: Tensor, kl_l: Tensor) -> Tensor:
        raise NotImplementedError

    def loss(self, stats: SequenceStats) -> LossOutput:
        rho_w, rho_l, h = reference_margin(stats, self.reduction)
        kl_w, kl_l = sequential_kl(stats, self.reduction)
        delta = self.delta(kl_w, kl_l)
        losses = -log_sigmoid(self.beta * h - delta)
        return pair_output(losses, self.beta * rho_w, self.beta * rho_l,
                           **{"kl/chosen": kl_w, "kl/rejected": kl_l, "delta": delta})


@register_method("tdpo1")
class TDPO1(_TDPO):
    """TDPO-1: the sequential-KL difference enters the margin with weight beta, gradients on both sides."""

    formula = "-log sigma(beta h - beta (D(y_l) - D(y_w)))"

    def delta(self, kl_w: Tensor, kl_l: Tensor) -> Tensor:
        return self.beta * (kl_l - kl_w)


@register_method("tdpo2")
class TDPO2(_TDPO):
    """TDPO-2: weight alpha on the KL difference, with the chosen side's KL detached.

    In TDPO-1 the loss can fall by raising the chosen response's KL; stopping the gradient through
    D(y_w) removes that incentive, and alpha sets how strongly the rejected side's KL is penalised.
    """

    formula = "-log sigma(beta h - alpha (beta D(y_l) - sg[beta D(y_w)]))"

    alpha: float = 0.5

    def validate(self) -> None:
        super().validate()
        in_unit_interval(self.name, upper_open=math.inf, alpha=self.alpha)

    def delta(self, kl_w: Tensor, kl_l: Tensor) -> Tensor:
        return self.alpha * (self.beta * kl_l - (self.beta * kl_w).detach())
