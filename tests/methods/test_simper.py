"""SimPER: -exp(LN(y_w)) + exp(LN(y_l)), no hyper-parameters and no reference."""

from __future__ import annotations

import math

import pytest

from bench.methods import METHODS, build_objective
from tests.methods.reference_math import mean


def test_loss_is_the_difference_of_inverse_perplexities(pairs):
    ln_w, ln_l = pairs.policy("mean")
    expected = mean([-math.exp(w) + math.exp(lo) for w, lo in zip(ln_w, ln_l, strict=True)])
    out = build_objective("simper").loss(pairs.stats(reference=False))
    assert out.loss.item() == pytest.approx(expected, rel=1e-12)
    assert out.metrics["rewards/margins"][1].item() == pytest.approx(ln_w[1] - ln_l[1], rel=1e-12)


def test_each_gradient_is_the_responses_inverse_perplexity_over_its_length(pairs, grad_of):
    grad = grad_of(build_objective("simper"), pairs.stats(requires_grad=True, reference=False))
    ln_w, ln_l = pairs.policy("mean")
    batch = len(pairs)
    for i in range(batch):  # d/d logp of exp(logp / n) is exp(logp / n) / n; the loss averages over pairs
        assert grad[i, 0].item() == pytest.approx(-math.exp(ln_w[i]) / pairs.len_w[i] / batch, rel=1e-12)
        assert grad[i, 1].item() == pytest.approx(math.exp(ln_l[i]) / pairs.len_l[i] / batch, rel=1e-12)


def test_has_no_hyper_parameter_but_its_reduction_and_no_reference():
    assert build_objective("simper").hyperparameters() == {"reduction": "mean"}
    assert METHODS.get("simper").needs.reference is False
