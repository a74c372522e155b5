"""WPO: DPO's loss with each pair weighted by exp(mean_t log pi(y_t) - log sum_v pi(v)^2) of both responses."""

from __future__ import annotations

import math

import pytest
import torch

from bench.errors import ConfigError, PlanError
from bench.methods import METHODS, build_objective
from bench.methods.base import SequenceStats
from tests.methods.reference_math import log_sigmoid, mean

# Three pairs [B=3, n=2]: summed policy and reference log-probs, lengths, and per-token log sum_v pi(v)^2 over
# T = 4 positions, of which the first |y| are real (the rest hold junk that must not count).
LOGPS = [[-4.0, -3.0], [-1.2, -1.6], [-4.0, -1.0]]
REF = [[-2.5, -2.5], [-1.0, -1.0], [-3.0, -2.0]]
LENGTHS = [[2, 3], [4, 1], [3, 2]]
COLLISION = [[[-1.5, -0.5, 9.0, 9.0], [-1.0, -1.0, -1.0, 9.0]],
             [[-0.2, -0.1, -0.3, -0.4], [-0.9, 9.0, 9.0, 9.0]],
             [[-2.0, -2.0, -2.0, 9.0], [-0.5, -0.5, 9.0, 9.0]]]


def weights_by_hand(max_weight: float | None = None) -> list[float]:
    """min(w(y_w) w(y_l), max_weight) per pair, w(y) = exp((log pi(y) - sum of its real positions' collision)/|y|):
    [0.368, 0.472, 1.948]: the third pair is likelier than on-policy samples."""
    weights = []
    for logps, lengths, collisions in zip(LOGPS, LENGTHS, COLLISION, strict=True):
        log_w = [(lp - sum(c[:n])) / n for lp, n, c in zip(logps, lengths, collisions, strict=True)]
        weight = math.exp(sum(log_w))
        weights.append(weight if max_weight is None else min(weight, max_weight))
    return weights


def stats(requires_grad: bool = False) -> SequenceStats:
    logps = torch.tensor(LOGPS, dtype=torch.float64, requires_grad=requires_grad)
    lengths = torch.tensor(LENGTHS)
    mask = torch.arange(4) < lengths.unsqueeze(-1)
    return SequenceStats(logps=logps, lengths=lengths, ref_logps=torch.tensor(REF, dtype=torch.float64),
                         token_mask=mask, token_log_collision=torch.tensor(COLLISION, dtype=torch.float64))


@pytest.mark.parametrize(("beta", "max_weight"), [(0.1, None), (0.5, None), (0.1, 1.0)])
def test_loss_is_dpo_weighted_by_both_responses_aligned_probabilities(beta, max_weight):
    weights = weights_by_hand(max_weight)
    h = [(w - wr) - (lo - lr) for (w, lo), (wr, lr) in zip(LOGPS, REF, strict=True)]
    expected = mean([-weight * log_sigmoid(beta * margin) for weight, margin in zip(weights, h, strict=True)])
    out = build_objective("wpo", {"beta": beta, "max_weight": max_weight}).loss(stats())
    assert out.loss.item() == pytest.approx(expected, rel=1e-12)
    assert out.metrics["weight"].tolist() == pytest.approx(weights, rel=1e-12)


def test_the_clamp_binds_only_on_pairs_likelier_than_on_policy():
    unclamped, clamped = weights_by_hand(), weights_by_hand(1.0)
    assert unclamped[2] > 1 and clamped[2] == 1.0
    assert unclamped[:2] == clamped[:2] and max(unclamped[:2]) < 1


def test_weights_carry_no_gradient_the_gradient_is_dpos_scaled_per_pair(grad_of):
    wpo = grad_of(build_objective("wpo", {"beta": 0.2}), stats(requires_grad=True))
    dpo = grad_of(build_objective("dpo", {"beta": 0.2}), stats(requires_grad=True))
    scale = torch.tensor(weights_by_hand(), dtype=torch.float64).unsqueeze(-1)
    torch.testing.assert_close(wpo, dpo * scale, rtol=1e-12, atol=0)


def test_reading_the_collision_without_declaring_it_is_a_plan_error():
    plain = SequenceStats(logps=torch.tensor(LOGPS), lengths=torch.tensor(LENGTHS), ref_logps=torch.tensor(REF))
    with pytest.raises(PlanError, match="token_collision=True"):
        build_objective("wpo").loss(plain)


def test_declares_the_per_token_collision_and_validates_the_clamp():
    assert METHODS.get("wpo").needs.token_collision and METHODS.get("wpo").needs.reference
    for bad in (0.0, -1.0):
        with pytest.raises(ConfigError, match=r"^methods\.wpo\.max_weight="):
            build_objective("wpo", {"max_weight": bad})
