"""The objective contract: the one plug-in point every preference objective goes through.

An objective is a dataclass (its fields are its hyper-parameters, with the paper's defaults) that
declares what it reads in ``needs`` and turns a :class:`SequenceStats` into a :class:`LossOutput`.
The trainer computes exactly the statistics ``needs`` asks for and never asks which objective it
runs; so a token-level (TDPO), SAE-code (FPO), scored k-wise (RPO), unpaired (KTO), outcome (causal
PO) or on-policy (RLOO) objective differs from DPO only in its ``needs`` and its ``loss``.

One batch shape serves every data kind: B prompts x n responses. Pairs are n = 2 with index 0 the
chosen response; k-wise data is n = k with a score per response; unpaired, outcome and demonstration
data are n = 1 with a label, an outcome or nothing.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

import torch.nn.functional as F
from torch import Tensor

from bench.errors import ConfigError, PlanError

DataKind = Literal["pairs", "kwise", "unpaired", "outcomes", "demonstrations"]
Reduction = Literal["sum", "mean"]


@dataclass(frozen=True)
class SaeCodes:
    """The SAE statistics an objective reads (FPO): the policy's mean-pooled codes and the reference's top-k.

    The policy's codes come from the same forward pass as its log-probs; the reference's ``top_k``
    largest codes per response are computed once into the reference cache.
    """

    top_k: int = 50
    layer: int | None = None
    """The block whose output the SAE encodes; None: the SAE's own layer (its cfg.json hook name)."""


@dataclass(frozen=True)
class ReferenceUpdate:
    """A reference that moves during training (TR-DPO): after every ``every`` optimiser steps the trainer sets
    pi_ref <- mix * pi_theta + (1 - mix) * pi_ref, parameter by parameter; ``mix = 1`` copies the policy."""

    every: int
    mix: float


@dataclass(frozen=True)
class Needs:
    """What an objective reads. The trainer gathers these statistics and nothing else.

    Asking for something the run's data cannot supply is a :class:`PlanError` before any training.
    """

    data: DataKind = "pairs"
    reference: bool = False
    """Reference log-probs of every response (cached once per reference/data/tokenisation)."""
    token_logps: bool = False
    """Per-token log-probs [B, n, T] (and the reference's, when ``reference``)."""
    token_kl: bool = False
    """Per-token KL(pi_ref(.|x, y<t) || pi_theta(.|x, y<t)) [B, n, T] over the full vocabulary (TDPO)."""
    token_collision: bool = False
    """Per-token log sum_v pi_theta(v|x, y<t)^2 [B, n, T], detached: the log-probability that a token sampled from
    the policy at that position is a given token it would sample again (WPO's weight alignment)."""
    training_progress: bool = False
    """The share of the run's optimiser steps done before this one, in [0, 1) (objectives with schedules)."""
    scores: bool = False
    """A scalar score per response [B, n] (explicit reward-model or annotator scores)."""
    sae: SaeCodes | None = None
    """Mean-pooled SAE codes of the residual stream after a block, policy and reference (FPO)."""
    online: bool = False
    """Responses are sampled from the current policy and scored by the run's reward function."""
    samples_per_prompt: int = 1
    """n for online objectives: how many responses to sample per prompt; m, the reference samples per
    prompt, for objectives that ask for ``reference_samples``."""
    reference_samples: bool = False
    """Texts sampled from the reference model, with policy and reference log-probs (DR-CPO's X~)."""
    outcome_model: bool = False
    """Predictions g(x, y) of an outcome model fitted on the outcome data (DR-CPO)."""
    batch_level: bool = False
    """The loss couples the examples of a batch, so the per-device batch size is part of its definition."""
    mismatched: bool = False
    """Log-probs of each prompt paired with another example's response (KTO's reference point z0):
    a fixed derangement of the data, so the pair carries no preference signal."""
    reference_update: ReferenceUpdate | None = None
    """The reference moves with the policy (:class:`ReferenceUpdate`): it is held in memory and updated by the
    trainer, so it cannot come from the reference cache."""


class NeedsFromFields:
    """``needs`` that depend on the objective's hyper-parameters (RLOO's k samples, FPO's top-k and layer,
    TR-DPO's reference update).

    ``needs`` is read on instances by the planner, runner and trainer, and on classes by listings and tests. Read
    on an instance, ``derive`` sees that instance's values (``methods.rloo.k=2`` samples two responses per prompt);
    read on the class, the fields' defaults, so the class still says what it reads. ``derive`` maps a reader of
    field values to the :class:`Needs` fields it sets.
    """

    def __init__(self, needs: Needs, derive: Callable[[Callable[[str], Any]], dict[str, Any]]) -> None:
        self.needs, self.derive = needs, derive

    def __get__(self, instance: Any, owner: type) -> Needs:
        fields = owner.__dataclass_fields__  # type: ignore[attr-defined]

        def value(name: str) -> Any:
            return fields[name].default if instance is None else getattr(instance, name)

        return dataclasses.replace(self.needs, **self.derive(value))


@dataclass
class SequenceStats:
    """Per-sequence statistics of one micro-batch, shaped [B, n] (token-level ones [B, n, T]).

    Fields an objective did not ask for are ``None``. Log-probs are SUMS over response tokens (prompt
    tokens never count); :meth:`reduce` turns them into per-token means where an objective's
    ``reduction`` says so.
    """

    logps: Tensor
    lengths: Tensor
    ref_logps: Tensor | None = None
    scores: Tensor | None = None
    labels: Tensor | None = None
    """+1 for a desirable response, -1 for an undesirable one (unpaired data)."""
    outcomes: Tensor | None = None
    token_logps: Tensor | None = None
    ref_token_logps: Tensor | None = None
    token_mask: Tensor | None = None
    token_kl: Tensor | None = None
    token_log_collision: Tensor | None = None
    """log sum_v pi_theta(v | x, y<t)^2 per response token [B, n, T], 0 at padding, detached (needs.token_collision)."""
    progress: float | None = None
    """Optimiser steps done / the run's steps, when the step starts (needs.training_progress)."""
    mismatched_logps: Tensor | None = None
    """log pi_theta(y' | x) [B, n]: each prompt x with another example's response y' (needs.mismatched)."""
    mismatched_ref_logps: Tensor | None = None
    """log pi_ref of the same mismatched pairs [B, n]."""
    mismatched_lengths: Tensor | None = None
    """|y'| of the mismatched responses [B, n], for objectives whose ``reduction`` is ``mean``."""
    sae_codes: Tensor | None = None
    """The policy's SAE codes [B, n, d_sae], mean-pooled over response tokens, with gradients (needs.sae)."""
    ref_sae_indices: Tensor | None = None
    """Feature indices [B, n, k] of the reference's k largest mean-pooled codes (needs.sae)."""
    ref_sae_values: Tensor | None = None
    """The reference's codes [B, n, k] at ``ref_sae_indices``."""
    extras: dict[str, Any] = field(default_factory=dict)
    """Statistics from optional providers (SAE codes, reference samples, outcome-model predictions)."""

    def reduce(self, logps: Tensor, reduction: Reduction) -> Tensor:
        """Sequence log-probs as sums, or divided by response length for ``mean``."""
        return logps if reduction == "sum" else logps / self.lengths.clamp(min=1)

    def policy(self, reduction: Reduction) -> Tensor:
        """log pi_theta(y|x) under ``reduction``, shape [B, n]."""
        return self.reduce(self.logps, reduction)

    def reference(self, reduction: Reduction) -> Tensor:
        """log pi_ref(y|x) under ``reduction``; an error if the objective did not ask for it."""
        if self.ref_logps is None:
            raise PlanError("reference log-probs were read but not declared in needs (set reference=True)")
        return self.reduce(self.ref_logps, reduction)

    def logratios(self, reduction: Reduction) -> Tensor:
        """rho(y) = log pi_theta(y|x) - log pi_ref(y|x) under ``reduction``, shape [B, n]."""
        return self.policy(reduction) - self.reference(reduction)


@dataclass
class LossOutput:
    """A micro-batch loss (a scalar to minimise) and named metrics.

    Metric values are detached tensors: either one value per example (shape [B]), averaged with
    per-example weights across gradient-accumulation steps and devices, or a scalar, weighted as one
    value for the whole micro-batch.
    """

    loss: Tensor
    metrics: dict[str, Tensor] = field(default_factory=dict)


def pair_metrics(chosen_rewards: Tensor, rejected_rewards: Tensor) -> dict[str, Tensor]:
    """The standard preference metrics from per-pair implicit rewards (shape [B] each)."""
    chosen_rewards, rejected_rewards = chosen_rewards.detach(), rejected_rewards.detach()
    margins = chosen_rewards - rejected_rewards
    return {
        "rewards/chosen": chosen_rewards,
        "rewards/rejected": rejected_rewards,
        "rewards/margins": margins,
        "rewards/accuracy": (margins > 0).float(),
    }


def log_sigmoid(x: Tensor) -> Tensor:
    """log sigma(x), numerically stable for large |x|."""
    return F.logsigmoid(x)


@dataclass
class Objective:
    """Base class of every objective. Subclasses are dataclasses registered with ``@register_method``.

    Class attributes document the objective for ``bench list methods`` and the leaderboard:
    ``family`` groups related objectives, ``source`` cites the paper the formula comes from, and
    ``formula`` states the loss in the notation of METHODS.md.
    """

    name: ClassVar[str] = ""
    family: ClassVar[str] = ""
    source: ClassVar[str] = ""
    formula: ClassVar[str] = ""
    needs: ClassVar[Needs] = Needs()
    monotone_in_chosen: ClassVar[bool] = True
    """Whether raising the chosen (desirable, demonstrated) response's log-prob never raises the loss.

    True of any objective that learns from preferences the usual way; the contract checks
    (:mod:`bench.methods.contract`) verify it, so a sign error fails there before any training. An
    objective that lowers the chosen likelihood by design sets it to False and says why.
    """
    reduction: Reduction = "sum"

    def loss(self, stats: SequenceStats) -> LossOutput:
        """Compute the micro-batch loss from the statistics declared in ``needs``."""
        raise NotImplementedError

    def state_dict(self) -> dict[str, float]:
        """Running statistics the objective carries from one step to the next (none by default).

        Stateful objectives (BCO's running mean, beta-DPO's EMAs) override this and
        :meth:`load_state_dict`; the trainer saves the dict in every checkpoint so that a resumed run
        computes the same losses as an uninterrupted one. Hyper-parameters are not state. By
        convention the state moves only while gradients are enabled, so an evaluation pass under
        ``torch.no_grad()`` reads it without changing it.
        """
        return {}

    def load_state_dict(self, state: dict[str, float]) -> None:
        """Restore what :meth:`state_dict` returned; ``{}`` (a fresh run) means the initial state.

        A stateless objective accepts only ``{}``.
        """
        if state:
            raise PlanError(f"methods.{self.name} keeps no state but the checkpoint has {sorted(state)}; "
                            "resume with the objective that wrote the checkpoint")

    def hyperparameters(self) -> dict[str, Any]:
        """The objective's fields and values, as recorded in provenance and the leaderboard."""
        return dataclasses.asdict(self)  # type: ignore[call-overload]

    def validate(self) -> None:
        """Raise a ConfigError for out-of-range hyper-parameters; subclasses extend this."""
        if self.reduction not in ("sum", "mean"):
            raise ConfigError(f"methods.{self.name}.reduction={self.reduction!r}: use 'sum' or 'mean'")


@dataclass
class BetaObjective(Objective):
    """An objective scaled by an inverse temperature ``beta`` > 0 (METHODS.md's default 0.1).

    Most objectives of the DPO family share this hyper-parameter and its check; they declare only
    their own further fields.
    """

    beta: float = 0.1

    def validate(self) -> None:
        super().validate()
        positive(self.name, beta=self.beta)


def positive(method: str, **values: float) -> None:
    """Raise a ConfigError naming the first non-positive hyper-parameter among ``values``."""
    for key, value in values.items():
        if not value > 0:
            raise ConfigError(f"methods.{method}.{key}={value}: must be > 0")


def in_unit_interval(method: str, upper_open: float = 1.0, **values: float) -> None:
    """Raise a ConfigError naming the first value outside [0, upper_open)."""
    for key, value in values.items():
        if not 0 <= value < upper_open:
            raise ConfigError(f"methods.{method}.{key}={value}: must be in [0, {upper_open})")


def chosen_rejected(x: Tensor) -> tuple[Tensor, Tensor]:
    """Split a pairs tensor [B, 2, ...] into its chosen and rejected halves [B, ...]."""
    if x.shape[1] != 2:
        raise PlanError(f"pairwise objective got n={x.shape[1]} responses per prompt; pairs need n=2")
    return x[:, 0], x[:, 1]


__all__ = [
    "BetaObjective",
    "DataKind",
    "LossOutput",
    "Needs",
    "Objective",
    "Reduction",
    "SaeCodes",
    "SequenceStats",
    "chosen_rejected",
    "in_unit_interval",
    "log_sigmoid",
    "pair_metrics",
    "positive",
]
