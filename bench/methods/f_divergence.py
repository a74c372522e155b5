"""f-divergence DPO (Wang et al., 2023, arXiv 2309.16240): DPO with the reverse KL swapped for another f-divergence.

Regularising with D_f(pi || pi_ref) instead of the reverse KL turns DPO's implicit reward beta log u into
beta f'(u), u = pi(y|x) / pi_ref(y|x), and the loss into -log sigma(beta f'(u(y_w)) - beta f'(u(y_l))).
Constants of f' cancel in the difference, so with h = log u:

  forward KL (f = -log u):         f'(u) = -1/u                  score -exp(-h)
  Jensen-Shannon:                  f'(u) = log(2u / (1 + u))     score log sigma(h)
  alpha-divergence, alpha in (0,1): f'(u) = (1 - u^-alpha) / alpha  score -expm1(-alpha h) / alpha

alpha -> 0 recovers the reverse KL (DPO) and alpha = 1 the forward KL. alpha follows the paper; TRL's
``f_alpha_divergence_coef`` meant the same alpha up to TRL 0.2x (``(u_l^-a - u_w^-a) / a``) but, since its DPO
refactor, scores exp((a - 1) h) / (a - 1), which is the paper's alpha = 1 - a: set alpha = 1 - a here to
reproduce a TRL >= 0.29 run. Exponents are capped at 80 before exp, as TRL does, so a policy far below its
reference gives a large but finite loss. Logged rewards are beta h, as in TRL.
"""

from __future__ import annotations

import math

from torch import Tensor

from bench.errors import ConfigError
from bench.methods import register_method
from bench.methods.base import BetaObjective, LossOutput, Needs, SequenceStats, log_sigmoid
from bench.methods.numerics import capped_exp, power_transform
from bench.methods.pairwise import pair_output, reference_margin


class FDivergenceDPO(BetaObjective):
    """DPO under an f-divergence: ``score`` maps log u to f'(u) up to a constant."""

    family = "f-divergence"
    source = ("Wang et al. 2023, Beyond Reverse KL: Generalizing DPO with Diverse Divergence Constraints "
              "(arXiv 2309.16240)")
    needs = Needs(data="pairs", reference=True)

    def score(self, h: Tensor) -> Tensor:
        raise NotImplementedError

    def loss(self, stats: SequenceStats) -> LossOutput:
        rho_w, rho_l, _ = reference_margin(stats, self.reduction)
        losses = -log_sigmoid(self.beta * (self.score(rho_w) - self.score(rho_l)))
        return pair_output(losses, self.beta * rho_w, self.beta * rho_l)


@register_method("fdpo_forward_kl")
class ForwardKLDPO(FDivergenceDPO):
    formula = "-log sigma(beta (f'(u_w) - f'(u_l))), f'(u) = -1/u (forward KL)"

    def score(self, h: Tensor) -> Tensor:
        return -capped_exp(-h)


@register_method("fdpo_js")
class JensenShannonDPO(FDivergenceDPO):
    formula = "-log sigma(beta (f'(u_w) - f'(u_l))), f'(u) = log(2u / (1 + u)) (Jensen-Shannon)"

    def score(self, h: Tensor) -> Tensor:
        return log_sigmoid(h)


@register_method("fdpo_alpha")
class AlphaDivergenceDPO(FDivergenceDPO):
    formula = "-log sigma(beta (f'(u_w) - f'(u_l))), f'(u) = (1 - u^-alpha) / alpha (alpha-divergence)"

    alpha: float = 0.5
    """The divergence's alpha in (0, 1): near 0 it approaches the reverse KL (DPO), at 1 the forward KL."""

    def validate(self) -> None:
        super().validate()
        if not 0 < self.alpha <= 1 or not math.isfinite(self.alpha):
            raise ConfigError(f"methods.{self.name}.alpha={self.alpha}: must be in (0, 1] "
                              "(near 0 is DPO's reverse KL, 1 the forward KL)")

    def score(self, h: Tensor) -> Tensor:
        return power_transform(h, self.alpha)
