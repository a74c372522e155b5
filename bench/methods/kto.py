"""Kahneman-Tversky Optimisation (Ethayarajh et al. 2024): a loss on unpaired good and bad responses.

KTO needs only a desirable/undesirable label per response. Each response's implicit reward
beta rho(y) is compared with a reference point z0, an estimate of KL(pi_theta || pi_ref) taken from
mismatched (prompt, response) pairs, through a saturating value function, as prospect theory has
humans weigh gains and losses against a reference point:

desirable:   lambda_D (1 - sigma(beta (rho(y) - z0)))
undesirable: lambda_U (1 - sigma(beta (z0 - rho(y))))
z0 = max(0, mean over the batch of rho on mismatched (x, y') pairs), detached

Paired data are split into unpaired examples (n = 1, label +1 / -1) by the data layer.
"""

from __future__ import annotations

import torch

from bench.errors import PlanError
from bench.methods import register_method
from bench.methods.base import BetaObjective, LossOutput, Needs, SequenceStats, positive


@register_method("kto")
class KTO(BetaObjective):
    """KTO with the batch-mean KL estimate z0 of the paper (and TRL).

    Batch-level: z0 is the mean of rho(y' | x) over the mismatched pairs of one micro-batch, so the
    per-device batch size is part of the objective's definition. With ``reduction="mean"`` each
    mismatched log-ratio is divided by the length of the response it scores (``mismatched_lengths``).
    The loss is the mean over all examples of the batch, desirable and undesirable alike;
    lambda_D / lambda_U rebalance unequal numbers of the two.
    """

    family = "kto"
    source = ("Ethayarajh et al. 2024, KTO: Model Alignment as Prospect Theoretic Optimization "
              "(arXiv 2402.01306)")
    formula = ("desirable: lambda_D (1 - sigma(beta (rho(y) - z0))); undesirable: lambda_U (1 - sigma(beta "
               "(z0 - rho(y)))); z0 = max(0, batch mean of rho on mismatched (x, y')), detached")
    needs = Needs(data="unpaired", reference=True, mismatched=True, batch_level=True)

    lambda_d: float = 1.0
    """lambda_D: weight of desirable examples."""
    lambda_u: float = 1.0
    """lambda_U: weight of undesirable examples."""

    def validate(self) -> None:
        super().validate()
        positive(self.name, lambda_d=self.lambda_d, lambda_u=self.lambda_u)

    def reference_point(self, stats: SequenceStats) -> torch.Tensor:
        """z0 = max(0, mean rho of the mismatched pairs), a detached scalar."""
        if stats.mismatched_logps is None or stats.mismatched_ref_logps is None:
            raise PlanError("mismatched log-probs were read but not declared in needs (set mismatched=True)")
        mismatched = stats.mismatched_logps - stats.mismatched_ref_logps
        if self.reduction == "mean":
            if stats.mismatched_lengths is None:
                raise PlanError("kto with reduction=mean needs the lengths of the mismatched responses "
                                "(SequenceStats.mismatched_lengths); use reduction=sum or fill them")
            mismatched = mismatched / stats.mismatched_lengths.clamp(min=1)
        return mismatched.detach().mean().clamp(min=0)

    def loss(self, stats: SequenceStats) -> LossOutput:
        if stats.labels is None:
            raise PlanError("kto read desirable/undesirable labels but the batch has none; use unpaired data")
        if stats.logps.shape[1] != 1:
            raise PlanError(f"kto got n={stats.logps.shape[1]} responses per prompt; unpaired data has n=1")
        rewards = self.beta * stats.logratios(self.reduction)[:, 0]
        z0 = self.reference_point(stats)
        desirable = stats.labels[:, 0] > 0
        losses = torch.where(desirable,
                             self.lambda_d * (1 - torch.sigmoid(rewards - self.beta * z0)),
                             self.lambda_u * (1 - torch.sigmoid(self.beta * z0 - rewards)))
        return LossOutput(loss=losses.mean(), metrics={"rewards": rewards.detach(), "z0": z0,
                                                       "desirable": desirable.float()})
