"""Gathering exactly the statistics an objective's ``needs`` declares, for one micro-batch.

This is the only place that reads ``needs`` to decide what to compute; the loop around it and the
objectives on either side never branch on a method's name.
"""

from __future__ import annotations

from typing import Protocol

import torch

from bench.data.tokenize import Batch
from bench.errors import PlanError
from bench.methods.base import Needs, ReferenceUpdate, SequenceStats
from bench.models.logprobs import ResponseScores, log_collision, response_scores, token_kl
from bench.models.refcache import ReferenceCache
from bench.models.residual import PooledFeatures
from bench.models.sae import SparseAutoencoder
from bench.train.outcome_inputs import OutcomeInputs, outcome_extras


class ReferenceSource(Protocol):
    """Where reference statistics come from: the cache (offline) or a model in memory (online)."""

    def scores(self, batch: Batch, item: str = "responses") -> ResponseScores: ...


class LiveReference:
    """The reference model held in memory; used for on-policy batches and vocabularies too large to cache."""

    def __init__(self, model: torch.nn.Module) -> None:
        self.model = model.eval()
        for parameter in self.model.parameters():
            parameter.requires_grad_(False)

    def scores(self, batch: Batch, item: str = "responses") -> ResponseScores:
        with torch.no_grad():
            return response_scores(self.model, batch, full_distribution=item == "distributions")


class MovingReference(LiveReference):
    """A reference model in memory that the trainer moves toward the policy (``Needs.reference_update``).

    Its weights are part of every snapshot (:mod:`bench.train.checkpoint`), so a resumed run scores against the
    reference it had reached, not against the base model.
    """

    def __init__(self, model: torch.nn.Module, update: ReferenceUpdate) -> None:
        super().__init__(model)
        self.update = update

    def after_step(self, policy: torch.nn.Module, steps_done: int) -> None:
        """Every ``update.every`` optimiser steps: pi_ref <- mix * pi_theta + (1 - mix) * pi_ref, parameter by
        parameter (the two share an architecture)."""
        if steps_done % self.update.every:
            return
        mix = self.update.mix
        with torch.no_grad():
            for reference, current in zip(self.model.parameters(), policy.parameters(), strict=True):
                reference.mul_(1.0 - mix).add_(current.detach().to(reference.dtype), alpha=mix)


def moving_reference(needs: Needs, reference: ReferenceSource | None) -> MovingReference | None:
    """The reference the trainer moves during training when ``needs`` declares an update; None for a fixed one."""
    if needs.reference_update is None:
        return None
    if not isinstance(reference, MovingReference) or reference.update != needs.reference_update:
        raise PlanError("the objective moves its reference during training (Needs.reference_update); give the "
                        "trainer a MovingReference with that update, a model in memory, not a cached or adapter "
                        "reference")
    return reference


class CachedReference:
    """Reference statistics read from a :class:`ReferenceCache` by dataset row.

    It also carries the cache's SAE (if any): the policy's codes must come from the same encoder as
    the reference's cached ones.
    """

    def __init__(self, cache: ReferenceCache) -> None:
        self.cache = cache
        self.sae = cache.sae

    def scores(self, batch: Batch, item: str = "responses") -> ResponseScores:
        scores = self.cache.scores(batch, item)
        device = batch.input_ids.device
        return ResponseScores(scores.token_logps.to(device), scores.mask.to(device),
                              None if scores.log_distributions is None else scores.log_distributions.to(device))


def gather_stats(model: torch.nn.Module, batch: Batch, needs: Needs, reference: ReferenceSource | None,
                 mismatched: Batch | None = None, outcome_inputs: OutcomeInputs | None = None,
                 progress: float = 0.0) -> SequenceStats:
    """Compute the :class:`SequenceStats` of ``batch`` that ``needs`` declares (gradients flow).

    ``progress`` is the share of the run's optimiser steps already done, given to objectives that ask for it."""
    if (needs.reference or needs.token_kl) and reference is None:
        raise PlanError("the objective needs reference statistics but the run has no reference")
    sae = _sae_layer(needs, reference)
    policy = response_scores(model, batch, full_distribution=needs.token_kl or needs.token_collision,
                             pooled=PooledFeatures(sae[1], sae[0].to(batch.input_ids.device).encode) if sae else None)
    rows, n = batch.size, batch.n
    width = batch.response_mask.shape[1]

    def per_response(value: torch.Tensor) -> torch.Tensor:
        return value.view(rows, n, *value.shape[1:])

    stats = SequenceStats(logps=per_response(policy.logps), lengths=per_response(policy.lengths))
    stats.scores = batch.fields.get("scores")
    stats.labels = batch.fields.get("labels")
    stats.outcomes = batch.fields.get("outcomes")
    if needs.training_progress:
        stats.progress = progress
    ref = reference.scores(batch) if needs.reference else None
    if ref is not None:
        stats.ref_logps = per_response(ref.logps)
    if needs.token_logps or needs.token_kl or needs.token_collision:  # every token-level statistic comes masked
        stats.token_mask = per_response(batch.response_mask)
    if needs.token_logps:
        stats.token_logps = per_response(policy.token_logps)
        if ref is not None:
            stats.ref_token_logps = per_response(ref.token_logps)
    if needs.token_kl:
        ref_dist = reference.scores(batch, "distributions").log_distributions
        kl = token_kl(ref_dist[:, :width], policy.log_distributions, batch.response_mask)
        stats.token_kl = per_response(kl)
    if needs.token_collision:
        stats.token_log_collision = per_response(log_collision(policy.log_distributions, batch.response_mask))
    if sae:
        stats.sae_codes = per_response(policy.pooled)
        indices, values = reference.cache.sae_topk(batch, sae[1], needs.sae.top_k)
        stats.ref_sae_indices, stats.ref_sae_values = indices.to(batch.input_ids.device), values.to(policy.pooled)
    if needs.mismatched:
        if mismatched is None:
            raise PlanError("the objective needs mismatched pairs, which on-policy batches do not have")
        with torch.no_grad():  # the mismatched pairs only set a detached reference point (KTO's z0)
            twin = response_scores(model, mismatched)
        stats.mismatched_logps = per_response(twin.logps)
        stats.mismatched_lengths = per_response(twin.lengths)
        if needs.reference:
            stats.mismatched_ref_logps = per_response(reference.scores(mismatched, "mismatched").logps)
    if needs.reference_samples or needs.outcome_model:
        stats.extras.update(outcome_extras(model, batch, needs, outcome_inputs))
    return stats


def _sae_layer(needs: Needs, reference: ReferenceSource | None) -> tuple[SparseAutoencoder, int] | None:
    """The SAE and block whose codes ``needs`` asks for (None when it asks for none)."""
    if needs.sae is None:
        return None
    sae = getattr(reference, "sae", None)
    if sae is None:
        raise PlanError("the objective needs SAE codes but the run has no SAE with a cached reference; "
                        "give model.sae_path=DIR (sae-lens layout) or train on the gym")
    return sae, sae.resolve_layer(needs.sae.layer, "the objective's layer hyper-parameter")
