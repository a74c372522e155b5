"""The ``reward-model`` judge: a sequence-classification model's scalar score of (prompt, response).

Reward models (the RewardBench kind: a transformer with a one-logit classification head) are the
cheapest learned judge: one forward pass per response and no pairwise prompt, so no position bias.
The conversation is rendered with the tokenizer's chat template when it has one, as the reward model
saw its training pairs; without one, prompt and response are joined by a blank line. Weights load
from safetensors only, and remote code runs only when asked for.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from transformers import AutoModelForSequenceClassification, PreTrainedModel

from bench.data.conversation import Prompt, as_text, messages
from bench.errors import BenchError, ConfigError
from bench.evaluators.base import PointwiseJudge
from bench.evaluators.judges.model_files import model_fingerprint, resolve_local_model
from bench.fingerprint import fingerprint
from bench.models.loading import load_tokenizer, resolve_dtype
from bench.progress import progress

PLAIN_SEPARATOR = "\n\n"
"""Between prompt and response when the tokenizer has no chat template."""
DEFAULT_BATCH_SIZE = 16
DEFAULT_MAX_TOKENS = 2048
"""Longer conversations keep their end (the response) and lose the start of the prompt."""


def load_sequence_classifier(path: Path, dtype: str = "auto", trust_remote_code: bool = False) -> PreTrainedModel:
    """A sequence-classification model from a local directory, refusing pickle weights."""
    try:
        return AutoModelForSequenceClassification.from_pretrained(
            str(path), dtype=resolve_dtype(dtype), trust_remote_code=trust_remote_code, use_safetensors=True)
    except (OSError, ValueError) as exc:
        raise BenchError(f"judge reward-model: cannot load {path} as a sequence-classification model: "
                         f"{str(exc).splitlines()[0]}; give a save_pretrained directory with *.safetensors") from exc


class RewardModelJudge(PointwiseJudge):
    """Scores each response with the reward model's logit ``label`` (the only one for a one-logit head)."""

    name: ClassVar[str] = "reward-model"

    def __init__(self, model: str | Path, batch_size: int = DEFAULT_BATCH_SIZE, max_tokens: int = DEFAULT_MAX_TOKENS,
                 label: int | None = None, dtype: str = "auto", trust_remote_code: bool = False,
                 device: str | None = None) -> None:
        if batch_size < 1 or max_tokens < 2:
            raise ConfigError(f"judge reward-model: batch_size={batch_size} and max_tokens={max_tokens} must be "
                              f">= 1 and >= 2")
        self.path = resolve_local_model(model, self.name, trust_remote_code)
        if self.path.is_file():
            raise ConfigError(f"judge reward-model: {self.path} is a file; a reward model is a save_pretrained "
                              f"directory (GGUF has no classification heads)")
        self.batch_size, self.max_tokens, self.label = batch_size, max_tokens, label
        self.dtype, self.trust_remote_code = dtype, trust_remote_code
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")

    @cached_property
    def tokenizer(self):
        tokenizer = load_tokenizer(self.path, trust_remote_code=self.trust_remote_code)
        tokenizer.padding_side, tokenizer.truncation_side = "right", "left"
        return tokenizer

    @cached_property
    def model(self) -> PreTrainedModel:
        model = load_sequence_classifier(self.path, self.dtype, self.trust_remote_code)
        labels = model.config.num_labels
        if self.label is None and labels != 1:
            raise ConfigError(f"judge reward-model: {self.path} has {labels} output logits; pass label=<index> to "
                              f"say which one is the reward")
        if self.label is not None and not 0 <= self.label < labels:
            raise ConfigError(f"judge reward-model: label={self.label} but the model has {labels} output logits")
        if model.config.pad_token_id is None:
            # The classification head pools the last non-pad token; batching needs to know which is pad.
            model.config.pad_token_id = self.tokenizer.pad_token_id
        return model.to(self.device).eval()

    def identity(self) -> dict[str, Any]:
        template = getattr(self.tokenizer, "chat_template", None)
        return {"name": self.name, "model_fingerprint": model_fingerprint(self.path),
                "prompt_template_hash": fingerprint({"chat_template": template, "separator": PLAIN_SEPARATOR}),
                "label": self.label or 0, "max_tokens": self.max_tokens}

    def conversation(self, prompt: Prompt, response: str) -> str:
        """The text the reward model scores for one (prompt, response): the whole conversation with the reply."""
        if getattr(self.tokenizer, "chat_template", None):
            return self.tokenizer.apply_chat_template([*messages(prompt), {"role": "assistant", "content": response}],
                                                      tokenize=False)
        return f"{as_text(prompt)}{PLAIN_SEPARATOR}{response}"

    def score(self, prompts: Sequence[str], responses: Sequence[str]) -> np.ndarray:
        if len(prompts) != len(responses):
            raise BenchError(f"judge reward-model: {len(prompts)} prompts but {len(responses)} responses; pass "
                             f"one response per prompt")
        texts = [self.conversation(p, r) for p, r in zip(prompts, responses, strict=True)]
        templated = bool(getattr(self.tokenizer, "chat_template", None))
        scores = np.empty(len(texts), dtype=np.float64)
        with torch.inference_mode():
            starts = range(0, len(texts), self.batch_size)
            for start in progress(starts, len(starts), f"judge reward-model ({len(texts)} responses)"):
                batch = self.tokenizer(texts[start:start + self.batch_size], padding=True, truncation=True,
                                       max_length=self.max_tokens, add_special_tokens=not templated,
                                       return_tensors="pt").to(self.device)
                logits = self.model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
                scores[start:start + len(logits)] = logits[:, self.label or 0].double().cpu().numpy()
        return scores
