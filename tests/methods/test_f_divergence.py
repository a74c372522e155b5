"""f-divergence DPO: -log sigma(beta (f'(u_w) - f'(u_l))), u = pi / pi_ref, for forward KL, JS and alpha."""

from __future__ import annotations

import math

import pytest
import torch

from bench.errors import ConfigError
from bench.methods import build_objective
from tests.methods.reference_math import log_sigmoid, mean

# f'(u) of each divergence, from the paper's table, as functions of u itself.
DERIVATIVES = {
    "fdpo_forward_kl": lambda u: -1 / u,
    "fdpo_js": lambda u: math.log(2 * u / (1 + u)),
    "fdpo_alpha": lambda u: (1 - u ** -0.5) / 0.5,
}


def expected(pairs, derivative, beta: float = 0.1) -> float:
    rho_w, rho_l = pairs.rho()
    return mean([-log_sigmoid(beta * (derivative(math.exp(w)) - derivative(math.exp(lo))))
                 for w, lo in zip(rho_w, rho_l, strict=True)])


@pytest.mark.parametrize("name", sorted(DERIVATIVES))
def test_loss_matches_the_papers_derivative(pairs, name):
    assert build_objective(name).loss(pairs.stats()).loss.item() == pytest.approx(
        expected(pairs, DERIVATIVES[name]), rel=1e-12)


def test_alpha_divergence_at_other_alphas(pairs):
    for alpha in (0.1, 0.9):
        derivative = lambda u, a=alpha: (1 - u ** -a) / a  # noqa: E731
        out = build_objective("fdpo_alpha", {"alpha": alpha, "beta": 0.3}).loss(pairs.stats())
        assert out.loss.item() == pytest.approx(expected(pairs, derivative, beta=0.3), rel=1e-12)


def test_alpha_one_is_the_forward_kl_and_small_alpha_approaches_dpo(pairs):
    forward = build_objective("fdpo_forward_kl").loss(pairs.stats()).loss.item()
    assert build_objective("fdpo_alpha", {"alpha": 1.0}).loss(pairs.stats()).loss.item() == pytest.approx(forward)
    dpo = build_objective("dpo").loss(pairs.stats()).loss.item()
    near = build_objective("fdpo_alpha", {"alpha": 1e-6}).loss(pairs.stats()).loss.item()
    assert near == pytest.approx(dpo, rel=1e-5)


def test_far_below_the_reference_the_loss_stays_finite(pairs):
    stats = pairs.stats(requires_grad=True)
    stats.ref_logps = stats.ref_logps + torch.tensor([[500.0, 0.0]], dtype=torch.float64)  # rho_w = -500
    out = build_objective("fdpo_forward_kl").loss(stats)
    out.loss.backward()
    assert torch.isfinite(out.loss) and torch.isfinite(stats.logps.grad).all()


@pytest.mark.parametrize("name", sorted(DERIVATIVES))
def test_gradient_raises_chosen_and_lowers_rejected(pairs, grad_of, name):
    grad = grad_of(build_objective(name), pairs.stats(requires_grad=True))
    assert (grad[:, 0] < 0).all() and (grad[:, 1] > 0).all()


@pytest.mark.parametrize("alpha", [0.0, 1.5])
def test_alpha_outside_its_range_is_refused(alpha):
    with pytest.raises(ConfigError, match=r"methods\.fdpo_alpha\.alpha"):
        build_objective("fdpo_alpha", {"alpha": alpha})
