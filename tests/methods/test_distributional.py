"""AOT: policy and reference log-likelihood gaps sorted separately over the batch."""

from __future__ import annotations

import math

import pytest

from bench.errors import ConfigError
from bench.methods import METHODS, build_objective


def log_sigmoid(x: float) -> float:
    return -math.log1p(math.exp(-x)) if x >= 0 else x - math.log1p(math.exp(x))


def aot_by_hand(batch, beta: float, reduction: str = "sum") -> float:
    if reduction == "sum":
        pol_w, pol_l, ref_w, ref_l = batch.logp_w, batch.logp_l, batch.ref_w, batch.ref_l
    else:
        pol_w = [v / n for v, n in zip(batch.logp_w, batch.len_w, strict=True)]
        pol_l = [v / n for v, n in zip(batch.logp_l, batch.len_l, strict=True)]
        ref_w = [v / n for v, n in zip(batch.ref_w, batch.len_w, strict=True)]
        ref_l = [v / n for v, n in zip(batch.ref_l, batch.len_l, strict=True)]
    policy_gaps = sorted(w - lo for w, lo in zip(pol_w, pol_l, strict=True))  # [-6.0, -2.5, 2.25, 3.0]
    reference_gaps = sorted(w - lo for w, lo in zip(ref_w, ref_l, strict=True))  # [-1.5, 0.5, 0.75, 1.5]
    d = [p - r for p, r in zip(policy_gaps, reference_gaps, strict=True)]
    return sum(-log_sigmoid(beta * di) for di in d) / len(d)


def test_aot_matches_the_formula(pairs):
    loss = build_objective("aot").loss(pairs.stats()).loss.item()
    assert loss == pytest.approx(aot_by_hand(pairs, 0.1), rel=1e-12)


def test_aot_differs_from_dpo_because_it_matches_sorted_gaps(pairs):
    dpo_by_hand = sum(-log_sigmoid(0.1 * h) for h in pairs.h()) / len(pairs)
    assert aot_by_hand(pairs, 0.1) != pytest.approx(dpo_by_hand)


def test_aot_mean_reduction(pairs):
    objective = build_objective("aot", {"beta": 2.0, "reduction": "mean"})
    loss = objective.loss(pairs.stats()).loss.item()
    assert loss == pytest.approx(aot_by_hand(pairs, 2.0, "mean"), rel=1e-12)


def test_aot_of_a_single_pair_is_dpo(make_pairs):
    batch = make_pairs(logp_w=[-12.0], logp_l=[-15.0], ref_w=[-13.5], ref_l=[-14.0], len_w=[6], len_l=[8])
    loss = build_objective("aot").loss(batch.stats()).loss.item()
    assert loss == pytest.approx(-log_sigmoid(0.1 * 2.5), rel=1e-12)  # h = 1.5 - (-1.0)


def test_aot_does_not_depend_on_the_order_of_pairs(pairs):
    stats, shuffled = pairs.stats(), pairs.stats()
    order = [2, 0, 3, 1]
    shuffled.logps, shuffled.ref_logps, shuffled.lengths = (
        shuffled.logps[order], shuffled.ref_logps[order], shuffled.lengths[order])
    objective = build_objective("aot")
    assert objective.loss(shuffled).loss.item() == pytest.approx(objective.loss(stats).loss.item(), rel=1e-12)


def test_aot_gradient_raises_chosen_and_lowers_rejected(pairs, grad_of):
    grad = grad_of(build_objective("aot"), pairs.stats(requires_grad=True))
    assert (grad[:, 0] < 0).all() and (grad[:, 1] > 0).all()


def test_aot_is_batch_level_and_says_so():
    cls = METHODS.get("aot")
    assert cls.needs.batch_level
    assert "per-device batch size" in " ".join(cls.__doc__.split())


def test_validate_rejects_non_positive_beta():
    with pytest.raises(ConfigError, match=r"methods\.aot\.beta"):
        build_objective("aot", {"beta": 0.0})
