"""Evaluators: the registry, the built-in evaluators (imported so they register), and running a set.

Each evaluator is a small class over pure functions of samples (and log-probs when it declares
``needs_logps``); it never imports objectives. Third parties add one by registering a subclass of
:class:`~bench.evaluators.base.Evaluator` in :data:`EVALUATORS`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from bench.errors import BenchError
from bench.evaluators.base import EVALUATORS, EvalInputs, Evaluator, Judge, PointwiseJudge

DEFAULT_EVALUATORS: tuple[str, ...] = ("win_rate", "lc_win_rate", "score", "kl", "length", "marker_uptake",
                                       "position_bias", "distinct", "ead", "entropy", "reward_accuracy")
"""What ``bench run`` evaluates unless told otherwise (METHODS.md, Metrics).

Opt-in because of their cost on CPU (about 8 s and 30 s per checkpoint on the gym): ``self_bleu`` and
``embedding_diversity``; add them with ``eval.evaluators=[...]``. ``lm_eval`` runs lm-eval tasks and
only means something for a model with a general vocabulary.
"""


def register_evaluator(name: str) -> Callable[[type[Evaluator]], type[Evaluator]]:
    """Class decorator: set ``cls.name`` and register the class as ``name``."""

    def decorate(cls: type[Evaluator]) -> type[Evaluator]:
        cls.name = name
        return EVALUATORS.register(name)(cls)

    return decorate


def build_evaluator(name: str, run_settings: Mapping[str, Any] | None = None) -> Evaluator:
    """The evaluator ``name``, given the run-wide settings its fields name (``n_boot``: ``eval.bootstrap_samples``).

    A setting reaches only the evaluators declaring it as a field, and becomes part of their identity, so
    their cached results are keyed by it."""
    cls = EVALUATORS.get(name)
    fields = {f.name for f in dataclasses.fields(cls)} if dataclasses.is_dataclass(cls) else set()
    return cls(**{key: value for key, value in (run_settings or {}).items() if key in fields})


def run_evaluators(inputs: EvalInputs, names: Iterable[str] = DEFAULT_EVALUATORS
                   ) -> tuple[dict[str, float], dict[str, dict[str, Any]]]:
    """Run the named evaluators on one checkpoint's inputs: (flat metrics, identity per evaluator).

    Metrics land in one flat namespace in ``metrics.json``, so two evaluators emitting the same name
    would silently overwrite each other; that is an error here instead.
    """
    metrics: dict[str, float] = {}
    owner: dict[str, str] = {}
    identities: dict[str, dict[str, Any]] = {}
    for name in names:
        evaluator = build_evaluator(name)
        identities[name] = evaluator.identity()
        for metric, value in evaluator.evaluate(inputs).items():
            if metric in metrics:
                raise BenchError(f"evaluators {owner[metric]!r} and {name!r} both emit metric {metric!r}; "
                                 f"rename one of them (or drop one from the run's evaluators)")
            metrics[metric], owner[metric] = float(value), name
    return metrics, identities


# Built-in evaluators register themselves on import.
from bench.evaluators import (  # noqa: E402
    bias,
    diversity,
    kl,
    length,
    length_controlled,
    lm_eval_tasks,
    reward,
    reward_accuracy,
    winrate,
)

__all__ = [
    "DEFAULT_EVALUATORS",
    "EVALUATORS",
    "EvalInputs",
    "Evaluator",
    "Judge",
    "PointwiseJudge",
    "bias",
    "build_evaluator",
    "diversity",
    "kl",
    "length",
    "length_controlled",
    "lm_eval_tasks",
    "register_evaluator",
    "reward",
    "reward_accuracy",
    "run_evaluators",
    "winrate",
]
