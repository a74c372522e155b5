"""LD-DPO: the longer response's tokens past the shorter one's length count with weight alpha, policy and reference."""

from __future__ import annotations

import pytest
import torch

from bench.errors import ConfigError
from bench.methods import build_objective
from bench.methods.base import SequenceStats
from tests.methods.reference_math import log_sigmoid, mean

# Two pairs of per-token log-probs [pair][chosen, rejected]: in the first the rejected response is longer,
# in the second the chosen one.
POLICY = [([-1.0, -2.0, -0.5], [-0.3, -0.7, -1.1, -2.0, -0.4]),
          ([-0.2, -0.9, -1.5, -0.6], [-1.2, -0.8])]
REFERENCE = [([-1.1, -1.8, -0.7], [-0.5, -0.6, -1.0, -1.5, -0.9]),
             ([-0.4, -1.0, -1.2, -0.7], [-1.0, -1.1])]


def desensitised(tokens: list[float], shared: int, alpha: float) -> float:
    return sum(tokens[:shared]) + alpha * sum(tokens[shared:])


def expected_loss(beta: float, alpha: float, reduction: str = "sum") -> float:
    losses = []
    for (pw, pl), (rw, rl) in zip(POLICY, REFERENCE, strict=True):
        shared = min(len(pw), len(pl))

        def rho(policy: list[float], reference: list[float], shared: int = shared) -> float:
            value = desensitised(policy, shared, alpha) - desensitised(reference, shared, alpha)
            weighted_length = shared + alpha * (len(policy) - shared)
            return value / weighted_length if reduction == "mean" else value

        losses.append(-log_sigmoid(beta * (rho(pw, rw) - rho(pl, rl))))
    return mean(losses)


def stats(requires_grad: bool = False) -> SequenceStats:
    width = max(len(t) for pair in POLICY for t in pair)

    def padded(pairs: list[tuple[list[float], list[float]]]) -> torch.Tensor:
        return torch.tensor([[t + [0.0] * (width - len(t)) for t in pair] for pair in pairs], dtype=torch.float64)

    token_logps, ref_token_logps = padded(POLICY), padded(REFERENCE)
    mask = torch.tensor([[[i < len(t) for i in range(width)] for t in pair] for pair in POLICY])
    logps = token_logps.sum(-1).requires_grad_(requires_grad)
    return SequenceStats(logps=logps, lengths=mask.sum(-1), ref_logps=ref_token_logps.sum(-1),
                         token_logps=token_logps, ref_token_logps=ref_token_logps, token_mask=mask)


@pytest.mark.parametrize(("beta", "alpha"), [(0.1, 0.5), (0.5, 0.2), (1.0, 0.0)])
def test_loss_matches_the_formula(beta, alpha):
    out = build_objective("ld_dpo", {"beta": beta, "alpha": alpha}).loss(stats())
    assert out.loss.item() == pytest.approx(expected_loss(beta, alpha), rel=1e-12)


def test_mean_reduction_divides_by_the_weighted_token_count():
    out = build_objective("ld_dpo", {"beta": 1.0, "alpha": 0.3, "reduction": "mean"}).loss(stats())
    assert out.loss.item() == pytest.approx(expected_loss(1.0, 0.3, "mean"), rel=1e-12)


def test_alpha_one_is_dpo():
    plain = build_objective("dpo").loss(stats()).loss.item()
    assert build_objective("ld_dpo", {"alpha": 1.0}).loss(stats()).loss.item() == pytest.approx(plain, rel=1e-12)


def test_gradient_raises_chosen_and_lowers_rejected(grad_of):
    grad = grad_of(build_objective("ld_dpo"), stats(requires_grad=True))
    assert (grad[:, 0] < 0).all() and (grad[:, 1] > 0).all()


@pytest.mark.parametrize("alpha", [-0.1, 1.5])
def test_validate_keeps_alpha_in_the_unit_interval(alpha):
    with pytest.raises(ConfigError, match=r"methods\.ld_dpo\.alpha"):
        build_objective("ld_dpo", {"alpha": alpha})
