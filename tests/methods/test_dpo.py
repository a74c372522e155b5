"""DPO: -log sigma(beta h), summed log-ratios by default."""

from __future__ import annotations

import math

import pytest

from bench.errors import ConfigError
from bench.methods import build_objective


def log_sigmoid(x: float) -> float:
    return -math.log1p(math.exp(-x)) if x >= 0 else x - math.log1p(math.exp(x))


def test_loss_matches_the_formula_with_summed_log_ratios(pairs):
    expected = sum(-log_sigmoid(0.1 * h) for h in pairs.h()) / len(pairs)
    out = build_objective("dpo").loss(pairs.stats())
    assert out.loss.item() == pytest.approx(expected, rel=1e-12)


def test_mean_reduction_uses_per_token_log_ratios(pairs):
    expected = sum(-log_sigmoid(0.5 * h) for h in pairs.h("mean")) / len(pairs)
    out = build_objective("dpo", {"beta": 0.5, "reduction": "mean"}).loss(pairs.stats())
    assert out.loss.item() == pytest.approx(expected, rel=1e-12)


def test_reports_implicit_rewards_and_accuracy(pairs):
    metrics = build_objective("dpo").loss(pairs.stats()).metrics
    rho_w, rho_l = pairs.rho()
    assert metrics["rewards/chosen"].tolist() == pytest.approx([0.1 * r for r in rho_w])
    assert metrics["rewards/rejected"].tolist() == pytest.approx([0.1 * r for r in rho_l])
    assert metrics["rewards/accuracy"].tolist() == [1.0, 0.0, 1.0, 1.0]


def test_gradient_raises_chosen_and_lowers_rejected(pairs, grad_of):
    grad = grad_of(build_objective("dpo"), pairs.stats(requires_grad=True))
    assert (grad[:, 0] < 0).all() and (grad[:, 1] > 0).all()


def test_validate_rejects_non_positive_beta():
    with pytest.raises(ConfigError, match=r"methods\.dpo\.beta"):
        build_objective("dpo", {"beta": 0.0})
