"""DPO-Shift (Yang et al., 2025, arXiv 2502.07599): DPO with the rejected log-ratio scaled by lambda <= 1.

loss = -log sigma(beta rho(y_w) - lambda beta rho(y_l)); lambda = 1 is DPO. A lambda below one weakens the
push on the rejected response, which counters DPO's tendency to lower the chosen response's likelihood
together with the rejected one ("likelihood displacement"), at the cost of a smaller reward margin; the
paper shows the trade-off as lambda moves from 1 down to about 0.5. The formula is the authors' code's:
lambda multiplies both the policy's and the reference's rejected log-prob.

The authors' trainer defaults to lambda = 1 (plain DPO) and runs lambda from 0.5 to 0.99; the default here,
0.9, sits inside the 0.75-0.95 range of their main experiments so that the registered objective differs
from dpo.

Their trainer also moves lambda linearly over training (``dpo_lambda_strategy``): with s the optimiser steps
already taken and S the run's steps, ``increase_linear`` uses lambda_min + (lambda_max - lambda_min) s / S and
``decrease_linear`` lambda_max - (lambda_max - lambda_min) s / S; their experiments ran 0.75, 0.85 and 0.95 to 1.
``schedule=increase_linear`` (or ``decrease_linear``) with ``lambda_min``/``lambda_max`` is the same; then
``lambda_shift`` is not used. The objective reads s / S from the trainer (``Needs.training_progress``).
"""

from __future__ import annotations

from typing import Literal, get_args

from bench.errors import ConfigError, PlanError
from bench.methods import register_method
from bench.methods.base import (
    BetaObjective,
    LossOutput,
    Needs,
    NeedsFromFields,
    SequenceStats,
    log_sigmoid,
    positive,
)
from bench.methods.pairwise import pair_output, reference_margin

Schedule = Literal["fixed", "increase_linear", "decrease_linear"]
SCHEDULES = get_args(Schedule)


@register_method("dpo_shift")
class DPOShift(BetaObjective):
    family = "dpo"
    source = ("Yang et al. 2025, DPO-Shift: Shifting the Distribution of Direct Preference Optimization "
              "(arXiv 2502.07599)")
    formula = "-log sigma(beta rho(y_w) - lambda beta rho(y_l))"
    needs = NeedsFromFields(Needs(data="pairs", reference=True),
                            lambda value: {"training_progress": value("schedule") != "fixed"})

    lambda_shift: float = 0.9
    """lambda, the weight of the rejected log-ratio: 1 is DPO, smaller values keep the chosen likelihood up."""
    schedule: Schedule = "fixed"
    """``fixed`` (lambda_shift throughout), or lambda moved linearly between lambda_min and lambda_max over the run:
    ``increase_linear`` from lambda_min up, ``decrease_linear`` from lambda_max down."""
    lambda_min: float = 0.75
    lambda_max: float = 1.0

    def validate(self) -> None:
        super().validate()
        positive(self.name, lambda_shift=self.lambda_shift)
        if self.lambda_shift > 1:
            raise ConfigError(f"methods.{self.name}.lambda_shift={self.lambda_shift}: must be <= 1 (1 is plain DPO)")
        if self.schedule not in SCHEDULES:
            raise ConfigError(f"methods.{self.name}.schedule={self.schedule!r}: must be one of {', '.join(SCHEDULES)}")
        if not 0 < self.lambda_min <= self.lambda_max <= 1:
            raise ConfigError(f"methods.{self.name}.lambda_min={self.lambda_min}, lambda_max={self.lambda_max}: "
                              f"need 0 < lambda_min <= lambda_max <= 1")

    def shift(self, stats: SequenceStats) -> float:
        """lambda at this step: fixed, or on the linear schedule at the trainer's progress s / S."""
        if self.schedule == "fixed":
            return self.lambda_shift
        if stats.progress is None:
            raise PlanError("training progress was read but not declared in needs (set training_progress=True)")
        span = (self.lambda_max - self.lambda_min) * stats.progress
        return self.lambda_min + span if self.schedule == "increase_linear" else self.lambda_max - span

    def loss(self, stats: SequenceStats) -> LossOutput:
        rho_w, rho_l, _ = reference_margin(stats, self.reduction)
        lam = self.shift(stats)
        losses = -log_sigmoid(self.beta * rho_w - lam * self.beta * rho_l)
        return pair_output(losses, self.beta * rho_w, self.beta * rho_l, **{"lambda": rho_w.new_tensor(lam)})
