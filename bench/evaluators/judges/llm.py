"""The ``llm`` judge: a local causal LM compares two responses, read from its next-token log-probabilities.

As in alpaca_eval's logprob judges, the model is shown the instruction and two responses and asked for
the better one's number; instead of sampling an answer, one forward pass gives the logits of the two
verdict tokens after the prompt, and P(first is better) is the softmax over just those two (so the
mass the model puts on other tokens does not matter and there is no parsing). LLM judges favour a
position, so each pair is asked in both orders and the verdicts averaged: P(a better) is the mean of
P("1" | a shown first) and P("2" | a shown second). The single-order verdicts stay available
(:meth:`LLMJudge.order_preferences`) for the ``position_bias`` evaluator.

The comparison prompt (:data:`COMPARISON_TEMPLATE`) is bench's own wording. It goes into the judge
model's chat template as one user turn, and the verdict token is the first token of the assistant's
reply; without a chat template the prompt is followed by :data:`PLAIN_ANSWER_CUE` and the verdict by a
space. Its hash, with the chat template's, is part of the judge's identity.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch

from bench.data.conversation import as_text
from bench.errors import BenchError, ConfigError
from bench.evaluators.judges.interface import OrderedJudge
from bench.evaluators.judges.model_files import model_fingerprint, resolve_local_model
from bench.fingerprint import fingerprint
from bench.models.loading import load_causal_lm, load_tokenizer
from bench.progress import progress

COMPARISON_TEMPLATE = (
    "Two assistants answered the same instruction. Decide which answer serves the person who wrote the "
    "instruction better: it should follow the instruction, be correct and be relevant. Judge the content "
    "only; the order of the answers and their length are not merits.\n\n"
    "Instruction:\n{instruction}\n\n"
    "Answer 1:\n{first}\n\n"
    "Answer 2:\n{second}\n\n"
    "Which answer is better? Reply with its number only: 1 or 2."
)
"""The comparison prompt; ``{first}`` and ``{second}`` are the two responses in the order shown."""
PLAIN_ANSWER_CUE = "\n\nBetter answer:"
"""Ends the prompt of a judge model without a chat template; the verdict follows after a space."""
DEFAULT_VERDICTS: tuple[str, str] = ("1", "2")
DEFAULT_BATCH_SIZE = 8
"""Comparisons per forward pass; each is two prompts (both orders)."""
DEFAULT_MAX_TOKENS = 4096
TRUNCATION_MARK = " [...]"
"""Ends an answer the judge was shown only the start of (``max_answer_tokens``)."""


class LLMJudge(OrderedJudge):
    """A local pairwise judge: both orders, one forward pass each, verdict-token log-probabilities."""

    name: ClassVar[str] = "llm"

    def __init__(self, model: str | Path, verdicts: Sequence[str] = DEFAULT_VERDICTS,
                 batch_size: int = DEFAULT_BATCH_SIZE, max_tokens: int = DEFAULT_MAX_TOKENS, dtype: str = "auto",
                 trust_remote_code: bool = False, device: str | None = None,
                 max_answer_tokens: int | None = None) -> None:
        verdicts = tuple(str(v) for v in verdicts)
        if len(verdicts) != 2 or verdicts[0] == verdicts[1] or not all(v.strip() for v in verdicts):
            raise ConfigError(f"judge llm: verdicts={list(verdicts)} must be two different non-blank strings, the "
                              f"answers meaning 'first is better' and 'second is better'")
        if batch_size < 1 or max_tokens < 2:
            raise ConfigError(f"judge llm: batch_size={batch_size} and max_tokens={max_tokens} must be >= 1 and >= 2")
        self.path = resolve_local_model(model, self.name, trust_remote_code)
        if max_answer_tokens is not None and max_answer_tokens < 1:
            raise ConfigError(f"judge llm: max_answer_tokens={max_answer_tokens} must be >= 1 (or null for whole "
                              f"answers)")
        self.verdicts, self.batch_size, self.max_tokens = verdicts, batch_size, max_tokens
        self.max_answer_tokens = max_answer_tokens
        self.dtype, self.trust_remote_code = dtype, trust_remote_code
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")

    @cached_property
    def tokenizer(self):
        tokenizer = load_tokenizer(self.path, trust_remote_code=self.trust_remote_code)
        tokenizer.padding_side = "left"  # the verdict logits are then the last column of every row
        return tokenizer

    @cached_property
    def model(self) -> torch.nn.Module:
        return load_causal_lm(self.path, dtype=self.dtype, trust_remote_code=self.trust_remote_code
                              ).to(self.device).eval()

    @property
    def _chat(self) -> bool:
        return bool(getattr(self.tokenizer, "chat_template", None))

    def identity(self) -> dict[str, Any]:
        template = {"comparison": COMPARISON_TEMPLATE, "plain_cue": PLAIN_ANSWER_CUE, "verdicts": self.verdicts,
                    "chat_template": getattr(self.tokenizer, "chat_template", None)}
        return {"name": self.name, "model_fingerprint": model_fingerprint(self.path),
                "prompt_template_hash": fingerprint(template), "verdicts": list(self.verdicts),
                "orders": "both, averaged", "max_answer_tokens": self.max_answer_tokens}

    def shown(self, answer: str) -> str:
        """An answer as the judge reads it: whole, or its first ``max_answer_tokens`` tokens and an ellipsis (a
        small local judge's context, and its cost on a CPU, do not fit long answers)."""
        if self.max_answer_tokens is None:
            return answer
        ids = self.tokenizer(answer, add_special_tokens=False)["input_ids"]
        return answer if len(ids) <= self.max_answer_tokens else self.tokenizer.decode(
            ids[:self.max_answer_tokens]) + TRUNCATION_MARK

    def render(self, instruction: str, first: str, second: str) -> str:
        """The exact text the judge model reads before its verdict, with ``first`` shown as answer 1."""
        question = COMPARISON_TEMPLATE.format(instruction=instruction, first=self.shown(first),
                                              second=self.shown(second))
        if self._chat:
            return self.tokenizer.apply_chat_template([{"role": "user", "content": question}], tokenize=False,
                                                      add_generation_prompt=True)
        return question + PLAIN_ANSWER_CUE

    def _encode(self, texts: list[str]) -> list[list[int]]:
        # A chat template writes its own BOS; a plain prompt gets the tokenizer's usual special tokens.
        return self.tokenizer(texts, add_special_tokens=not self._chat)["input_ids"]

    @cached_property
    def verdict_ids(self) -> tuple[int, int]:
        """The token ids of the two verdicts, as the tokenizer splits them right after a rendered prompt."""
        probe = self.render("instruction", "answer", "answer")
        separator = "" if self._chat else " "
        prompt_ids, *with_verdicts = self._encode([probe, *(probe + separator + v for v in self.verdicts)])
        ids = []
        for verdict, full in zip(self.verdicts, with_verdicts, strict=True):
            if len(full) != len(prompt_ids) + 1 or full[:-1] != prompt_ids:
                raise ConfigError(f"judge llm: verdict {verdict!r} is not one token after the prompt for this "
                                  f"tokenizer ({len(full) - len(prompt_ids)} tokens); pass verdicts=[...] that are "
                                  f"single tokens of {self.path}")
            ids.append(full[-1])
        if ids[0] == ids[1] or self.tokenizer.unk_token_id in ids:
            raise ConfigError(f"judge llm: verdicts {list(self.verdicts)} map to token ids {ids} (unknown or equal) "
                              f"in {self.path}'s tokenizer; pass verdicts=[...] that are distinct known tokens")
        return ids[0], ids[1]

    def first_verdict_probability(self, pairs: Sequence[tuple[str, str]]) -> np.ndarray:
        """P(verdict 1) = softmax over the two verdict-token logits after each rendered prompt, shape [n, 2].

        The two texts of a pair (the two orders of one comparison) always share a batch and its padding,
        so swapping the responses swaps the two columns and nothing else.
        """
        encoded = [self._encode(list(pair)) for pair in pairs]
        for row, ids in enumerate(x for pair in encoded for x in pair):
            if len(ids) > self.max_tokens:
                raise BenchError(f"judge llm: comparison prompt {row} has {len(ids)} tokens, more than max_tokens="
                                 f"{self.max_tokens}; raise max_tokens (up to the model's context) or shorten the "
                                 f"responses")
        verdicts = list(self.verdict_ids)
        pad = self.tokenizer.pad_token_id
        order = np.argsort([max(map(len, pair)) for pair in encoded], kind="stable")  # similar lengths batch up
        out = np.empty((len(pairs), 2), dtype=np.float64)
        with torch.inference_mode():
            starts = range(0, len(order), self.batch_size)
            for start in progress(starts, len(starts), f"judge llm ({len(pairs)} comparisons, both orders)"):
                rows = [ids for i in order[start:start + self.batch_size] for ids in encoded[i]]
                width = max(map(len, rows))
                input_ids = torch.tensor([[pad] * (width - len(ids)) + ids for ids in rows], device=self.device)
                mask = torch.tensor([[0] * (width - len(ids)) + [1] * len(ids) for ids in rows], device=self.device)
                positions = (mask.cumsum(-1) - 1).clamp(min=0)  # left padding must not shift positions
                logits = self.model(input_ids=input_ids, attention_mask=mask, position_ids=positions,
                                    logits_to_keep=1, use_cache=False).logits[:, -1]
                first = torch.softmax(logits[:, verdicts].double(), dim=-1)[:, 0]
                out[order[start:start + self.batch_size]] = first.view(-1, 2).cpu().numpy()
        return out

    def order_preferences(self, prompts: Sequence[str], a: Sequence[str], b: Sequence[str]
                          ) -> tuple[np.ndarray, np.ndarray]:
        """(P(a better) with a shown first, P(a better) with a shown second), one forward pass each."""
        if not len(prompts) == len(a) == len(b):
            raise BenchError(f"judge llm: {len(prompts)} prompts, {len(a)} and {len(b)} responses; pass one pair "
                             f"per prompt")
        first = self.first_verdict_probability([(self.render(as_text(p), x, y), self.render(as_text(p), y, x))
                                                for p, x, y in zip(prompts, a, b, strict=True)])
        return first[:, 0], 1.0 - first[:, 1]
