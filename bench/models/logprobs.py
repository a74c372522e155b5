"""Log-probabilities of responses under a causal LM, in the shared batch layout.

Only the response positions are projected to the vocabulary (``logits_to_keep``), which is where
almost all of the logits memory of a preference batch would otherwise go, and what every objective
reads. Prompt tokens never count (METHODS.md).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from bench.data.tokenize import Batch


@dataclass
class ResponseScores:
    """Per-row response statistics of one forward pass over a :class:`Batch` (R = B*n rows)."""

    token_logps: Tensor
    """[R, T] log-prob of each response token, 0 at padding."""
    mask: Tensor
    """[R, T] true at real response tokens."""
    log_distributions: Tensor | None = None
    """[R, T, V] log-softmax over the vocabulary at each response position (when asked for)."""

    @property
    def logps(self) -> Tensor:
        """[R] summed response log-probs."""
        return self.token_logps.sum(-1)

    @property
    def lengths(self) -> Tensor:
        """[R] response token counts."""
        return self.mask.sum(-1).to(self.token_logps.dtype)


def response_scores(model: torch.nn.Module, batch: Batch, full_distribution: bool = False) -> ResponseScores:
    """Score the responses of ``batch`` under ``model`` (gradients flow unless under no_grad)."""
    width = batch.response_mask.shape[1]
    out = model(input_ids=batch.input_ids, attention_mask=batch.attention_mask,
                position_ids=batch.position_ids, logits_to_keep=width + 1, use_cache=False)
    logits = out.logits[:, :width].float()  # position t predicts response token t
    targets = batch.response_ids
    token_logps = -F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1),
                                   reduction="none").view(targets.shape)
    mask = batch.response_mask
    token_logps = token_logps * mask
    log_distributions = logits.log_softmax(-1) if full_distribution else None
    return ResponseScores(token_logps=token_logps, mask=mask, log_distributions=log_distributions)


def token_kl(reference_log_dist: Tensor, policy_log_dist: Tensor, mask: Tensor) -> Tensor:
    """Per-token KL(pi_ref || pi_theta) over the full vocabulary, [R, T], 0 at padding (TDPO)."""
    kl = (reference_log_dist.exp() * (reference_log_dist - policy_log_dist)).sum(-1)
    return kl * mask
