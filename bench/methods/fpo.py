"""FPO: DPO with a feature-level constraint in a sparse autoencoder's code space (Yin et al. 2024).

TDPO keeps the policy near the reference with a KL over the full vocabulary at every token, which
needs the reference model (or its distributions) during training. FPO replaces it with a distance
between sparse SAE codes of the residual stream after one block, mean-pooled over the response:
the reference's codes are computed once offline, so nothing of the reference is in memory while
training, and the constraint is a handful of active features instead of a vocabulary-sized
distribution per token.

u = beta (LN rho(y_w) - LN rho(y_l)) - delta,   loss = -log sigma(u)
delta = alpha (beta D(y_l) - sg[beta D(y_w)])
D(y) = (1/k) sum_{i in I} (cbar_theta,i(y) - cbar_ref,i(y))^2,   I = topk(cbar_theta) UNION topk(cbar_ref)

cbar(y) is the SAE code of the residual stream after block ``layer`` averaged over the positions
holding y's tokens (prompt and padding excluded; see :mod:`bench.models.residual`).

Choices where METHODS.md is silent:
- The reference's codes are cached only at its own top-k features, so a feature in topk(cbar_theta)
  outside the reference's top k counts with reference code 0 (exact when the reference has at most k
  active features; otherwise it overstates D by the reference's (k+1)-th and smaller codes there).
- ``reduction`` (default ``mean``, the LN of the formula) applies to the log-ratios only; D is
  already a per-token mean through the pooling.
- ``layer`` None uses the SAE's own layer (from its ``cfg.json`` hook name; the gym's SAE documents
  its layer in :mod:`bench.gym.sae`). ``k`` above the SAE's width is an error naming ``methods.fpo.k``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from bench.errors import ConfigError, PlanError
from bench.methods import register_method
from bench.methods.base import (
    BetaObjective,
    LossOutput,
    Needs,
    NeedsFromFields,
    Reduction,
    SaeCodes,
    SequenceStats,
    chosen_rejected,
    in_unit_interval,
    log_sigmoid,
)
from bench.methods.pairwise import pair_output, reference_margin


def feature_distance(codes: Tensor, ref_indices: Tensor, ref_values: Tensor, k: int) -> Tensor:
    """D(y) per response, shape [...]: squared code differences over the union of both top-k sets, over k.

    ``codes`` [..., d_sae] are the policy's; the reference's are ``ref_values`` at ``ref_indices``
    [..., k] and 0 elsewhere.
    """
    if k > codes.shape[-1]:
        raise PlanError(f"methods.fpo.k={k} exceeds the SAE's {codes.shape[-1]} features; lower it")
    reference = torch.zeros_like(codes).scatter(-1, ref_indices, ref_values.to(codes.dtype))
    union = torch.zeros(codes.shape, dtype=torch.bool, device=codes.device)
    union = union.scatter(-1, codes.detach().topk(k, dim=-1).indices, True).scatter(-1, ref_indices, True)
    return ((codes - reference).square() * union).sum(-1) / k


@register_method("fpo")
@dataclass
class FPO(BetaObjective):
    """DPO's length-normalised margin minus alpha times the gap in SAE-code distance to the reference.

    The rejected response pays for moving its features away from the reference's; the chosen side's
    distance enters detached (as in TDPO-2), so the loss cannot fall by moving the chosen response's
    features away.
    """

    family = "feature-constrained"
    source = "Yin et al. 2024, Direct Preference Optimization Using Sparse Feature-Level Constraints (arXiv 2411.07618)"
    formula = ("-log sigma(beta (LN rho_w - LN rho_l) - alpha (beta D(y_l) - sg[beta D(y_w)])), "
               "D = (1/k) sum_{topk(c_theta) U topk(c_ref)} (c_theta - c_ref)^2")
    needs = NeedsFromFields(Needs(data="pairs", reference=True),
                            lambda value: {"sae": SaeCodes(top_k=int(value("k")), layer=value("layer"))})

    alpha: float = 0.5
    k: int = 50
    layer: int | None = None
    reduction: Reduction = "mean"

    def validate(self) -> None:
        super().validate()
        in_unit_interval(self.name, upper_open=math.inf, alpha=self.alpha)
        if isinstance(self.k, bool) or not isinstance(self.k, int) or self.k < 1:
            raise ConfigError(f"methods.{self.name}.k={self.k!r}: must be an integer >= 1 (SAE features compared)")
        if self.layer is not None and (isinstance(self.layer, bool) or not isinstance(self.layer, int)
                                       or self.layer < 0):
            raise ConfigError(f"methods.{self.name}.layer={self.layer!r}: must be a block index >= 0 or null "
                              "(the SAE's own layer)")

    def loss(self, stats: SequenceStats) -> LossOutput:
        if stats.sae_codes is None or stats.ref_sae_indices is None or stats.ref_sae_values is None:
            raise PlanError("SAE codes were read but not declared in needs (set sae=SaeCodes(...))")
        rho_w, rho_l, h = reference_margin(stats, self.reduction)
        distance = feature_distance(stats.sae_codes, stats.ref_sae_indices, stats.ref_sae_values, self.k)
        d_w, d_l = chosen_rejected(distance)
        delta = self.alpha * (self.beta * d_l - (self.beta * d_w).detach())
        losses = -log_sigmoid(self.beta * h - delta)
        return pair_output(losses, self.beta * rho_w, self.beta * rho_l,
                           **{"sae/distance_chosen": d_w, "sae/distance_rejected": d_l, "delta": delta})


__all__ = ["FPO", "feature_distance"]
