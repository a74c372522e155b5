"""Causal PO: the IPW, doubly-robust and direct-method value estimates, computed by hand with explicit loops.

The expected values here are built from plain Python lists with ``math`` (self-normalised weights as
N exp(r_i) / sum_j exp(r_j)), independently of the implementation's softmax.
"""

from __future__ import annotations

import math

import pytest
import torch

from bench.errors import ConfigError, PlanError
from bench.methods import build_objective
from bench.methods.base import SequenceStats
from bench.methods.outcome_stats import (
    OUTCOME_PREDICTIONS,
    REFERENCE_SAMPLES,
    OutcomePredictions,
    ReferenceSampleStats,
)
from bench.testing import assert_objective_contract

NAMES = ("causal_po", "dr_causal_po", "outcome_po")

# B = 4 outcome rows (n = 1): policy and reference log-probs, lengths, outcomes, g(X).
LOGP = [-10.0, -12.0, -8.5, -20.0]
REF = [-10.5, -11.0, -9.5, -19.0]
LENGTHS = [5, 6, 4, 10]
OUTCOMES = [1.0, -0.5, 2.0, 0.25]
PREDICTED = [0.5, 0.0, 1.0, 0.75]
# m = 2 reference samples per row.
SAMPLE_LOGP = [[-9.0, -11.0], [-7.5, -10.0], [-12.0, -6.0], [-8.0, -9.5]]
SAMPLE_REF = [[-9.5, -10.0], [-8.0, -10.5], [-11.0, -7.0], [-8.0, -9.0]]
SAMPLE_LENGTHS = [[4, 5], [3, 6], [7, 2], [4, 4]]
SAMPLE_PREDICTED = [[0.2, -0.1], [0.6, 0.3], [-0.4, 0.9], [0.1, 0.0]]


def weights(logratios: list[float], clip: float = 0.0) -> list[float]:
    """N exp(r_i) / sum_j exp(r_j), truncated at ``clip``: the self-normalised weights, by hand."""
    top = max(logratios)
    total = sum(math.exp(r - top) for r in logratios)
    normalised = [len(logratios) * math.exp(r - top) / total for r in logratios]
    return [min(w, clip) for w in normalised] if clip else normalised


def ratios(logp: list[float], ref: list[float], lengths: list[int], reduction: str) -> list[float]:
    return [(p - r) / (n if reduction == "mean" else 1) for p, r, n in zip(logp, ref, lengths, strict=True)]


def ipw_by_hand(targets: list[float], reduction: str = "sum", clip: float = 0.0) -> float:
    w = weights(ratios(LOGP, REF, LENGTHS, reduction), clip)
    total = 0.0
    for weight, target in zip(w, targets, strict=True):
        total += weight * target
    return total / len(targets)


def direct_by_hand(reduction: str = "sum", clip: float = 0.0) -> float:
    flat = [(p, r, n, g) for row in zip(SAMPLE_LOGP, SAMPLE_REF, SAMPLE_LENGTHS, SAMPLE_PREDICTED, strict=True)
            for p, r, n, g in zip(*row, strict=True)]
    w = weights(ratios([f[0] for f in flat], [f[1] for f in flat], [f[2] for f in flat], reduction), clip)
    total = 0.0
    for weight, (_, _, _, predicted) in zip(w, flat, strict=True):
        total += weight * predicted
    return total / len(flat)


def make_stats(requires_grad: bool = False, logp: list[float] | None = None) -> SequenceStats:
    """SequenceStats [4, 1] with reference samples [4, 2] and predictions; policy log-probs are leaves."""
    logps = torch.tensor(logp or LOGP, dtype=torch.float64).view(4, 1).requires_grad_(requires_grad)
    samples = torch.tensor(SAMPLE_LOGP, dtype=torch.float64).requires_grad_(requires_grad)
    return SequenceStats(
        logps=logps, lengths=torch.tensor(LENGTHS).view(4, 1),
        ref_logps=torch.tensor(REF, dtype=torch.float64).view(4, 1),
        outcomes=torch.tensor(OUTCOMES, dtype=torch.float64).view(4, 1),
        extras={REFERENCE_SAMPLES: ReferenceSampleStats(samples, torch.tensor(SAMPLE_REF, dtype=torch.float64),
                                                        torch.tensor(SAMPLE_LENGTHS)),
                OUTCOME_PREDICTIONS: OutcomePredictions(torch.tensor(PREDICTED, dtype=torch.float64).view(4, 1),
                                                        torch.tensor(SAMPLE_PREDICTED, dtype=torch.float64))})


def expected(name: str, reduction: str = "sum", clip: float = 0.0) -> float:
    """Minus the value estimate of ``name`` on the fixed batch."""
    if name == "causal_po":
        return -ipw_by_hand(OUTCOMES, reduction, clip)
    if name == "outcome_po":
        return -direct_by_hand(reduction, clip)
    residuals = [y - g for y, g in zip(OUTCOMES, PREDICTED, strict=True)]
    return -(ipw_by_hand(residuals, reduction, clip) + direct_by_hand(reduction, clip))


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("reduction", ["sum", "mean"])
@pytest.mark.parametrize("clip", [0.0, 1.2])
def test_loss_is_minus_the_value_estimate_computed_by_hand(name, reduction, clip):
    objective = build_objective(name, {"reduction": reduction, "clip": clip})
    output = objective.loss(make_stats())
    assert output.loss.item() == pytest.approx(expected(name, reduction, clip), rel=1e-12, abs=1e-12)
    assert output.metrics["value"].item() == pytest.approx(-expected(name, reduction, clip), rel=1e-12)


def test_clipping_bites_on_the_fixed_batch_and_changes_the_estimate():
    unclipped = weights(ratios(LOGP, REF, LENGTHS, "sum"))
    assert max(unclipped) > 1.2  # so the clip = 1.2 cases above do truncate a weight
    assert expected("causal_po", clip=1.2) != pytest.approx(expected("causal_po"))
    metrics = build_objective("causal_po", {"clip": 1.2}).loss(make_stats()).metrics
    assert metrics["weights/max"].item() == pytest.approx(max(unclipped))
    assert metrics["weights/clipped"].item() == pytest.approx(sum(w > 1.2 for w in unclipped) / 4)


def test_with_the_policy_at_the_reference_ipw_is_the_plain_mean_outcome():
    stats = make_stats(logp=list(REF))
    output = build_objective("causal_po").loss(stats)
    assert output.loss.item() == pytest.approx(-sum(OUTCOMES) / 4)
    assert output.metrics["weights/ess"].item() == pytest.approx(1.0)


def test_dr_equals_ipw_when_the_outcome_model_is_zero():
    stats = make_stats()
    predictions = stats.extras[OUTCOME_PREDICTIONS]
    predictions.rows, predictions.samples = torch.zeros_like(predictions.rows), torch.zeros_like(predictions.samples)
    dr = build_objective("dr_causal_po").loss(stats).loss
    assert dr.item() == pytest.approx(build_objective("causal_po").loss(make_stats()).loss.item(), rel=1e-12)


@pytest.mark.parametrize("name", ["causal_po", "dr_causal_po"])
def test_raising_the_log_prob_of_the_best_text_lowers_the_loss(name):
    stats = make_stats(requires_grad=True)
    build_objective(name).loss(stats).loss.backward()
    grad = stats.logps.grad.view(-1)
    targets = OUTCOMES if name == "causal_po" else [y - g for y, g in zip(OUTCOMES, PREDICTED, strict=True)]
    best, worst = max(range(4), key=targets.__getitem__), min(range(4), key=targets.__getitem__)
    assert grad[best] < 0 < grad[worst]
    # d(-mean w Y)/d r_k = -(w_k / N) (Y_k - mean_i w_i Y_i): the exact gradient of the self-normalised estimate
    w = weights(ratios(LOGP, REF, LENGTHS, "sum"))
    value = sum(wi * t for wi, t in zip(w, targets, strict=True)) / 4
    for k in range(4):
        assert grad[k].item() == pytest.approx(-(w[k] / 4) * (targets[k] - value), rel=1e-10)


@pytest.mark.parametrize("name", ["dr_causal_po", "outcome_po"])
def test_raising_the_log_prob_of_the_best_predicted_sample_lowers_the_loss(name):
    stats = make_stats(requires_grad=True)
    build_objective(name).loss(stats).loss.backward()
    grad = stats.extras[REFERENCE_SAMPLES].logps.grad.view(-1)
    predicted = [g for row in SAMPLE_PREDICTED for g in row]
    assert grad[predicted.index(max(predicted))] < 0 < grad[predicted.index(min(predicted))]
    if name == "outcome_po":
        assert stats.logps.grad is None  # the direct method never reads the observed texts' log-probs


def test_a_clipped_text_acts_only_through_the_normaliser():
    # loss = -(1/N) sum_i min(w_i, c) Y_i with w = N softmax(r): d loss / d r_k =
    # -(1/N) [1{w_k <= c} w_k Y_k - p_k sum_{i: w_i <= c} w_i Y_i], p = softmax(r); the clipped text's
    # own term is gone, so its gradient has the sign of the unclipped texts' weighted outcomes
    stats = make_stats(requires_grad=True)
    build_objective("causal_po", {"clip": 1.2}).loss(stats).loss.backward()
    w = weights(ratios(LOGP, REF, LENGTHS, "sum"))
    kept = sum(wi * y for wi, y in zip(w, OUTCOMES, strict=True) if wi <= 1.2)
    for k in range(4):
        own = w[k] * OUTCOMES[k] if w[k] <= 1.2 else 0.0
        assert stats.logps.grad.view(-1)[k].item() == pytest.approx(-(own - w[k] / 4 * kept) / 4, rel=1e-10)


@pytest.mark.parametrize("clip", [0.5, -1.0, float("inf"), float("nan")])
def test_a_clip_below_one_or_not_finite_is_refused_naming_the_key(clip):
    with pytest.raises(ConfigError, match=r"methods\.causal_po\.clip"):
        build_objective("causal_po", {"clip": clip})


def test_missing_provider_statistics_are_named():
    stats = make_stats()
    stats.extras = {}
    with pytest.raises(PlanError, match="reference_samples=True"):
        build_objective("outcome_po").loss(stats)
    stats.extras = {REFERENCE_SAMPLES: make_stats().extras[REFERENCE_SAMPLES]}
    with pytest.raises(PlanError, match="outcome_model=True"):
        build_objective("dr_causal_po").loss(stats)
    no_outcomes = make_stats()
    no_outcomes.outcomes = None
    with pytest.raises(PlanError, match="outcome data"):
        build_objective("causal_po").loss(no_outcomes)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("overrides", [{}, {"reduction": "mean"}, {"clip": 2.0}])
def test_contract_checks_pass(name, overrides):
    assert_objective_contract(build_objective(name, overrides))
