"""How far a judge can be trusted, measured on held-out preference pairs before its win rates are read.

A win rate is only as good as the judge behind it. A small LLM judge can prefer whichever answer it reads
first, whatever the answers say, and a leaderboard built on it then ranks noise with tight intervals.
On the run's held-out pairs (whose preferred response is known), each judge gets:

- ``{judge}_heldout_accuracy``: how often it prefers the held-out chosen response (percent, ties half),
  with a bootstrap interval over pairs; 50 is chance;
- ``{judge}_heldout_position_bias``: the percent of pairs whose verdict flips when the two answers swap
  places (0 for a judge that scores each answer alone);
- for every two judges, ``agreement_{a}_vs_{b}`` (percent of pairs with the same verdict: first, second or
  tie) and ``kappa_{a}_vs_{b}``, Cohen's kappa on those verdicts (scikit-learn), since agreement between
  judges is the first thing to check when judges drift.

:func:`untrustworthy` turns the first two into the flag the leaderboard shows beside a judge's win rates.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence

import numpy as np

from bench.data.records import Example
from bench.evaluators.base import Judge
from bench.evaluators.bias import single_order_preferences, verdict_flips
from bench.evaluators.statistics import DEFAULT_N_BOOT, paired_bootstrap_ci

POSITION_BIAS_LIMIT = 25.0
"""Percent of verdicts that may flip with the order before a judge is flagged (an order-blind judge flips none)."""
ACCURACY = "heldout_accuracy"
POSITION_BIAS = "heldout_position_bias"


def judge_quality(judges: Mapping[str, Judge], pairs: Sequence[Example], n_boot: int = DEFAULT_N_BOOT,
                  seed: int = 0) -> dict[str, float]:
    """Held-out accuracy and position bias of every judge, and agreement and kappa of every two (flat metrics).

    ``pairs`` are held-out preference pairs (responses[0] preferred); with none, or no judge whose quality the
    labels can say something about (:attr:`~bench.evaluators.base.Judge.measured`), nothing is measured.
    """
    if not pairs or not any(judge.measured for judge in judges.values()):
        return {}
    from sklearn.metrics import cohen_kappa_score

    prompts = [ex.prompt for ex in pairs]
    chosen, rejected = [ex.responses[0].text for ex in pairs], [ex.responses[1].text for ex in pairs]
    metrics: dict[str, float] = {}
    verdicts: dict[str, np.ndarray] = {}
    for name, judge in judges.items():
        first, second = single_order_preferences(judge, prompts, chosen, rejected)
        preference = 0.5 * (first + second)
        verdicts[name] = np.sign(preference - 0.5)
        if not judge.measured:
            continue  # still compared with the others: agreement with the gym's gold reward is telling
        low, high = paired_bootstrap_ci(preference, n_boot=n_boot, seed=seed)
        metrics[f"{name}_{ACCURACY}"] = 100.0 * float(preference.mean())
        metrics[f"{name}_{ACCURACY}_ci_low"], metrics[f"{name}_{ACCURACY}_ci_high"] = 100.0 * low, 100.0 * high
        metrics[f"{name}_{POSITION_BIAS}"] = 100.0 * float(verdict_flips(first, second).mean())
    for a, b in itertools.combinations(sorted(verdicts), 2):
        metrics[f"agreement_{a}_vs_{b}"] = 100.0 * float((verdicts[a] == verdicts[b]).mean())
        same = len(set(verdicts[a]) | set(verdicts[b])) == 1  # kappa is undefined when both judges say one thing
        metrics[f"kappa_{a}_vs_{b}"] = float("nan") if same else float(cohen_kappa_score(verdicts[a], verdicts[b]))
    return metrics


def is_judge_quality(metric: str) -> bool:
    """Whether ``metric`` is one of :func:`judge_quality`'s (a property of the judges, not of a method)."""
    core = metric.removesuffix("_ci_low").removesuffix("_ci_high")
    return core.endswith((ACCURACY, POSITION_BIAS)) or metric.startswith(("agreement_", "kappa_"))


def untrustworthy(metrics: Mapping[str, float], judge: str) -> str | None:
    """Why ``judge``'s win rates are not evidence, from its :func:`judge_quality` metrics; None when nothing says so.

    A judge is flagged when more than :data:`POSITION_BIAS_LIMIT` percent of its held-out verdicts flip with
    the order of the answers, or when its held-out accuracy interval reaches down to chance (50).
    """
    reasons = []
    bias = metrics.get(f"{judge}_{POSITION_BIAS}")
    if bias is not None and bias > POSITION_BIAS_LIMIT:
        reasons.append(f"{bias:.0f}% of its held-out verdicts flip when the answers swap places")
    low = metrics.get(f"{judge}_{ACCURACY}_ci_low")
    if low is not None and low <= 50.0:
        reasons.append(f"its held-out accuracy ({metrics[f'{judge}_{ACCURACY}']:.1f}%, interval from {low:.1f}) "
                       f"is not above chance")
    return "; ".join(reasons) or None
