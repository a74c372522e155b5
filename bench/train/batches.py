"""Where a training micro-batch comes from: the offline dataset, or the current policy (online).

Both sources are pure functions of (seed, global micro-batch number): a killed run that resumes at
step s sees exactly the batches it would have seen, with no data-loader state to save.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

from bench.data.tokenize import Batch, TokenizedDataset, collate, collate_rows
from bench.errors import ConfigError
from bench.models.sampling import SamplingParams, sample_token_ids

RewardFunction = Callable[[Sequence[str], Sequence[str]], Sequence[float]]
"""Scores responses (second argument) to prompts (first argument); the run's reward for online objectives."""


class EpochOrder:
    """Shuffled epochs of ``size`` items cut into batches of ``batch_size`` (last partial batch dropped)."""

    def __init__(self, size: int, batch_size: int, seed: int) -> None:
        if batch_size > size:
            raise ConfigError(f"train.micro_batch_size={batch_size} exceeds the {size} training rows; "
                              f"lower it or add data")
        self.size, self.batch_size, self.seed = size, batch_size, seed
        self.per_epoch = size // batch_size
        self._epoch, self._order = -1, torch.empty(0, dtype=torch.long)

    def indices(self, number: int) -> torch.Tensor:
        """Row indices of global batch ``number``."""
        epoch, offset = divmod(number, self.per_epoch)
        if epoch != self._epoch:
            generator = torch.Generator().manual_seed(self.seed * 100_003 + epoch)
            self._epoch, self._order = epoch, torch.randperm(self.size, generator=generator)
        return self._order[offset * self.batch_size:(offset + 1) * self.batch_size]


class OfflineBatches:
    """Micro-batches of dataset rows, with their mismatched twins when the objective asks for them."""

    def __init__(self, data: TokenizedDataset, batch_size: int, seed: int, mismatched: bool) -> None:
        self.data, self.mismatched = data, mismatched
        self.order = EpochOrder(len(data), batch_size, seed)

    def get(self, number: int, model: torch.nn.Module) -> tuple[Batch, Batch | None]:
        rows = self.order.indices(number)
        twin = collate_rows(self.data, rows, mismatched=True) if self.mismatched else None
        return collate_rows(self.data, rows), twin


class OnlineBatches:
    """Micro-batches sampled from the current policy and scored by the run's reward function."""

    def __init__(self, prompts: list[str], prompt_ids: list[list[int]], batch_size: int, seed: int,
                 sampling: SamplingParams, rewards: Callable[[int], RewardFunction], tokenizer) -> None:
        """``rewards(seed)`` is the reward function with its noise seeded by ``seed``: each micro-batch's scores
        come from a function seeded by the micro-batch's number, so they do not depend on which micro-batches
        were scored before it in this process (a resumed run, or a launch's processes, score the same)."""
        self.prompts, self.prompt_ids = prompts, prompt_ids
        self.sampling, self.rewards, self.tokenizer = sampling, rewards, tokenizer
        self.seed = seed
        self.order = EpochOrder(len(prompts), batch_size, seed)

    def get(self, number: int, model: torch.nn.Module) -> tuple[Batch, Batch | None]:
        rows = self.order.indices(number)
        prompt_ids = [self.prompt_ids[i] for i in rows.tolist()]
        was_training = model.training
        model.eval()
        seed = self.seed * 7919 + number
        samples = sample_token_ids(model, prompt_ids, self.sampling, self.tokenizer.pad_token_id,
                                   self.tokenizer.eos_token_id, generator_seed=seed)
        model.train(was_training)
        texts = [self.tokenizer.decode(s, skip_special_tokens=True) for group in samples for s in group]
        prompts = [self.prompts[i] for i in rows.tolist() for _ in range(self.sampling.n)]
        scores = torch.tensor(list(self.rewards(seed)(prompts, texts)), dtype=torch.float32)
        scores = scores.view(len(prompt_ids), self.sampling.n)
        return collate(prompt_ids, samples, self.tokenizer.pad_token_id, rows, {"scores": scores}), None
