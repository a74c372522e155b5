"""FPO: the length-normalised DPO margin minus a feature-level distance gap in SAE code space."""

from __future__ import annotations

import math

import pytest
import torch

from bench.errors import ConfigError, PlanError
from bench.methods import METHODS, build_objective
from bench.methods.base import SaeCodes
from bench.methods.contract import check_objective

K = 2
# Policy codes cbar_theta [B=4][n=2][d_sae=6] (non-negative, like ReLU codes; no ties among the top two).
CODES = [
    [[0.9, 0.0, 0.3, 0.0, 0.1, 0.0], [0.0, 0.8, 0.0, 0.4, 0.0, 0.2]],
    [[0.2, 0.7, 0.0, 0.0, 0.5, 0.0], [0.6, 0.0, 0.0, 0.3, 0.0, 0.9]],
    [[0.0, 0.0, 1.2, 0.0, 0.0, 0.4], [0.5, 0.5, 0.0, 0.0, 0.0, 0.1]],
    [[0.3, 0.0, 0.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0, 0.0, 0.0]],
]
# The reference's cached top-k: feature indices and codes; everything else counts as 0.
REF_INDICES = [
    [[0, 2], [1, 5]],
    [[1, 3], [5, 0]],
    [[2, 4], [0, 1]],
    [[0, 1], [2, 3]],
]
REF_VALUES = [
    [[0.8, 0.5], [0.8, 0.1]],
    [[0.9, 0.2], [0.4, 0.7]],
    [[1.0, 0.3], [0.5, 0.6]],
    [[0.3, 0.2], [0.6, 0.5]],
]


def log_sigmoid(x: float) -> float:
    return -math.log1p(math.exp(-x)) if x >= 0 else x - math.log1p(math.exp(x))


def distance_by_hand(codes: list[float], ref_indices: list[int], ref_values: list[float], k: int) -> float:
    """(1/k) sum over topk(codes) U ref_indices of (code - ref code)^2, ref code 0 outside its top k."""
    reference = [0.0] * len(codes)
    for index, value in zip(ref_indices, ref_values, strict=True):
        reference[index] = value
    top = sorted(range(len(codes)), key=lambda i: -codes[i])[:k]
    union = set(top) | set(ref_indices)
    total = 0.0
    for i in union:
        total += (codes[i] - reference[i]) ** 2
    return total / k


def distances_by_hand() -> tuple[list[float], list[float]]:
    d = [[distance_by_hand(CODES[b][j], REF_INDICES[b][j], REF_VALUES[b][j], K) for j in range(2)] for b in range(4)]
    return [row[0] for row in d], [row[1] for row in d]


def fpo_by_hand(h: list[float], d_w: list[float], d_l: list[float], beta: float, alpha: float) -> float:
    losses = [-log_sigmoid(beta * hi - alpha * (beta * lo - beta * w)) for hi, w, lo in zip(h, d_w, d_l, strict=True)]
    return sum(losses) / len(losses)


def sae_stats(batch, requires_grad: bool = False, codes_require_grad: bool = False, codes=CODES):
    codes = torch.tensor(codes, dtype=torch.float64, requires_grad=codes_require_grad)
    stats = batch.stats(requires_grad=requires_grad, sae_codes=codes,
                        ref_sae_indices=torch.tensor(REF_INDICES), ref_sae_values=torch.tensor(REF_VALUES,
                                                                                                dtype=torch.float64))
    return stats, codes


def test_distances_by_hand_cover_the_interesting_cases():
    d_w, d_l = distances_by_hand()
    # pair 0 chosen: top {0, 2}, ref {0, 2}: (0.9-0.8)^2 + (0.3-0.5)^2 = 0.05, over k = 2
    assert d_w[0] == pytest.approx(0.025)
    # pair 0 rejected: top {1, 3} U ref {1, 5}; feature 3 is outside the reference's top k, so its ref code is 0
    assert d_l[0] == pytest.approx(((0.8 - 0.8) ** 2 + 0.4 ** 2 + (0.2 - 0.1) ** 2) / 2)
    # pair 3 rejected: the policy has no active feature; only the reference's top k count
    assert d_l[3] == pytest.approx((0.6 ** 2 + 0.5 ** 2) / 2)


def test_fpo_matches_the_formula(pairs):
    d_w, d_l = distances_by_hand()
    out = build_objective("fpo", {"k": K}).loss(sae_stats(pairs)[0])
    assert out.loss.item() == pytest.approx(fpo_by_hand(pairs.h("mean"), d_w, d_l, 0.1, 0.5), rel=1e-12)
    assert out.metrics["sae/distance_chosen"].tolist() == pytest.approx(d_w)
    assert out.metrics["sae/distance_rejected"].tolist() == pytest.approx(d_l)
    other = build_objective("fpo", {"k": K, "beta": 0.3, "alpha": 2.0, "reduction": "sum"})
    assert other.loss(sae_stats(pairs)[0]).loss.item() == pytest.approx(
        fpo_by_hand(pairs.h("sum"), d_w, d_l, 0.3, 2.0), rel=1e-12)


def test_codes_equal_to_the_reference_make_fpo_dpo_norm(pairs):
    same = [[[0.0] * 6 for _ in range(2)] for _ in range(4)]
    for b in range(4):
        for j in range(2):
            for index, value in zip(REF_INDICES[b][j], REF_VALUES[b][j], strict=True):
                same[b][j][index] = value
    loss = build_objective("fpo", {"k": K}).loss(sae_stats(pairs, codes=same)[0]).loss.item()
    assert loss == pytest.approx(sum(-log_sigmoid(0.1 * h) for h in pairs.h("mean")) / len(pairs), rel=1e-12)
    assert loss == pytest.approx(build_objective("dpo_norm").loss(pairs.stats()).loss.item(), rel=1e-12)


def test_the_chosen_distance_is_detached_and_the_rejected_one_is_penalised(pairs):
    stats, codes = sae_stats(pairs, codes_require_grad=True)
    build_objective("fpo", {"k": K}).loss(stats).loss.backward()
    assert (codes.grad[:, 0] == 0).all()
    rejected = codes.grad[:, 1]
    for b in range(4):
        reference = [0.0] * 6
        for index, value in zip(REF_INDICES[b][1], REF_VALUES[b][1], strict=True):
            reference[index] = value
        union = set(sorted(range(6), key=lambda i: -CODES[b][1][i])[:K]) | set(REF_INDICES[b][1])
        for i in range(6):
            gap = CODES[b][1][i] - reference[i]
            if i not in union or gap == 0:
                assert rejected[b, i] == 0
            else:  # moving the rejected code away from the reference's raises the loss
                assert math.copysign(1.0, rejected[b, i].item()) == math.copysign(1.0, gap)


def test_gradient_raises_chosen_and_lowers_rejected(pairs, grad_of):
    grad = grad_of(build_objective("fpo", {"k": K}), sae_stats(pairs, requires_grad=True)[0])
    assert (grad[:, 0] < 0).all() and (grad[:, 1] > 0).all()


def test_k_above_the_sae_width_is_an_error_naming_the_key(pairs):
    with pytest.raises(PlanError, match=r"methods\.fpo\.k=7 exceeds the SAE's 6 features"):
        build_objective("fpo", {"k": 7}).loss(sae_stats(pairs)[0])


def test_needs_carry_the_instance_k_and_layer():
    assert METHODS.get("fpo").needs.sae == SaeCodes(top_k=50, layer=None)
    needs = build_objective("fpo", {"k": 8, "layer": 3}).needs
    assert needs.sae == SaeCodes(top_k=8, layer=3) and needs.reference and needs.data == "pairs"
    assert build_objective("fpo").hyperparameters() == {"beta": 0.1, "alpha": 0.5, "k": 50, "layer": None,
                                                        "reduction": "mean"}


def test_missing_sae_codes_are_a_plan_error(pairs):
    with pytest.raises(PlanError, match="SAE codes"):
        build_objective("fpo").loss(pairs.stats())


@pytest.mark.parametrize(("key", "value"), [("beta", 0.0), ("alpha", -0.5), ("k", 0), ("layer", -1)])
def test_validate_rejects_out_of_range(key, value):
    with pytest.raises(ConfigError, match=rf"methods\.fpo\.{key}"):
        build_objective("fpo", {key: value})


@pytest.mark.parametrize("reduction", ["sum", "mean"])
def test_fpo_passes_the_contract_checks(reduction):
    report = check_objective(build_objective("fpo", {"reduction": reduction}))
    assert report.passed, report.render()
    assert any("sae_codes" in r.message for r in report.results if r.name == "needs.undeclared")
