"""ORPO and SLiC: reference-free pairwise losses with a likelihood term on the chosen response."""

from __future__ import annotations

import math

import pytest
import torch

from bench.errors import ConfigError
from bench.methods import METHODS, build_objective


def log_sigmoid(x: float) -> float:
    return -math.log1p(math.exp(-x)) if x >= 0 else x - math.log1p(math.exp(x))


def orpo_by_hand(ln_w: list[float], ln_l: list[float], lam: float) -> float:
    def log_odds(ln: float) -> float:
        p = math.exp(ln)
        return math.log(p / (1 - p))

    losses = [-w - lam * log_sigmoid(log_odds(w) - log_odds(lo)) for w, lo in zip(ln_w, ln_l, strict=True)]
    return sum(losses) / len(losses)


# ORPO


def test_orpo_matches_the_formula_with_mean_log_probs(pairs):
    objective = build_objective("orpo")
    assert objective.reduction == "mean"
    ln_w, ln_l = pairs.policy("mean")
    out = objective.loss(pairs.stats(reference=False))
    assert out.loss.item() == pytest.approx(orpo_by_hand(ln_w, ln_l, 0.1), rel=1e-12)
    assert out.metrics["nll"].tolist() == pytest.approx([-w for w in ln_w])


def test_orpo_batch_token_nll_is_trls_token_level_mean_over_the_batch(pairs):
    ln_w, ln_l = pairs.policy("mean")
    batch_mean = sum(pairs.logp_w) / sum(pairs.len_w)  # every chosen token of the batch weighs the same
    per_response_nll = -sum(ln_w) / len(ln_w)
    expected = orpo_by_hand(ln_w, ln_l, 0.1) - per_response_nll - batch_mean  # swap one SFT term for the other
    objective = build_objective("orpo", {"nll": "batch_tokens"})
    assert objective.loss(pairs.stats(reference=False)).loss.item() == pytest.approx(expected, rel=1e-12)


def test_orpo_rejects_an_unknown_nll_average():
    with pytest.raises(ConfigError, match=r"methods\.orpo\.nll"):
        build_objective("orpo", {"nll": "tokens"})


def test_orpo_sum_reduction_uses_sequence_probabilities(make_pairs):
    batch = make_pairs(logp_w=[-0.5, -2.0, -0.05], logp_l=[-0.7, -1.0, -3.0], ref_w=[0.0] * 3,
                       ref_l=[0.0] * 3, len_w=[3, 4, 2], len_l=[5, 2, 6])
    out = build_objective("orpo", {"lambda_or": 0.7, "reduction": "sum"}).loss(batch.stats(reference=False))
    assert out.loss.item() == pytest.approx(orpo_by_hand(batch.logp_w, batch.logp_l, 0.7), rel=1e-12)


def test_orpo_log_odds_stay_accurate_near_probability_one(make_pairs):
    # p = exp(-1e-9): 1 - p cancels catastrophically if computed naively.
    batch = make_pairs(logp_w=[-1e-9], logp_l=[-0.5], ref_w=[0.0], ref_l=[0.0], len_w=[1], len_l=[1])
    expected_log_odds = -1e-9 - math.log(-math.expm1(-1e-9))
    out = build_objective("orpo").loss(batch.stats(reference=False))
    assert out.metrics["rewards/chosen"].item() == pytest.approx(expected_log_odds, rel=1e-9)
    assert torch.isfinite(out.loss)


def test_orpo_with_lambda_zero_is_sft_on_the_chosen_response(pairs):
    ln_w, _ = pairs.policy("mean")
    loss = build_objective("orpo", {"lambda_or": 0.0}).loss(pairs.stats(reference=False)).loss.item()
    assert loss == pytest.approx(-sum(ln_w) / len(ln_w), rel=1e-12)


def test_orpo_gradient_raises_chosen_and_lowers_rejected(pairs, grad_of):
    grad = grad_of(build_objective("orpo"), pairs.stats(requires_grad=True, reference=False))
    assert (grad[:, 0] < 0).all() and (grad[:, 1] > 0).all()


# SLiC


def test_slic_matches_the_formula(pairs):
    losses = [max(0.0, 1.0 - w + lo) - 0.1 * w for w, lo in zip(pairs.logp_w, pairs.logp_l, strict=True)]
    expected = sum(losses) / len(losses)
    out = build_objective("slic").loss(pairs.stats(reference=False))
    assert out.loss.item() == pytest.approx(expected, rel=1e-12)


def test_slic_mean_reduction_and_other_margin(pairs):
    ln_w, ln_l = pairs.policy("mean")
    expected = sum(max(0.0, 0.3 - w + lo) - 0.5 * w for w, lo in zip(ln_w, ln_l, strict=True)) / len(pairs)
    objective = build_objective("slic", {"delta": 0.3, "lambda_reg": 0.5, "reduction": "mean"})
    assert objective.loss(pairs.stats(reference=False)).loss.item() == pytest.approx(expected, rel=1e-12)


def test_slic_gradient_signs(pairs, grad_of):
    # The regulariser always pushes log pi(y_w) up; the hinge pushes log pi(y_l) down only while active.
    grad = grad_of(build_objective("slic"), pairs.stats(requires_grad=True, reference=False))
    assert (grad[:, 0] < 0).all() and (grad[:, 1] >= 0).all()
    # Active only for the wrongly ranked pair: [False, True, False, False].
    active = [1.0 - w + lo > 0 for w, lo in zip(pairs.logp_w, pairs.logp_l, strict=True)]
    assert [g > 0 for g in grad[:, 1].tolist()] == active


@pytest.mark.parametrize("name", ["orpo", "slic", "simpo"])
def test_reference_free_objectives_declare_no_reference(pairs, name):
    assert METHODS.get(name).needs.reference is False
    build_objective(name).loss(pairs.stats(reference=False))


@pytest.mark.parametrize(("name", "key", "value"), [
    ("orpo", "lambda_or", -0.1),
    ("slic", "delta", 0.0),
    ("slic", "lambda_reg", -1.0),
])
def test_validate_rejects_out_of_range(name, key, value):
    with pytest.raises(ConfigError, match=rf"methods\.{name}\.{key}"):
        build_objective(name, {key: value})
