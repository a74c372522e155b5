"""R-DPO and length-normalised DPO: length taken out of the DPO margin."""

from __future__ import annotations

import math

import pytest

from bench.errors import ConfigError
from bench.methods import build_objective


def log_sigmoid(x: float) -> float:
    return -math.log1p(math.exp(-x)) if x >= 0 else x - math.log1p(math.exp(x))


def test_rdpo_matches_the_formula(pairs):
    # Length differences |y_w| - |y_l| = [-2, 3, -1, -3].
    expected = sum(-log_sigmoid(0.1 * h - 0.2 * (lw - ll))
                   for h, lw, ll in zip(pairs.h(), pairs.len_w, pairs.len_l, strict=True)) / len(pairs)
    assert build_objective("rdpo").loss(pairs.stats()).loss.item() == pytest.approx(expected, rel=1e-12)


def test_rdpo_mean_reduction_keeps_raw_lengths_in_the_penalty(pairs):
    expected = sum(-log_sigmoid(1.0 * h - 0.05 * (lw - ll))
                   for h, lw, ll in zip(pairs.h("mean"), pairs.len_w, pairs.len_l, strict=True)) / len(pairs)
    objective = build_objective("rdpo", {"beta": 1.0, "alpha": 0.05, "reduction": "mean"})
    assert objective.loss(pairs.stats()).loss.item() == pytest.approx(expected, rel=1e-12)


def test_rdpo_with_alpha_zero_is_dpo(pairs):
    dpo_by_hand = sum(-log_sigmoid(0.1 * h) for h in pairs.h()) / len(pairs)
    loss = build_objective("rdpo", {"alpha": 0.0}).loss(pairs.stats()).loss.item()
    assert loss == pytest.approx(dpo_by_hand, rel=1e-12)


def test_dpo_norm_uses_per_token_log_ratios_by_default(pairs):
    objective = build_objective("dpo_norm")
    assert objective.reduction == "mean"
    rho_w = [(p - r) / n for p, r, n in zip(pairs.logp_w, pairs.ref_w, pairs.len_w, strict=True)]
    rho_l = [(p - r) / n for p, r, n in zip(pairs.logp_l, pairs.ref_l, pairs.len_l, strict=True)]
    expected = sum(-log_sigmoid(0.1 * (w - lo)) for w, lo in zip(rho_w, rho_l, strict=True)) / len(pairs)
    assert objective.loss(pairs.stats()).loss.item() == pytest.approx(expected, rel=1e-12)


def test_dpo_norm_with_sum_reduction_is_dpo(pairs):
    dpo_by_hand = sum(-log_sigmoid(0.1 * h) for h in pairs.h()) / len(pairs)
    loss = build_objective("dpo_norm", {"reduction": "sum"}).loss(pairs.stats()).loss.item()
    assert loss == pytest.approx(dpo_by_hand, rel=1e-12)


@pytest.mark.parametrize("name", ["rdpo", "dpo_norm"])
def test_gradient_raises_chosen_and_lowers_rejected(pairs, grad_of, name):
    grad = grad_of(build_objective(name), pairs.stats(requires_grad=True))
    assert (grad[:, 0] < 0).all() and (grad[:, 1] > 0).all()


@pytest.mark.parametrize(("name", "key", "value"), [
    ("rdpo", "alpha", -0.1),
    ("rdpo", "beta", 0.0),
    ("dpo_norm", "beta", -1.0),
])
def test_validate_rejects_out_of_range(name, key, value):
    with pytest.raises(ConfigError, match=rf"methods\.{name}\.{key}"):
        build_objective(name, {key: value})
