"""hinge, ExO (pair form) and DiscoPOP: other functions of the DPO margin beta h."""

from __future__ import annotations

import math

import pytest
import torch

from bench.errors import ConfigError
from bench.methods import build_objective


def sigmoid(x: float) -> float:
    return 1 / (1 + math.exp(-x))


def log_sigmoid(x: float) -> float:
    return -math.log1p(math.exp(-x)) if x >= 0 else x - math.log1p(math.exp(x))


def exo_by_hand(z: float, eps: float) -> float:
    q_w = sigmoid(z)
    q_l = 1 - q_w
    return q_w * math.log(q_w / (1 - eps)) + q_l * math.log(q_l / eps)


def discopop_by_hand(r: float, tau: float) -> float:
    gate = sigmoid(r / tau)
    return (1 - gate) * -log_sigmoid(r) + gate * math.exp(-r)


# hinge


def test_hinge_matches_the_formula(pairs):
    expected = sum(max(0.0, 1 - 0.1 * h) for h in pairs.h()) / len(pairs)
    assert build_objective("hinge").loss(pairs.stats()).loss.item() == pytest.approx(expected, rel=1e-12)


def test_hinge_is_flat_beyond_the_margin(pairs, grad_of):
    # beta = 0.3: beta h = [0.75, -0.9, 0.45, 1.35]; the last pair is past the hinge.
    objective = build_objective("hinge", {"beta": 0.3})
    expected = (0.25 + 1.9 + 0.55 + 0.0) / 4
    assert objective.loss(pairs.stats()).loss.item() == pytest.approx(expected, rel=1e-12)
    grad = grad_of(objective, pairs.stats(requires_grad=True))
    assert grad[3].tolist() == [0.0, 0.0]
    assert (grad[:3, 0] < 0).all() and (grad[:3, 1] > 0).all()


def test_hinge_mean_reduction(pairs):
    expected = sum(max(0.0, 1 - 2.0 * h) for h in pairs.h("mean")) / len(pairs)
    objective = build_objective("hinge", {"beta": 2.0, "reduction": "mean"})
    assert objective.loss(pairs.stats()).loss.item() == pytest.approx(expected, rel=1e-12)


# ExO


def test_exo_matches_the_formula(pairs):
    expected = sum(exo_by_hand(0.1 * h, 1e-3) for h in pairs.h()) / len(pairs)
    assert build_objective("exo_pair").loss(pairs.stats()).loss.item() == pytest.approx(expected, rel=1e-12)


def test_exo_mean_reduction_and_other_eps(pairs):
    expected = sum(exo_by_hand(3.0 * h, 0.05) for h in pairs.h("mean")) / len(pairs)
    objective = build_objective("exo_pair", {"beta": 3.0, "eps": 0.05, "reduction": "mean"})
    assert objective.loss(pairs.stats()).loss.item() == pytest.approx(expected, rel=1e-12)


def test_exo_is_finite_for_saturated_margins(make_pairs):
    batch = make_pairs(logp_w=[-1.0, -900.0], logp_l=[-900.0, -1.0], ref_w=[-5.0, -5.0],
                       ref_l=[-5.0, -5.0], len_w=[3, 3], len_l=[3, 3])
    loss = build_objective("exo_pair", {"beta": 1.0}).loss(batch.stats()).loss
    assert torch.isfinite(loss)


def test_exo_gradient_signs_below_its_optimal_margin(pairs, grad_of):
    # ExO's minimum is at beta h = log((1 - eps)/eps) ~ 6.9; every |beta h| here is below 0.5.
    grad = grad_of(build_objective("exo_pair"), pairs.stats(requires_grad=True))
    assert (grad[:, 0] < 0).all() and (grad[:, 1] > 0).all()


# DiscoPOP


def test_discopop_matches_the_formula(pairs):
    expected = sum(discopop_by_hand(0.1 * h, 0.05) for h in pairs.h()) / len(pairs)
    assert build_objective("discopop").loss(pairs.stats()).loss.item() == pytest.approx(expected, rel=1e-12)


def test_discopop_mean_reduction_and_other_tau(pairs):
    expected = sum(discopop_by_hand(2.0 * h, 0.5) for h in pairs.h("mean")) / len(pairs)
    objective = build_objective("discopop", {"beta": 2.0, "tau": 0.5, "reduction": "mean"})
    assert objective.loss(pairs.stats()).loss.item() == pytest.approx(expected, rel=1e-12)


def test_discopop_does_not_overflow_for_very_negative_margins(make_pairs):
    # r = -800: exp(-r) alone is inf, and the gate is 0; the loss is the logistic term, 800.
    batch = make_pairs(logp_w=[-805.0], logp_l=[-5.0], ref_w=[-5.0], ref_l=[-5.0], len_w=[3], len_l=[3])
    loss = build_objective("discopop", {"beta": 1.0}).loss(batch.stats()).loss
    assert loss.item() == pytest.approx(800.0, rel=1e-12)


def test_discopop_gradient_signs_outside_the_gate_band(pairs, grad_of):
    # With tau = 0.05 the loss is non-monotone for |beta h| < ~0.15; beta = 1 puts every pair outside.
    grad = grad_of(build_objective("discopop", {"beta": 1.0}), pairs.stats(requires_grad=True))
    assert (grad[:, 0] < 0).all() and (grad[:, 1] > 0).all()


@pytest.mark.parametrize(("name", "key", "value"), [
    ("hinge", "beta", 0.0),
    ("exo_pair", "eps", 0.0),
    ("exo_pair", "eps", 0.5),
    ("exo_pair", "beta", -0.1),
    ("discopop", "tau", 0.0),
    ("discopop", "beta", 0.0),
])
def test_validate_rejects_out_of_range(name, key, value):
    with pytest.raises(ConfigError, match=rf"methods\.{name}\.{key}"):
        build_objective(name, {key: value})
