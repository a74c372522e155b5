"""Shared pieces of pairwise objectives: the implicit-reward margin and its standard metrics.

Most objectives of METHODS.md are a scalar function of h = rho(y_w) - rho(y_l) (with a reduction);
they compute ``h`` and the logged rewards here and keep only their own formula in their module.
"""

from __future__ import annotations

from torch import Tensor

from bench.methods.base import LossOutput, Reduction, SequenceStats, chosen_rejected, pair_metrics


def reference_margin(stats: SequenceStats, reduction: Reduction) -> tuple[Tensor, Tensor, Tensor]:
    """(rho_w, rho_l, h) for a pairs batch, each shape [B]."""
    rho_w, rho_l = chosen_rejected(stats.logratios(reduction))
    return rho_w, rho_l, rho_w - rho_l


def reference_free_margin(stats: SequenceStats, reduction: Reduction) -> tuple[Tensor, Tensor, Tensor]:
    """(log pi(y_w), log pi(y_l), their difference) under ``reduction``, each shape [B]."""
    logp_w, logp_l = chosen_rejected(stats.policy(reduction))
    return logp_w, logp_l, logp_w - logp_l


def pair_output(losses: Tensor, reward_w: Tensor, reward_l: Tensor, **extra: Tensor) -> LossOutput:
    """Mean loss over pairs plus the standard reward metrics (and any extra per-pair metrics)."""
    metrics = pair_metrics(reward_w, reward_l)
    metrics.update({name: value.detach() for name, value in extra.items()})
    return LossOutput(loss=losses.mean(), metrics=metrics)
