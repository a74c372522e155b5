"""RLOO: REINFORCE on k samples with the other samples' mean (KL-shaped) reward as the baseline.

Expected losses and gradients are computed here with explicit loops in plain Python from the same
numbers the tensors are built from.
"""

from __future__ import annotations

import pytest
import torch

from bench.errors import ConfigError, PlanError
from bench.methods import METHODS, build_objective, rloo  # noqa: F401  (registers it)
from bench.methods.base import SequenceStats
from bench.testing import assert_objective_contract

LOGPS = [[-10.0, -12.5, -8.0, -15.0], [-20.0, -18.0, -22.5, -19.0], [-6.0, -9.0, -7.5, -5.5]]
REF = [[-11.0, -12.0, -9.5, -13.0], [-19.0, -18.5, -21.0, -20.5], [-7.0, -8.0, -7.0, -6.5]]
LENGTHS = [[5, 7, 4, 9], [10, 8, 12, 9], [3, 6, 4, 2]]
SCORES = [[0.8, 0.1, 1.5, -0.4], [0.3, 1.2, -0.6, 0.9], [2.0, -1.0, 0.5, 0.5]]
"""Three prompts x four samples; the first k columns are the k-sample example."""


def stats_for(k: int, scores: list[list[float]] = SCORES) -> SequenceStats:
    def first(table):
        return [row[:k] for row in table]

    return SequenceStats(logps=torch.tensor(first(LOGPS), dtype=torch.float64).requires_grad_(True),
                         lengths=torch.tensor(first(LENGTHS)), ref_logps=torch.tensor(first(REF), dtype=torch.float64),
                         scores=torch.tensor(first(scores), dtype=torch.float64))


def advantages_by_hand(k: int, beta_kl: float) -> list[list[float]]:
    table = []
    for logps, ref, scores in zip(LOGPS, REF, SCORES, strict=True):
        rewards = [scores[i] - beta_kl * (logps[i] - ref[i]) for i in range(k)]
        table.append([rewards[i] - sum(rewards[j] for j in range(k) if j != i) / (k - 1) for i in range(k)])
    return table


def rloo_by_hand(k: int, beta_kl: float, reduction: str = "sum") -> float:
    per_prompt = []
    for advantages, logps, lengths in zip(advantages_by_hand(k, beta_kl), LOGPS, LENGTHS, strict=True):
        log_pi = [logps[i] / (lengths[i] if reduction == "mean" else 1) for i in range(k)]
        per_prompt.append(-sum(advantages[i] * log_pi[i] for i in range(k)) / k)
    return sum(per_prompt) / len(per_prompt)


@pytest.mark.parametrize("k", [2, 4])
@pytest.mark.parametrize("beta_kl", [0.05, 0.5])
@pytest.mark.parametrize("reduction", ["sum", "mean"])
def test_loss_matches_explicit_loops(k, beta_kl, reduction):
    objective = build_objective("rloo", {"k": k, "beta_kl": beta_kl, "reduction": reduction})
    expected = rloo_by_hand(k, beta_kl, reduction)
    assert objective.loss(stats_for(k)).loss.item() == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("k", [2, 3, 4])
def test_gradient_is_minus_the_advantage_over_k_the_kl_penalty_is_detached(k):
    stats = stats_for(k)
    build_objective("rloo", {"k": k, "beta_kl": 0.5}).loss(stats).loss.backward()
    prompts = len(SCORES)
    expected = [[-a / k / prompts for a in row] for row in advantages_by_hand(k, 0.5)]
    assert stats.logps.grad.tolist() == [pytest.approx(row, rel=1e-12) for row in expected]


def test_the_best_sample_rises_and_the_worst_falls():
    stats = stats_for(4)
    build_objective("rloo", {"beta_kl": 0.0}).loss(stats).loss.backward()
    scores = torch.tensor(SCORES)
    rows = torch.arange(len(SCORES))
    assert (stats.logps.grad[rows, scores.argmax(1)] < 0).all()
    assert (stats.logps.grad[rows, scores.argmin(1)] > 0).all()


def test_a_constant_added_to_every_score_changes_nothing():
    objective = build_objective("rloo")
    shifted_scores = [[s + 7.0 for s in row] for row in SCORES]
    base, shifted = stats_for(4), stats_for(4, shifted_scores)
    objective.loss(base).loss.backward()
    objective.loss(shifted).loss.backward()
    assert objective.loss(shifted).loss.item() == pytest.approx(objective.loss(base).loss.item(), rel=1e-12)
    assert torch.allclose(shifted.logps.grad, base.logps.grad, rtol=1e-12, atol=1e-15)


def test_metrics_report_score_and_sequence_kl_per_prompt():
    metrics = build_objective("rloo", {"reduction": "mean"}).loss(stats_for(4)).metrics
    kl = [sum(lp - rf for lp, rf in zip(logps, ref, strict=True)) / 4 for logps, ref in zip(LOGPS, REF, strict=True)]
    assert metrics["reward/kl"].tolist() == pytest.approx(kl, rel=1e-12)  # summed over tokens, not per token
    assert metrics["reward/score"].tolist() == pytest.approx([sum(s) / 4 for s in SCORES], rel=1e-12)


def test_needs_follow_k():
    assert METHODS.get("rloo").needs.samples_per_prompt == 4
    needs = build_objective("rloo", {"k": 2}).needs
    assert (needs.data, needs.online, needs.scores, needs.reference, needs.samples_per_prompt) == (
        "kwise", True, True, True, 2)
    assert build_objective("rloo").hyperparameters() == {"reduction": "sum", "k": 4, "beta_kl": 0.05}


def test_a_batch_with_another_number_of_samples_is_refused():
    with pytest.raises(PlanError, match=r"rloo expects k=4 samples per prompt but the batch has 3"):
        build_objective("rloo").loss(stats_for(3))


@pytest.mark.parametrize(("key", "value"), [("k", 1), ("k", 3.0), ("beta_kl", -0.1)])
def test_validate_rejects_out_of_range(key, value):
    with pytest.raises(ConfigError, match=rf"methods\.rloo\.{key}="):
        build_objective("rloo", {key: value})


@pytest.mark.parametrize("k", [2, 3, 4])
@pytest.mark.parametrize("reduction", ["sum", "mean"])
def test_contract_checks_pass(k, reduction):
    assert_objective_contract(build_objective("rloo", {"k": k, "reduction": reduction}))
