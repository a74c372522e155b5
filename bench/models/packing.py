"""Padding-free scoring: pack a batch's sequences end to end into a few rows, one forward call.

On a preference batch most of the cost of a small model is per token and per call, and padding
wastes tokens (39% on the issue-6 setting) while length buckets (:mod:`bench.models.bucketing`) buy
fewer tokens with more calls. Packing gets both: every sequence (its prompt and response, no padding)
is placed first-fit-decreasing into rows as long as the longest sequence, positions restart at 0 for
each, and transformers turns restarting positions into a block-diagonal causal mask (its "packed
sequence" path), so no sequence sees another. Only the hidden states at response positions go
through the output head.

Reading the final hidden states and applying the output embedding is how logits are made in most
causal LMs but not all (soft-capping, logit scales); :func:`packing_reproduces_padding` checks it on
the first batch of each architecture against the model's own padded forward, and callers fall back to
padded scoring when it does not hold.
"""

from __future__ import annotations

from contextlib import nullcontext
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from bench.data.tokenize import Batch
from bench.models.adapters import unwrapped_causal_lm
from bench.models.fsdp_forward import in_forward
from bench.models.head_logps import head_token_logps, plain_head
from bench.models.residual import PooledFeatures, block_output

PROBE_TOLERANCE = {torch.float32: (1e-3, 0.0), torch.float64: (1e-6, 0.0)}
"""(atol, rtol) of |packed - padded| token log-probs accepted by the probe; half precision: :data:`HALF_TOLERANCE`."""
HALF_TOLERANCE = (0.1, 0.02)
"""bf16 rounds a log-prob of -14 to within about 0.06: on an H200 a 0.5B bf16 model's packed and padded scores of
the same batch differed by up to 0.055 (mean 0.0097) over 430-token sequences, and nondeterministic kernels put that
either side of a 0.05 bound, so the probe's verdict (and the step time, 0.14 or 0.84 s) changed between identical
runs. What the probe must catch, logits that are not the head of the last hidden state (soft-capping, scaling),
moves log-probs by a large fraction of their size, far past this bound."""
PROBE_PROMPTS = 2
"""Prompts (with all their responses) the probe scores both ways. Whether packing reproduces padding is a property
of the architecture, and the padded side materialises full-vocabulary logits: on a reference pass's first batch
(64 prompts of SmolLM2) probing all of it took two extra forward passes and most of the run's peak memory."""
_VERDICTS: dict[tuple, bool] = {}
"""The probe's verdict per architecture (see :func:`architecture_key`)."""


@dataclass(frozen=True)
class PackedBatch:
    """Rows of end-to-end sequences and where each response token's prediction sits in them."""

    input_ids: Tensor
    """[rows, C] token ids; C is the longest sequence of the batch."""
    position_ids: Tensor
    """[rows, C] positions restarting at 0 for every sequence (and for the filler at a row's end)."""
    source: Tensor
    """[N] flat index into the [rows * C] hidden states whose output predicts each response token."""
    targets: Tensor
    """[N] the response tokens."""
    layout: tuple[Tensor, Tensor]
    """(row, column) of each of the N response tokens in the batch's [R, T] response layout."""


def pack(batch: Batch) -> PackedBatch:
    """Place the batch's sequences first-fit-decreasing into rows of the longest sequence's length."""
    start = batch.response_start
    prompt_lengths = batch.attention_mask[:, :start].sum(1).tolist()
    response_lengths = batch.response_mask.sum(1).tolist()
    lengths = [p + r for p, r in zip(prompt_lengths, response_lengths, strict=True)]
    capacity = max(lengths)
    rows: list[list[int]] = []  # sequence ids per packed row
    room: list[int] = []
    for sequence in sorted(range(len(lengths)), key=lambda i: (-lengths[i], i)):
        row = next((k for k, free in enumerate(room) if free >= lengths[sequence]), None)
        if row is None:
            rows.append([])
            room.append(capacity)
            row = len(rows) - 1
        rows[row].append(sequence)
        room[row] -= lengths[sequence]
    device = batch.input_ids.device
    # Filler at a row's end is token 0 in a segment of its own: nothing attends to it, nothing reads it.
    input_ids = torch.zeros((len(rows), capacity), dtype=torch.long, device=device)
    position_ids = torch.zeros((len(rows), capacity), dtype=torch.long, device=device)
    source, targets, layout_rows, layout_cols = [], [], [], []
    for k, members in enumerate(rows):
        offset = 0
        for sequence in members:
            p, r = prompt_lengths[sequence], response_lengths[sequence]
            input_ids[k, offset:offset + p + r] = batch.input_ids[sequence, start - p:start + r]
            position_ids[k, offset:offset + p + r] = torch.arange(p + r, device=device)
            first = k * capacity + offset + p - 1  # the prompt's last token predicts response token 0
            source.append(torch.arange(first, first + r, device=device))
            targets.append(batch.input_ids[sequence, start:start + r])
            layout_rows.append(torch.full((r,), sequence, dtype=torch.long, device=device))
            layout_cols.append(torch.arange(r, device=device))
            offset += p + r
        position_ids[k, offset:] = torch.arange(capacity - offset, device=device)
    return PackedBatch(input_ids, position_ids, torch.cat(source), torch.cat(targets),
                       (torch.cat(layout_rows), torch.cat(layout_cols)))


def _first_prompts(batch: Batch, prompts: int) -> Batch:
    """The rows of ``batch``'s first ``prompts`` prompts (each with its n responses), in the same layout."""
    rows = min(batch.input_ids.shape[0], prompts * batch.n)
    return Batch(batch.input_ids[:rows], batch.attention_mask[:rows], batch.position_ids[:rows],
                 batch.response_mask[:rows], batch.response_start, batch.indices[:rows // batch.n], batch.n)


def packed_scores(model: torch.nn.Module, batch: Batch, full_distribution: bool = False,
                  pooled: PooledFeatures | None = None) -> tuple[Tensor, Tensor | None, Tensor | None]:
    """Token log-probs [R, T] (and log-distributions [R, T, V]) of ``batch`` from one packed forward.

    With ``pooled``, the third value is the per-response mean over the positions holding response
    tokens of ``pooled``'s features of the residual stream after its block, [R, F]; else None.
    """
    packed = pack(batch)
    token_logps, logits, captured = in_forward(model, _packed_forward, model, packed, full_distribution, pooled)
    shape = batch.response_mask.shape
    rows, cols = packed.layout
    out = token_logps.new_zeros(shape).index_put((rows, cols), token_logps)
    features = None
    if pooled:  # response token t sits one position after the one that predicts it
        residuals = captured.reshape(-1, captured.shape[-1]).index_select(0, packed.source + 1)
        per_token = pooled.apply(residuals)
        lengths = torch.bincount(rows, minlength=shape[0]).clamp(min=1).to(per_token.dtype)
        features = per_token.new_zeros((shape[0], per_token.shape[-1])).index_add(0, rows, per_token)
        features = features / lengths.unsqueeze(-1)
    if not full_distribution:
        return out, None, features
    distributions = logits.new_zeros((*shape, logits.shape[-1])).index_put((rows, cols), logits.log_softmax(-1))
    return out, distributions, features


def _packed_forward(model: torch.nn.Module, packed: PackedBatch, full_distribution: bool,
                    pooled: PooledFeatures | None) -> tuple[Tensor, Tensor | None, Tensor | None]:
    """The decoder body over the packed rows and the head at response positions: token log-probs [N], the logits
    [N, V] when full distributions are asked for (or the head is wrapped), and the residual stream after
    ``pooled``'s block when given. One call, so a sharded model runs it inside its forward hooks."""
    causal_lm = unwrapped_causal_lm(model)
    with block_output(model, pooled.layer) if pooled else nullcontext() as captured:
        hidden = causal_lm.base_model(input_ids=packed.input_ids, position_ids=packed.position_ids,
                                      use_cache=False).last_hidden_state
    hidden = hidden.reshape(-1, hidden.shape[-1]).index_select(0, packed.source)
    head = plain_head(causal_lm)
    logits = None
    if head is not None and not full_distribution:
        token_logps = head_token_logps(hidden, head, packed.targets)
    else:  # a wrapped head (an adapter on it) or full distributions asked for: the logits are needed anyway
        logits = causal_lm.get_output_embeddings()(hidden).float()
        token_logps = -F.cross_entropy(logits, packed.targets, reduction="none")
    return token_logps, logits, captured[0] if pooled else None


def architecture_key(model: torch.nn.Module) -> tuple:
    """What decides whether packing reproduces padding: the model's code, config, attention kernel and dtype.

    Not its weights: whether logits are the output head of the last hidden state and whether the body
    honours restarting positions are properties of the architecture, so every checkpoint of one run
    (a job's policy, its evaluation, the next job's) shares one probe instead of paying one each.
    """
    config = getattr(model, "config", None)
    described = config.to_json_string(use_diff=False) if hasattr(config, "to_json_string") else repr(config)
    parameter = next(model.parameters())
    return (type(model), described, getattr(config, "_attn_implementation", None), parameter.dtype,
            parameter.device.type)


def packing_reproduces_padding(model: torch.nn.Module, batch: Batch, padded_scores) -> bool:
    """Whether packed scoring equals ``padded_scores(model, batch)`` on the first rows of this batch (checked once
    per architecture)."""
    key = architecture_key(model)
    if key in _VERDICTS:
        return _VERDICTS[key]
    causal_lm = unwrapped_causal_lm(model)
    if causal_lm.base_model is causal_lm or causal_lm.get_output_embeddings() is None:
        _VERDICTS[key] = False
        return False
    was_training = model.training
    model.eval()
    batch = _first_prompts(batch, PROBE_PROMPTS)
    try:
        with torch.no_grad():
            packed, _, _ = packed_scores(model, batch)
            padded = padded_scores(model, batch)
        atol, rtol = PROBE_TOLERANCE.get(next(model.parameters()).dtype, HALF_TOLERANCE)
        verdict = bool(torch.allclose(packed, padded, atol=atol, rtol=rtol))
    except (TypeError, ValueError, RuntimeError, AttributeError):
        verdict = False  # an architecture whose body does not take packed positions
    finally:
        model.train(was_training)
    _VERDICTS[key] = verdict
    return verdict
