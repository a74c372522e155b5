"""TR-DPO (Gorbatovski et al., 2024, arXiv 2404.09656): DPO against a reference that follows the policy.

The loss is DPO's, -log sigma(beta h) with h = rho(y_w) - rho(y_l), but the reference in rho is not fixed:
after every tau optimiser steps the trainer sets

    pi_ref <- alpha pi_theta + (1 - alpha) pi_ref_prev

parameter by parameter. The paper's soft update is this with alpha in (0, 1); its hard update is alpha = 1
(the reference becomes a copy of the policy every tau steps). The combined form is TRL's (``sync_ref_model``
with ``ref_model_mixup_alpha``, default 0.6, applied every ``ref_model_sync_steps``, default 512), which
bench follows. The authors argue that a fixed reference holds the policy too close to the SFT model
for long runs; updating it lets the trust region move with the policy.

Defaults: alpha = 0.6 (TRL's). tau = 32 instead of TRL's 512, because the gym trains 100 steps: 512 would
never update, while 32 gives three updates per run, the same few updates per run that 512 gives over
TRL-scale runs of a few thousand steps. The reference is a model in memory (never the reference cache),
saved in every snapshot so that a resumed run continues against the reference it had reached; a LoRA
run cannot express it (its reference is the base with adapters off), as in TRL.
"""

from __future__ import annotations

from bench.errors import ConfigError
from bench.methods import register_method
from bench.methods.base import (
    BetaObjective,
    LossOutput,
    Needs,
    NeedsFromFields,
    ReferenceUpdate,
    SequenceStats,
    log_sigmoid,
)
from bench.methods.pairwise import pair_output, reference_margin


@register_method("tr_dpo")
class TRDPO(BetaObjective):
    family = "dpo"
    source = ("Gorbatovski et al. 2024, Learn Your Reference Model for Real Good Alignment (TR-DPO, "
              "arXiv 2404.09656)")
    formula = "-log sigma(beta h), pi_ref <- alpha pi_theta + (1 - alpha) pi_ref every tau steps"
    needs = NeedsFromFields(Needs(data="pairs", reference=True), lambda value: {
        "reference_update": ReferenceUpdate(every=int(value("sync_every")), mix=float(value("mix")))})

    mix: float = 0.6
    """alpha, the policy's share of the updated reference: 1 copies the policy (the paper's hard update)."""
    sync_every: int = 32
    """tau, optimiser steps between reference updates."""

    def validate(self) -> None:
        super().validate()
        if not 0 < self.mix <= 1:
            raise ConfigError(f"methods.{self.name}.mix={self.mix}: must be in (0, 1] (1 copies the policy)")
        if self.sync_every < 1:
            raise ConfigError(f"methods.{self.name}.sync_every={self.sync_every}: must be >= 1 (optimiser steps)")

    def loss(self, stats: SequenceStats) -> LossOutput:
        rho_w, rho_l, h = reference_margin(stats, self.reduction)
        return pair_output(-log_sigmoid(self.beta * h), self.beta * rho_w, self.beta * rho_l)
