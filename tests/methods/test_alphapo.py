"""AlphaPO: -log sigma(r(y_w) - r(y_l) - gamma), r(y) = (beta / alpha) (1 - pbar(y)^-alpha), reference-free."""

from __future__ import annotations

import math

import pytest

from bench.errors import ConfigError
from bench.methods import METHODS, build_objective
from tests.methods.reference_math import log_sigmoid, mean


def alpha_reward(beta: float, alpha: float, mean_logp: float) -> float:
    pbar = math.exp(mean_logp)  # the per-token geometric-mean probability
    return beta / alpha * (1 - pbar ** -alpha)


@pytest.mark.parametrize(("beta", "alpha", "gamma"), [(2.5, 0.25, 0.1), (1.0, -1.0, 0.3), (0.5, 2.0, 0.0)])
def test_loss_matches_the_paper_formula(pairs, beta, alpha, gamma):
    ln_w, ln_l = pairs.policy("mean")
    expected = mean([-log_sigmoid(alpha_reward(beta, alpha, w) - alpha_reward(beta, alpha, lo) - gamma)
                     for w, lo in zip(ln_w, ln_l, strict=True)])
    objective = build_objective("alphapo", {"beta": beta, "alpha": alpha, "gamma": gamma})
    out = objective.loss(pairs.stats(reference=False))
    assert out.loss.item() == pytest.approx(expected, rel=1e-12)
    assert out.metrics["rewards/chosen"][0].item() == pytest.approx(alpha_reward(beta, alpha, ln_w[0]), rel=1e-12)


def test_alpha_zero_is_simpo_with_an_absolute_margin(pairs):
    simpo = build_objective("simpo", {"beta": 2.0, "gamma_beta_ratio": 0.25}).loss(pairs.stats(reference=False))
    alphapo = build_objective("alphapo", {"beta": 2.0, "alpha": 0.0, "gamma": 0.5}).loss(pairs.stats(reference=False))
    assert alphapo.loss.item() == pytest.approx(simpo.loss.item(), rel=1e-12)


def test_small_alpha_approaches_simpo(pairs):
    near = build_objective("alphapo", {"alpha": 1e-7}).loss(pairs.stats(reference=False)).loss.item()
    limit = build_objective("alphapo", {"alpha": 0.0}).loss(pairs.stats(reference=False)).loss.item()
    assert near == pytest.approx(limit, rel=1e-6)


def test_defaults_are_the_papers_and_it_reads_no_reference():
    objective = build_objective("alphapo")
    assert (objective.beta, objective.alpha, objective.gamma, objective.reduction) == (2.5, 0.25, 0.1, "mean")
    assert METHODS.get("alphapo").needs.reference is False


def test_gradient_raises_chosen_and_lowers_rejected(pairs, grad_of):
    grad = grad_of(build_objective("alphapo"), pairs.stats(requires_grad=True, reference=False))
    assert (grad[:, 0] < 0).all() and (grad[:, 1] > 0).all()


@pytest.mark.parametrize(("key", "value"), [("beta", 0.0), ("gamma", -0.1), ("alpha", math.inf)])
def test_validate_names_the_bad_hyper_parameter(key, value):
    with pytest.raises(ConfigError, match=rf"methods\.alphapo\.{key}"):
        build_objective("alphapo", {key: value})
