"""The statistics outcome objectives read beside their batch: reference samples and outcome predictions.

Causal preference optimisation (:mod:`bench.methods.causal`) needs two things no preference data
carries: texts X~ sampled from the reference model f0 (with their policy and reference log-probs),
and the predictions g(X) of an outcome model fitted on the outcome data. The trainer's providers
(:mod:`bench.train.outcome_inputs`) put them in :attr:`SequenceStats.extras` under the keys below, as
the typed containers defined here, when ``needs.reference_samples`` / ``needs.outcome_model`` ask for
them; objectives read them through :func:`reference_samples` and :func:`outcome_predictions`, which
say what is missing instead of failing on a ``KeyError``.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor

from bench.errors import PlanError
from bench.methods.base import Reduction, SequenceStats

REFERENCE_SAMPLES = "reference_samples"
"""``extras`` key of the :class:`ReferenceSampleStats` (``needs.reference_samples``)."""
OUTCOME_PREDICTIONS = "outcome_predictions"
"""``extras`` key of the :class:`OutcomePredictions` (``needs.outcome_model``)."""


@dataclass
class ReferenceSampleStats:
    """The m reference samples X~ of each prompt of the batch, shaped [B, m].

    ``logps`` are the policy's sequence log-probs (gradients flow), ``ref_logps`` the reference's
    (computed once, detached); both are SUMS over response tokens, as every log-prob in bench.
    """

    logps: Tensor
    ref_logps: Tensor
    lengths: Tensor

    def logratios(self, reduction: Reduction) -> Tensor:
        """log P^f(X~) - log P^f0(X~), as a sum or (``mean``) per response token, shape [B, m]."""
        ratio = self.logps - self.ref_logps
        return ratio if reduction == "sum" else ratio / self.lengths.clamp(min=1)


@dataclass
class OutcomePredictions:
    """Outcome-model predictions g(X): for the batch's own texts [B, n] and its reference samples [B, m]."""

    rows: Tensor
    samples: Tensor | None = None
    """None when the objective did not also ask for reference samples."""


def reference_samples(stats: SequenceStats, method: str) -> ReferenceSampleStats:
    """The batch's reference samples; a PlanError naming the missing need when there are none."""
    value = stats.extras.get(REFERENCE_SAMPLES)
    if not isinstance(value, ReferenceSampleStats):
        raise PlanError(f"{method} read reference samples that the trainer did not provide; "
                        "declare needs.reference_samples=True")
    return value


def outcome_predictions(stats: SequenceStats, method: str, samples: bool = False) -> OutcomePredictions:
    """The batch's outcome-model predictions (with those of its reference samples when ``samples``)."""
    value = stats.extras.get(OUTCOME_PREDICTIONS)
    if not isinstance(value, OutcomePredictions):
        raise PlanError(f"{method} read outcome-model predictions that the trainer did not provide; "
                        "declare needs.outcome_model=True")
    if samples and value.samples is None:
        raise PlanError(f"{method} read outcome predictions of reference samples; declare "
                        "needs.reference_samples=True beside needs.outcome_model=True")
    return value


__all__ = ["OUTCOME_PREDICTIONS", "REFERENCE_SAMPLES", "OutcomePredictions", "ReferenceSampleStats",
           "outcome_predictions", "reference_samples"]
