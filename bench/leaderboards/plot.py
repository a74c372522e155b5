"""The reward-vs-KL picture of one leaderboard: the gym's optimal frontier, best-of-n, and every method.

A leaderboard ranks methods by win rate; this plot shows what they paid for it. Every method is a
point (KL from the reference in nats, mean gold reward) with its seed interval, next to the best any
policy can do at that KL (the pi* frontier) and what plain best-of-n sampling from the reference gets.
The distance down to the frontier is the method's regret. Drawn with matplotlib's object API on the
Agg canvas (no pyplot, no display, no global state), so it runs in CI and in worker processes.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from bench.errors import BenchError
from bench.evaluators.statistics import seed_aggregate
from bench.leaderboards.figures import family_colours, new_figure, place_labels, write_figure
from bench.leaderboards.table import GROUP_COLUMNS, REFERENCE_METHOD, RewardFrontier, select_sweep_points

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

PLOT_FILE = "frontier.png"
KL_METRIC = "kl"
REWARD_METRIC = "gold_reward"
SYMLOG_ABOVE = 10.0
"""Past this KL (nats) the x axis turns symmetric-log: methods reach hundreds of nats while the
frontier's valid part ends at a few, and a linear axis would squash the frontier into the y axis."""
METHODS_GID = "methods"
"""``gid`` of the scatter holding the method points (one offset per method), for tests and tools."""


@dataclass(frozen=True)
class MethodPoint:
    """One configuration on the plot: its seed means and the half-widths of their 95% t intervals."""

    label: str
    kl: float
    reward: float
    kl_error: float = math.nan
    """NaN with one seed: a single run has no seed interval."""
    reward_error: float = math.nan
    family: str = ""
    """The objective's family (its colour on the plot)."""


def _half_width(values: np.ndarray) -> tuple[float, float]:
    mean, low, _high = seed_aggregate(values)
    return mean, (mean - low) if math.isfinite(low) else math.nan


def method_points(rows: pd.DataFrame, kl_metric: str = KL_METRIC,
                  reward_metric: str = REWARD_METRIC) -> tuple[list[MethodPoint], float]:
    """The method points and the reference's gold reward from the per-seed rows of ONE comparability key.

    ``rows`` is :func:`bench.leaderboards.table.load_results` (restricted to one key): runs that agree
    on method, selector, reduction, steps and hyper-parameters are seeds of one point, as in the
    table; a swept method contributes its selected grid point only. A point trained on a selector's
    share of the data is labelled with the selector's name, and a method shown with several
    configurations under one selector with its hyper-parameters. The reference's reward is NaN when the store
    has no reference row.
    """
    if rows.empty:
        raise BenchError("no runs to plot: the results store holds no metrics.json for this key")
    keys = sorted(set(rows["comparability_key"].astype(str)))
    if len(keys) != 1:
        raise BenchError(f"refusing to plot runs with different comparability keys ({', '.join(keys)}) on one "
                         f"figure; plot each key's rows separately")
    missing = [m for m in (kl_metric, reward_metric) if m not in rows.columns]
    if missing:
        raise BenchError(f"the runs report no {' or '.join(missing)}; the frontier plot needs the kl evaluator "
                         f"and the gold judge's score (gym runs)")
    is_reference = rows["method"] == REFERENCE_METHOD
    reference = pd.to_numeric(rows.loc[is_reference, reward_metric], errors="coerce").dropna()
    runs = select_sweep_points(rows[~is_reference])
    configs = list(runs.groupby(list(GROUP_COLUMNS), sort=True, dropna=False))
    per_method = pd.Series([(name[0], name[1]) for name, _ in configs]).value_counts()
    points = []
    for name, seeds in configs:
        kl, kl_error = _half_width(pd.to_numeric(seeds[kl_metric], errors="coerce").to_numpy(dtype=float))
        reward, reward_error = _half_width(pd.to_numeric(seeds[reward_metric], errors="coerce")
                                           .to_numpy(dtype=float))
        label = str(name[0]) if str(name[1]) in ("all", "") else f"{name[0]} [{str(name[1]).partition(':')[0]}]"
        label = label if per_method[(name[0], name[1])] == 1 else f"{label} {name[4]}"
        family = str(seeds["family"].iloc[0]) if "family" in seeds else ""
        points.append(MethodPoint(label, kl, reward, kl_error, reward_error, family))
    return points, float(reference.mean()) if len(reference) else math.nan


def plot_frontier(frontier: RewardFrontier, points: Sequence[MethodPoint], path: Path | None = None,
                  reference_reward: float = math.nan, title: str | None = None) -> Figure:
    """Draw the frontier, best-of-n, the reference at KL 0 and every point; write a PNG when ``path`` is set.

    Only the valid frontier points are drawn; how many were dropped for a low effective sample size,
    N and the prompts used are printed under the axes. Points with a NaN KL or reward (a run without
    the kl evaluator) cannot be placed and are left out. Returns the figure (its first axes is the plot).
    """
    figure = new_figure(9.0, 6.0)
    axes = figure.add_subplot()
    valid = frontier.table[frontier.table["valid"].astype(bool)].sort_values("kl")
    axes.plot(valid["kl"], valid["reward"], "-", color="black", linewidth=2.0, label="optimal pi* (ESS >= "
              f"{frontier.min_ess:g})", gid="frontier")
    best = frontier.best_of_n
    axes.plot(best["kl"], best["reward"], "--o", color="tab:gray", markersize=4, label="best-of-n (reference)",
              gid="best_of_n")
    for n, kl, reward in zip(best["n"], best["kl"], best["reward"], strict=True):
        axes.annotate(f"n={int(n)}", (kl, reward), textcoords="offset points", xytext=(4, -10), fontsize=7,
                      color="tab:gray")
    placed = [p for p in points if math.isfinite(p.kl) and math.isfinite(p.reward)]
    xs = np.array([p.kl for p in placed], dtype=float)
    ys = np.array([p.reward for p in placed], dtype=float)
    colours = family_colours([p.family or "other" for p in placed])
    axes.scatter(xs, ys, c=[colours[p.family or "other"] for p in placed] or None, zorder=3,
                 label="methods (mean over seeds; colour: family)", gid=METHODS_GID)
    x_errors = np.array([p.kl_error for p in placed], dtype=float)
    y_errors = np.array([p.reward_error for p in placed], dtype=float)
    if np.isfinite(x_errors).any() or np.isfinite(y_errors).any():
        x_errors = np.nan_to_num(x_errors)
        below = np.minimum(x_errors, np.maximum(xs, 0.0))  # KL >= 0: a t interval over 3 seeds can reach past it
        axes.errorbar(xs, ys, xerr=np.vstack([below, x_errors]), yerr=np.nan_to_num(y_errors), fmt="none",
                      ecolor="tab:blue", alpha=0.5, capsize=2, label="95% t interval over seeds")
    start = float(valid["reward"].iloc[0])
    reference = reference_reward if math.isfinite(reference_reward) else start
    axes.scatter([0.0], [reference], marker="*", s=160, color="tab:red", zorder=4, label="reference (KL 0)",
                 gid="reference")
    if xs.size and np.nanmax(xs) > SYMLOG_ABOVE:
        axes.set_xscale("symlog", linthresh=1.0)
        axes.set_xlabel("KL(pi || pi_ref), nats (symmetric log scale: linear below 1)")
    else:
        axes.set_xlabel("KL(pi || pi_ref), nats")
    place_labels(axes, xs, ys, [p.label for p in placed])
    axes.set_ylabel("gold reward r*")
    axes.grid(True, alpha=0.3)
    axes.add_artist(axes.legend(loc="upper right", fontsize=8))
    _family_legend(axes, colours)
    if title:
        axes.set_title(title)
    axes.text(0.01, 0.99, frontier.note().replace("; ", "\n"), transform=axes.transAxes, fontsize=7, ha="left",
              va="top", bbox={"facecolor": "white", "alpha": 0.8, "edgecolor": "none"}, gid="note")
    if path is not None:
        write_figure(figure, Path(path))
    return figure


def _family_legend(axes: Axes, colours: dict[str, Any]) -> None:
    """A second legend naming the colour of every objective family on the plot."""
    from matplotlib.lines import Line2D

    handles = [Line2D([], [], marker="o", linestyle="", color=colour, label=family)
               for family, colour in sorted(colours.items())]
    if handles:
        axes.legend(handles=handles, title="family", loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=7,
                    title_fontsize=8, borderaxespad=0.0)  # outside the axes: no point hides behind it
