"""Other functions of the DPO margin: hinge, ExO (pair form) and DiscoPOP.

Each objective here keeps DPO's implicit reward margin h = rho(y_w) - rho(y_l) and only replaces
the link -log sigma(beta h) by another function of beta h, so they are comparable with DPO point for
point and differ only in how hard they push pairs that are already ranked correctly.

hinge:    max(0, 1 - beta h)
exo_pair: q_w log(q_w / (1 - eps)) + q_l log(q_l / eps), q_w = sigma(beta h), q_l = 1 - q_w
discopop: with r = beta h, (1 - sigma(r / tau)) (-log sigma(r)) + sigma(r / tau) exp(-r)
"""

from __future__ import annotations

import math

import torch

from bench.methods import register_method
from bench.methods.base import (
    BetaObjective,
    LossOutput,
    Needs,
    SequenceStats,
    in_unit_interval,
    log_sigmoid,
    positive,
)
from bench.methods.pairwise import pair_output, reference_margin


@register_method("hinge")
class Hinge(BetaObjective):
    """Hinge loss on the implicit reward margin, TRL's ``hinge`` (the SLiC-HF / RSO form).

    Pairs with beta h >= 1 contribute neither loss nor gradient, unlike DPO's logistic link.
    """

    family = "dpo-margin"
    source = ("Zhao et al. 2023, SLiC-HF (arXiv 2305.10425); Liu et al. 2024, Statistical Rejection "
              "Sampling Improves Preference Optimization (RSO, arXiv 2309.06657)")
    formula = "max(0, 1 - beta h)"
    needs = Needs(data="pairs", reference=True)

    def loss(self, stats: SequenceStats) -> LossOutput:
        rho_w, rho_l, h = reference_margin(stats, self.reduction)
        losses = torch.relu(1 - self.beta * h)
        return pair_output(losses, self.beta * rho_w, self.beta * rho_l)


@register_method("exo_pair")
class ExOPair(BetaObjective):
    """Efficient exact optimisation (ExO), pair form: reverse KL from the model's preference to a target.

    q = (sigma(beta h), 1 - sigma(beta h)) is the preference the policy implies for the pair and
    (1 - eps, eps) the smoothed label; minimising KL(q || target) is mode-seeking, which is ExO's
    point against DPO's forward KL. The loss is minimal at beta h = log((1 - eps) / eps) (about 6.9
    for eps = 1e-3), so beyond that margin it pushes h back down.
    """

    family = "dpo-margin"
    source = ("Ji et al. 2024, Towards Efficient Exact Optimization of Language Model Alignment "
              "(arXiv 2402.00856)")
    formula = "q_w log(q_w/(1-eps)) + q_l log(q_l/eps), q_w = sigma(beta h), q_l = 1 - q_w"
    needs = Needs(data="pairs", reference=True)

    eps: float = 1e-3

    def validate(self) -> None:
        super().validate()
        positive(self.name, eps=self.eps)
        in_unit_interval(self.name, upper_open=0.5, eps=self.eps)

    def loss(self, stats: SequenceStats) -> LossOutput:
        rho_w, rho_l, h = reference_margin(stats, self.reduction)
        z = self.beta * h
        # log q_w and log q_l through logsigmoid, so saturated margins give 0 * finite, never 0 * -inf.
        log_qw, log_ql = log_sigmoid(z), log_sigmoid(-z)
        losses = (log_qw.exp() * (log_qw - math.log1p(-self.eps))
                  + log_ql.exp() * (log_ql - math.log(self.eps)))
        return pair_output(losses, self.beta * rho_w, self.beta * rho_l)


@register_method("discopop")
class DiscoPOP(BetaObjective):
    """DiscoPOP (log-ratio modulated loss), the objective an LLM discovered in Lu et al. 2024.

    A sigmoid gate sigma(r / tau) blends DPO's logistic loss (for r < 0) with the exponential loss
    (for r > 0). With tau = 0.05 the gate switches within |r| < ~0.15, and there the loss is not
    monotone in r (the paper notes its non-convexity); outside that band it decreases in r.
    """

    family = "dpo-margin"
    source = ("Lu et al. 2024, Discovering Preference Optimization Algorithms with and for Large "
              "Language Models (arXiv 2406.08414)")
    formula = "(1 - sigma(r/tau)) (-log sigma(r)) + sigma(r/tau) exp(-r), r = beta h"
    needs = Needs(data="pairs", reference=True)

    tau: float = 0.05

    def validate(self) -> None:
        super().validate()
        positive(self.name, tau=self.tau)

    def loss(self, stats: SequenceStats) -> LossOutput:
        rho_w, rho_l, h = reference_margin(stats, self.reduction)
        r = self.beta * h
        gate = torch.sigmoid(r / self.tau)
        # sigma(r/tau) exp(-r) as one exponent: exp(-r) alone overflows for very negative r, where the
        # gate is 0 and the product would be 0 * inf = nan.
        exp_term = torch.exp(log_sigmoid(r / self.tau) - r)
        losses = (1 - gate) * -log_sigmoid(r) + exp_term
        return pair_output(losses, self.beta * rho_w, self.beta * rho_l)
