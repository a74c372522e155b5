"""RPO: the implicit reward gap matched to the scored gap, averaged over all pairs of k responses.

Expected values are computed here with explicit loops over pairs in plain Python (``math``), from
the same numbers the tensors are built from; the special cases of METHODS.md (DPO as eta grows, cDPO
with a fixed soft target, RLOO's gradient on-policy) are checked numerically.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import pytest
import torch

from bench.errors import ConfigError, PlanError
from bench.methods import METHODS, build_objective, reward_aware, rloo  # noqa: F401  (registers them)
from bench.methods.base import SequenceStats
from bench.testing import assert_objective_contract

OFFLINE = ("rpo_sq", "rpo_bwd_kl", "rpo_fwd_kl")
ONLINE = tuple(f"{name}_online" for name in OFFLINE)


@dataclass
class ScoredBatch:
    """B prompts x k scored responses as plain lists (the test's numbers) and as SequenceStats."""

    logps: list[list[float]]
    ref: list[list[float]]
    lengths: list[list[int]]
    scores: list[list[float]]

    def stats(self, requires_grad: bool = False) -> SequenceStats:
        logps = torch.tensor(self.logps, dtype=torch.float64).requires_grad_(requires_grad)
        return SequenceStats(logps=logps, lengths=torch.tensor(self.lengths),
                             ref_logps=torch.tensor(self.ref, dtype=torch.float64),
                             scores=torch.tensor(self.scores, dtype=torch.float64))

    def columns(self, k: int) -> ScoredBatch:
        return ScoredBatch(*([row[:k] for row in table] for table in (self.logps, self.ref, self.lengths,
                                                                         self.scores)))


FOUR = ScoredBatch(
    logps=[[-10.0, -12.5, -8.0, -15.0], [-20.0, -18.0, -22.5, -19.0], [-6.0, -9.0, -7.5, -5.5]],
    ref=[[-11.0, -12.0, -9.5, -13.0], [-19.0, -18.5, -21.0, -20.5], [-7.0, -8.0, -7.0, -6.5]],
    lengths=[[5, 7, 4, 9], [10, 8, 12, 9], [3, 6, 4, 2]],
    scores=[[0.8, 0.1, 1.5, -0.4], [0.3, 1.2, -0.6, 0.9], [2.0, -1.0, 0.5, 0.5]],
)
"""k = 4; the first two columns are the k = 2 example. Score ties (prompt 3) and wrongly ranked pairs occur."""


def sigmoid(x: float) -> float:
    return 1 / (1 + math.exp(-x))


def bernoulli_kl(p: float, q: float) -> float:
    return p * math.log(p / q) + (1 - p) * math.log((1 - p) / (1 - q))


DISTANCES = {
    "rpo_sq": lambda a, b: (a - b) ** 2,
    "rpo_bwd_kl": lambda a, b: bernoulli_kl(sigmoid(b), sigmoid(a)),
    "rpo_fwd_kl": lambda a, b: bernoulli_kl(sigmoid(a), sigmoid(b)),
}


def rpo_by_hand(batch: ScoredBatch, name: str, beta: float, eta: float, reduction: str = "sum") -> float:
    distance = DISTANCES[name.removesuffix("_online")]
    per_prompt = []
    for logps, ref, lengths, scores in zip(batch.logps, batch.ref, batch.lengths, batch.scores, strict=True):
        k = len(logps)
        rewards = [beta * (lp - rf) / (n if reduction == "mean" else 1)
                   for lp, rf, n in zip(logps, ref, lengths, strict=True)]
        pairs = [(i, j) for i in range(k) for j in range(i + 1, k)]
        per_prompt.append(sum(distance(rewards[i] - rewards[j], eta * (scores[i] - scores[j]))
                              for i, j in pairs) / len(pairs))
    return sum(per_prompt) / len(per_prompt)


def grad_of(objective, stats: SequenceStats) -> torch.Tensor:
    objective.loss(stats).loss.backward()
    return stats.logps.grad


# values ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", OFFLINE)
@pytest.mark.parametrize("k", [2, 4])
@pytest.mark.parametrize("reduction", ["sum", "mean"])
def test_loss_is_the_distance_averaged_over_all_pairs(name, k, reduction):
    batch = FOUR.columns(k)
    expected = rpo_by_hand(batch, name, beta=0.2, eta=1.0, reduction=reduction)
    loss = build_objective(name, {"reduction": reduction}).loss(batch.stats()).loss.item()
    assert loss == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("name", OFFLINE)
def test_beta_and_eta_scale_the_two_gaps(name):
    expected = rpo_by_hand(FOUR, name, beta=0.7, eta=2.5)
    loss = build_objective(name, {"beta": 0.7, "eta": 2.5}).loss(FOUR.stats()).loss.item()
    assert loss == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("name", ONLINE)
@pytest.mark.parametrize("k", [2, 4])
def test_online_variants_apply_the_same_loss_to_their_k_samples(name, k):
    batch = FOUR.columns(k)
    loss = build_objective(name, {"k": k, "eta": 0.5}).loss(batch.stats()).loss.item()
    assert loss == pytest.approx(rpo_by_hand(batch, name, beta=0.2, eta=0.5), rel=1e-12)


@pytest.mark.parametrize("name", OFFLINE)
def test_the_order_of_the_responses_does_not_matter(name):
    order = [2, 0, 3, 1]
    shuffled = ScoredBatch(*([[row[i] for i in order] for row in table]
                             for table in (FOUR.logps, FOUR.ref, FOUR.lengths, FOUR.scores)))
    objective = build_objective(name)
    assert objective.loss(shuffled.stats()).loss.item() == pytest.approx(
        objective.loss(FOUR.stats()).loss.item(), rel=1e-12)


def test_metrics_report_the_pair_ranking_and_gap_error():
    metrics = build_objective("rpo_sq").loss(FOUR.stats()).metrics
    accuracy, gap_error = [], []
    for logps, ref, scores in zip(FOUR.logps, FOUR.ref, FOUR.scores, strict=True):
        rewards = [0.2 * (lp - rf) for lp, rf in zip(logps, ref, strict=True)]
        pairs = [(i, j) for i in range(4) for j in range(i + 1, 4)]
        ranked = [(i, j) for i, j in pairs if scores[i] != scores[j]]
        accuracy.append(sum((rewards[i] > rewards[j]) == (scores[i] > scores[j]) for i, j in ranked) / len(ranked))
        gap_error.append(sum(abs(rewards[i] - rewards[j] - (scores[i] - scores[j])) for i, j in pairs) / 6)
    assert metrics["rewards/pair_accuracy"].tolist() == pytest.approx(accuracy, rel=1e-12)
    assert metrics["rewards/gap_error"].tolist() == pytest.approx(gap_error, rel=1e-12)
    assert metrics["scores/mean"].tolist() == pytest.approx([sum(s) / 4 for s in FOUR.scores], rel=1e-12)


# special cases of METHODS.md ---------------------------------------------------------------------------
def scored_pairs(pairs, gap: float) -> SequenceStats:
    """The shared pairs fixture as k = 2 scored data: the chosen response scored ``gap`` above the rejected."""
    return pairs.stats(requires_grad=True, scores=torch.tensor([[gap, 0.0]] * len(pairs), dtype=torch.float64))


def test_rpo_bwd_kl_tends_to_dpo_as_eta_grows(pairs):
    stats = scored_pairs(pairs, 1.0)
    dpo = build_objective("dpo", {"beta": 0.2}).loss(stats).loss
    etas = (1.0, 4.0, 16.0, 40.0)
    rpo = [build_objective("rpo_bwd_kl", {"eta": eta}).loss(stats).loss for eta in etas]
    differences = [abs((loss - dpo).item()) for loss in rpo]
    assert all(later < earlier for earlier, later in itertools.pairwise(differences))
    assert differences[0] > 1e-2 and differences[-1] < 1e-12  # e^-40: float64 rounding of a loss near 1
    rpo_grad, = torch.autograd.grad(rpo[-1], stats.logps)
    dpo_grad, = torch.autograd.grad(dpo, stats.logps)
    assert torch.allclose(rpo_grad, dpo_grad, rtol=0, atol=1e-15)


@pytest.mark.parametrize("eps", [0.1, 0.3])
@pytest.mark.parametrize("reduction", ["sum", "mean"])
def test_rpo_bwd_kl_with_a_fixed_soft_target_is_cdpo_minus_the_binary_entropy(pairs, eps, reduction):
    eta = 2.0
    stats = scored_pairs(pairs, math.log((1 - eps) / eps) / eta)  # sigma(b) = 1 - eps for every pair
    rpo = build_objective("rpo_bwd_kl", {"beta": 0.3, "eta": eta, "reduction": reduction}).loss(stats).loss
    cdpo = build_objective("cdpo", {"beta": 0.3, "eps": eps, "reduction": reduction}).loss(stats).loss
    entropy = -(1 - eps) * math.log(1 - eps) - eps * math.log(eps)
    assert (rpo - cdpo).item() == pytest.approx(-entropy, abs=1e-12)
    rpo_grad, = torch.autograd.grad(rpo, stats.logps)
    cdpo_grad, = torch.autograd.grad(cdpo, stats.logps)
    assert torch.allclose(rpo_grad, cdpo_grad, rtol=1e-12, atol=1e-15)


def at_its_own_reference(batch: ScoredBatch) -> SequenceStats:
    """On-policy samples with pi_ref = sg[pi_theta]: the reference log-probs are the policy's, detached."""
    stats = batch.stats(requires_grad=True)
    stats.ref_logps = stats.logps.detach().clone()
    return stats


@pytest.mark.parametrize("name", ["rpo_sq", "rpo_sq_online"])
@pytest.mark.parametrize("k", [2, 3, 4])
def test_rpo_sq_on_policy_has_the_rloo_gradient_direction(name, k):
    batch = FOUR.columns(k)
    beta, eta = 0.2, 1.5
    overrides = {"beta": beta, "eta": eta, **({"k": k} if name.endswith("_online") else {})}
    rpo_grad = grad_of(build_objective(name, overrides), at_its_own_reference(batch)).flatten()
    rloo_grad = grad_of(build_objective("rloo", {"k": k}), at_its_own_reference(batch)).flatten()
    cosine = torch.nn.functional.cosine_similarity(rpo_grad, rloo_grad, dim=0).item()
    assert cosine == pytest.approx(1.0, abs=1e-12)
    # at rho = 0, d/d log pi(y_i) of mean_{pairs}(a - b)^2 is -2 beta eta (k - 1) A_i / (k (k - 1) / 2) per prompt,
    # and RLOO's is -A_i / k: the factor is 4 beta eta
    assert torch.allclose(rpo_grad, 4 * beta * eta * rloo_grad, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("name", OFFLINE)
def test_at_the_reference_the_best_scored_response_rises_and_the_worst_falls(name):
    grad = grad_of(build_objective(name), at_its_own_reference(FOUR))
    scores = torch.tensor(FOUR.scores)
    best, worst = scores.argmax(1), scores.argmin(1)
    rows = torch.arange(len(FOUR.scores))
    assert (grad[rows, best] < 0).all() and (grad[rows, worst] > 0).all()


# needs and validation ----------------------------------------------------------------------------------
@pytest.mark.parametrize("name", OFFLINE)
def test_offline_variants_read_scored_kwise_data_and_the_reference(name):
    needs = METHODS.get(name).needs
    assert (needs.data, needs.scores, needs.reference, needs.online) == ("kwise", True, True, False)
    assert build_objective(name).hyperparameters() == {"reduction": "sum", "beta": 0.2, "eta": 1.0}


@pytest.mark.parametrize("name", ONLINE)
def test_online_variants_sample_k_responses_per_prompt(name):
    assert METHODS.get(name).needs.samples_per_prompt == 4  # the documented default k
    needs = build_objective(name, {"k": 2}).needs
    assert (needs.data, needs.online, needs.scores, needs.reference) == ("kwise", True, True, True)
    assert needs.samples_per_prompt == 2


@pytest.mark.parametrize("name", ONLINE)
def test_online_variants_refuse_a_batch_with_another_k(name):
    with pytest.raises(PlanError, match=r"k=4 samples per prompt but the batch has 2"):
        build_objective(name).loss(FOUR.columns(2).stats())


@pytest.mark.parametrize("name", OFFLINE)
def test_a_single_response_per_prompt_is_refused(name):
    with pytest.raises(PlanError, match=rf"{name} got n=1"):
        build_objective(name).loss(FOUR.columns(1).stats())


@pytest.mark.parametrize("name", OFFLINE + ONLINE)
@pytest.mark.parametrize(("key", "value"), [("beta", 0.0), ("eta", 0.0), ("eta", -1.0)])
def test_validate_rejects_non_positive_scales(name, key, value):
    with pytest.raises(ConfigError, match=rf"methods\.{name}\.{key}"):
        build_objective(name, {key: value})


@pytest.mark.parametrize("name", ONLINE)
@pytest.mark.parametrize("k", [1, 2.5])
def test_validate_rejects_a_k_that_cannot_form_pairs(name, k):
    with pytest.raises(ConfigError, match=rf"methods\.{name}\.k="):
        build_objective(name, {"k": k})


@pytest.mark.parametrize("name", OFFLINE + ONLINE)
@pytest.mark.parametrize("reduction", ["sum", "mean"])
def test_contract_checks_pass(name, reduction):
    assert_objective_contract(build_objective(name, {"reduction": reduction}))


@pytest.mark.parametrize("name", ONLINE)
@pytest.mark.parametrize("k", [2, 3])
def test_contract_checks_pass_for_every_k(name, k):
    assert_objective_contract(build_objective(name, {"k": k}))
