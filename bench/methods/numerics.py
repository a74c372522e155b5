"""Numerical guards shared by objectives whose reward exponentiates a log-probability or log-ratio.

Kept out of :mod:`bench.methods.base`, which the trainer's code reaches: a helper only some objectives use
must not put every job's key behind it.
"""

from __future__ import annotations

import torch
from torch import Tensor

EXPONENT_CAP = 80.0
"""The largest exponent passed to exp: exp(80) ~ 5.5e34 stays finite in float32 (TRL's cap for fp32 and bf16),
so such an objective's loss far from the reference is large but finite."""


def capped_exp(x: Tensor) -> Tensor:
    """exp(min(x, EXPONENT_CAP))."""
    return torch.exp(x.clamp(max=EXPONENT_CAP))


def power_transform(x: Tensor, alpha: float) -> Tensor:
    """(1 - exp(-alpha x)) / alpha, the exponent capped, and x itself at alpha = 0 (its limit).

    AlphaPO's reward shape (x = the per-token mean log-prob) and the alpha-divergence's f'(u) up to a
    constant (x = log u) are this one function; expm1 keeps it accurate where alpha x is small.
    """
    if alpha == 0:
        return x
    return -torch.expm1((-alpha * x).clamp(max=EXPONENT_CAP)) / alpha
