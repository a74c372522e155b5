"""KTO: unpaired desirable/undesirable responses against the batch reference point z0."""

from __future__ import annotations

import math

import pytest
import torch

from bench.errors import ConfigError, PlanError
from bench.methods import METHODS, build_objective
from bench.methods.base import SequenceStats

# B = 5 unpaired examples (n = 1).
LOGPS = [-10.0, -22.0, -7.5, -15.0, -30.0]
REF = [-11.0, -20.5, -8.0, -15.5, -28.0]  # rho = [1.0, -1.5, 0.5, 0.5, -2.0]
LABELS = [1, -1, 1, 1, -1]
LENGTHS = [5, 11, 3, 6, 12]
# Prompt i with some other example's response y'.
MISMATCHED = [-25.0, -9.0, -16.0, -31.0, -12.0]
MISMATCHED_REF = [-24.0, -11.0, -17.0, -29.5, -13.5]  # rho = [-1.0, 2.0, 1.0, -1.5, 1.5], mean 0.4
MISMATCHED_LENGTHS = [9, 4, 7, 13, 2]


def sigmoid(x: float) -> float:
    return 1 / (1 + math.exp(-x))


def column(values, requires_grad: bool = False) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.float64).unsqueeze(1).requires_grad_(requires_grad)


def kto_stats(mismatched=MISMATCHED, requires_grad: bool = False) -> SequenceStats:
    return SequenceStats(logps=column(LOGPS, requires_grad), lengths=torch.tensor(LENGTHS).unsqueeze(1),
                         ref_logps=column(REF), labels=torch.tensor(LABELS).unsqueeze(1),
                         mismatched_logps=column(mismatched, requires_grad),
                         mismatched_ref_logps=column(MISMATCHED_REF),
                         mismatched_lengths=torch.tensor(MISMATCHED_LENGTHS).unsqueeze(1))


def kto_by_hand(rho: list[float], z0: float, beta: float, lambda_d: float, lambda_u: float) -> float:
    losses = [lambda_d * (1 - sigmoid(beta * (r - z0))) if label > 0
              else lambda_u * (1 - sigmoid(beta * (z0 - r)))
              for r, label in zip(rho, LABELS, strict=True)]
    return sum(losses) / len(losses)


def test_matches_the_formula_with_a_positive_reference_point():
    rho = [p - r for p, r in zip(LOGPS, REF, strict=True)]
    z0 = sum(m - r for m, r in zip(MISMATCHED, MISMATCHED_REF, strict=True)) / 5
    assert z0 == pytest.approx(0.4)
    out = build_objective("kto").loss(kto_stats())
    assert out.loss.item() == pytest.approx(kto_by_hand(rho, z0, 0.1, 1.0, 1.0), rel=1e-12)
    assert out.metrics["z0"].item() == pytest.approx(z0, rel=1e-12)


def test_reference_point_is_clamped_at_zero():
    mismatched = [-30.0, -15.0, -20.0, -31.0, -16.0]  # mismatched rho mean < 0
    rho = [p - r for p, r in zip(LOGPS, REF, strict=True)]
    out = build_objective("kto", {"beta": 0.5, "lambda_d": 1.33, "lambda_u": 0.8}).loss(kto_stats(mismatched))
    assert out.metrics["z0"].item() == 0.0
    assert out.loss.item() == pytest.approx(kto_by_hand(rho, 0.0, 0.5, 1.33, 0.8), rel=1e-12)


def test_mean_reduction_divides_each_mismatched_pair_by_its_response_length():
    rho = [(p - r) / n for p, r, n in zip(LOGPS, REF, LENGTHS, strict=True)]
    per_token = [(m - r) / n for m, r, n in zip(MISMATCHED, MISMATCHED_REF, MISMATCHED_LENGTHS, strict=True)]
    z0 = max(0.0, sum(per_token) / 5)
    out = build_objective("kto", {"beta": 2.0, "reduction": "mean"}).loss(kto_stats())
    assert out.metrics["z0"].item() == pytest.approx(z0, rel=1e-12)
    assert out.loss.item() == pytest.approx(kto_by_hand(rho, z0, 2.0, 1.0, 1.0), rel=1e-12)


def test_gradient_raises_desirable_and_lowers_undesirable_and_skips_z0():
    stats = kto_stats(requires_grad=True)
    build_objective("kto").loss(stats).loss.backward()
    desirable = torch.tensor(LABELS) > 0
    assert (stats.logps.grad[desirable, 0] < 0).all()
    assert (stats.logps.grad[~desirable, 0] > 0).all()
    assert stats.mismatched_logps.grad is None  # z0 is detached


def test_declares_unpaired_reference_mismatched_and_batch_level():
    cls = METHODS.get("kto")
    assert cls.needs.data == "unpaired" and cls.needs.reference and cls.needs.mismatched
    assert cls.needs.batch_level
    assert "per-device batch size" in " ".join(cls.__doc__.split())


def test_missing_mismatched_log_probs_is_a_plan_error():
    stats = kto_stats()
    stats.mismatched_logps = None
    with pytest.raises(PlanError, match="mismatched"):
        build_objective("kto").loss(stats)


def test_mean_reduction_without_mismatched_lengths_is_a_plan_error():
    stats = kto_stats()
    stats.mismatched_lengths = None
    build_objective("kto").loss(stats)  # the sum form does not need them
    with pytest.raises(PlanError, match="mismatched_lengths"):
        build_objective("kto", {"reduction": "mean"}).loss(stats)


def test_paired_batch_is_a_plan_error(pairs):
    stats = pairs.stats(labels=torch.ones(4, 2))
    with pytest.raises(PlanError, match="n=2"):
        build_objective("kto").loss(stats)


@pytest.mark.parametrize(("key", "value"), [("beta", 0.0), ("lambda_d", 0.0), ("lambda_u", -1.0)])
def test_validate_rejects_out_of_range(key, value):
    with pytest.raises(ConfigError, match=rf"methods\.kto\.{key}"):
        build_objective("kto", {key: value})
