"""Plain-Python math for computing expected losses independently of torch and of the implementations."""

from __future__ import annotations

import math


def log_sigmoid(x: float) -> float:
    """log sigma(x) without overflow for either sign."""
    return -math.log1p(math.exp(-x)) if x >= 0 else x - math.log1p(math.exp(x))


def mean(values: list[float]) -> float:
    return sum(values) / len(values)
