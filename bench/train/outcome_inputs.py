"""What outcome objectives read beside their batch: reference samples X~ and outcome-model predictions g.

Both are computed once per run (the samples drawn and scored by the reference, g fitted and
evaluated: see :mod:`bench.runner.outcome_setup`) and held here as tensors indexed by the training
dataset's rows, so a training step costs one extra forward pass (the policy on the batch's X~) and no
reference or outcome-model work. The batch's rows select their prompts' samples by row index, like
the reference cache, so resuming at step s sees the same X~ as an uninterrupted run.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor

from bench.data.tokenize import Batch, TokenizedDataset, collate_rows
from bench.errors import PlanError
from bench.methods.base import Needs
from bench.methods.outcome_stats import (
    OUTCOME_PREDICTIONS,
    REFERENCE_SAMPLES,
    OutcomePredictions,
    ReferenceSampleStats,
)
from bench.models.logprobs import response_scores


@dataclass
class OutcomeInputs:
    """Reference samples and outcome predictions for every row of one training dataset."""

    samples: TokenizedDataset | None
    """One row per training prompt with its m reference samples (None when only g is needed)."""
    sample_reference: Any
    """Where the samples' reference log-probs come from: a :class:`~bench.train.stats.ReferenceSource`
    over ``samples`` (the reference cache, so they are computed once)."""
    sample_row: Tensor | None
    """[N] the ``samples`` row of each training row (rows of one prompt share their samples)."""
    row_predictions: Tensor | None = None
    """[N, n] g(X) of every training text."""
    sample_predictions: Tensor | None = None
    """[P, m] g(X~) of every reference sample."""
    report: dict[str, Any] = field(default_factory=dict)
    """How they were made (sample counts, the outcome model's held-out R^2...), for the job record."""

    def sample_batch(self, batch: Batch) -> Batch:
        """The reference samples of ``batch``'s prompts: [B x m] in the shared layout."""
        if self.samples is None or self.sample_row is None:
            raise PlanError("the objective needs reference samples but the run drew none")
        return collate_rows(self.samples, self.sample_row[batch.indices.cpu()])


def outcome_extras(model: torch.nn.Module, batch: Batch, needs: Needs, inputs: OutcomeInputs | None
                   ) -> dict[str, Any]:
    """The ``extras`` of ``batch`` that ``needs.reference_samples`` / ``needs.outcome_model`` declare."""
    if inputs is None:
        raise PlanError("the objective needs reference samples or an outcome model, which this batch source "
                        "does not provide (offline outcome data only)")
    extras: dict[str, Any] = {}
    rows = batch.indices.cpu()
    sample_rows = None
    if needs.reference_samples:
        samples = inputs.sample_batch(batch).to(batch.input_ids.device)
        policy = response_scores(model, samples)  # gradients flow: the one extra forward of a step
        reference = inputs.sample_reference.scores(samples)
        m = samples.n
        extras[REFERENCE_SAMPLES] = ReferenceSampleStats(
            logps=policy.logps.view(batch.size, m), ref_logps=reference.logps.view(batch.size, m),
            lengths=policy.lengths.view(batch.size, m))
        sample_rows = samples.indices.cpu()
    if needs.outcome_model:
        if inputs.row_predictions is None:
            raise PlanError("the objective needs outcome-model predictions but the run fitted no outcome model")
        device = batch.input_ids.device
        predicted = None
        if sample_rows is not None and inputs.sample_predictions is not None:
            predicted = inputs.sample_predictions[sample_rows].to(device)
        extras[OUTCOME_PREDICTIONS] = OutcomePredictions(rows=inputs.row_predictions[rows].to(device),
                                                         samples=predicted)
    return extras
