"""Labels on crowded figures: none overlaps another, and one pushed away from its point keeps a leader line."""

from __future__ import annotations

import numpy as np
from matplotlib.text import Text

from bench.leaderboards.figures import new_figure, place_labels


def test_crowded_labels_do_not_overlap_and_far_ones_get_leader_lines():
    figure = new_figure(6.0, 4.0)
    axes = figure.add_subplot()
    rng = np.random.default_rng(0)
    xs, ys = rng.normal(0.0, 0.05, 12), rng.normal(0.0, 0.05, 12)  # a clump, as on the frontier plot
    axes.scatter(xs, ys)
    axes.set_xlim(-1, 1)
    axes.set_ylim(-1, 1)
    labels = [f"objective_{i}" for i in range(12)]
    placed = place_labels(axes, xs, ys, labels)
    figure.draw_without_rendering()  # places each annotation's text where its offset says
    renderer = figure.canvas.get_renderer()
    boxes = [Text.get_window_extent(a, renderer) for a in placed]  # the text alone, not its leader line
    overlapping = sum(a.overlaps(b) for i, a in enumerate(boxes) for b in boxes[i + 1:])
    assert [a.get_text() for a in placed] == labels
    far = [a for a in placed if abs(a.xyann[0]) > 10 or abs(a.xyann[1]) > 14]
    assert far and all(a.arrow_patch is not None for a in far)
    near = [a for a in placed if a not in far]
    assert all(a.arrow_patch is None for a in near)
    assert overlapping == 0
