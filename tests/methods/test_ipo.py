"""IPO: (h - 1/(2 beta))^2, per-token mean log-ratios by default."""

from __future__ import annotations

import pytest

from bench.errors import ConfigError
from bench.methods import build_objective


def test_default_reduction_is_the_per_token_mean(pairs):
    objective = build_objective("ipo")
    assert objective.reduction == "mean"
    expected = sum((h - 1 / (2 * 0.1)) ** 2 for h in pairs.h("mean")) / len(pairs)
    assert objective.loss(pairs.stats()).loss.item() == pytest.approx(expected, rel=1e-12)


def test_sum_reduction_matches_the_sum_form_by_hand(pairs):
    # OpenRLHF / NeMo form: h from summed log-probs, h = [2.5, -3.0, 1.5, 4.5], target 1/(2*0.1) = 5.
    expected = ((2.5 - 5) ** 2 + (-3.0 - 5) ** 2 + (1.5 - 5) ** 2 + (4.5 - 5) ** 2) / 4
    out = build_objective("ipo", {"reduction": "sum"}).loss(pairs.stats())
    assert out.loss.item() == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("reduction", ["sum", "mean"])
def test_gradient_signs_below_the_target_margin(pairs, grad_of, reduction):
    # Every h here is below 1/(2 beta) = 5, where IPO still pushes the margin up.
    grad = grad_of(build_objective("ipo", {"reduction": reduction}), pairs.stats(requires_grad=True))
    assert (grad[:, 0] < 0).all() and (grad[:, 1] > 0).all()


def test_validate_rejects_non_positive_beta():
    with pytest.raises(ConfigError, match=r"methods\.ipo\.beta"):
        build_objective("ipo", {"beta": -1.0})


def test_validate_rejects_unknown_reduction():
    with pytest.raises(ConfigError, match=r"methods\.ipo\.reduction"):
        build_objective("ipo", {"reduction": "max"})
