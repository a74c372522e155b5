"""Sampling with vLLM (GPU only; an optional extra whose wheel pins its own torch)."""

from __future__ import annotations

from pathlib import Path

from bench.data.tokenize import encode_prompts
from bench.models.loading import load_tokenizer
from bench.models.sampling import SamplingParams


def sample_texts(model_dir: Path, prompts: list[str], params: SamplingParams, max_prompt_tokens: int,
                 batch_prompts: int, dtype: str) -> list[list[str]]:
    """``params.n`` samples per prompt from vLLM with the same sampling parameters as transformers."""
    import vllm

    tokenizer = load_tokenizer(model_dir)
    llm = vllm.LLM(model=str(model_dir), dtype="bfloat16" if dtype == "auto" else dtype, seed=params.seed,
                   max_model_len=max_prompt_tokens + params.max_new_tokens)
    sampling = vllm.SamplingParams(n=params.n, temperature=params.temperature, top_p=params.top_p,
                                   max_tokens=params.max_new_tokens, seed=params.seed)
    encoded = encode_prompts(tokenizer, prompts, max_prompt_tokens)
    outputs = llm.generate([{"prompt_token_ids": ids} for ids in encoded], sampling)
    return [[o.text.strip() for o in out.outputs] for out in outputs]
