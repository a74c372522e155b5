"""Log-probabilities of responses under a causal LM, in the shared batch layout.

Only the response positions are projected to the vocabulary (``logits_to_keep``), which is where
almost all of the logits memory of a preference batch would otherwise go, and what every objective
reads. Prompt tokens never count (METHODS.md).
"""

from __future__ import annotations

from contextlib import nullcontext
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from bench.data.tokenize import Batch
from bench.models.adapters import unwrapped_causal_lm
from bench.models.bucketing import BUCKET_OVERHEAD_TOKENS, plan_buckets
from bench.models.fsdp_forward import in_forward
from bench.models.head_logps import head_token_logps, plain_head
from bench.models.packing import packed_scores, packing_reproduces_padding
from bench.models.residual import PooledFeatures, block_output, masked_mean


@dataclass
class ResponseScores:
    """Per-row response statistics of one forward pass over a :class:`Batch` (R = B*n rows)."""

    token_logps: Tensor
    """[R, T] log-prob of each response token, 0 at padding."""
    mask: Tensor
    """[R, T] true at real response tokens."""
    log_distributions: Tensor | None = None
    """[R, T, V] log-softmax over the vocabulary at each response position (when asked for)."""
    pooled: Tensor | None = None
    """[R, F] mean over each response's tokens of features of a block's output (when asked for)."""

    @property
    def logps(self) -> Tensor:
        """[R] summed response log-probs."""
        return self.token_logps.sum(-1)

    @property
    def lengths(self) -> Tensor:
        """[R] response token counts."""
        return self.mask.sum(-1).to(self.token_logps.dtype)


def response_scores(model: torch.nn.Module, batch: Batch, full_distribution: bool = False,
                    overhead_tokens: int = BUCKET_OVERHEAD_TOKENS, packing: bool = True,
                    pooled: PooledFeatures | None = None) -> ResponseScores:
    """Score the responses of ``batch`` under ``model`` (gradients flow unless under no_grad).

    With ``pooled``, the same forward pass also gives each response's mean, over the positions
    holding its response tokens (prompt and padding excluded), of ``pooled``'s features of the
    residual stream after its block (FPO's mean-pooled SAE codes).

    Sequences are packed without padding into one forward call (:mod:`bench.models.packing`) when the model's
    packed scores reproduce its padded ones; otherwise rows are scored in length buckets
    (:mod:`bench.models.bucketing`) when that saves padded work. Where the probe found the model's logits to be its
    output head on its final hidden states, the padded path too applies the head to response positions only, in
    chunks (:mod:`bench.models.head_logps`). The result is in the batch's own row order and layout either way.
    """
    head_reproduces_logits = packing_reproduces_padding(model, batch, _padded_token_logps)
    if packing and head_reproduces_logits:
        token_logps, log_distributions, features = packed_scores(model, batch, full_distribution, pooled)
        return ResponseScores(token_logps, batch.response_mask, log_distributions, features)
    through_head = (head_reproduces_logits and not full_distribution and pooled is None
                    and plain_head(unwrapped_causal_lm(model)) is not None)
    prompt_lengths = batch.attention_mask[:, :batch.response_start].sum(1)
    response_lengths = batch.response_mask.sum(1)
    groups = plan_buckets(prompt_lengths.tolist(), response_lengths.tolist(), overhead_tokens)
    if len(groups) == 1:
        token_logps, log_distributions, features = _score_rows(model, batch, None, full_distribution, pooled,
                                                               through_head)
    else:
        width = batch.response_mask.shape[1]
        pieces = [_score_rows(model, batch, torch.as_tensor(rows, device=batch.input_ids.device), full_distribution,
                              pooled, through_head) for rows in groups]
        order = torch.as_tensor(np.concatenate(groups), device=batch.input_ids.device)
        restore = torch.empty_like(order)
        restore[order] = torch.arange(order.numel(), device=order.device)

        def reassemble(parts: list[Tensor]) -> Tensor:
            padded = [F.pad(part, (0, 0) * (part.ndim - 2) + (0, width - part.shape[1])) for part in parts]
            return torch.cat(padded).index_select(0, restore)

        token_logps = reassemble([piece[0] for piece in pieces])
        log_distributions = reassemble([piece[1] for piece in pieces]) if full_distribution else None
        features = torch.cat([piece[2] for piece in pieces]).index_select(0, restore) if pooled else None
    return ResponseScores(token_logps, batch.response_mask, log_distributions, features)


def _padded_token_logps(model: torch.nn.Module, batch: Batch) -> Tensor:
    return _score_rows(model, batch, None, False)[0]


def _score_rows(model: torch.nn.Module, batch: Batch, rows: Tensor | None, full_distribution: bool,
                pooled: PooledFeatures | None = None,
                through_head: bool = False) -> tuple[Tensor, Tensor | None, Tensor | None]:
    """Token log-probs [rows, w] (log-distributions, pooled features) of ``rows``, cropped to their own padding.

    Cropping is exact: the columns dropped on the left are padding of every chosen row (their prompts
    are left-padded) and those on the right are past every chosen response; positions are explicit.
    ``through_head``: the decoder body's final hidden states at real response positions go through the output
    head in chunks (valid where the probe found that equal to the model's logits), not the model's own logits.
    """
    start = batch.response_start
    if rows is None:
        input_ids, attention, positions, mask = (batch.input_ids, batch.attention_mask, batch.position_ids,
                                                 batch.response_mask)
    else:
        attention = batch.attention_mask.index_select(0, rows)
        mask = batch.response_mask.index_select(0, rows)
        left = start - int(attention[:, :start].sum(1).max())
        right = start + int(mask.sum(1).max())
        input_ids = batch.input_ids.index_select(0, rows)[:, left:right]
        positions = batch.position_ids.index_select(0, rows)[:, left:right]
        attention, mask, start = attention[:, left:right], mask[:, :right - start], start - left
    width = mask.shape[1]
    targets = input_ids[:, start:start + width]
    if through_head:
        return in_forward(model, _head_token_logps, model, input_ids, attention, positions, start, mask), None, None
    with block_output(model, pooled.layer) if pooled else nullcontext() as captured:
        out = model(input_ids=input_ids, attention_mask=attention, position_ids=positions,
                    logits_to_keep=width + 1, use_cache=False)
    features = masked_mean(pooled.apply(captured[0][:, start:start + width]), mask) if pooled else None
    logits = out.logits[:, :width].float()  # position t predicts response token t
    token_logps = -F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1),
                                   reduction="none").view(targets.shape)
    token_logps = token_logps * mask
    return token_logps, (logits.log_softmax(-1) if full_distribution else None), features


def _head_token_logps(model: torch.nn.Module, input_ids: Tensor, attention: Tensor, positions: Tensor, start: int,
                      mask: Tensor) -> Tensor:
    """Token log-probs [rows, w] of padded rows from the decoder body's final hidden states at real response
    positions through the output head (one call, so a sharded model runs it inside its forward hooks)."""
    width = mask.shape[1]
    causal_lm = unwrapped_causal_lm(model)
    hidden = causal_lm.base_model(input_ids=input_ids, attention_mask=attention, position_ids=positions,
                                  use_cache=False).last_hidden_state[:, start - 1:start - 1 + width]
    real = mask.bool()
    token_logps = hidden.new_zeros(mask.shape, dtype=torch.float32)
    token_logps[real] = head_token_logps(hidden[real], plain_head(causal_lm), input_ids[:, start:start + width][real])
    return token_logps


def token_kl(reference_log_dist: Tensor, policy_log_dist: Tensor, mask: Tensor) -> Tensor:
    """Per-token KL(pi_ref || pi_theta) over the full vocabulary, [R, T], 0 at padding (TDPO)."""
    kl = (reference_log_dist.exp() * (reference_log_dist - policy_log_dist)).sum(-1)
    return kl * mask


def log_collision(log_distributions: Tensor, mask: Tensor) -> Tensor:
    """Per-token log sum_v p(v)^2 [R, T], detached, 0 at padding: the log of the probability that two tokens
    sampled independently from the distribution at a position agree (WPO's weight alignment)."""
    with torch.no_grad():
        return (2.0 * log_distributions).logsumexp(-1) * mask
