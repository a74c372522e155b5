"""Anchored objectives: each response's log-ratio rho is pushed towards an anchor of its own.

DPO only sees the margin h = rho(y_w) - rho(y_l), so both likelihoods may fall as long as the gap
grows. The objectives here put separate terms on rho_w and rho_l (anchored at 0, at a running mean,
or at +-1/(2 beta)), which controls whether the chosen likelihood goes up or down in absolute terms.

apo_zero:  (1 - sigma(beta rho_w)) + sigma(beta rho_l)
apo_down:  sigma(beta rho_w) + (1 - sigma(beta h))
nca_pair:  -log sigma(beta rho_w) - 0.5 log sigma(-beta rho_w) - 0.5 log sigma(-beta rho_l)
bco_pair:  -log sigma(beta rho_w - delta) - log sigma(-(beta rho_l - delta)), delta = running mean of beta rho
sppo_hard: (rho_w - 1/(2 beta))^2 + (rho_l + 1/(2 beta))^2
"""

from __future__ import annotations

import torch

from bench.errors import PlanError
from bench.methods import register_method
from bench.methods.base import (
    BetaObjective,
    LossOutput,
    Needs,
    SequenceStats,
    log_sigmoid,
)
from bench.methods.pairwise import pair_output, reference_margin


@register_method("apo_zero")
class APOZero(BetaObjective):
    """Anchored Preference Optimisation, zero variant: raise the chosen and lower the rejected likelihood.

    Meant for data whose chosen responses are better than the model's own outputs.
    """

    family = "anchored"
    source = ("D'Oosterlinck et al. 2024, Anchored Preference Optimization and Contrastive Revisions "
              "(arXiv 2408.06266)")
    formula = "(1 - sigma(beta rho_w)) + sigma(beta rho_l)"
    needs = Needs(data="pairs", reference=True)

    def loss(self, stats: SequenceStats) -> LossOutput:
        rho_w, rho_l, _ = reference_margin(stats, self.reduction)
        losses = (1 - torch.sigmoid(self.beta * rho_w)) + torch.sigmoid(self.beta * rho_l)
        return pair_output(losses, self.beta * rho_w, self.beta * rho_l)


@register_method("apo_down")
class APODown(BetaObjective):
    """Anchored Preference Optimisation, down variant: lower the chosen likelihood but keep the margin.

    Meant for data whose chosen responses are worse than the model's own outputs; the gradient on
    log pi(y_w) is deliberately not of DPO's sign.
    """

    family = "anchored"
    source = ("D'Oosterlinck et al. 2024, Anchored Preference Optimization and Contrastive Revisions "
              "(arXiv 2408.06266)")
    formula = "sigma(beta rho_w) + (1 - sigma(beta h))"
    needs = Needs(data="pairs", reference=True)
    monotone_in_chosen = False
    """The sigma(beta rho_w) term pushes log pi(y_w) down; that is the variant's purpose, not a sign error."""

    def loss(self, stats: SequenceStats) -> LossOutput:
        rho_w, rho_l, h = reference_margin(stats, self.reduction)
        losses = torch.sigmoid(self.beta * rho_w) + (1 - torch.sigmoid(self.beta * h))
        return pair_output(losses, self.beta * rho_w, self.beta * rho_l)


@register_method("nca_pair")
class NCAPair(BetaObjective):
    """Noise-contrastive alignment, pair form: absolute likelihood terms instead of a margin.

    Raising rho_w lowers the loss only while beta rho_w < log 2; the rejected term always pushes
    rho_l down, which is NCA's guard against DPO's falling chosen likelihood.
    """

    family = "anchored"
    source = ("Chen et al. 2024, Noise Contrastive Alignment of Language Models with Explicit Rewards "
              "(arXiv 2402.05369)")
    formula = "-log sigma(beta rho_w) - 0.5 log sigma(-beta rho_w) - 0.5 log sigma(-beta rho_l)"
    needs = Needs(data="pairs", reference=True)

    def loss(self, stats: SequenceStats) -> LossOutput:
        rho_w, rho_l, _ = reference_margin(stats, self.reduction)
        r_w, r_l = self.beta * rho_w, self.beta * rho_l
        losses = -log_sigmoid(r_w) - 0.5 * log_sigmoid(-r_w) - 0.5 * log_sigmoid(-r_l)
        return pair_output(losses, r_w, r_l)


@register_method("bco_pair")
class BCOPair(BetaObjective):
    """Binary classifier optimisation, pair form: chosen vs rejected as a logistic classifier.

    The classifier's threshold delta is the running mean of beta rho over every chosen and rejected
    response seen so far, the current micro-batch included (TRL's ``bco_pair``, which updates before
    computing the loss). It is batch-level: delta is estimated from this device's micro-batches, so
    the per-device batch size is part of the objective's definition.

    State: the running mean and its count, in :meth:`state_dict`. They move only when gradients are
    enabled, so evaluating under ``torch.no_grad()`` uses (but does not change) the training state.
    Each response counts once (TRL counts each batch once; the same with a fixed batch size).

    Deviation from TRL >= 0.29: its DPO refactor (TRL PR #3906) dropped delta, arguing that a pairwise
    objective is already invariant to a constant added to both rewards, and computes
    -log sigma(beta rho_w) - log sigma(-beta rho_l). The two differ: delta moves the classifier's threshold,
    so the terms are not shift-invariant one by one. bench keeps the running mean of the BCO paper and of
    TRL 0.9-0.28 by default; ``running_mean=False`` is TRL's current loss (no state, not batch-level in
    effect), for reproducing its numbers.
    """

    family = "anchored"
    source = ("Jung et al. 2024, Binary Classifier Optimization for Large Language Model Alignment "
              "(arXiv 2404.04656)")
    formula = ("-log sigma(beta rho_w - delta) - log sigma(-(beta rho_l - delta)), "
               "delta = running mean of beta rho")
    needs = Needs(data="pairs", reference=True, batch_level=True)

    running_mean: bool = True
    """Subtract delta, the running mean of beta rho (the paper and TRL <= 0.28); False: TRL >= 0.29's loss."""

    def __post_init__(self) -> None:
        self._count = 0.0
        self._mean = 0.0

    def state_dict(self) -> dict[str, float]:
        return {"count": self._count, "mean": self._mean} if self.running_mean else {}

    def load_state_dict(self, state: dict[str, float]) -> None:
        if not self.running_mean:
            super().load_state_dict(state)
            return
        if not state:
            self.__post_init__()
            return
        if set(state) != {"count", "mean"}:
            raise PlanError(f"methods.{self.name}: checkpoint state has keys {sorted(state)}, "
                            "expected ['count', 'mean']; resume with the objective that wrote it")
        self._count, self._mean = float(state["count"]), float(state["mean"])

    def loss(self, stats: SequenceStats) -> LossOutput:
        rho_w, rho_l, _ = reference_margin(stats, self.reduction)
        r_w, r_l = self.beta * rho_w, self.beta * rho_l
        if not self.running_mean:
            return pair_output(-log_sigmoid(r_w) - log_sigmoid(-r_l), r_w, r_l)
        rewards = torch.cat([r_w, r_l]).detach()
        count = self._count + rewards.numel()
        mean = self._mean + (rewards.sum().item() - rewards.numel() * self._mean) / count
        if torch.is_grad_enabled():
            self._count, self._mean = count, mean
        losses = -log_sigmoid(r_w - mean) - log_sigmoid(-(r_l - mean))
        return pair_output(losses, r_w, r_l, delta=r_w.new_tensor(mean))


@register_method("sppo_hard")
class SPPOHard(BetaObjective):
    """Self-play preference optimisation, offline hard-label form: rho_w -> +1/(2 beta), rho_l -> -1/(2 beta).

    SPPO's target is the estimated win probability minus 1/2, scaled by 1/beta; with hard labels
    (win probability 1 for y_w, 0 for y_l) the targets are +-1/(2 beta), as in TRL's ``sppo_hard``.
    """

    family = "anchored"
    source = ("Wu et al. 2024, Self-Play Preference Optimization for Language Model Alignment "
              "(arXiv 2405.00675)")
    formula = "(rho_w - 1/(2 beta))^2 + (rho_l + 1/(2 beta))^2"
    needs = Needs(data="pairs", reference=True)

    def loss(self, stats: SequenceStats) -> LossOutput:
        rho_w, rho_l, _ = reference_margin(stats, self.reduction)
        target = 1 / (2 * self.beta)
        losses = (rho_w - target) ** 2 + (rho_l + target) ** 2
        return pair_output(losses, self.beta * rho_w, self.beta * rho_l)
