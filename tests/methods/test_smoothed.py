"""cDPO and robust DPO: DPO mixed with the loss of the flipped pair, with opposite signs."""

from __future__ import annotations

import math

import pytest

from bench.errors import ConfigError
from bench.methods import build_objective


def log_sigmoid(x: float) -> float:
    return -math.log1p(math.exp(-x)) if x >= 0 else x - math.log1p(math.exp(x))


def cdpo_by_hand(h: float, beta: float, eps: float) -> float:
    return -(1 - eps) * log_sigmoid(beta * h) - eps * log_sigmoid(-beta * h)


def robust_by_hand(h: float, beta: float, eps: float) -> float:
    return (-(1 - eps) * log_sigmoid(beta * h) + eps * log_sigmoid(-beta * h)) / (1 - 2 * eps)


def test_cdpo_matches_the_formula(pairs):
    expected = sum(cdpo_by_hand(h, 0.1, 0.1) for h in pairs.h()) / len(pairs)
    assert build_objective("cdpo").loss(pairs.stats()).loss.item() == pytest.approx(expected, rel=1e-12)


def test_cdpo_mean_reduction(pairs):
    expected = sum(cdpo_by_hand(h, 1.0, 0.25) for h in pairs.h("mean")) / len(pairs)
    objective = build_objective("cdpo", {"beta": 1.0, "eps": 0.25, "reduction": "mean"})
    assert objective.loss(pairs.stats()).loss.item() == pytest.approx(expected, rel=1e-12)


def test_robust_dpo_matches_the_formula(pairs):
    expected = sum(robust_by_hand(h, 0.1, 0.1) for h in pairs.h()) / len(pairs)
    assert build_objective("robust_dpo").loss(pairs.stats()).loss.item() == pytest.approx(expected, rel=1e-12)


def test_robust_dpo_mean_reduction(pairs):
    expected = sum(robust_by_hand(h, 0.5, 0.3) for h in pairs.h("mean")) / len(pairs)
    objective = build_objective("robust_dpo", {"beta": 0.5, "eps": 0.3, "reduction": "mean"})
    assert objective.loss(pairs.stats()).loss.item() == pytest.approx(expected, rel=1e-12)


def test_the_eps_term_has_opposite_signs(pairs):
    cdpo = build_objective("cdpo").loss(pairs.stats()).loss.item()
    robust = build_objective("robust_dpo").loss(pairs.stats()).loss.item()
    assert robust < cdpo


@pytest.mark.parametrize("name", ["cdpo", "robust_dpo"])
def test_eps_zero_is_dpo(pairs, name):
    dpo_by_hand = sum(-log_sigmoid(0.1 * h) for h in pairs.h()) / len(pairs)
    loss = build_objective(name, {"eps": 0.0}).loss(pairs.stats()).loss.item()
    assert loss == pytest.approx(dpo_by_hand, rel=1e-12)
    assert loss == pytest.approx(build_objective("dpo").loss(pairs.stats()).loss.item(), rel=1e-12)


def test_robust_dpo_is_unbiased_under_label_flips(pairs):
    # E over a flip with probability eps of the robust loss equals the clean DPO loss (Chowdhury et al.).
    eps = 0.2
    clean, flipped = pairs.stats(), pairs.stats()
    flipped.logps, flipped.ref_logps = flipped.logps.flip(1), flipped.ref_logps.flip(1)
    robust = build_objective("robust_dpo", {"eps": eps})
    expected_loss = (1 - eps) * robust.loss(clean).loss + eps * robust.loss(flipped).loss
    assert expected_loss.item() == pytest.approx(build_objective("dpo").loss(clean).loss.item(), rel=1e-12)


@pytest.mark.parametrize("name", ["cdpo", "robust_dpo"])
def test_gradient_raises_chosen_and_lowers_rejected(pairs, grad_of, name):
    grad = grad_of(build_objective(name, {"eps": 0.3}), pairs.stats(requires_grad=True))
    assert (grad[:, 0] < 0).all() and (grad[:, 1] > 0).all()


@pytest.mark.parametrize("name", ["cdpo", "robust_dpo"])
@pytest.mark.parametrize(("key", "value"), [("eps", 0.5), ("eps", -0.1), ("beta", 0.0)])
def test_validate_rejects_out_of_range(name, key, value):
    with pytest.raises(ConfigError, match=rf"methods\.{name}\.{key}"):
        build_objective(name, {key: value})
