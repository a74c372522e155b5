"""Reward-KL curves of objectives and how close each comes to the gym's optimal frontier.

One training point per objective says little: at a shared learning rate and its paper-default strength an
objective may simply sit at a KL where nothing does well. The DPO paper compared objectives by their
reward-KL frontier instead; the gym also knows the optimal frontier (:mod:`bench.gym.frontier`), so each
objective's whole curve can be measured against the best achievable.

Pure functions of per-seed points (KL, gold reward) live here; :mod:`bench.runner.frontier_report` runs
the sweeps and writes the report.

What a curve "reaches" at a KL budget b is its envelope: the best mean gold reward among its points with
KL <= b, and the reference's reward when none is that close (an objective at infinite strength returns the
reference, which every objective can therefore reach at KL 0). The envelope is computed per seed, so
every summary gets an interval over seeds. The mean regret over [0, K] is the average of frontier(x) -
envelope(x) over that range, K being the KL up to which the frontier estimate is valid.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from bench.evaluators.statistics import seed_aggregate

REGRET_GRID = 400
"""Points of the KL grid the mean regret is integrated on (trapezoid rule)."""


@dataclass(frozen=True)
class CurvePoint:
    """One strength setting of one objective in one seed."""

    strength: float
    kl: float
    reward: float


def envelope(points: Sequence[CurvePoint], reference_reward: float, budgets: np.ndarray) -> np.ndarray:
    """The best reward among ``points`` with KL <= each budget, never below the reference's reward."""
    budgets = np.asarray(budgets, dtype=np.float64)
    best = np.full(budgets.shape, reference_reward, dtype=np.float64)
    for point in points:
        if math.isfinite(point.kl) and math.isfinite(point.reward):
            best = np.where(budgets >= point.kl, np.maximum(best, point.reward), best)
    return best


def mean_regret(points: Sequence[CurvePoint], reference_reward: float, frontier: Callable[[np.ndarray], np.ndarray],
                kl_range: float) -> float:
    """(1 / K) * integral over [0, K] of frontier(x) - envelope(x): 0 when the curve lies on the frontier."""
    if not kl_range > 0:
        return math.nan
    xs = np.linspace(0.0, kl_range, REGRET_GRID)
    gap = np.asarray(frontier(xs), dtype=np.float64) - envelope(points, reference_reward, xs)
    return float(np.trapezoid(gap, xs) / kl_range)


@dataclass(frozen=True)
class Interval:
    """A mean over seeds and its 95% Student-t interval (NaN bounds with one seed)."""

    mean: float
    low: float
    high: float

    @classmethod
    def of(cls, values: Sequence[float]) -> Interval:
        return cls(*seed_aggregate(np.asarray(values, dtype=np.float64)))

    def text(self, digits: int = 2) -> str:
        if not math.isfinite(self.mean):
            return "n/a"
        if not math.isfinite(self.low):
            return f"{self.mean:.{digits}f}"
        return f"{self.mean:.{digits}f} [{self.low:.{digits}f}, {self.high:.{digits}f}]"


@dataclass(frozen=True)
class CurveSummary:
    """How close one objective's curve comes to the frontier, each figure with its interval over seeds."""

    method: str
    best_at: dict[float, Interval]
    """Per KL budget, the best gold reward the curve reaches within it."""
    regret: Interval
    """Mean regret against the frontier over [0, K]."""
    reaches_range: bool = True
    """Whether any point of any seed lies within [0, K]; if none does, the regret is the reference's own and
    says nothing about the objective."""


def summarise(method: str, by_seed: dict[int, list[CurvePoint]], reference_by_seed: dict[int, float],
              frontier: Callable[[np.ndarray], np.ndarray], kl_range: float,
              budgets: Sequence[float]) -> CurveSummary:
    """The curve summaries of one objective from its points in every seed.

    ``reference_by_seed`` is the reference's gold reward in each seed's evaluation (the mean over seeds
    stands in for a seed that lacks it).
    """
    fallback = float(np.mean(list(reference_by_seed.values()))) if reference_by_seed else math.nan
    seeds = sorted(by_seed)
    best = {budget: Interval.of([float(envelope(by_seed[s], reference_by_seed.get(s, fallback),
                                                np.array([budget]))[0]) for s in seeds])
            for budget in budgets}
    regret = Interval.of([mean_regret(by_seed[s], reference_by_seed.get(s, fallback), frontier, kl_range)
                          for s in seeds])
    reaches = any(point.kl <= kl_range for s in seeds for point in by_seed[s])
    return CurveSummary(method, best, regret, reaches)
