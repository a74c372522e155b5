"""Generation: one entry point, two backends, outputs cached by content.

``generate`` returns ``samples_per_prompt`` responses for each prompt from a checkpoint directory.
vLLM is used when it imports and CUDA is present (or when asked), transformers' ``generate``
otherwise; both take the same :class:`SamplingParams`. Outputs are cached under
(checkpoint fingerprint, prompts fingerprint, sampling parameters, backend) in alpaca_eval's field
names (``instruction``, ``output``, ``generator``), so they feed alpaca_eval unchanged.
"""

from __future__ import annotations

import importlib.util
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from bench import failpoints
from bench.cached import cached_record
from bench.errors import BenchError
from bench.fingerprint import directory_fingerprint, fingerprint
from bench.models.loading import dtype_name
from bench.models.sampling import SamplingParams
from bench.source_fingerprint import source_fingerprint

BACKENDS = ("auto", "transformers", "vllm")


@dataclass
class Generations:
    """Samples [prompt][k] plus where they came from and what they cost."""

    prompts: list[str]
    samples: list[list[str]]
    backend: str
    seconds: float
    cached: bool
    path: Path


def vllm_available() -> bool:
    """vLLM is used only where it is installed and a CUDA device is present."""
    return importlib.util.find_spec("vllm") is not None and torch.cuda.is_available()


def choose_backend(requested: str) -> str:
    if requested not in BACKENDS:
        raise BenchError(f"generate.backend={requested!r}: use one of {', '.join(BACKENDS)}")
    if requested == "auto":
        return "vllm" if vllm_available() else "transformers"
    if requested == "vllm" and not vllm_available():
        raise BenchError("generate.backend=vllm but vLLM is not installed or no GPU is present; "
                         "install the vllm extra on a GPU machine or use generate.backend=transformers")
    return requested


def generate(model_dir: Path, prompts: list[str], params: SamplingParams, cache_dir: Path,
             max_prompt_tokens: int, generator_name: str, backend: str = "auto",
             batch_prompts: int = 128, dtype: str = "auto") -> Generations:
    """Sample ``params.n`` responses per prompt from the checkpoint at ``model_dir`` (cached).

    The key holds everything the samples depend on: the model's files and dtype, the prompts, the sampling
    parameters, the backend, the prompt batch (each batch draws from its own seed) and the generation code.
    """
    backend = choose_backend(backend)
    if backend == "vllm":
        from bench.generate.vllm_backend import sample_texts
    else:
        from bench.generate.transformers_backend import sample_texts
    key = fingerprint({"model": directory_fingerprint(Path(model_dir)), "dtype": dtype_name(dtype), "prompts": prompts,
                       "sampling": params.as_dict(), "backend": backend, "max_prompt_tokens": max_prompt_tokens,
                       "batch_prompts": batch_prompts, "code": source_fingerprint(sample_texts)})
    path = Path(cache_dir) / "generations" / f"{key}.json"
    started = time.perf_counter()

    def compute() -> dict:
        samples = sample_texts(Path(model_dir), prompts, params, max_prompt_tokens, batch_prompts, dtype)
        failpoints.reached("generation")
        return {"rows": [{"instruction": p, "output": s, "generator": generator_name, "sample": j}
                         for p, group in zip(prompts, samples, strict=True) for j, s in enumerate(group)]}

    record, computed = cached_record(path, compute, f"the samples of {generator_name}")
    samples = _group(record["rows"], len(prompts), params.n, path)
    return Generations(prompts, samples, backend, time.perf_counter() - started if computed else 0.0,
                       not computed, path)


def _group(rows: list[dict], n_prompts: int, k: int, path: Path) -> list[list[str]]:
    if len(rows) != n_prompts * k:
        raise BenchError(f"{path}: holds {len(rows)} samples, expected {n_prompts * k}; delete it and run again")
    return [[rows[i * k + j]["output"] for j in range(k)] for i in range(n_prompts)]
