"""beta-DPO: a per-batch beta from EMA margin statistics, on a Gaussian-weighted filtered batch."""

from __future__ import annotations

import math
import statistics

import pytest
import torch

from bench.errors import ConfigError, PlanError
from bench.methods import METHODS, build_objective


def log_sigmoid(x: float) -> float:
    return -math.log1p(math.exp(-x)) if x >= 0 else x - math.log1p(math.exp(x))


def beta_dpo_by_hand(h: list[float], kept: list[int], m0_prev: float, sigma_prev: float,
                     beta0: float = 0.1, a: float = 0.6, momentum: float = 0.9) -> tuple[float, float, float]:
    """(loss, beta_b, M0) for one step from the previous EMAs, given which pairs the filter kept."""
    m0 = momentum * m0_prev + (1 - momentum) * statistics.fmean(h)
    beta_b = beta0 * (1 + a * (statistics.fmean(h[i] for i in kept) - m0))
    loss = statistics.fmean(-log_sigmoid(beta_b * h[i]) for i in kept)
    return loss, beta_b, m0


def test_keeping_the_whole_batch_gives_the_formula(pairs):
    # rho = 0 keeps every pair, so the value does not depend on the draw. From zero EMAs:
    # M0 = 0.1 mean(h) = 0.1375, beta_b = 0.1 (1 + 0.6 (1.375 - 0.1375)) = 0.17425.
    out = build_objective("beta_dpo", {"rho": 0.0}).loss(pairs.stats())
    loss, beta_b, m0 = beta_dpo_by_hand(pairs.h(), [0, 1, 2, 3], 0.0, 0.0)
    assert beta_b == pytest.approx(0.17425)
    assert out.loss.item() == pytest.approx(loss, rel=1e-12)
    assert out.metrics["beta_b"].item() == pytest.approx(beta_b, rel=1e-12)
    assert out.metrics["m0"].item() == pytest.approx(m0, rel=1e-12)
    assert out.metrics["sigma_m"].item() == pytest.approx(0.1 * statistics.stdev(pairs.h()), rel=1e-12)


def test_mean_reduction_uses_per_token_margins(pairs):
    out = build_objective("beta_dpo", {"rho": 0.0, "reduction": "mean"}).loss(pairs.stats())
    loss, _, _ = beta_dpo_by_hand(pairs.h("mean"), [0, 1, 2, 3], 0.0, 0.0)
    assert out.loss.item() == pytest.approx(loss, rel=1e-12)


def test_filtered_loss_matches_the_formula_on_the_kept_pairs(make_pairs):
    batch = make_pairs(
        logp_w=[-12.0, -30.5, -7.25, -20.0, -11.0], logp_l=[-15.0, -28.0, -9.5, -26.0, -13.0],
        ref_w=[-13.5, -29.0, -8.0, -22.5, -12.0], ref_l=[-14.0, -29.5, -8.75, -24.0, -12.5],
        len_w=[6, 15, 4, 10, 5], len_l=[8, 12, 5, 13, 6])
    out = build_objective("beta_dpo", {"rho": 0.4}).loss(batch.stats())
    kept = [i for i, s in enumerate(out.metrics["selected"].tolist()) if s == 1.0]
    assert len(kept) == 3  # floor(5 * (1 - 0.4))
    loss, beta_b, _ = beta_dpo_by_hand(batch.h(), kept, 0.0, 0.0)
    assert out.loss.item() == pytest.approx(loss, rel=1e-12)
    assert out.metrics["beta_b"].item() == pytest.approx(beta_b, rel=1e-12)


def test_the_filter_drops_outlying_margins(make_pairs):
    # Margins [0, 0.5, -0.5, 60]: the last is ~20 sigma_M from M0, weight ~e^-200.
    batch = make_pairs(logp_w=[-5.0, -5.0, -5.5, 55.0], logp_l=[-5.0, -5.5, -5.0, -5.0], ref_w=[-5.0] * 4,
                       ref_l=[-5.0] * 4, len_w=[3] * 4, len_l=[3] * 4)
    for seed in range(5):
        out = build_objective("beta_dpo", {"rho": 0.25, "seed": seed}).loss(batch.stats())
        assert out.metrics["selected"].tolist() == [1.0, 1.0, 1.0, 0.0]


def test_fixed_seed_gives_the_same_loss(make_pairs):
    batch = make_pairs(logp_w=[-1.0, -2.0, -3.0, -4.0, -5.0, -6.0],
                       logp_l=[-2.0, -1.0, -5.0, -3.0, -8.0, -6.5],
                       ref_w=[-1.5] * 6, ref_l=[-1.5] * 6, len_w=[2] * 6, len_l=[3] * 6)
    first = build_objective("beta_dpo", {"seed": 7}).loss(batch.stats())
    second = build_objective("beta_dpo", {"seed": 7}).loss(batch.stats())
    assert first.loss.item() == second.loss.item()
    assert first.metrics["selected"].tolist() == second.metrics["selected"].tolist()


def test_beta_b_is_clamped_at_the_authors_floor(make_pairs):
    # Margins of -100: M0 = -10 after one step, 1 + 0.6 (-100 + 10) < 0.
    batch = make_pairs(logp_w=[-110.0] * 3, logp_l=[-10.0] * 3, ref_w=[-10.0] * 3, ref_l=[-10.0] * 3,
                       len_w=[4] * 3, len_l=[4] * 3)
    out = build_objective("beta_dpo", {"rho": 0.0}).loss(batch.stats())
    assert out.metrics["beta_b"].item() == pytest.approx(1e-3)
    assert out.loss.item() == pytest.approx(-log_sigmoid(1e-3 * -100.0), rel=1e-12)


def test_second_step_continues_the_emas(pairs, make_pairs):
    second = make_pairs(logp_w=[-10.0, -11.0, -3.0], logp_l=[-20.0, -12.0, -9.0], ref_w=[-14.0, -12.5, -4.0],
                        ref_l=[-18.0, -13.0, -7.0], len_w=[5, 6, 2], len_l=[9, 7, 4])
    objective = build_objective("beta_dpo", {"rho": 0.0})
    objective.loss(pairs.stats())
    out = objective.loss(second.stats())
    m0_1 = 0.1 * statistics.fmean(pairs.h())
    loss, _, m0_2 = beta_dpo_by_hand(second.h(), [0, 1, 2], m0_1, 0.1 * statistics.stdev(pairs.h()))
    assert out.loss.item() == pytest.approx(loss, rel=1e-12)
    assert objective.state_dict()["m0"] == pytest.approx(m0_2, rel=1e-12)
    assert objective.state_dict()["step"] == 2.0


def test_state_round_trip_reproduces_the_next_loss(pairs, make_pairs):
    second = make_pairs(logp_w=[-1.0, -2.0, -3.0, -4.0, -5.0], logp_l=[-2.0, -1.0, -5.0, -3.0, -8.0],
                        ref_w=[-1.5] * 5, ref_l=[-1.5] * 5, len_w=[2] * 5, len_l=[3] * 5)
    trained = build_objective("beta_dpo", {"seed": 3})
    trained.loss(pairs.stats())
    resumed = build_objective("beta_dpo", {"seed": 3})
    resumed.load_state_dict(trained.state_dict())
    expected, got = trained.loss(second.stats()), resumed.loss(second.stats())
    assert got.loss.item() == expected.loss.item()
    assert got.metrics["selected"].tolist() == expected.metrics["selected"].tolist()
    assert resumed.state_dict() == trained.state_dict()


def test_state_does_not_move_without_gradients(pairs):
    objective = build_objective("beta_dpo")
    objective.loss(pairs.stats())
    before = objective.state_dict()
    with torch.no_grad():
        objective.loss(pairs.stats())
    assert objective.state_dict() == before


def test_empty_state_is_a_fresh_start(pairs):
    objective = build_objective("beta_dpo")
    first = objective.loss(pairs.stats())
    objective.load_state_dict({})
    again = objective.loss(pairs.stats())
    assert again.loss.item() == first.loss.item()
    assert again.metrics["selected"].tolist() == first.metrics["selected"].tolist()


def test_rejects_a_foreign_state():
    with pytest.raises(PlanError, match="beta_dpo"):
        build_objective("beta_dpo").load_state_dict({"count": 1.0, "mean": 0.0})


def test_gradient_raises_chosen_and_lowers_rejected_on_kept_pairs(pairs, grad_of):
    grad = grad_of(build_objective("beta_dpo", {"rho": 0.0}), pairs.stats(requires_grad=True))
    assert (grad[:, 0] < 0).all() and (grad[:, 1] > 0).all()


def test_gradient_of_dropped_pairs_is_zero(make_pairs, grad_of):
    batch = make_pairs(logp_w=[-5.0, -5.0, -5.5, 55.0], logp_l=[-5.0, -5.5, -5.0, -5.0], ref_w=[-5.0] * 4,
                       ref_l=[-5.0] * 4, len_w=[3] * 4, len_l=[3] * 4)
    grad = grad_of(build_objective("beta_dpo", {"rho": 0.25}), batch.stats(requires_grad=True))
    assert grad[3].tolist() == [0.0, 0.0]
    assert (grad[:3, 0] <= 0).all() and (grad[:3, 1] >= 0).all()


def test_is_batch_level_and_says_so():
    cls = METHODS.get("beta_dpo")
    assert cls.needs.batch_level
    assert "per-device batch size" in " ".join(cls.__doc__.split())


@pytest.mark.parametrize(("key", "value"), [
    ("beta", 0.0), ("a", -0.5), ("rho", 1.0), ("rho", -0.1), ("momentum", 1.0), ("seed", -1), ("seed", 2**31),
])
def test_validate_rejects_out_of_range(key, value):
    with pytest.raises(ConfigError, match=rf"methods\.beta_dpo\.{key}"):
        build_objective("beta_dpo", {key: value})
