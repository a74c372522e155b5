"""Evaluator results cached by what produced them, and what each evaluator cost.

A checkpoint is evaluated again whenever the run's evaluation changes (an evaluator added, a judge
swapped): its evaluation key in ``metrics.json`` changes, so every job is re-evaluated. Evaluators
whose inputs did not change should not be paid for again (an embedding model or an LLM judge costs
minutes per checkpoint), so each evaluator's metrics are stored under a key of its identity, the
fingerprint of its class's source files (an edited evaluator is recomputed without a version bump)
and the fingerprints of the :class:`EvalInputs` fields it reads (:meth:`Evaluator.inputs_read`).

Inputs that cost a forward pass (log-probs, token entropies) are fingerprinted by what determines
them (model, samples, scoring settings), passed in as ``known`` fingerprints, so a hit also skips
the pass: ``fill`` is asked only for the fields that the evaluators which missed read. Judges are
fingerprinted by their identity, which must change when their verdicts can (as the run's
evaluation key already assumes). An evaluator that reads anything outside its declared inputs sets
``cacheable = False`` and runs every time, with its cost still recorded.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bench import failpoints
from bench.cached import read_record, write_record
from bench.errors import BenchError
from bench.evaluators.base import EvalInputs, Evaluator
from bench.fingerprint import DIGEST_CHARS, fingerprint
from bench.source_fingerprint import source_fingerprint

Fill = Callable[[EvalInputs, set[str]], None]
"""Computes the named model-derived fields of an EvalInputs in place (only those with known fingerprints)."""


@dataclass
class EvaluatorCost:
    """What one evaluator cost in this evaluation, and what its result was keyed by."""

    seconds: float
    """Wall time spent on it now (loading the cached result on a hit)."""
    computed_seconds: float
    """Wall time of the evaluation that produced the result (this one on a miss)."""
    samples: int
    """Policy samples it evaluated."""
    cached: bool
    key: str
    inputs: dict[str, str]
    """Fingerprint of every EvalInputs field it reads."""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def value_fingerprint(value: Any) -> str:
    """Fingerprint of one EvalInputs field: arrays by their bytes, judges by their identities.

    Arrays go through their bytes because a JSON rendering of a large array is abbreviated.
    """
    if isinstance(value, np.ndarray):
        array = np.ascontiguousarray(value)
        digest = hashlib.sha256(f"{array.dtype.str}{array.shape}".encode())
        digest.update(array.tobytes())
        return digest.hexdigest()[:DIGEST_CHARS]
    if isinstance(value, dict) and all(hasattr(judge, "identity") for judge in value.values()):
        return fingerprint({name: judge.identity() for name, judge in value.items()})
    return fingerprint(value)


def input_fingerprints(evaluator: Evaluator, inputs: EvalInputs, known: Mapping[str, str]) -> dict[str, str]:
    """Fingerprint of every field ``evaluator`` reads: from ``known`` where given, else of its value."""
    return {name: known[name] if name in known else value_fingerprint(getattr(inputs, name, None))
            for name in evaluator.inputs_read()}


def evaluator_key(evaluator: Evaluator, fingerprints: Mapping[str, str]) -> str:
    """The cache key: identity, source and input fingerprints of one evaluator."""
    return fingerprint({"identity": evaluator.identity(), "source": source_fingerprint(type(evaluator)),
                        "inputs": dict(fingerprints)})


class EvaluatorCache:
    """One sealed JSON record per (evaluator, inputs) key under ``root``; a damaged one is said and recomputed."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def path(self, key: str) -> Path:
        return self.root / f"{key}.json"

    def load(self, key: str, evaluator: str = "an evaluator") -> dict[str, Any] | None:
        record = read_record(self.path(key), f"the {evaluator} evaluator's result")
        return record if record is not None and isinstance(record.get("metrics"), dict) else None

    def save(self, key: str, evaluator: Evaluator, metrics: Mapping[str, float], cost: EvaluatorCost) -> None:
        write_record(self.path(key), {"evaluator": evaluator.identity(), "metrics": dict(metrics),
                                      "computed_seconds": cost.computed_seconds, "samples": cost.samples,
                                      "inputs": cost.inputs})


def _merge(results: Sequence[tuple[str, Mapping[str, float]]]) -> dict[str, float]:
    """One flat namespace, as ``run_evaluators`` makes it: two evaluators emitting one name is an error."""
    metrics: dict[str, float] = {}
    owner: dict[str, str] = {}
    for name, emitted in results:
        for metric, value in emitted.items():
            if metric in metrics:
                raise BenchError(f"evaluators {owner[metric]!r} and {name!r} both emit metric {metric!r}; "
                                 f"rename one of them (or drop one from the run's evaluators)")
            metrics[metric], owner[metric] = float(value), name
    return metrics


def run_cached(evaluators: Sequence[Evaluator], inputs: EvalInputs, cache: EvaluatorCache | None,
               known: Mapping[str, str] | None = None, fill: Fill | None = None
               ) -> tuple[dict[str, float], dict[str, EvaluatorCost]]:
    """Run ``evaluators`` on ``inputs``, reusing cached results: (flat metrics, cost per evaluator).

    ``known`` maps fields not yet computed to the fingerprint of what determines them; ``fill`` is
    then called once with the subset that the evaluators which missed the cache read, and must
    compute exactly those. A field neither known nor present is hashed as absent, which is what
    the evaluator will see. ``cache=None`` runs everything and records the cost only.
    """
    known = dict(known or {})
    samples = sum(len(group) for group in inputs.policy_samples)
    keyed = []
    for evaluator in evaluators:
        fingerprints = input_fingerprints(evaluator, inputs, known)
        keyed.append((evaluator, fingerprints, evaluator_key(evaluator, fingerprints)))

    results: dict[str, Mapping[str, float]] = {}
    costs: dict[str, EvaluatorCost] = {}
    misses = []
    for evaluator, fingerprints, key in keyed:
        started = time.perf_counter()
        record = cache.load(key, evaluator.name) if cache is not None and evaluator.cacheable else None
        if record is None:
            misses.append((evaluator, fingerprints, key))
            continue
        results[evaluator.name] = record["metrics"]
        computed = float(record.get("computed_seconds", 0.0))
        costs[evaluator.name] = EvaluatorCost(time.perf_counter() - started, computed, samples, True, key,
                                              fingerprints)

    wanted = {name for evaluator, _, _ in misses for name in evaluator.inputs_read()
              if name in known and getattr(inputs, name, None) is None}
    if wanted and fill is not None:
        fill(inputs, wanted)
    for evaluator, fingerprints, key in misses:
        started = time.perf_counter()
        metrics = {metric: float(value) for metric, value in evaluator.evaluate(inputs).items()}
        seconds = time.perf_counter() - started
        cost = EvaluatorCost(seconds, seconds, samples, False, key, fingerprints)
        if cache is not None and evaluator.cacheable:
            cache.save(key, evaluator, metrics, cost)
        failpoints.reached("evaluation")
        results[evaluator.name], costs[evaluator.name] = metrics, cost
    return _merge([(evaluator.name, results[evaluator.name]) for evaluator in evaluators]), costs
