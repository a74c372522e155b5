"""Chunked head log-probs equal the materialised log-softmax, in value and in every gradient."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from bench.models.head_logps import head_token_logps


def _inputs(bias: bool, dtype=torch.float64):
    torch.manual_seed(0)
    head = torch.nn.Linear(6, 11, bias=bias).to(dtype)
    hidden = torch.randn(9, 6, dtype=dtype, requires_grad=True)
    targets = torch.randint(0, 11, (9,))
    weights = torch.randn(9, dtype=dtype)  # a different upstream gradient per position
    return head, hidden, targets, weights


def _materialised(hidden, head, targets):
    return head(hidden).float().log_softmax(-1).gather(1, targets[:, None]).squeeze(1)


@pytest.mark.parametrize("bias", [False, True])
@pytest.mark.parametrize("chunk_logits", [11, 30, 10**6])  # one position per chunk, uneven chunks, one chunk
def test_values_and_gradients_match_the_full_log_softmax(bias: bool, chunk_logits: int) -> None:
    head, hidden, targets, weights = _inputs(bias)
    chunked = head_token_logps(hidden, head, targets, chunk_logits)
    (chunked.double() * weights).sum().backward()
    grads = [hidden.grad.clone(), head.weight.grad.clone(), *([head.bias.grad.clone()] if bias else [])]
    hidden.grad, head.weight.grad = None, None
    if bias:
        head.bias.grad = None
    full = _materialised(hidden, head, targets)
    (full.double() * weights).sum().backward()
    expected = [hidden.grad, head.weight.grad, *([head.bias.grad] if bias else [])]
    assert chunked.dtype == torch.float32
    torch.testing.assert_close(chunked, full, rtol=0, atol=1e-6)
    for got, want in zip(grads, expected, strict=True):
        torch.testing.assert_close(got, want, rtol=1e-6, atol=1e-6)


def test_a_log_prob_rises_along_its_own_gradient() -> None:
    """Direction: a step along the gradient of log p(y) raises it (softmax pulled towards y)."""
    head, hidden, targets, _ = _inputs(False)
    before = head_token_logps(hidden, head, targets, 30)
    before.sum().backward()
    with torch.no_grad():
        head.weight += 1e-2 * head.weight.grad
    after = head_token_logps(hidden.detach(), head, targets, 30)
    assert after.sum() > before.sum()


def test_under_bf16_autocast_it_matches_the_head_run_in_bf16() -> None:
    head, hidden, targets, _ = _inputs(False, torch.float32)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        chunked = head_token_logps(hidden, head, targets, 30)
        reference = F.linear(hidden, head.weight).float().log_softmax(-1).gather(1, targets[:, None]).squeeze(1)
    chunked.sum().backward()
    assert hidden.grad.dtype == torch.float32 and head.weight.grad.dtype == torch.float32
    torch.testing.assert_close(chunked, reference, rtol=0, atol=1e-5)
