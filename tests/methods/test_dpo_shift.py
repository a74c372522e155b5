"""DPO-Shift: -log sigma(beta rho(y_w) - lambda beta rho(y_l)); lambda = 1 is DPO."""

from __future__ import annotations

import pytest

from bench.errors import ConfigError, PlanError
from bench.methods import build_objective
from tests.methods.reference_math import log_sigmoid, mean


@pytest.mark.parametrize(("beta", "lam"), [(0.1, 0.9), (0.5, 0.5), (0.2, 0.75)])
def test_loss_scales_the_rejected_log_ratio(pairs, beta, lam):
    rho_w, rho_l = pairs.rho()
    expected = mean([-log_sigmoid(beta * w - lam * beta * lo) for w, lo in zip(rho_w, rho_l, strict=True)])
    out = build_objective("dpo_shift", {"beta": beta, "lambda_shift": lam}).loss(pairs.stats())
    assert out.loss.item() == pytest.approx(expected, rel=1e-12)


def test_lambda_one_is_dpo(pairs):
    shift = build_objective("dpo_shift", {"lambda_shift": 1.0}).loss(pairs.stats()).loss.item()
    assert shift == pytest.approx(build_objective("dpo").loss(pairs.stats()).loss.item(), rel=1e-12)


def test_a_smaller_lambda_pushes_the_rejected_response_less(pairs, grad_of):
    strong = grad_of(build_objective("dpo_shift", {"lambda_shift": 1.0}), pairs.stats(requires_grad=True))
    weak = grad_of(build_objective("dpo_shift", {"lambda_shift": 0.5}), pairs.stats(requires_grad=True))
    assert (weak[:, 1] > 0).all() and (weak[:, 1] < strong[:, 1]).all()


@pytest.mark.parametrize("lam", [0.0, 1.5])
def test_validate_keeps_lambda_in_its_range(lam):
    with pytest.raises(ConfigError, match=r"methods\.dpo_shift\.lambda_shift"):
        build_objective("dpo_shift", {"lambda_shift": lam})


@pytest.mark.parametrize(("schedule", "progress", "lam"),
                         [("increase_linear", 0.0, 0.75), ("increase_linear", 0.5, 0.875),
                          ("increase_linear", 0.9, 0.975), ("decrease_linear", 0.0, 1.0),
                          ("decrease_linear", 0.5, 0.875), ("decrease_linear", 0.9, 0.775)])
def test_a_schedule_moves_lambda_linearly_with_the_training_progress(pairs, schedule, progress, lam):
    """The authors' schedules: lambda_min + (lambda_max - lambda_min) s/S up, lambda_max - (...) s/S down."""
    rho_w, rho_l = pairs.rho()
    expected = mean([-log_sigmoid(0.1 * w - lam * 0.1 * lo) for w, lo in zip(rho_w, rho_l, strict=True)])
    out = build_objective("dpo_shift", {"schedule": schedule}).loss(pairs.stats(progress=progress))
    assert out.loss.item() == pytest.approx(expected, rel=1e-12)
    assert out.metrics["lambda"].item() == pytest.approx(lam, rel=1e-12)


def test_only_a_schedule_asks_the_trainer_for_the_progress(pairs):
    assert not build_objective("dpo_shift").needs.training_progress
    scheduled = build_objective("dpo_shift", {"schedule": "decrease_linear", "lambda_min": 0.5})
    assert scheduled.needs.training_progress
    with pytest.raises(PlanError, match="training_progress=True"):
        scheduled.loss(pairs.stats())


@pytest.mark.parametrize("values", [{"schedule": "cosine"}, {"lambda_min": 0.0}, {"lambda_min": 0.9, "lambda_max": 0.8},
                                    {"lambda_max": 1.2}])
def test_validate_names_a_bad_schedule(values):
    with pytest.raises(ConfigError, match=r"^methods\.dpo_shift\.(schedule|lambda_min)="):
        build_objective("dpo_shift", values)
