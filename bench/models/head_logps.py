"""Token log-probs straight from hidden states, without holding the full-vocabulary logits.

A preference step needs one number per response token, log softmax(W h)[y], yet the usual way to get it
materialises the logits of every response position in float32, their log-softmax, and in the backward
pass their gradient: three [tokens, V] tensors. With a real vocabulary (49k for SmolLM2, 152k for Qwen)
those are the largest tensors of the step, larger than the model's activations. Here the output head is
applied to a chunk of positions at a time; the forward keeps only each position's log-normaliser, and the
backward recomputes the chunk's logits to form (onehot - softmax) * grad, the way fused linear
cross-entropy kernels (Liger) do. Memory for the head is then one chunk's logits, at the price of one more
head matmul in the backward.

Under autocast (``train.precision=bf16``) the matmuls run in the autocast dtype, as the model's own head
would; the log-normaliser, the softmax and the gradient accumulation are float32.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

CHUNK_LOGITS = 2**22
"""Logits per chunk (16 MB in float32): 85 positions of a 49k vocabulary, all of a small one at once."""


def head_token_logps(hidden: Tensor, head: torch.nn.Linear, targets: Tensor,
                     chunk_logits: int = CHUNK_LOGITS) -> Tensor:
    """log softmax(head(hidden))[targets] per position, float32 [N]; gradients reach hidden and the head."""
    chunk = max(1, chunk_logits // head.weight.shape[0])
    device_type = hidden.device.type
    compute = torch.get_autocast_dtype(device_type) if torch.is_autocast_enabled(device_type) else None
    return _HeadTokenLogps.apply(hidden, head.weight, head.bias, targets, chunk, compute)


def _chunk_logits(hidden: Tensor, weight: Tensor, bias: Tensor | None, compute: torch.dtype | None) -> Tensor:
    if compute is not None:
        hidden, weight = hidden.to(compute), weight.to(compute)
        bias = None if bias is None else bias.to(compute)
    return F.linear(hidden, weight, bias).float()


class _HeadTokenLogps(torch.autograd.Function):
    """Chunked log-probs of the targets under a linear head; backward recomputes each chunk's logits."""

    @staticmethod
    def forward(ctx, hidden: Tensor, weight: Tensor, bias: Tensor | None, targets: Tensor, chunk: int,
                compute: torch.dtype | None) -> Tensor:
        logps = hidden.new_empty(hidden.shape[0], dtype=torch.float32)
        normalisers = torch.empty_like(logps)
        with torch.autocast(hidden.device.type, enabled=False):
            for start in range(0, hidden.shape[0], chunk):
                stop = start + chunk
                logits = _chunk_logits(hidden[start:stop], weight, bias, compute)
                normalisers[start:stop] = logits.logsumexp(-1)
                picked = logits.gather(1, targets[start:stop].unsqueeze(1)).squeeze(1)
                logps[start:stop] = picked - normalisers[start:stop]
        ctx.save_for_backward(hidden, weight, bias, targets, normalisers)
        ctx.chunk, ctx.compute = chunk, compute
        return logps

    @staticmethod
    def backward(ctx, grad_logps: Tensor):
        hidden, weight, bias, targets, normalisers = ctx.saved_tensors
        want_hidden, want_weight, want_bias = ctx.needs_input_grad[:3]
        grad_hidden = torch.zeros_like(hidden) if want_hidden else None
        grad_weight = torch.zeros(weight.shape, dtype=torch.float32, device=weight.device) if want_weight else None
        grad_bias = torch.zeros(bias.shape, dtype=torch.float32, device=bias.device) if want_bias else None
        with torch.autocast(hidden.device.type, enabled=False):
            for start in range(0, hidden.shape[0], ctx.chunk):
                stop = start + ctx.chunk
                chunk_hidden, upstream = hidden[start:stop], grad_logps[start:stop].float()
                logits = _chunk_logits(chunk_hidden, weight, bias, ctx.compute)
                # d logp[y] / d logits = onehot(y) - softmax; scaled by the incoming gradient per position
                grad_logits = (logits - normalisers[start:stop, None]).exp_().mul_(-upstream[:, None])
                grad_logits[torch.arange(len(upstream), device=logits.device), targets[start:stop]] += upstream
                if want_bias:
                    grad_bias += grad_logits.sum(0)
                matmul_dtype = ctx.compute or weight.dtype
                grad_logits = grad_logits.to(matmul_dtype)
                if want_hidden:
                    grad_hidden[start:stop] = (grad_logits @ weight.to(matmul_dtype)).to(hidden.dtype)
                if want_weight:
                    grad_weight += (grad_logits.t() @ chunk_hidden.to(matmul_dtype)).float()
        return (grad_hidden, None if grad_weight is None else grad_weight.to(weight.dtype),
                None if grad_bias is None else grad_bias.to(bias.dtype), None, None, None)
