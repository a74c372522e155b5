"""One panel per objective: its reward-KL curve over strengths beside the optimal frontier and best-of-n.

Forty curves on one axes are unreadable, so each objective gets its own small panel with the same axes
limits, the frontier (black), best-of-n (grey, dashed) and the reference (red star) repeated in each.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from bench.gym.frontier import Frontier
from bench.leaderboards.figures import new_figure, write_figure
from bench.leaderboards.plot import SYMLOG_ABOVE
from bench.runner.frontier_curves import CurvePoint, Interval

COLUMNS = 4


def plot_curves(title: str, curves: dict[str, dict[int, list[CurvePoint]]], reference_by_seed: dict[int, float],
                frontier: Frontier, path: Path) -> Path:
    """Draw the panels and write them to ``path`` (PNG); returns ``path``."""
    rows = max(1, math.ceil(len(curves) / COLUMNS))
    figure = new_figure(3.2 * COLUMNS, 2.6 * rows + 0.4)
    valid = frontier.table[frontier.table["valid"].astype(bool)].sort_values("kl")
    reference = float(np.mean(list(reference_by_seed.values()))) if reference_by_seed else math.nan
    means = {method: _mean_curve(by_seed) for method, by_seed in curves.items()}
    kls = [p[1].mean for curve in means.values() for p in curve if math.isfinite(p[1].mean)]
    rewards = [p[2].mean for curve in means.values() for p in curve if math.isfinite(p[2].mean)]
    rewards += list(valid["reward"]) + list(frontier.best_of_n["reward"]) + [reference]
    top_kl = max([*kls, float(frontier.best_of_n["kl"].max())])
    low, high = np.nanmin(rewards), np.nanmax(rewards)
    margin = 0.05 * (high - low if high > low else 1.0)
    axes_list = figure.subplots(rows, COLUMNS, squeeze=False, sharex=True, sharey=True).ravel()
    for axes, (method, curve) in zip(axes_list, means.items(), strict=False):
        axes.plot(valid["kl"], valid["reward"], "-", color="black", linewidth=1.5)
        axes.plot(frontier.best_of_n["kl"], frontier.best_of_n["reward"], "--", color="tab:gray", linewidth=1)
        axes.scatter([0.0], [reference], marker="*", s=60, color="tab:red", zorder=4)
        xs = [kl.mean for _, kl, _ in curve]
        ys = [reward.mean for _, _, reward in curve]
        axes.errorbar(xs, ys, xerr=[_half(kl) for _, kl, _ in curve], yerr=[_half(r) for _, _, r in curve],
                      fmt="-o", color="tab:blue", markersize=3, linewidth=1, capsize=1.5, elinewidth=0.6)
        ends = {0, len(curve) - 1}  # the weakest and strongest settings: inner labels would pile up
        for index, (strength, x, y) in enumerate(zip((s for s, _, _ in curve), xs, ys, strict=True)):
            if index in ends and math.isfinite(strength) and math.isfinite(x) and math.isfinite(y):
                axes.annotate(f"{strength:g}", (x, y), textcoords="offset points", xytext=(3, 3), fontsize=6)
        axes.set_title(method, fontsize=9)
        axes.grid(True, alpha=0.3)
    for axes in axes_list[len(means):]:
        axes.set_visible(False)
    for axes in axes_list[:len(means)]:
        if top_kl > SYMLOG_ABOVE:
            axes.set_xscale("symlog", linthresh=1.0)
        axes.set_xlim(left=-0.1, right=top_kl * 1.3)
        axes.set_ylim(low - margin, high + margin)
    figure.supxlabel("KL(pi || pi_ref), nats" + (" (symmetric log: linear below 1)" if top_kl > SYMLOG_ABOVE else ""))
    figure.supylabel("gold reward r*")
    figure.suptitle(f"study {title}: mean over seeds per strength (labelled: weakest and strongest), 95% t intervals; "
                    "black: optimal pi*, grey: best-of-n, star: reference", fontsize=9)
    return write_figure(figure, path, dpi=110)


def _mean_curve(by_seed: dict[int, list[CurvePoint]]) -> list[tuple[float, Interval, Interval]]:
    """Per strength, (strength, KL over seeds, reward over seeds), ordered by strength."""
    strengths = sorted({p.strength for points in by_seed.values() for p in points},
                       key=lambda s: (math.isnan(s), s))
    curve = []
    for strength in strengths:
        same = [p for points in by_seed.values() for p in points
                if p.strength == strength or (math.isnan(p.strength) and math.isnan(strength))]
        curve.append((strength, Interval.of([p.kl for p in same]), Interval.of([p.reward for p in same])))
    return curve


def _half(interval: Interval) -> float:
    return interval.high - interval.mean if math.isfinite(interval.high) else 0.0
