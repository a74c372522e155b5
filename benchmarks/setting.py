"""The benchmark setting of issue 6, built offline: a tiny Llama from a config and 512 preference rows.

Both trainers under test (TRL's DPOTrainer and bench's) read exactly these files: the model directory
(initial weights, seed 0, which is also the reference), the tokenizer, and ``pairs.jsonl`` in bench's
record format. The rows come from the gym language (prompts and responses it samples, chosen by the
gold reward), so no reference model has to be trained to make them. ``order`` is the row order of
the 100 training steps, fixed here and fed to both trainers so their arithmetic can be compared.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

ROWS = 512
PAIRS_PER_STEP = 16
STEPS = 100
LR = 1e-3
WARMUP = 10
BETA = 0.1
THREADS = 2
MAX_PROMPT_TOKENS = 64
MAX_RESPONSE_TOKENS = 48
SEED = 0
MODEL = {"hidden_size": 128, "num_hidden_layers": 5, "num_attention_heads": 4, "intermediate_size": 384}
"""About 1.1M parameters with the gym vocabulary (the issue's model size)."""


@dataclass(frozen=True)
class Setting:
    directory: Path

    @property
    def model_dir(self) -> Path:
        return self.directory / "model"

    @property
    def pairs_path(self) -> Path:
        return self.directory / "pairs.jsonl"

    def order(self) -> list[int]:
        return json.loads((self.directory / "order.json").read_text())


def limit_threads() -> None:
    """Both trainers get the same two threads (the machine of the issue)."""
    os.environ.setdefault("OMP_NUM_THREADS", str(THREADS))
    torch.set_num_threads(THREADS)


def build_setting(directory: Path) -> Setting:
    """Write the model, tokenizer, rows and step order under ``directory`` (skipped when present)."""
    from transformers import LlamaConfig, LlamaForCausalLM

    from bench.data.records import Example, Response, save_jsonl
    from bench.gym.language import Language
    from bench.gym.reward import gold_reward
    from bench.gym.tokenizer import build_tokenizer
    from bench.train.batches import EpochOrder

    setting = Setting(Path(directory))
    if (setting.directory / "order.json").exists():
        return setting
    language = Language()
    tokenizer = build_tokenizer(language, setting.model_dir)
    rng = np.random.default_rng(SEED)
    prompts = language.prompts()
    rows = []
    for i in range(ROWS):
        prompt = prompts[int(rng.integers(len(prompts)))]
        a, b = language.sample_response(prompt, rng), language.sample_response(prompt, rng)
        chosen, rejected = (a, b) if gold_reward(prompt, a) >= gold_reward(prompt, b) else (b, a)
        rows.append(Example(id=f"bench-{i}", prompt=prompt, responses=(Response(chosen), Response(rejected)),
                            kind="pairs"))
    save_jsonl(setting.pairs_path, rows)
    torch.manual_seed(SEED)
    config = LlamaConfig(vocab_size=len(tokenizer), max_position_embeddings=160, tie_word_embeddings=True,
                         num_key_value_heads=MODEL["num_attention_heads"], pad_token_id=tokenizer.pad_token_id,
                         bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id, **MODEL)
    LlamaForCausalLM(config).save_pretrained(setting.model_dir)
    epoch_order = EpochOrder(ROWS, PAIRS_PER_STEP, SEED)
    order = [int(i) for step in range(STEPS) for i in epoch_order.indices(step)]
    (setting.directory / "order.json").write_text(json.dumps(order))
    return setting
