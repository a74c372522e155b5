"""Bias evaluators: how much of a judge's known flaw a policy learned, and how order-sensitive a judge is.

``marker_uptake`` measures spurious-feature uptake (METHODS.md, Metrics: bias): a judge that rewards a
word the gold reward ignores (the gym annotator's marker) teaches objectives to write it, so the share
of policy samples containing it, minus the reference's share, is what the policy learned from the
bias rather than from quality. Judges announce such words in a ``spurious_markers`` attribute, which
keeps this module ignorant of the gym. ``position_bias`` measures the judge rather than the policy: the
share of (policy, reference) pairs whose winner changes when the two are shown in the other order.
Length gain, the third bias, is the ``length`` evaluator's.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import ClassVar

import numpy as np

from bench.errors import BenchError
from bench.evaluators import register_evaluator
from bench.evaluators.base import EvalInputs, Evaluator, Judge, PointwiseJudge, flatten_samples, judged_pairs
from bench.evaluators.judges.interface import OrderedJudge
from bench.evaluators.statistics import prompt_mean


def spurious_markers(judges: Mapping[str, Judge]) -> tuple[str, ...]:
    """Every word or phrase any judge declares it rewards regardless of quality (``judge.spurious_markers``)."""
    return tuple(sorted({str(m) for judge in judges.values() for m in getattr(judge, "spurious_markers", ())}))


def marker_pattern(markers: Iterable[str]) -> re.Pattern[str]:
    """Matches any marker as a whole word, ignoring case ("certainly" but not "uncertainly")."""
    alternatives = "|".join(re.escape(m) for m in sorted(markers, key=len, reverse=True))
    return re.compile(rf"(?<!\w)(?:{alternatives})(?!\w)", re.IGNORECASE)


def marker_rate(prompts: list[str], samples: list[list[str]], pattern: re.Pattern[str], what: str) -> float:
    """Percent of samples containing a marker: per-prompt share first, then the mean over prompts."""
    _, flat, counts = flatten_samples(prompts, samples, what)
    has_marker = np.array([pattern.search(text) is not None for text in flat], dtype=np.float64)
    return 100.0 * float(prompt_mean(has_marker, counts).mean())


@register_evaluator("marker_uptake")
class MarkerUptake(Evaluator):
    """Emits ``marker_rate``, ``marker_rate_reference`` (percent of samples) and ``marker_uptake`` (their
    difference, in percentage points) for the markers the run's judges declare."""

    def unmet_need(self, judges: Mapping[str, Judge]) -> str | None:
        if not spurious_markers(judges):
            return "needs a judge that declares spurious markers (the gym's proxy judge does)"
        return None

    def evaluate(self, inputs: EvalInputs) -> dict[str, float]:
        markers = spurious_markers(inputs.judges)
        if not markers:
            raise BenchError("the marker_uptake evaluator needs a judge that declares spurious_markers (the gym's "
                             "proxy judge does); drop marker_uptake from the run's evaluators for this world")
        pattern = marker_pattern(markers)
        policy = marker_rate(inputs.prompts, inputs.policy_samples, pattern, "policy_samples")
        reference = marker_rate(inputs.prompts, inputs.reference_samples, pattern, "reference_samples")
        return {"marker_rate": policy, "marker_rate_reference": reference, "marker_uptake": policy - reference}


def single_order_preferences(judge: Judge, prompts: Sequence[str], a: Sequence[str], b: Sequence[str]
                             ) -> tuple[np.ndarray, np.ndarray]:
    """P(a preferred) with a shown first and with a shown second.

    An :class:`OrderedJudge` reports both itself (its ``preference`` averages them away); any other
    pairwise judge is asked twice, the second time with the pair swapped.
    """
    if isinstance(judge, OrderedJudge):
        a_first, a_second = judge.order_preferences(prompts, a, b)
    else:
        a_first, a_second = judge.preference(prompts, a, b), 1.0 - np.asarray(judge.preference(prompts, b, a))
    return np.asarray(a_first, dtype=np.float64).ravel(), np.asarray(a_second, dtype=np.float64).ravel()


def verdict_flips(a_first: np.ndarray, a_second: np.ndarray) -> np.ndarray:
    """1 where the winner (a, b or a tie: the side of 0.5) differs between the two orders, else 0."""
    return (np.sign(np.asarray(a_first) - 0.5) != np.sign(np.asarray(a_second) - 0.5)).astype(np.float64)


@register_evaluator("position_bias")
class PositionBias(Evaluator):
    """Per judge, ``{judge}_position_bias``: percent of pairs whose verdict flips with the order shown.

    Averaged per prompt, then over prompts. A pointwise judge scores each response alone, so order
    cannot change its verdict: it gets 0 without being asked twice (a reward model's scores are not
    cheap).
    """

    needs_judges: ClassVar[bool] = True

    def evaluate(self, inputs: EvalInputs) -> dict[str, float]:
        prompts, policy, reference, counts = judged_pairs(inputs, self.name)
        metrics: dict[str, float] = {}
        for judge_name, judge in inputs.judges.items():
            if isinstance(judge, PointwiseJudge):
                metrics[f"{judge_name}_position_bias"] = 0.0
                continue
            a_first, a_second = single_order_preferences(judge, prompts, policy, reference)
            if a_first.size != len(policy) or a_second.size != len(policy):
                raise BenchError(f"judge {judge_name!r} returned {a_first.size} and {a_second.size} preferences for "
                                 f"{len(policy)} pairs; it must return one per pair")
            flips = verdict_flips(a_first, a_second)
            metrics[f"{judge_name}_position_bias"] = 100.0 * float(prompt_mean(flips, counts).mean())
        return metrics
