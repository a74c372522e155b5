"""SimPO: -log sigma(beta LN(y_w) - beta LN(y_l) - gamma_beta_ratio beta), reference-free."""

from __future__ import annotations

import math

import pytest

from bench.errors import ConfigError
from bench.methods import METHODS, build_objective


def log_sigmoid(x: float) -> float:
    return -math.log1p(math.exp(-x)) if x >= 0 else x - math.log1p(math.exp(x))


def test_loss_matches_the_formula_with_length_normalised_log_probs(pairs):
    beta, ratio = 2.0, 0.5
    ln_w, ln_l = pairs.policy("mean")
    losses = [-log_sigmoid(beta * w - beta * lo - ratio * beta) for w, lo in zip(ln_w, ln_l, strict=True)]
    expected = sum(losses) / len(losses)
    out = build_objective("simpo").loss(pairs.stats(reference=False))
    assert out.loss.item() == pytest.approx(expected, rel=1e-12)


def test_gamma_is_a_ratio_of_beta_and_sum_reduction_uses_sums(pairs):
    beta, ratio = 0.2, 1.5
    expected = sum(-log_sigmoid(beta * (w - lo) - ratio * beta)
                   for w, lo in zip(pairs.logp_w, pairs.logp_l, strict=True)) / len(pairs)
    objective = build_objective("simpo", {"beta": beta, "gamma_beta_ratio": ratio, "reduction": "sum"})
    assert objective.loss(pairs.stats(reference=False)).loss.item() == pytest.approx(expected, rel=1e-12)


def test_reads_no_reference(pairs):
    assert METHODS.get("simpo").needs.reference is False
    build_objective("simpo").loss(pairs.stats(reference=False))  # no reference log-probs at all


def test_gradient_raises_chosen_and_lowers_rejected(pairs, grad_of):
    grad = grad_of(build_objective("simpo"), pairs.stats(requires_grad=True, reference=False))
    assert (grad[:, 0] < 0).all() and (grad[:, 1] > 0).all()


def test_validate_rejects_non_positive_beta():
    with pytest.raises(ConfigError, match=r"methods\.simpo\.beta"):
        build_objective("simpo", {"beta": 0})
