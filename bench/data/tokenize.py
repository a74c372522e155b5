"""Tokenisation (once per dataset) and collation into the one batch layout every objective shares.

Layout: each row is ``[left padding | prompt | response | right padding]`` with every response
starting at the same column, so per-token statistics of all responses in a batch are one slice
``[:, start-1 : start-1+T]`` of the logits, with no per-row Python indexing in the hot path. Position
ids are computed from the attention mask, so left padding does not shift positions.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import torch
from torch import Tensor

from bench.data.conversation import Prompt, messages
from bench.data.records import Example
from bench.errors import ConfigError, DataError
from bench.fingerprint import fingerprint


@dataclass(frozen=True)
class Truncation:
    """What tokenisation cut to fit the token limits, counted, so a run reports it instead of hiding it.

    A prompt is cut from the left (its end is kept); a response that does not fit with its end-of-sequence
    token keeps its first ``max_response_tokens`` tokens and no end-of-sequence token, so the model is never
    taught to stop where the text was cut. All zeros (the default) means nothing was cut, or not counted.
    """

    prompts: int = 0
    """Prompts tokenised."""
    prompts_cut: int = 0
    responses: int = 0
    """Responses tokenised."""
    responses_cut: int = 0
    max_prompt_tokens: int | None = None
    max_response_tokens: int | None = None

    def message(self) -> str | None:
        """One line saying what was cut (for the run's log), or None when nothing was."""
        parts = []
        if self.responses_cut:
            parts.append(f"{self.responses_cut} of {self.responses} responses longer than "
                         f"data.max_response_tokens={self.max_response_tokens} with their end-of-sequence token "
                         f"were cut (no end-of-sequence token added)")
        if self.prompts_cut:
            parts.append(f"{self.prompts_cut} of {self.prompts} prompts cut from the left to "
                         f"data.max_prompt_tokens={self.max_prompt_tokens}")
        return "; ".join(parts) or None

    def as_dict(self) -> dict[str, int | None]:
        """The counts and limits as plain JSON values (for metrics.json)."""
        return asdict(self)


@dataclass
class TokenizedDataset:
    """A dataset tokenised once: prompt ids per example, response ids per (example, response)."""

    kind: str
    n: int
    prompt_ids: list[list[int]]
    response_ids: list[list[list[int]]]
    scores: Tensor | None
    labels: Tensor | None
    outcomes: Tensor | None
    fingerprint: str
    pad_id: int
    truncation: Truncation = field(default_factory=Truncation)
    """What tokenisation cut (:meth:`Truncation.message` says it in one line)."""

    def __len__(self) -> int:
        return len(self.prompt_ids)


def format_prompt(tokenizer, prompt: Prompt) -> str:
    """The prompt as the model sees it: the chat template with the generation marker, if any.

    A tokenizer without a chat template takes a plain prompt as it is; a conversation needs a template.
    """
    if getattr(tokenizer, "chat_template", None):
        return tokenizer.apply_chat_template(messages(prompt), tokenize=False, add_generation_prompt=True)
    if not isinstance(prompt, str):
        raise ConfigError("a conversation prompt needs a chat template and the model's tokenizer has none; give "
                          "one with model.chat_template=FILE (a Jinja template, e.g. the instruct model's)")
    return prompt


def reply_text(tokenizer, prompt: Prompt, response: str) -> str:
    """The assistant turn ``response`` to ``prompt`` exactly as the chat template renders it after the prompt's
    generation marker (the reply, its end-of-turn token and what the template adds after it); the response and
    the end-of-sequence token for a tokenizer without a template."""
    if not getattr(tokenizer, "chat_template", None):
        return response + (tokenizer.eos_token or "")
    opening = format_prompt(tokenizer, prompt)
    whole = tokenizer.apply_chat_template([*messages(prompt), {"role": "assistant", "content": response}],
                                          tokenize=False)
    if not whole.startswith(opening):
        raise ConfigError("the chat template renders a prompt differently once a reply follows it (the generation "
                          "prompt is not a prefix of the conversation), so the reply's tokens cannot be separated "
                          "from the prompt's; use a template where it is (model.chat_template=FILE)")
    return whole[len(opening):]


def _check_limit(name: str, value: int) -> None:
    if value < 1:
        raise ConfigError(f"{name}={value} leaves no room for tokens; set it to at least 1")


def encode_prompts_with_cuts(tokenizer, prompts: list[Prompt],
                             max_prompt_tokens: int) -> tuple[list[list[int]], list[bool]]:
    """Token ids of formatted prompts, left-truncated to ``max_prompt_tokens`` (keep the end, where the
    question and the generation marker are), and for each prompt whether it was cut."""
    _check_limit("max_prompt_tokens", max_prompt_tokens)
    texts = [format_prompt(tokenizer, p) for p in prompts]
    encoded = tokenizer(texts, add_special_tokens=False)["input_ids"]
    return [ids[-max_prompt_tokens:] for ids in encoded], [len(ids) > max_prompt_tokens for ids in encoded]


def encode_prompts(tokenizer, prompts: list[Prompt], max_prompt_tokens: int) -> list[list[int]]:
    """Token ids of formatted prompts, left-truncated to ``max_prompt_tokens`` (keep the end)."""
    return encode_prompts_with_cuts(tokenizer, prompts, max_prompt_tokens)[0]


def encode_responses_with_cuts(tokenizer, prompts: list[Prompt], responses: list[str],
                               max_response_tokens: int) -> tuple[list[list[int]], list[bool]]:
    """Token ids of each response as the assistant's reply to its prompt, and whether it was cut.

    A reply is what the chat template renders for it (:func:`reply_text`: with a template, its end-of-turn
    token; without one, EOS), tokenised on its own as generation produces it after the prompt. A reply that
    fits is kept whole; a longer one keeps its first ``max_response_tokens`` tokens and so loses its ending,
    and training never teaches the model to stop where the text was cut.
    """
    _check_limit("max_response_tokens", max_response_tokens)
    texts = [reply_text(tokenizer, prompt, response) for prompt, response in zip(prompts, responses, strict=True)]
    encoded = tokenizer(texts, add_special_tokens=False)["input_ids"]
    cut = [len(ids) > max_response_tokens for ids in encoded]
    return [ids[:max_response_tokens] for ids in encoded], cut


def encode_responses(tokenizer, prompts: list[Prompt], responses: list[str],
                     max_response_tokens: int) -> list[list[int]]:
    """Token ids of responses as replies to their prompts, cut to ``max_response_tokens`` where longer."""
    return encode_responses_with_cuts(tokenizer, prompts, responses, max_response_tokens)[0]


def _field(examples: list[Example], name: str) -> Tensor | None:
    values = [[getattr(r, name) for r in ex.responses] for ex in examples]
    if any(v is None for row in values for v in row):
        return None
    return torch.tensor(values, dtype=torch.float32)


def tokenize_dataset(examples: list[Example], tokenizer, max_prompt_tokens: int,
                     max_response_tokens: int, tokenizer_id: str) -> TokenizedDataset:
    """Tokenise ``examples`` (one kind, one n) for training and reference passes, counting what was cut."""
    if not examples:
        raise DataError("the dataset is empty after selection; check data.* and selector settings")
    kind, n = examples[0].kind, examples[0].n
    for ex in examples:
        if ex.n != n:
            raise DataError(f"row {ex.id}: {ex.n} responses where the dataset's rows have {n}; "
                            f"bench batches need the same number of responses per prompt")
    prompt_ids, prompts_cut = encode_prompts_with_cuts(tokenizer, [ex.prompt for ex in examples], max_prompt_tokens)
    flat, responses_cut = encode_responses_with_cuts(tokenizer, [ex.prompt for ex in examples for _ in ex.responses],
                                                     [r.text for ex in examples for r in ex.responses],
                                                     max_response_tokens)
    response_ids = [flat[i * n:(i + 1) * n] for i in range(len(examples))]
    key = fingerprint({"examples": [ex.id for ex in examples], "prompt_ids": prompt_ids,
                       "response_ids": response_ids, "tokenizer": tokenizer_id})
    return TokenizedDataset(kind=kind, n=n, prompt_ids=prompt_ids, response_ids=response_ids,
                            scores=_field(examples, "score"), outcomes=_field(examples, "outcome"),
                            labels=_field(examples, "label"), fingerprint=key, pad_id=tokenizer.pad_token_id,
                            truncation=Truncation(prompts=len(prompt_ids), prompts_cut=sum(prompts_cut),
                                                  responses=len(flat), responses_cut=sum(responses_cut),
                                                  max_prompt_tokens=max_prompt_tokens,
                                                  max_response_tokens=max_response_tokens))


@dataclass
class Batch:
    """B prompts x n responses laid out for one forward pass over B*n rows.

    ``response_start`` is the column of every row's first response token; ``response_mask`` [B*n, T]
    marks real response tokens (T = longest response in the batch).
    """

    input_ids: Tensor
    attention_mask: Tensor
    position_ids: Tensor
    response_mask: Tensor
    response_start: int
    indices: Tensor
    n: int
    fields: dict[str, Tensor] = field(default_factory=dict)
    """Per-response annotations [B, n] the data carries: ``scores``, ``labels``, ``outcomes``."""

    @property
    def size(self) -> int:
        return self.indices.numel()

    @property
    def response_ids(self) -> Tensor:
        """The response tokens [B*n, T] (padding where ``response_mask`` is false)."""
        start = self.response_start
        return self.input_ids[:, start:start + self.response_mask.shape[1]]

    def to(self, device: torch.device) -> Batch:
        return Batch(self.input_ids.to(device), self.attention_mask.to(device), self.position_ids.to(device),
                     self.response_mask.to(device), self.response_start, self.indices, self.n,
                     {name: value.to(device) for name, value in self.fields.items()})


def collate(prompts: list[list[int]], responses: list[list[list[int]]], pad_id: int,
            indices: Tensor | None = None, fields: dict[str, Tensor] | None = None) -> Batch:
    """Lay out B prompts with n responses each (``responses[b][j]``) in the shared batch layout."""
    n = len(responses[0])
    start = max(len(p) for p in prompts)
    longest = max(len(r) for rs in responses for r in rs)
    rows = len(prompts) * n
    input_ids = torch.full((rows, start + longest), pad_id, dtype=torch.long)
    attention = torch.zeros((rows, start + longest), dtype=torch.long)
    response_mask = torch.zeros((rows, longest), dtype=torch.bool)
    for b, (prompt, group) in enumerate(zip(prompts, responses, strict=True)):
        for j, response in enumerate(group):
            row = b * n + j
            input_ids[row, start - len(prompt):start] = torch.tensor(prompt)
            input_ids[row, start:start + len(response)] = torch.tensor(response)
            attention[row, start - len(prompt):start + len(response)] = 1
            response_mask[row, :len(response)] = True
    position_ids = (attention.cumsum(1) - 1).clamp(min=0)
    if indices is None:
        indices = torch.arange(len(prompts))
    return Batch(input_ids, attention, position_ids, response_mask, start, indices, n, fields or {})


def collate_rows(data: TokenizedDataset, indices: Tensor, mismatched: bool = False) -> Batch:
    """Batch of dataset rows ``indices``; ``mismatched`` pairs each prompt with the next row's responses.

    The mismatch is a fixed derangement of the dataset (row i takes row i+1's responses, cyclically),
    so it is the same in every epoch and its reference log-probs can be cached.
    """
    rows = indices.tolist()
    prompts = [data.prompt_ids[i] for i in rows]
    source = [(i + 1) % len(data) for i in rows] if mismatched else rows
    responses = [data.response_ids[i] for i in source]
    fields = {name: value[indices] for name, value in
              (("scores", data.scores), ("labels", data.labels), ("outcomes", data.outcomes))
              if value is not None and not mismatched}
    return collate(prompts, responses, data.pad_id, indices, fields)
