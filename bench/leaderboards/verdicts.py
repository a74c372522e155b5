"""Plain verdicts on a paper's claim from a few seeds: holds, does not hold, or inconclusive.

A claim is a list of checks, each comparing two arms of one study on one metric; the rules are fixed
before any number is seen and printed beside the verdict, so a reader can disagree with the rule but
not with how it was applied:

- ``at_least`` (A is not worse than B): the per-seed differences A - B (paired by seed: same data order
  and sampling seed) get a Student-t 95% interval [lo, hi]. Holds when lo >= -margin (A is at most
  ``margin`` worse, with 95% confidence); does not hold when hi < 0 and it did not hold (A is worse
  beyond doubt, by more than the margin allows); inconclusive otherwise.
- ``below`` (A costs less than B): the same interval; holds when hi < 0, does not hold when lo > 0,
  inconclusive otherwise (with a single measurement: holds iff A < B, reported as such).
- ``lower_variance`` (A's result varies less across seeds than B's): the F-test of var(A) / var(B)
  at 5% one-sided; holds when var(A) < var(B) significantly, does not hold when var(A) > var(B)
  significantly, inconclusive otherwise (with 3 seeds only a ratio below about 1/19 is significant).

A claim holds when every check holds, does not hold when any check does not hold, and is
inconclusive otherwise.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy.stats import f as f_distribution

from bench.errors import BenchError
from bench.evaluators.statistics import seed_aggregate

Verdict = Literal["holds", "does not hold", "inconclusive"]
Kind = Literal["at_least", "below", "lower_variance"]
SIGNIFICANCE = 0.05


@dataclass(frozen=True)
class Check:
    """One comparison of arm ``a`` with arm ``b`` on ``metric`` (arm labels as the study names them)."""

    kind: Kind
    a: str
    b: str
    metric: str
    margin: float = 0.0
    """Non-inferiority margin of ``at_least``, in the metric's units."""

    def describe(self) -> str:
        if self.kind == "at_least":
            return f"{self.a} >= {self.b} - {self.margin:g} on {self.metric}"
        if self.kind == "below":
            return f"{self.a} < {self.b} on {self.metric}"
        return f"var({self.a}) < var({self.b}) on {self.metric} across seeds"


@dataclass(frozen=True)
class Outcome:
    check: Check
    verdict: Verdict
    evidence: str
    """The numbers the verdict rests on, as printed in the report."""


def judge(check: Check, a: dict[int, float], b: dict[int, float]) -> Outcome:
    """Apply ``check`` to per-seed values of the two arms (seed -> value)."""
    if check.kind == "lower_variance":
        return _lower_variance(check, _finite(a), _finite(b))
    seeds = sorted(set(a) & set(b))
    differences = np.array([a[s] - b[s] for s in seeds], dtype=float)
    differences = differences[np.isfinite(differences)]
    if differences.size == 0:
        return Outcome(check, "inconclusive", "no seed has both values")
    mean, low, high = seed_aggregate(differences)
    evidence = (f"difference {mean:+.3g} [{low:+.3g}, {high:+.3g}] over {differences.size} seeds"
                if differences.size > 1 else f"difference {mean:+.3g} (one measurement)")
    if check.kind == "at_least":
        if differences.size > 1 and low >= -check.margin:
            return Outcome(check, "holds", evidence)
        if differences.size > 1 and high < 0:
            return Outcome(check, "does not hold", evidence)
        return Outcome(check, "inconclusive", evidence)
    if check.kind == "below":
        if differences.size == 1:
            return Outcome(check, "holds" if mean < 0 else "does not hold", evidence)
        if high < 0:
            return Outcome(check, "holds", evidence)
        if low > 0:
            return Outcome(check, "does not hold", evidence)
        return Outcome(check, "inconclusive", evidence)
    raise BenchError(f"unknown check kind {check.kind!r}; use at_least, below or lower_variance")


def _finite(values: dict[int, float]) -> np.ndarray:
    array = np.array(list(values.values()), dtype=float)
    return array[np.isfinite(array)]


def _lower_variance(check: Check, a: np.ndarray, b: np.ndarray) -> Outcome:
    if a.size < 2 or b.size < 2:
        return Outcome(check, "inconclusive", "fewer than two seeds per arm")
    var_a, var_b = float(a.var(ddof=1)), float(b.var(ddof=1))
    if var_b == 0.0:
        return Outcome(check, "inconclusive" if var_a == 0.0 else "does not hold",
                       f"var {var_a:.3g} vs {var_b:.3g}")
    ratio = var_a / var_b
    below = float(f_distribution.cdf(ratio, a.size - 1, b.size - 1))  # P(F <= ratio) under equal variances
    evidence = (f"sd {math.sqrt(var_a):.3g} vs {math.sqrt(var_b):.3g}, variance ratio {ratio:.3g} "
                f"(one-sided p {min(below, 1 - below):.2g})")
    if below < SIGNIFICANCE:
        return Outcome(check, "holds", evidence)
    if 1.0 - below < SIGNIFICANCE:
        return Outcome(check, "does not hold", evidence)
    return Outcome(check, "inconclusive", evidence)


def claim_verdict(outcomes: list[Outcome]) -> Verdict:
    """Every check holds -> holds; any does not hold -> does not hold; otherwise inconclusive."""
    verdicts = {outcome.verdict for outcome in outcomes}
    if not outcomes:
        return "inconclusive"
    if verdicts == {"holds"}:
        return "holds"
    if "does not hold" in verdicts:
        return "does not hold"
    return "inconclusive"
