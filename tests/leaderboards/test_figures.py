"""Labels on crowded figures: none overlaps another, and one pushed away from its point keeps a leader line."""

from __future__ import annotations

import numpy as np
from matplotlib.text import Text

from bench.leaderboards.figures import head_to_head_heatmap, new_figure, place_labels


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


def test_heatmap_orders_methods_by_their_mean_win_rate_and_keeps_each_cell_with_its_pair():
    # Mean win rate against the others: b 75, c 40, a 35.
    record = {"methods": ["a", "b", "c"], "judge": "gold", "n_prompts": 8, "seed": 0,
              "win_rate": [[50.0, 30.0, 40.0], [70.0, 50.0, 80.0], [60.0, 20.0, 50.0]]}
    figure = head_to_head_heatmap(record)
    axes = figure.axes[0]
    assert [t.get_text() for t in axes.get_yticklabels()] == ["b", "c", "a"]
    assert [t.get_text() for t in axes.get_xticklabels()] == ["b", "c", "a"]
    shown = np.asarray(axes.images[0].get_array())
    assert shown[0, 2] == 70.0 and shown[2, 0] == 30.0 and shown[1, 2] == 60.0  # b vs a, a vs b, c vs a
