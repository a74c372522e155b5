"""The publication's figures: labels that do not overlap, family colours, the head-to-head heatmap, and
win rate against KL and against length; each written as PNG and SVG.

Like :mod:`bench.leaderboards.plot`, figures use matplotlib's object API on the Agg canvas (no pyplot,
no display), so they render in CI and in worker processes.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from bench.atomic import write_bytes
from bench.leaderboards.table import CI_HIGH, CI_LOW, REFERENCE_METHOD

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

FORMATS = ("png", "svg")
_OFFSETS = [(round(radius * math.cos(angle)), round(radius * 0.8 * math.sin(angle)))
            for radius in (8, 18, 30, 45, 65) for angle in np.linspace(math.pi / 4, 2 * math.pi + math.pi / 4, 8,
                                                                       endpoint=False)]
"""Where a label may go relative to its point (offset points), tried in this order: eight directions on rings
further and further out, so a label in a clump of points ends up outside the clump on a leader line."""


LABEL_OVERLAP_COST = 10
"""How much worse a label on another label is than a label over a point, when no place is free."""


def new_figure(width: float = 8.0, height: float = 5.5) -> Figure:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def family_colours(families: Sequence[str]) -> dict[str, Any]:
    """A colour per objective family (tab10, then tab20), the same family the same colour on every figure."""
    from matplotlib import colormaps

    names = sorted(set(families))
    palette = colormaps["tab10" if len(names) <= 10 else "tab20"]
    return {name: palette(i % palette.N) for i, name in enumerate(names)}


def place_labels(axes: Axes, xs: Sequence[float], ys: Sequence[float], labels: Sequence[str],
                 fontsize: float = 7.0) -> list[Any]:
    """Annotate every point with its label where the label overlaps no label placed before it and no point.

    Greedy: each label tries the offsets of ``_OFFSETS`` in turn and takes the first free one (the one
    least overlapped when none is free: covering a point is better than covering a label), drawing a thin
    leader line when it sits away from its point.
    """
    figure = axes.figure
    renderer = figure.canvas.get_renderer()
    figure.draw_without_rendering()
    points = axes.transData.transform(np.column_stack([xs, ys])) if len(xs) else np.empty((0, 2))
    taken: list[Any] = []
    annotations = []
    for (x, y), label, centre in zip(zip(xs, ys, strict=True), labels, points, strict=True):
        best, best_overlap = None, None
        for offset in _OFFSETS:
            candidate = _label(axes, label, (x, y), offset, fontsize)
            box = candidate.get_window_extent(renderer).expanded(1.05, 1.1)
            overlap = LABEL_OVERLAP_COST * sum(box.overlaps(other) for other in taken)
            overlap += sum(box.contains(px, py) for px, py in points if (px, py) != tuple(centre))
            if best_overlap is None or overlap < best_overlap:
                if best is not None:
                    best.remove()
                best, best_overlap, best_box = candidate, overlap, box
            else:
                candidate.remove()
            if overlap == 0:
                break
        if abs(best.xyann[0]) > 10 or abs(best.xyann[1]) > 14:  # away from its point: draw it again with a leader
            offset = best.xyann
            best.remove()
            best = _label(axes, label, (x, y), offset, fontsize, leader=True)
        taken.append(best_box)
        annotations.append(best)
    return annotations


def _label(axes: Axes, label: str, xy: tuple[float, float], offset: tuple[float, float], fontsize: float,
           leader: bool = False) -> Any:
    """``label`` at ``offset`` points from ``xy``, with a thin grey line back to the point when ``leader``."""
    arrow = {"arrowstyle": "-", "color": "0.6", "linewidth": 0.5} if leader else None
    annotation = axes.annotate(label, xy, textcoords="offset points", xytext=offset, fontsize=fontsize,
                               ha="left" if offset[0] >= 0 else "right", va="center", gid=f"label:{label}",
                               arrowprops=arrow)
    annotation.set_in_layout(False)  # else the constrained layout resizes the axes and moves the placed labels
    return annotation


def write_figure(figure: Figure, path: Path, dpi: int = 120) -> Path:
    """Render to memory in the format ``path``'s suffix names, then rename into place: a reader never sees half
    a file. Returns ``path``."""
    path = Path(path)
    buffer = io.BytesIO()
    figure.savefig(buffer, format=path.suffix.lstrip("."), dpi=dpi)
    write_bytes(path, buffer.getvalue())
    return path


def save(figure: Figure, stem: Path) -> list[Path]:
    """Write ``stem.png`` and ``stem.svg`` atomically; the paths."""
    return [write_figure(figure, Path(f"{stem}.{kind}")) for kind in FORMATS]


def head_to_head_heatmap(record: dict[str, Any]) -> Figure:
    """The head-to-head matrix as a heatmap: cell (row, column) is how often the row's method beats the column's.

    Rows and columns are ordered by each method's mean win rate against all others, strongest first, so that
    the matrix reads as blocks (who beats whom) rather than as the registry's order.
    """
    matrix = np.array(record["win_rate"], dtype=float)
    off_diagonal = np.where(np.eye(len(matrix), dtype=bool), np.nan, matrix)
    order = np.argsort(-np.nan_to_num(np.nanmean(off_diagonal, axis=1), nan=-np.inf), kind="stable")
    methods = [record["methods"][i] for i in order]
    matrix = matrix[np.ix_(order, order)]
    size = max(4.0, 0.45 * len(methods) + 2.5)
    figure = new_figure(size + 1.5, size)
    axes = figure.add_subplot()
    image = axes.imshow(matrix, cmap="RdBu", vmin=0.0, vmax=100.0)
    axes.set_xticks(range(len(methods)), labels=methods, rotation=60, ha="right", fontsize=8)
    axes.set_yticks(range(len(methods)), labels=methods, fontsize=8)
    if len(methods) <= 16:
        for i in range(len(methods)):
            for j in range(len(methods)):
                if i != j and np.isfinite(matrix[i, j]):
                    axes.text(j, i, f"{matrix[i, j]:.0f}", ha="center", va="center", fontsize=7,
                              color="white" if abs(matrix[i, j] - 50) > 30 else "black")
    axes.set_xlabel("opponent")
    axes.set_ylabel("method")
    axes.set_title(f"Head-to-head win rate (%), judge {record['judge']}, seed {record.get('seed', 0)}, "
                   f"{record['n_prompts']} prompts", fontsize=9)
    figure.colorbar(image, ax=axes, label="row beats column (%)")
    return figure


def win_rate_against(table: pd.DataFrame, metric: str, x: str, x_label: str) -> Figure | None:
    """The primary win rate (with its interval) against ``x`` (KL or length), one point per configuration,
    coloured by family, labels placed apart; None when the table has no ``x``."""
    if x not in table.columns:
        return None
    rows = table[(table["method"] != REFERENCE_METHOD) & table[x].notna() & table[metric].notna()]
    if rows.empty:
        return None
    figure = new_figure()
    axes = figure.add_subplot()
    families = rows["family"].fillna("").astype(str).replace("", "other") if "family" in rows else \
        pd.Series("other", index=rows.index)
    colours = family_colours(list(families))
    xs, ys = rows[x].to_numpy(dtype=float), rows[metric].to_numpy(dtype=float)
    errors = np.vstack([ys - rows[metric + CI_LOW].to_numpy(dtype=float), rows[metric + CI_HIGH].to_numpy(dtype=float)
                        - ys]) if metric + CI_LOW in rows else None
    for family, colour in colours.items():
        mask = (families == family).to_numpy()
        axes.scatter(xs[mask], ys[mask], color=colour, label=family, zorder=3)
        if errors is not None:
            axes.errorbar(xs[mask], ys[mask], yerr=np.nan_to_num(errors[:, mask]), fmt="none", ecolor=colour,
                          alpha=0.4, capsize=2)
    axes.axhline(50.0, color="0.5", linewidth=0.8, linestyle="--")
    if np.nanmax(xs) > 10 * max(np.nanmin(xs[xs > 0]) if (xs > 0).any() else 1.0, 1e-9) and x == "kl":
        axes.set_xscale("symlog", linthresh=1.0)
    axes.set_xlabel(x_label)
    axes.set_ylabel(f"{metric} (%, 95% interval)")
    axes.grid(True, alpha=0.3)
    axes.legend(fontsize=7, title="family", title_fontsize=7, loc="best")
    place_labels(axes, xs, ys, list(rows["method"].astype(str)))
    return figure


__all__ = ["FORMATS", "family_colours", "head_to_head_heatmap", "new_figure", "place_labels", "save",
           "win_rate_against"]
