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
