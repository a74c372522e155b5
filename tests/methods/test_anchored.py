"""APO (zero, down), NCA, BCO and SPPO (hard): separate terms on rho_w and rho_l."""

from __future__ import annotations

import functools
import math
import operator

import pytest
import torch

from bench.errors import ConfigError, PlanError
from bench.methods import METHODS, build_objective


def sigmoid(x: float) -> float:
    return 1 / (1 + math.exp(-x))


def log_sigmoid(x: float) -> float:
    return -math.log1p(math.exp(-x)) if x >= 0 else x - math.log1p(math.exp(x))


def mean(values: list[float]) -> float:
    return sum(values) / len(values)


# APO


@pytest.mark.parametrize(("beta", "reduction"), [(0.1, "sum"), (2.0, "mean")])
def test_apo_zero_matches_the_formula(pairs, beta, reduction):
    rho_w, rho_l = pairs.rho(reduction)
    expected = mean([(1 - sigmoid(beta * w)) + sigmoid(beta * lo)
                     for w, lo in zip(rho_w, rho_l, strict=True)])
    objective = build_objective("apo_zero", {"beta": beta, "reduction": reduction})
    assert objective.loss(pairs.stats()).loss.item() == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize(("beta", "reduction"), [(0.1, "sum"), (2.0, "mean")])
def test_apo_down_matches_the_formula(pairs, beta, reduction):
    rho_w, rho_l = pairs.rho(reduction)
    expected = mean([sigmoid(beta * w) + (1 - sigmoid(beta * (w - lo)))
                     for w, lo in zip(rho_w, rho_l, strict=True)])
    objective = build_objective("apo_down", {"beta": beta, "reduction": reduction})
    assert objective.loss(pairs.stats()).loss.item() == pytest.approx(expected, rel=1e-12)


def test_apo_zero_gradient_raises_chosen_and_lowers_rejected(pairs, grad_of):
    grad = grad_of(build_objective("apo_zero"), pairs.stats(requires_grad=True))
    assert (grad[:, 0] < 0).all() and (grad[:, 1] > 0).all()


def test_apo_down_lowers_rejected_and_may_lower_chosen(pairs, grad_of):
    # d/d rho_w = beta (sigma'(beta rho_w) - sigma'(beta h)): positive where |rho_w| < |h|, i.e. APO-down
    # lowers the chosen likelihood there on purpose; d/d rho_l = beta sigma'(beta h) > 0 always.
    beta = 0.1
    grad = grad_of(build_objective("apo_down"), pairs.stats(requires_grad=True))
    rho_w, _ = pairs.rho()
    dsig = [sigmoid(x) * (1 - sigmoid(x)) for x in (beta * r for r in rho_w)]
    dsig_h = [sigmoid(beta * h) * (1 - sigmoid(beta * h)) for h in pairs.h()]
    expected_w = [beta * (a - b) / len(pairs) for a, b in zip(dsig, dsig_h, strict=True)]
    assert grad[:, 0].tolist() == pytest.approx(expected_w, rel=1e-10)
    assert all(g > 0 for g in expected_w)  # |rho_w| < |h| in every pair of this batch
    assert (grad[:, 1] > 0).all()


# NCA


@pytest.mark.parametrize(("beta", "reduction"), [(0.1, "sum"), (1.5, "mean")])
def test_nca_matches_the_formula(pairs, beta, reduction):
    rho_w, rho_l = pairs.rho(reduction)
    expected = mean([-log_sigmoid(beta * w) - 0.5 * log_sigmoid(-beta * w) - 0.5 * log_sigmoid(-beta * lo)
                     for w, lo in zip(rho_w, rho_l, strict=True)])
    objective = build_objective("nca_pair", {"beta": beta, "reduction": reduction})
    assert objective.loss(pairs.stats()).loss.item() == pytest.approx(expected, rel=1e-12)


def test_nca_gradient_signs(pairs, grad_of):
    # Raising rho_w helps while beta rho_w < log 2 (true here: at most 0.25); rho_l is always pushed down.
    grad = grad_of(build_objective("nca_pair"), pairs.stats(requires_grad=True))
    assert (grad[:, 0] < 0).all() and (grad[:, 1] > 0).all()


# SPPO (hard labels)


@pytest.mark.parametrize(("beta", "reduction"), [(0.1, "sum"), (0.5, "mean")])
def test_sppo_hard_matches_the_formula(pairs, beta, reduction):
    rho_w, rho_l = pairs.rho(reduction)
    target = 1 / (2 * beta)
    expected = mean([(w - target) ** 2 + (lo + target) ** 2 for w, lo in zip(rho_w, rho_l, strict=True)])
    objective = build_objective("sppo_hard", {"beta": beta, "reduction": reduction})
    assert objective.loss(pairs.stats()).loss.item() == pytest.approx(expected, rel=1e-12)


def test_sppo_hard_gradient_signs(pairs, grad_of):
    # Targets are +-5: every rho_w is below +5 and every rho_l above -5.
    grad = grad_of(build_objective("sppo_hard"), pairs.stats(requires_grad=True))
    assert (grad[:, 0] < 0).all() and (grad[:, 1] > 0).all()


# BCO (pair form)


def bco_by_hand(rho_w: list[float], rho_l: list[float], beta: float, delta: float) -> float:
    return mean([-log_sigmoid(beta * w - delta) - log_sigmoid(-(beta * lo - delta))
                 for w, lo in zip(rho_w, rho_l, strict=True)])


def test_bco_first_step_uses_the_mean_of_this_batch(pairs):
    rho_w, rho_l = pairs.rho()
    delta = mean([0.1 * r for r in rho_w + rho_l])
    out = build_objective("bco_pair").loss(pairs.stats())
    assert out.loss.item() == pytest.approx(bco_by_hand(rho_w, rho_l, 0.1, delta), rel=1e-12)
    assert out.metrics["delta"].item() == pytest.approx(delta, rel=1e-12)


def test_bco_delta_is_the_running_mean_over_all_responses_seen(pairs, make_pairs):
    second = make_pairs(logp_w=[-10.0, -11.0, -3.0], logp_l=[-20.0, -12.0, -9.0], ref_w=[-14.0, -12.5, -4.0],
                        ref_l=[-18.0, -13.0, -7.0], len_w=[5, 6, 2], len_l=[9, 7, 4])
    objective = build_objective("bco_pair", {"beta": 0.5})
    objective.loss(pairs.stats())
    rho_w, rho_l = second.rho()
    seen = [0.5 * r for r in functools.reduce(operator.iadd, pairs.rho(), []) + rho_w + rho_l]
    out = objective.loss(second.stats())
    assert out.loss.item() == pytest.approx(bco_by_hand(rho_w, rho_l, 0.5, mean(seen)), rel=1e-12)


def test_bco_state_round_trip_reproduces_the_next_loss(pairs, make_pairs):
    second = make_pairs(logp_w=[-10.0, -11.0, -3.0], logp_l=[-20.0, -12.0, -9.0], ref_w=[-14.0, -12.5, -4.0],
                        ref_l=[-18.0, -13.0, -7.0], len_w=[5, 6, 2], len_l=[9, 7, 4])
    trained = build_objective("bco_pair")
    trained.loss(pairs.stats())
    resumed = build_objective("bco_pair")
    resumed.load_state_dict(trained.state_dict())
    assert resumed.loss(second.stats()).loss.item() == trained.loss(second.stats()).loss.item()
    assert resumed.state_dict() == trained.state_dict()


def test_bco_state_does_not_move_without_gradients(pairs):
    objective = build_objective("bco_pair")
    objective.loss(pairs.stats())
    before = objective.state_dict()
    with torch.no_grad():
        objective.loss(pairs.stats())
    assert objective.state_dict() == before


def test_bco_empty_state_is_a_fresh_start(pairs):
    objective = build_objective("bco_pair")
    first = objective.loss(pairs.stats()).loss.item()
    objective.load_state_dict({})
    assert objective.loss(pairs.stats()).loss.item() == first


def test_bco_without_running_mean_is_trls_current_loss_and_keeps_no_state(pairs):
    rho_w, rho_l = pairs.rho()
    objective = build_objective("bco_pair", {"running_mean": False, "beta": 0.5})
    for _ in range(2):  # no delta builds up from one call to the next
        out = objective.loss(pairs.stats())
        assert out.loss.item() == pytest.approx(bco_by_hand(rho_w, rho_l, 0.5, 0.0), rel=1e-12)
    assert objective.state_dict() == {}
    with pytest.raises(PlanError, match="bco_pair"):
        objective.load_state_dict({"count": 1.0, "mean": 0.0})


def test_bco_rejects_a_foreign_state():
    with pytest.raises(PlanError, match="bco_pair"):
        build_objective("bco_pair").load_state_dict({"m0": 0.0})


def test_bco_is_batch_level_and_says_so():
    cls = METHODS.get("bco_pair")
    assert cls.needs.batch_level
    assert "per-device batch size" in " ".join(cls.__doc__.split())


def test_bco_gradient_signs(pairs, grad_of):
    grad = grad_of(build_objective("bco_pair"), pairs.stats(requires_grad=True))
    assert (grad[:, 0] < 0).all() and (grad[:, 1] > 0).all()


@pytest.mark.parametrize("name", ["apo_zero", "apo_down", "nca_pair", "bco_pair", "sppo_hard"])
def test_validate_rejects_non_positive_beta(name):
    with pytest.raises(ConfigError, match=rf"methods\.{name}\.beta"):
        build_objective(name, {"beta": 0.0})
