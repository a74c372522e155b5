"""Batched sampling with transformers' ``generate`` (the CPU path and the default)."""

from __future__ import annotations

from pathlib import Path

import torch

from bench.data.tokenize import encode_prompts
from bench.models.loading import load_causal_lm, load_tokenizer
from bench.models.sampling import SamplingParams, sample_token_ids
from bench.progress import progress


def sample_texts(model_dir: Path, prompts: list[str], params: SamplingParams, max_prompt_tokens: int,
                 batch_prompts: int, dtype: str) -> list[list[str]]:
    """``params.n`` decoded samples per prompt, generated in batches of ``batch_prompts`` prompts."""
    tokenizer = load_tokenizer(model_dir)
    model = load_causal_lm(model_dir, dtype=dtype)
    if torch.cuda.is_available():
        model = model.cuda()
    model.eval()
    prompt_ids = encode_prompts(tokenizer, prompts, max_prompt_tokens)
    samples: list[list[str]] = []
    starts = range(0, len(prompts), batch_prompts)
    for start in progress(starts, len(starts), f"generation ({len(prompts)} prompts x {params.n})"):
        chunk = prompt_ids[start:start + batch_prompts]
        ids = sample_token_ids(model, chunk, params, tokenizer.pad_token_id, tokenizer.eos_token_id,
                               generator_seed=params.seed * 1_000_003 + start)
        samples.extend([tokenizer.decode(s, skip_special_tokens=True).strip() for s in group] for group in ids)
    return samples
