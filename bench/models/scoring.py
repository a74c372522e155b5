"""Per-sample statistics of given (prompt, response) texts under a model, for evaluation.

The KL evaluator needs log pi(y|x) and log pi_ref(y|x) of the policy's own samples, the entropy
evaluator the policy's predictive entropy along them; both re-tokenise the samples in the training
layout and score them without gradients, so an evaluation reads the model exactly as training did.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch import Tensor

from bench.data.tokenize import Batch, collate, encode_prompts, encode_responses
from bench.models.logprobs import response_scores
from bench.progress import progress

SCORE_BATCH_PROMPTS = 64
ENTROPY_BATCH_FLOATS = 2**26
"""Size of the [rows, T, V] distribution tensor one entropy batch may hold (256 MB in float32; the
log-softmax and its probabilities make a few copies). Full-vocabulary distributions are what makes
entropy costly for a real model (V ~ 10^5), so its batches are sized by this, not by prompt count."""


def _score_samples(model: torch.nn.Module, tokenizer, prompts: list[str], samples: list[list[str]],
                   max_prompt_tokens: int, max_response_tokens: int, batch_prompts: int,
                   per_row: Callable[[Batch], tuple[Tensor, ...]]) -> list[np.ndarray]:
    """Apply ``per_row`` (a batch -> statistics of [rows] each) to every sample; returns one [P, k] per statistic."""
    k = len(samples[0])
    prompt_ids = encode_prompts(tokenizer, prompts, max_prompt_tokens)
    flat = encode_responses(tokenizer, [p for p, group in zip(prompts, samples, strict=True) for _ in group],
                            [s for group in samples for s in group], max_response_tokens)
    device = next(model.parameters()).device
    out: list[np.ndarray] = []
    model.eval()
    with torch.inference_mode():
        starts = range(0, len(prompts), batch_prompts)
        for start in progress(starts, len(starts), f"scoring ({len(prompts)} prompts x {k} samples)"):
            stop = min(start + batch_prompts, len(prompts))
            responses = [flat[i * k:(i + 1) * k] for i in range(start, stop)]
            batch = collate(prompt_ids[start:stop], responses, tokenizer.pad_token_id).to(device)
            statistics = per_row(batch)
            out = out or [np.zeros((len(prompts), k)) for _ in statistics]
            for array, statistic in zip(out, statistics, strict=True):
                array[start:stop] = statistic.view(stop - start, k).double().cpu().numpy()
    return out


def sequence_logps(model: torch.nn.Module, tokenizer, prompts: list[str], samples: list[list[str]],
                   max_prompt_tokens: int, max_response_tokens: int) -> np.ndarray:
    """Summed response log-probs [P, k] of ``samples[p][j]`` given ``prompts[p]`` under ``model``."""
    (logps,) = _score_samples(model, tokenizer, prompts, samples, max_prompt_tokens, max_response_tokens,
                              SCORE_BATCH_PROMPTS, lambda batch: (response_scores(model, batch).logps,))
    return logps


def mean_token_entropy(log_distributions: Tensor, mask: Tensor) -> Tensor:
    """Mean over real response tokens of H(pi(.|prefix)) in nats, [R]; padding excluded, 0 for none.

    ``torch.special.entr`` gives 0 for a zero probability, so a model that masks tokens with -inf
    logits does not turn the sum into NaN.
    """
    entropy = torch.special.entr(log_distributions.exp()).sum(-1)
    mask = mask.to(entropy.dtype)
    return (entropy * mask).sum(-1) / mask.sum(-1).clamp(min=1.0)


def _vocabulary_size(model: torch.nn.Module) -> int:
    head = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    if head is not None and getattr(head, "weight", None) is not None:
        return int(head.weight.shape[0])
    return int(model.config.vocab_size)


def logps_and_token_entropies(model: torch.nn.Module, tokenizer, prompts: list[str], samples: list[list[str]],
                              max_prompt_tokens: int, max_response_tokens: int) -> tuple[np.ndarray, np.ndarray]:
    """Summed response log-probs and mean per-token predictive entropy [P, k] (nats) of ``samples[p][j]``.

    Both from one forward pass per batch: the entropy needs the full distributions, and the log-probs
    of the sampled tokens are read from them, so an evaluation that needs both (KL and entropy) scores
    the policy's samples once. Each position's entropy is of the model's full next-token distribution
    given the prompt and the response so far, averaged over the response's tokens (EOS included,
    padding not), so a sample's value does not grow with its length (METHODS.md, Metrics: Entropy).
    """
    k = len(samples[0])
    rows_per_prompt = k * max_response_tokens * _vocabulary_size(model)
    batch_prompts = int(min(SCORE_BATCH_PROMPTS, max(1, ENTROPY_BATCH_FLOATS // rows_per_prompt)))

    def per_row(batch: Batch) -> tuple[Tensor, Tensor]:
        scores = response_scores(model, batch, full_distribution=True)
        return scores.logps, mean_token_entropy(scores.log_distributions, scores.mask)

    logps, entropy = _score_samples(model, tokenizer, prompts, samples, max_prompt_tokens, max_response_tokens,
                                    batch_prompts, per_row)
    return logps, entropy
