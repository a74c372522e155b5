"""The gym's reference (SFT) model: a tiny Llama trained by bench itself on the gym corpus.

It is trained with bench's own loop and the ``sft`` objective, so the reference every objective
starts from is produced by the same machinery it is compared with; it is cached on disk by the hash
of everything that determines it (language, tokenizer, architecture, corpus, optimisation, seed).
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import torch
from transformers import LlamaConfig, LlamaForCausalLM

from bench.data.tokenize import tokenize_dataset
from bench.gym.datasets import demonstrations
from bench.gym.language import Language
from bench.gym.settings import ReferenceModelSettings
from bench.methods import build_objective
from bench.train.batches import OfflineBatches
from bench.train.loop import TrainConfig, train

MAX_POSITIONS = 160


def build_llama(settings: ReferenceModelSettings, tokenizer, seed: int) -> LlamaForCausalLM:
    """A freshly initialised tiny Llama sized for the gym vocabulary."""
    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=settings.hidden_size, num_hidden_layers=settings.layers,
        num_attention_heads=settings.heads, num_key_value_heads=settings.heads,
        intermediate_size=settings.intermediate_size, max_position_embeddings=MAX_POSITIONS,
        tie_word_embeddings=True, pad_token_id=tokenizer.pad_token_id, bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id)
    return LlamaForCausalLM(config)


def train_reference(language: Language, tokenizer, prompts: list[str], settings: ReferenceModelSettings,
                    seed: int, max_prompt_tokens: int, max_response_tokens: int, work_dir: Path,
                    progress: bool) -> Path:
    """Train the reference on ``settings.corpus_per_prompt`` corpus responses per prompt; returns its dir."""
    corpus = language.corpus(prompts, settings.corpus_per_prompt, seed)
    data = tokenize_dataset(demonstrations(corpus), tokenizer, max_prompt_tokens, max_response_tokens,
                            tokenizer_id="gym")
    model = build_llama(settings, tokenizer, seed)
    config = TrainConfig(steps=settings.sft_steps, micro_batch_size=min(settings.sft_batch_size, len(data)),
                         lr=settings.sft_lr, warmup_steps=max(1, settings.sft_steps // 20), scheduler="cosine",
                         weight_decay=0.01, snapshot_every=0)
    result = train(build_objective("sft"), model, tokenizer, OfflineBatches(data, config.micro_batch_size, seed,
                                                                             mismatched=False),
                   reference=None, config=config, run_dir=work_dir, seed=seed, progress=progress,
                   alone=True)  # a launch's main process builds the gym while the others wait for it
    (work_dir / "settings.json").write_text(json.dumps(asdict(settings), indent=2))
    return result.checkpoint
