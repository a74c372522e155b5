"""Reward-aware preference optimisation (RPO; Sun et al. 2025, arXiv 2502.00203).

DPO only knows which of two responses won; explicit scores also say by how much. RPO makes the
policy's implicit reward gap match the scored gap: for responses y_i, y_j of one prompt,

a = r_pi(y_i) - r_pi(y_j),  r_pi(y) = beta rho(y)   (beta times the per-token mean rho when reduction=mean)
b = eta (r*(y_i) - r*(y_j)),  r* the explicit score of the response,

and the loss is a distance D(a, b):
rpo_sq:     (a - b)^2
rpo_bwd_kl: KL(Bern(sigma(b)) || Bern(sigma(a)))  -- DPO with the soft target sigma(b)
rpo_fwd_kl: KL(Bern(sigma(a)) || Bern(sigma(b)))

With k responses per prompt the loss is D averaged over all pairs i < j (a reconstruction: the
paper body was not available), then over prompts. Every D here is symmetric under swapping i and j,
so the order of the responses does not matter. Defaults beta 0.2, eta 1 follow NeMo-Aligner.

Special cases (tests/methods/test_reward_aware.py shows each numerically): rpo_bwd_kl tends to DPO
as eta grows (the target sigma(b) tends to 1); with sigma(b) = 1 - eps fixed it is cDPO with label
smoothing eps minus the binary entropy of eps; rpo_sq with pi_ref = sg[pi_theta] on on-policy samples
has the REINFORCE-leave-one-out gradient direction.

The offline objectives read k-wise scored data (k from the data; scored pairs are k = 2). The
``*_online`` variants sample k responses per prompt from the current policy, score them with the
run's reward function and apply the same loss; the reference model stays in memory for them.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from bench.errors import PlanError
from bench.methods import register_method
from bench.methods.base import BetaObjective, LossOutput, Needs, SequenceStats, log_sigmoid, positive
from bench.methods.rloo import MIN_SAMPLES, check_samples, sampled_needs, sampled_scores

SOURCE = "Sun et al. 2025, Reward-aware Preference Optimization (arXiv 2502.00203)"


def all_pairs(values: Tensor) -> Tensor:
    """values_i - values_j for every pair i < j of the k responses: [B, k] -> [B, k(k-1)/2]."""
    k = values.shape[1]
    first, second = torch.triu_indices(k, k, offset=1, device=values.device)
    return values[:, first] - values[:, second]


@dataclass
class _RewardAwareRPO(BetaObjective):
    """The shared RPO loss; each registered objective supplies only its distance D(a, b)."""

    family = "rpo"
    source = SOURCE
    needs = Needs(data="kwise", reference=True, scores=True)

    beta: float = 0.2
    eta: float = 1.0

    def distance(self, a: Tensor, b: Tensor) -> Tensor:
        """D(a, b) elementwise: the policy's reward gap a against the scored gap b."""
        raise NotImplementedError

    def validate(self) -> None:
        super().validate()
        positive(self.name, eta=self.eta)

    def scores(self, stats: SequenceStats) -> Tensor:
        """Explicit scores [B, k] of an offline k-wise batch (k >= 2)."""
        if stats.scores is None:
            raise PlanError(f"{self.name} needs a score per response; use k-wise or scored pairs data "
                            "(the planner refuses datasets without scores)")
        if stats.logps.shape[1] < MIN_SAMPLES:
            raise PlanError(f"{self.name} got n={stats.logps.shape[1]} response per prompt; RPO compares "
                            f"responses and needs k >= {MIN_SAMPLES}")
        return stats.scores.to(stats.logps.dtype)

    def loss(self, stats: SequenceStats) -> LossOutput:
        scores = self.scores(stats)
        rewards = self.beta * stats.logratios(self.reduction)
        a, b = all_pairs(rewards), self.eta * all_pairs(scores)
        losses = self.distance(a, b).mean(1)
        ranked = (b != 0).to(a.dtype)
        agree = ((a > 0) == (b > 0)).to(a.dtype) * ranked
        metrics = {
            "rewards/mean": rewards.mean(1).detach(),
            "rewards/pair_accuracy": (agree.sum(1) / ranked.sum(1).clamp(min=1)).detach(),
            "rewards/gap_error": (a - b).abs().mean(1).detach(),
            "scores/mean": scores.mean(1).detach(),
        }
        return LossOutput(loss=losses.mean(), metrics=metrics)


def squared(a: Tensor, b: Tensor) -> Tensor:
    """(a - b)^2."""
    return (a - b) ** 2


def bernoulli_kl(logit_p: Tensor, logit_q: Tensor) -> Tensor:
    """KL(Bern(sigma(logit_p)) || Bern(sigma(logit_q))), from log-sigmoids so large logits stay finite."""
    p = torch.sigmoid(logit_p)
    return (p * (log_sigmoid(logit_p) - log_sigmoid(logit_q))
            + (1 - p) * (log_sigmoid(-logit_p) - log_sigmoid(-logit_q)))


@register_method("rpo_sq")
@dataclass
class RPOSquared(_RewardAwareRPO):
    """RPO with the squared distance: regress the implicit reward gap onto the scored gap.

    An IPO-like regression whose target is the scored gap instead of a constant; with the reference
    set to the current policy its gradient is RLOO's (see the module docstring).
    """

    formula = "mean_{i<j} (a_ij - b_ij)^2, a = beta (rho_i - rho_j), b = eta (r*_i - r*_j)"

    def distance(self, a: Tensor, b: Tensor) -> Tensor:
        return squared(a, b)


@register_method("rpo_bwd_kl")
@dataclass
class RPOBackwardKL(_RewardAwareRPO):
    """RPO with the backward KL: cross-entropy of the policy's pair probability against sigma(b).

    DPO's logistic loss with a soft label sigma(b) set by the score gap instead of a hard label 1.
    """

    formula = "mean_{i<j} KL(Bern(sigma(b_ij)) || Bern(sigma(a_ij)))"

    def distance(self, a: Tensor, b: Tensor) -> Tensor:
        return bernoulli_kl(b, a)


@register_method("rpo_fwd_kl")
@dataclass
class RPOForwardKL(_RewardAwareRPO):
    """RPO with the forward KL: mode-seeking, it penalises a confident policy gap the scores do not back.

    Its gradient in a is sigma'(a) (a - b), a squared loss damped where the policy is already sure.
    """

    formula = "mean_{i<j} KL(Bern(sigma(a_ij)) || Bern(sigma(b_ij)))"

    def distance(self, a: Tensor, b: Tensor) -> Tensor:
        return bernoulli_kl(a, b)


@dataclass
class _OnlineRPO(_RewardAwareRPO):
    """RPO on k responses sampled from the current policy and scored by the run's reward function."""

    needs = sampled_needs(Needs(data="kwise", reference=True, scores=True, online=True))

    k: int = 4

    def validate(self) -> None:
        super().validate()
        check_samples(self.name, self.k)

    def scores(self, stats: SequenceStats) -> Tensor:
        return sampled_scores(stats, self.name, self.k)


@register_method("rpo_sq_online")
@dataclass
class OnlineRPOSquared(_OnlineRPO, RPOSquared):
    """rpo_sq on k on-policy samples per prompt, scored online (the on-policy cousin of RLOO)."""


@register_method("rpo_bwd_kl_online")
@dataclass
class OnlineRPOBackwardKL(_OnlineRPO, RPOBackwardKL):
    """rpo_bwd_kl on k on-policy samples per prompt, scored online by the run's reward function."""


@register_method("rpo_fwd_kl_online")
@dataclass
class OnlineRPOForwardKL(_OnlineRPO, RPOForwardKL):
    """rpo_fwd_kl on k on-policy samples per prompt, scored online by the run's reward function."""


__all__ = ["OnlineRPOBackwardKL", "OnlineRPOForwardKL", "OnlineRPOSquared", "RPOBackwardKL", "RPOForwardKL",
           "RPOSquared", "all_pairs", "bernoulli_kl", "squared"]
