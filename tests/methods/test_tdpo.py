"""TDPO-1 and TDPO-2: DPO's margin minus a difference of sequential KL divergences."""

from __future__ import annotations

import math

import pytest
import torch

from bench.errors import ConfigError, PlanError
from bench.methods import METHODS, build_objective

# Per-token KL(pi_ref || pi_theta) [B=4, n=2, T=4]; the mask keeps the first |y| tokens (lengths capped at 4
# here), and the masked-out positions hold junk that must not count.
TOKEN_KL = [
    [[0.10, 0.20, 0.05, 9.0], [0.30, 0.10, 0.40, 0.20]],
    [[0.00, 0.50, 0.25, 0.10], [0.05, 9.00, 9.00, 9.0]],
    [[0.20, 0.20, 9.00, 9.00], [0.60, 0.10, 0.30, 9.0]],
    [[0.01, 0.02, 0.03, 0.04], [0.90, 0.80, 9.00, 9.0]],
]
MASK = [
    [[1, 1, 1, 0], [1, 1, 1, 1]],
    [[1, 1, 1, 1], [1, 0, 0, 0]],
    [[1, 1, 0, 0], [1, 1, 1, 0]],
    [[1, 1, 1, 1], [1, 1, 0, 0]],
]


def log_sigmoid(x: float) -> float:
    return -math.log1p(math.exp(-x)) if x >= 0 else x - math.log1p(math.exp(x))


def sequential_kl_by_hand() -> tuple[list[float], list[float]]:
    """D(y_w) = [0.35, 0.85, 0.4, 0.1], D(y_l) = [1.0, 0.05, 1.0, 1.7]."""
    d = [[sum(k * m for k, m in zip(TOKEN_KL[b][i], MASK[b][i], strict=True)) for i in range(2)]
         for b in range(4)]
    return [row[0] for row in d], [row[1] for row in d]


def token_stats(batch, requires_grad: bool = False, kl_requires_grad: bool = False):
    token_kl = torch.tensor(TOKEN_KL, dtype=torch.float64, requires_grad=kl_requires_grad)
    stats = batch.stats(requires_grad=requires_grad, token_kl=token_kl,
                        token_mask=torch.tensor(MASK, dtype=torch.bool))
    return stats, token_kl


def tdpo_by_hand(h: list[float], d_w: list[float], d_l: list[float], beta: float, weight: float) -> float:
    """-log sigma(beta h - weight beta (D_l - D_w)) averaged; weight = 1 for TDPO-1, alpha for TDPO-2."""
    losses = [-log_sigmoid(beta * hi - weight * beta * (lo - w))
              for hi, w, lo in zip(h, d_w, d_l, strict=True)]
    return sum(losses) / len(losses)


def test_tdpo1_matches_the_formula(pairs):
    d_w, d_l = sequential_kl_by_hand()
    stats, _ = token_stats(pairs)
    out = build_objective("tdpo1").loss(stats)
    assert out.loss.item() == pytest.approx(tdpo_by_hand(pairs.h(), d_w, d_l, 0.1, 1.0), rel=1e-12)
    assert out.metrics["kl/chosen"].tolist() == pytest.approx(d_w)
    assert out.metrics["kl/rejected"].tolist() == pytest.approx(d_l)


def test_tdpo2_matches_the_formula(pairs):
    d_w, d_l = sequential_kl_by_hand()
    stats, _ = token_stats(pairs)
    out = build_objective("tdpo2").loss(stats)
    assert out.loss.item() == pytest.approx(tdpo_by_hand(pairs.h(), d_w, d_l, 0.1, 0.5), rel=1e-12)
    out = build_objective("tdpo2", {"alpha": 2.0, "beta": 0.3}).loss(token_stats(pairs)[0])
    assert out.loss.item() == pytest.approx(tdpo_by_hand(pairs.h(), d_w, d_l, 0.3, 2.0), rel=1e-12)


@pytest.mark.parametrize("name", ["tdpo1", "tdpo2"])
def test_mean_reduction_divides_the_sequential_kl_by_length(pairs, name):
    d_w, d_l = sequential_kl_by_hand()
    d_w = [d / n for d, n in zip(d_w, pairs.len_w, strict=True)]
    d_l = [d / n for d, n in zip(d_l, pairs.len_l, strict=True)]
    weight = 1.0 if name == "tdpo1" else 0.5
    out = build_objective(name, {"beta": 2.0, "reduction": "mean"}).loss(token_stats(pairs)[0])
    assert out.loss.item() == pytest.approx(tdpo_by_hand(pairs.h("mean"), d_w, d_l, 2.0, weight), rel=1e-12)


@pytest.mark.parametrize("name", ["tdpo1", "tdpo2"])
def test_zero_token_kl_is_dpo(pairs, name):
    stats = pairs.stats(token_kl=torch.zeros(4, 2, 4, dtype=torch.float64),
                        token_mask=torch.tensor(MASK, dtype=torch.bool))
    dpo_by_hand = sum(-log_sigmoid(0.1 * h) for h in pairs.h()) / len(pairs)
    loss = build_objective(name).loss(stats).loss.item()
    assert loss == pytest.approx(dpo_by_hand, rel=1e-12)
    assert loss == pytest.approx(build_objective("dpo").loss(pairs.stats()).loss.item(), rel=1e-12)


@pytest.mark.parametrize("name", ["tdpo1", "tdpo2"])
def test_gradient_raises_chosen_and_lowers_rejected(pairs, grad_of, name):
    grad = grad_of(build_objective(name), token_stats(pairs, requires_grad=True)[0])
    assert (grad[:, 0] < 0).all() and (grad[:, 1] > 0).all()


def test_tdpo2_stops_the_gradient_through_the_chosen_kl(pairs):
    stats, token_kl = token_stats(pairs, kl_requires_grad=True)
    build_objective("tdpo2").loss(stats).loss.backward()
    mask = torch.tensor(MASK, dtype=torch.bool)
    assert (token_kl.grad[:, 0] == 0).all()
    assert (token_kl.grad[:, 1][mask[:, 1]] > 0).all()  # more KL on the rejected side costs loss


def test_tdpo1_differentiates_both_kl_terms(pairs):
    stats, token_kl = token_stats(pairs, kl_requires_grad=True)
    build_objective("tdpo1").loss(stats).loss.backward()
    mask = torch.tensor(MASK, dtype=torch.bool)
    assert (token_kl.grad[:, 0][mask[:, 0]] < 0).all()
    assert (token_kl.grad[:, 1][mask[:, 1]] > 0).all()
    assert (token_kl.grad[~mask] == 0).all()


@pytest.mark.parametrize("name", ["tdpo1", "tdpo2"])
def test_declares_token_kl_and_reference(name):
    needs = METHODS.get(name).needs
    assert needs.token_kl and needs.reference


def test_missing_token_kl_is_a_plan_error(pairs):
    with pytest.raises(PlanError, match="token_kl"):
        build_objective("tdpo1").loss(pairs.stats())


@pytest.mark.parametrize(("name", "key", "value"), [("tdpo1", "beta", 0.0), ("tdpo2", "beta", -1.0),
                                                    ("tdpo2", "alpha", -0.5)])
def test_validate_rejects_out_of_range(name, key, value):
    with pytest.raises(ConfigError, match=rf"methods\.{name}\.{key}"):
        build_objective(name, {key: value})
