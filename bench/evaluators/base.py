"""The evaluator and judge interfaces.

An evaluator is a pure function of an :class:`EvalInputs` (prompts, policy and reference samples,
optionally their log-probs and the policy's token entropies) returning named metrics; it never
imports objectives. A judge says how much it prefers one response over another for a prompt;
pointwise judges (the gym's gold reward, an annotator's utility, a reward model) derive that from a
score per response. Every judge and evaluator identifies itself so ``metrics.json`` can say exactly
what produced each number, and so an evaluator's results can be cached under that identity.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from bench.errors import BenchError
from bench.registry import Registry


class Judge:
    """Base judge: ``preference`` gives P(a preferred over b) per prompt, 0.5 for a tie."""

    name: ClassVar[str] = ""
    measured: ClassVar[bool] = True
    """Whether held-out labels say how far to trust it (:mod:`bench.evaluators.judge_quality`): False for a
    judge that defines the truth or the labels themselves (the gym's gold reward and its annotator)."""
    length_blind: ClassVar[bool] = False
    """Whether its verdicts ignore response length by construction (the gym's gold reward, a mean over sentiment
    units that repetition and fillers leave unchanged): no length-controlled win rate is fitted for it."""

    def identity(self) -> dict[str, Any]:
        """What fixes this judge's verdicts (name, model fingerprint, template hash, settings)."""
        return {"name": self.name}

    def preference(self, prompts: Sequence[str], a: Sequence[str], b: Sequence[str]) -> np.ndarray:
        raise NotImplementedError


class PointwiseJudge(Judge):
    """A judge that scores each response on its own; a higher score wins, equal scores tie."""

    def score(self, prompts: Sequence[str], responses: Sequence[str]) -> np.ndarray:
        raise NotImplementedError

    def preference(self, prompts: Sequence[str], a: Sequence[str], b: Sequence[str]) -> np.ndarray:
        score_a, score_b = self.score(prompts, a), self.score(prompts, b)
        return np.where(score_a > score_b, 1.0, np.where(score_a < score_b, 0.0, 0.5))


@dataclass
class EvalInputs:
    """Everything an evaluator may read for one checkpoint.

    Samples are indexed [prompt][sample]; log-prob arrays are [P, k] sums over response tokens, the
    policy's samples scored under the policy and under the reference.
    """

    prompts: list[str]
    policy_samples: list[list[str]]
    reference_samples: list[list[str]]
    judges: dict[str, Judge] = field(default_factory=dict)
    policy_logps: np.ndarray | None = None
    policy_ref_logps: np.ndarray | None = None
    heldout_logps: np.ndarray | None = None
    """[N, 2] log pi(chosen), log pi(rejected) of held-out preference pairs under the policy."""
    heldout_ref_logps: np.ndarray | None = None
    """The same pairs under the reference."""
    policy_token_entropy: np.ndarray | None = None
    """[P, k] mean per-token predictive entropy (nats) of the policy along each of its samples."""
    seed: int = 0
    policy_model: str | None = None
    """Where the checkpoint lives (for evaluators that run the model itself, like ``lm_eval``)."""
    reference_model: str | None = None


SAMPLE_INPUTS: tuple[str, ...] = ("prompts", "policy_samples", "reference_samples", "judges", "seed")
"""The EvalInputs fields every evaluator may read; the model-derived arrays are read only when declared."""


def flatten_samples(prompts: Sequence[str], samples: Sequence[Sequence[str]], what: str
                    ) -> tuple[list[str], list[str], np.ndarray]:
    """Pair every sample with its prompt: (prompt per sample, samples, count per prompt).

    Judges and scorers take one flat batch (so an LLM judge can batch across prompts), while metrics
    are per prompt; the counts let the caller fold the flat results back. A prompt without samples,
    or a sample list misaligned with the prompts, means generation went wrong upstream, so it is an
    error here rather than a silently smaller average.
    """
    if len(samples) != len(prompts):
        raise BenchError(f"{what} has {len(samples)} entries for {len(prompts)} prompts; the samples must "
                         f"be indexed [prompt][sample] in prompt order: regenerate them")
    counts = np.array([len(group) for group in samples], dtype=np.int64)
    if counts.size and counts.min() == 0:
        empty = int(np.argmin(counts))
        raise BenchError(f"prompt {empty} ({prompts[empty][:60]!r}) has no {what}; regenerate the samples "
                         f"(every prompt needs at least one)")
    flat_prompts = [prompt for prompt, group in zip(prompts, samples, strict=True) for _ in group]
    flat_samples = [sample for group in samples for sample in group]
    return flat_prompts, flat_samples, counts


def paired_flat_samples(prompts: Sequence[str], first: Sequence[Sequence[str]], second: Sequence[Sequence[str]],
                        what: tuple[str, str] = ("first samples", "second samples")
                        ) -> tuple[list[str], list[str], list[str], np.ndarray]:
    """The j-th sample of ``first`` against the j-th of ``second``, per prompt, as one flat batch.

    Pairs stop at the smaller sample count of a prompt, so sampling more from one side never adds
    unpaired comparisons. Returns (prompt per pair, first's responses, second's responses, pairs per
    prompt); the counts fold per-pair verdicts back into per-prompt means.
    """
    flatten_samples(prompts, first, what[0])
    flatten_samples(prompts, second, what[1])
    pairs = [min(len(a), len(b)) for a, b in zip(first, second, strict=True)]
    flat_prompts, flat_first, counts = flatten_samples(
        prompts, [a[:n] for a, n in zip(first, pairs, strict=True)], what[0])
    _, flat_second, _ = flatten_samples(prompts, [b[:n] for b, n in zip(second, pairs, strict=True)], what[1])
    return flat_prompts, flat_first, flat_second, counts


def judged_pairs(inputs: EvalInputs, evaluator: str) -> tuple[list[str], list[str], list[str], np.ndarray]:
    """The (policy, reference) sample pairs every judge-based evaluator compares, after checking for judges.

    Returns :func:`paired_flat_samples` of the policy and reference samples; an evaluator that judges
    pairs and finds no judge says how to fix the run.
    """
    if not inputs.judges:
        raise BenchError(f"the {evaluator} evaluator needs at least one judge in EvalInputs.judges; add a judge to "
                         f"the run's evaluation config or drop {evaluator} from its evaluators")
    return paired_flat_samples(inputs.prompts, inputs.policy_samples, inputs.reference_samples,
                               ("policy_samples", "reference_samples"))


def judge_preferences(name: str, judge: Judge, prompts: Sequence[str], a: Sequence[str], b: Sequence[str],
                      what: str = "pairs") -> np.ndarray:
    """P(a preferred over b) per pair from ``judge``, checked to be one value per pair (``what`` names them)."""
    prefs = np.asarray(judge.preference(prompts, a, b), dtype=np.float64).ravel()
    if prefs.size != len(a):
        raise BenchError(f"judge {name!r} returned {prefs.size} preferences for {len(a)} {what}; it must return "
                         f"one per pair")
    return prefs


class Evaluator:
    """Base evaluator: ``evaluate`` maps inputs to flat metrics ({name: float})."""

    name: ClassVar[str] = ""
    version: ClassVar[str] = "1"
    needs_judges: ClassVar[bool] = False
    """Whether it compares samples through the run's judges (and so cannot run in a run without one)."""
    needs_logps: ClassVar[bool] = False
    """Whether it reads ``policy_logps``/``policy_ref_logps`` (the runner scores samples only then)."""
    needs_heldout_pairs: ClassVar[bool] = False
    """Whether it reads ``heldout_logps``/``heldout_ref_logps`` (scored only then)."""
    needs_token_entropy: ClassVar[bool] = False
    """Whether it reads ``policy_token_entropy`` (a full-vocabulary pass, computed only then)."""
    cacheable: ClassVar[bool] = True
    """Whether its metrics are a function of its identity, its code and :meth:`inputs_read` alone, so a
    re-evaluation with unchanged inputs may reuse them; an evaluator that reads anything else (a file,
    a model by path, the clock) sets it False and always runs."""

    def identity(self) -> dict[str, Any]:
        """Name, version and options: everything besides code and inputs that fixes its numbers (so part of
        every cache key and evaluation key that holds them)."""
        return {"name": self.name, "version": self.version, **self.options()}

    def options(self) -> dict[str, Any]:
        """The evaluator's options: the fields of an evaluator written as a dataclass (none otherwise)."""
        return dataclasses.asdict(self) if dataclasses.is_dataclass(self) else {}

    def inputs_read(self) -> tuple[str, ...]:
        """The EvalInputs fields this evaluator's numbers depend on: what its cache key hashes.

        Derived from the ``needs_*`` flags, so declaring a need is enough to make a change in that
        input invalidate the evaluator's cached results. An evaluator reading another field overrides
        this to add it (a field EvalInputs lacks is fingerprinted as absent).
        """
        arrays: list[str] = []
        if self.needs_logps:
            arrays += ["policy_logps", "policy_ref_logps"]
        if self.needs_heldout_pairs:
            arrays += ["heldout_logps", "heldout_ref_logps"]
        if self.needs_token_entropy:
            arrays.append("policy_token_entropy")
        return (*SAMPLE_INPUTS, *arrays)

    def unmet_need(self, judges: Mapping[str, Judge]) -> str | None:
        """Why this evaluator cannot run with the run's ``judges`` (checked before any training), or None."""
        if self.needs_judges and not judges:
            return "needs a judge and the run has none"
        return None

    def evaluate(self, inputs: EvalInputs) -> dict[str, float]:
        raise NotImplementedError


EVALUATORS: Registry[type[Evaluator]] = Registry("evaluator")
