"""Sampling responses from a causal LM with transformers' ``generate``.

Shared by the generation backend (evaluation samples) and the trainer (on-policy objectives), so a
sample drawn during online training and one drawn for evaluation come from the same code.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import Tensor
from torch.distributed.fsdp import FSDPModule


@dataclass(frozen=True)
class SamplingParams:
    """Sampling settings; part of every generation cache key."""

    max_new_tokens: int = 48
    temperature: float = 1.0
    top_p: float = 1.0
    n: int = 1
    seed: int = 0

    def as_dict(self) -> dict:
        return asdict(self)


def sample_token_ids(model: torch.nn.Module, prompt_ids: list[list[int]], params: SamplingParams,
                     pad_id: int, eos_id: int, generator_seed: int) -> list[list[list[int]]]:
    """``params.n`` sampled continuations per prompt, as token ids ending at (and including) EOS.

    Prompts are left-padded into one batch. Sampling is seeded so the same (model, prompts, params)
    gives the same samples on the same device and library versions (and process count: on-policy objectives
    sample each process's micro-batches where it trains them).
    """
    device = next(model.parameters()).device
    width = max(len(p) for p in prompt_ids)
    input_ids = torch.full((len(prompt_ids), width), pad_id, dtype=torch.long)
    attention = torch.zeros_like(input_ids)
    for i, ids in enumerate(prompt_ids):
        input_ids[i, width - len(ids):] = torch.tensor(ids)
        attention[i, width - len(ids):] = 1
    torch.manual_seed(generator_seed)
    greedy = params.temperature == 0
    sharded = isinstance(model, FSDPModule)
    # FSDP2 writes each gathered block into buffers it reuses for training, which inference tensors cannot be.
    with torch.no_grad() if sharded else torch.inference_mode():
        output: Tensor = model.generate(
            input_ids=input_ids.to(device), attention_mask=attention.to(device),
            do_sample=not greedy, temperature=None if greedy else params.temperature,
            top_p=None if greedy else params.top_p, top_k=0 if not greedy else None,
            max_new_tokens=params.max_new_tokens, num_return_sequences=params.n,
            pad_token_id=pad_id, eos_token_id=eos_id,
            # A sharded policy's processes gather each block's weights together: all must run as many forward
            # passes, so one whose samples all ended keeps stepping until every process's have.
            synced_gpus=sharded)
    continuations = output[:, width:].tolist()
    samples = []
    for row in continuations:
        samples.append(row[: row.index(eos_id) + 1] if eos_id in row else row)
    return [samples[i * params.n:(i + 1) * params.n] for i in range(len(prompt_ids))]
