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

CHUNK_LOGITS = {"cuda": 2**26, "cpu": 2**24}
"""Logits per chunk, float32: 256 MB on a GPU (441 positions of Qwen's 152k vocabulary), 64 MB elsewhere (341 of
SmolLM2's 49k). Tiny chunks cost time on a GPU: each chunk of the backward adds its share of the head's gradient
into a float32 buffer as large as the head, so the chunk count multiplies that traffic (measured on an H200 with
27-position chunks: the step took 4x longer); large ones cost memory, a few copies of the chunk's logits at once
(1,766-position chunks: about 2 GB, close to bench's 2.5 GiB excess over TRL's peak measured on that step; this
size is the estimate's middle ground, not yet measured there)."""


def plain_head(model: torch.nn.Module) -> torch.nn.Linear | None:
    """The model's output head when it is a plain linear layer (what :func:`head_token_logps` applies); None for a
    wrapped one (an adapter on the head) or none."""
    head = model.get_output_embeddings()
    return head if type(head) is torch.nn.Linear else None


def head_token_logps(hidden: Tensor, head: torch.nn.Linear, targets: Tensor,
                     chunk_logits: int | None = None) -> Tensor:
    """log softmax(head(hidden))[targets] per position, float32 [N]; gradients reach hidden and the head.

    ``chunk_logits`` bounds the logits held at once (default: :data:`CHUNK_LOGITS` for the device)."""
    if chunk_logits is None:
        chunk_logits = CHUNK_LOGITS.get(hidden.device.type, CHUNK_LOGITS["cpu"])
    chunk = max(1, chunk_logits // head.weight.shape[0])
    if hidden.shape[0] <= chunk:  # the logits fit in one chunk: autograd keeps them, no recomputation
        return head(hidden).float().log_softmax(-1).gather(1, targets.unsqueeze(1)).squeeze(1)
    device_type = hidden.device.type
    compute = torch.get_autocast_dtype(device_type) if torch.is_autocast_enabled(device_type) else None
    return _HeadTokenLogps.apply(hidden, head.weight, head.bias, targets, chunk, compute)


def _operands(hidden: Tensor, weight: Tensor, bias: Tensor | None, compute: torch.dtype | None
              ) -> tuple[Tensor, Tensor, Tensor | None]:
    """The head's matmul operands in the dtype it runs in (autocast's, or the weight's), each converted once for
    every chunk rather than once per chunk."""
    dtype = compute or weight.dtype
    return hidden.to(dtype), weight.to(dtype), None if bias is None else bias.to(dtype)


class _HeadTokenLogps(torch.autograd.Function):
    """Chunked log-probs of the targets under a linear head; backward recomputes each chunk's logits."""

    @staticmethod
    def forward(ctx, hidden: Tensor, weight: Tensor, bias: Tensor | None, targets: Tensor, chunk: int,
                compute: torch.dtype | None) -> Tensor:
        logps = hidden.new_empty(hidden.shape[0], dtype=torch.float32)
        normalisers = torch.empty_like(logps)
        hidden_in, weight_in, bias_in = _operands(hidden, weight, bias, compute)
        with torch.autocast(hidden.device.type, enabled=False):
            for start in range(0, hidden.shape[0], chunk):
                stop = start + chunk
                logits = F.linear(hidden_in[start:stop], weight_in, bias_in).float()
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
        hidden_in, weight_in, bias_in = _operands(hidden, weight, bias, ctx.compute)
        matmul_dtype = weight_in.dtype
        grad_hidden = torch.empty_like(hidden_in) if want_hidden else None
        grad_weight = torch.zeros(weight.shape, dtype=torch.float32, device=weight.device) if want_weight else None
        grad_bias = torch.zeros(bias.shape, dtype=torch.float32, device=bias.device) if want_bias else None
        with torch.autocast(hidden.device.type, enabled=False):
            for start in range(0, hidden.shape[0], ctx.chunk):
                stop = start + ctx.chunk
                chunk_hidden, upstream = hidden_in[start:stop], grad_logps[start:stop].float()
                logits = F.linear(chunk_hidden, weight_in, bias_in).float()
                # d logp[y] / d logits = onehot(y) - softmax, scaled by the incoming gradient per position (in place)
                grad_logits = logits.sub_(normalisers[start:stop, None]).exp_().mul_(-upstream[:, None])
                grad_logits[torch.arange(len(upstream), device=logits.device), targets[start:stop]] += upstream
                if want_bias:
                    grad_bias += grad_logits.sum(0)
                grad_logits = grad_logits.to(matmul_dtype)
                if want_hidden:
                    torch.mm(grad_logits, weight_in, out=grad_hidden[start:stop])
                if want_weight and matmul_dtype == torch.float32:
                    grad_weight.addmm_(grad_logits.t(), chunk_hidden)
                elif want_weight:  # half-precision products, summed over chunks in float32
                    grad_weight += grad_logits.t() @ chunk_hidden
        return (None if grad_hidden is None else grad_hidden.to(hidden.dtype),
                None if grad_weight is None else grad_weight.to(weight.dtype),
                None if grad_bias is None else grad_bias.to(bias.dtype), None, None, None)
