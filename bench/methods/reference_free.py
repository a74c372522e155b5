"""Reference-free pairwise objectives with a likelihood term: ORPO and SLiC.

Neither reads a reference model; instead each adds a supervised term on the chosen response, which
keeps the policy close to the data rather than to pi_ref. (SimPO, reference-free without such a term,
lives in :mod:`bench.methods.simpo`.)

orpo: -LN(pi, y_w) - lambda log sigma(log odds(y_w) - log odds(y_l)),
      odds(y) = p / (1 - p), p = exp(LN(pi, y))
slic: max(0, delta - log pi(y_w) + log pi(y_l)) - lambda log pi(y_w)
"""

from __future__ import annotations

import math
from typing import Literal

import torch
from torch import Tensor

from bench.errors import ConfigError
from bench.methods import register_method
from bench.methods.base import (
    LossOutput,
    Needs,
    Objective,
    Reduction,
    SequenceStats,
    chosen_rejected,
    in_unit_interval,
    log_sigmoid,
    positive,
)
from bench.methods.pairwise import pair_output, reference_free_margin


def log_odds(logp: Tensor) -> Tensor:
    """log(p / (1 - p)) from log p < 0, accurate both for p near 0 and p near 1.

    log(1 - p) is computed as log(-expm1(log p)) near p = 1 and log1p(-p) elsewhere (Maechler 2012,
    "Accurately computing log(1 - exp(-|a|))"); it is -inf at p = 1, where the odds are infinite.
    """
    log1m_p = torch.where(logp > -math.log(2), torch.log(-torch.expm1(logp)), torch.log1p(-torch.exp(logp)))
    return logp - log1m_p


@register_method("orpo")
class ORPO(Objective):
    """Odds-ratio preference optimisation: SFT on y_w plus a log-odds-ratio penalty on y_l.

    The SFT term is part of the objective (the paper trains from the base model without a separate
    SFT stage). p is the geometric-mean per-token probability exp(LN), so the default ``reduction``
    is ``"mean"``; ``reduction="sum"`` uses whole-sequence probabilities instead. Logged rewards are
    the log odds of each response, so ``rewards/margins`` is the log odds ratio.

    Deviation from TRL and the authors' code: both take the SFT term as one token-level mean over every
    token of the micro-batch's chosen sequences, prompt included (-sum_i sum_{t in x_i, y_w,i} log p /
    sum_i |x_i + y_w,i|, Hugging Face's causal-LM loss), so longer sequences weigh more and the prompt is
    trained too. bench's default is the paper's per-response mean over response tokens, averaged over pairs
    (-mean_i LN(y_w,i)). ``nll="batch_tokens"`` takes TRL's token-level mean over the batch's chosen
    response tokens (-sum_i log pi(y_w,i) / sum_i |y_w,i|); the prompt tokens still do not count, since the
    trainer scores responses only. The odds-ratio term is the same in all three.
    """

    family = "reference-free"
    source = ("Hong et al. 2024, ORPO: Monolithic Preference Optimization without Reference Model "
              "(arXiv 2403.07691)")
    formula = "-LN(y_w) - lambda log sigma(log odds(y_w) - log odds(y_l)), odds(y) = p/(1-p), p = exp(LN(y))"
    needs = Needs(data="pairs", reference=False)

    lambda_or: float = 0.1
    """lambda of METHODS.md: the weight of the odds-ratio term against the SFT term."""
    reduction: Reduction = "mean"
    nll: Literal["per_response", "batch_tokens"] = "per_response"
    """The SFT term's average: per chosen response then over pairs (the paper), or over the batch's tokens (TRL)."""

    def validate(self) -> None:
        super().validate()
        in_unit_interval(self.name, upper_open=math.inf, lambda_or=self.lambda_or)
        if self.nll not in ("per_response", "batch_tokens"):
            raise ConfigError(f"methods.{self.name}.nll={self.nll!r}: use 'per_response' or 'batch_tokens'")

    @staticmethod
    def batch_token_mean(stats: SequenceStats) -> Tensor:
        """The mean log-prob of all chosen response tokens of the micro-batch: one value for every pair."""
        logp_w, _ = chosen_rejected(stats.logps)
        length_w, _ = chosen_rejected(stats.lengths)
        return (logp_w.sum() / length_w.sum().clamp(min=1)).expand_as(logp_w)

    def loss(self, stats: SequenceStats) -> LossOutput:
        logp_w, logp_l, _ = reference_free_margin(stats, self.reduction)
        odds_w, odds_l = log_odds(logp_w), log_odds(logp_l)
        nll = -logp_w if self.nll == "per_response" else -self.batch_token_mean(stats)
        losses = nll - self.lambda_or * log_sigmoid(odds_w - odds_l)
        return pair_output(losses, odds_w, odds_l, nll=nll)


@register_method("slic")
class SLiC(Objective):
    """Sequence likelihood calibration (SLiC-HF), with the SFT regulariser on the chosen response.

    The calibration term is a hinge on the policy's own log-likelihood gap with margin delta (no
    reference model, unlike TRL's ``hinge``); the regulariser is the paper's cross-entropy on the
    target, here y_w. Summed log-probs by default, as in the paper.
    """

    family = "reference-free"
    source = ("Zhao et al. 2023, SLiC-HF: Sequence Likelihood Calibration with Human Feedback "
              "(arXiv 2305.10425)")
    formula = "max(0, delta - log pi(y_w) + log pi(y_l)) - lambda log pi(y_w)"
    needs = Needs(data="pairs", reference=False)

    delta: float = 1.0
    lambda_reg: float = 0.1
    """lambda of METHODS.md: the weight of the SFT regulariser."""
    reduction: Reduction = "sum"

    def validate(self) -> None:
        super().validate()
        positive(self.name, delta=self.delta)
        in_unit_interval(self.name, upper_open=math.inf, lambda_reg=self.lambda_reg)

    def loss(self, stats: SequenceStats) -> LossOutput:
        logp_w, logp_l, gap = reference_free_margin(stats, self.reduction)
        losses = torch.relu(self.delta - gap) - self.lambda_reg * logp_w
        return pair_output(losses, logp_w, logp_l)
