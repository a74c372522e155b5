"""AlphaPO (Gupta et al., 2025, arXiv 2501.03884): SimPO with an alpha-shaped, length-normalised reward.

r_alpha(y) = (beta / alpha) (1 - pbar(y)^(-alpha)), pbar(y) = exp(LN(pi, y)), the per-token geometric-mean
probability; loss = -log sigma(r_alpha(y_w) - r_alpha(y_l) - gamma). As alpha -> 0 the reward tends to
beta LN(pi, y), SimPO's; alpha = -1 is the linear reward beta (pbar - 1). The shape changes how strongly
the loss pushes a response whose likelihood is already low: for alpha > 0 the reward's slope in LN grows as
pbar falls, so unlikely rejected responses keep being pushed down less than SimPO pushes them.

Defaults are the paper's Mistral-Instruct setting as TRL's paper index records it (alpha 0.25, beta 2.5,
gamma 0.1). ``gamma`` is the absolute margin in reward units, TRL's ``simpo_gamma`` (TRL subtracts
``simpo_gamma / beta`` from r/beta, the same loss); the authors' draft trainer calls gamma / beta
``gamma_beta_ratio``. The reward is computed as -expm1(-alpha LN) / alpha, which avoids forming pbar^(-alpha)
from a probability that underflows, with the exponent capped as in :mod:`bench.methods.numerics`.
"""

from __future__ import annotations

import math

from bench.errors import ConfigError
from bench.methods import register_method
from bench.methods.base import (
    BetaObjective,
    LossOutput,
    Needs,
    Reduction,
    SequenceStats,
    in_unit_interval,
    log_sigmoid,
)
from bench.methods.numerics import power_transform
from bench.methods.pairwise import pair_output, reference_free_margin


@register_method("alphapo")
class AlphaPO(BetaObjective):
    family = "reference-free"
    source = "Gupta et al. 2025, AlphaPO: Reward Shape Matters for LLM Alignment (arXiv 2501.03884)"
    formula = "-log sigma(r_alpha(y_w) - r_alpha(y_l) - gamma), r_alpha = (beta/alpha)(1 - exp(-alpha LN(y)))"
    needs = Needs(data="pairs", reference=False)

    beta: float = 2.5
    alpha: float = 0.25
    """The reward's shape: 0 is SimPO's reward, -1 the linear one, positive values inverse-power ones."""
    gamma: float = 0.1
    """The target margin between the chosen and rejected rewards (TRL's ``simpo_gamma``)."""
    reduction: Reduction = "mean"

    def validate(self) -> None:
        super().validate()
        in_unit_interval(self.name, upper_open=math.inf, gamma=self.gamma)
        if not math.isfinite(self.alpha):
            raise ConfigError(f"methods.{self.name}.alpha={self.alpha}: must be a finite number")

    def loss(self, stats: SequenceStats) -> LossOutput:
        logp_w, logp_l, _ = reference_free_margin(stats, self.reduction)
        reward_w = self.beta * power_transform(logp_w, self.alpha)
        reward_l = self.beta * power_transform(logp_l, self.alpha)
        return pair_output(-log_sigmoid(reward_w - reward_l - self.gamma), reward_w, reward_l)
