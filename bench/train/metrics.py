"""Averaging logged metrics correctly across gradient-accumulation steps and devices.

A metric reported per example is averaged over examples, not over micro-batches, so the value logged
for a step does not depend on how the step was split into micro-batches or devices.
"""

from __future__ import annotations

from collections import defaultdict
from typing import TYPE_CHECKING

import torch

from bench.methods.base import LossOutput

if TYPE_CHECKING:
    from bench.train.distributed import Processes


class MetricAccumulator:
    """Sums of (value x weight) and weights per metric over the micro-batches of one optimizer step."""

    def __init__(self) -> None:
        self._sums: dict[str, float] = defaultdict(float)
        self._weights: dict[str, float] = defaultdict(float)

    def add(self, output: LossOutput, batch_size: int) -> None:
        """Add one micro-batch: the loss weighted by its size, per-example metrics by their count."""
        self._sums["loss"] += float(output.loss.detach()) * batch_size
        self._weights["loss"] += batch_size
        for name, value in output.metrics.items():
            value = value.detach().float()
            if value.ndim == 0:
                self._sums[name] += float(value) * batch_size
                self._weights[name] += batch_size
            else:
                self._sums[name] += float(value.sum())
                self._weights[name] += value.numel()

    def result(self, processes: Processes | None = None) -> dict[str, float]:
        """Weighted means, reduced over the processes training the job together."""
        names = sorted(self._sums)
        totals = torch.tensor([[self._sums[n], self._weights[n]] for n in names], dtype=torch.float64)
        if processes is not None:
            totals = processes.reduce(totals, "sum").cpu()
        return {name: float(total / weight) if weight else float("nan")
                for name, (total, weight) in zip(names, totals.tolist(), strict=True)}
