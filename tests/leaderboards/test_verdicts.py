"""The verdict rules on hand-made per-seed values, with the intervals computed here independently."""

from __future__ import annotations

import math

import pytest
from scipy import stats

from bench.leaderboards.verdicts import Check, Outcome, claim_verdict, judge


def t_interval(values: list[float]) -> tuple[float, float]:
    n = len(values)
    mean = sum(values) / n
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))
    half = stats.t.ppf(0.975, n - 1) * sd / math.sqrt(n)
    return mean - half, mean + half


def test_at_least_holds_when_the_lower_end_is_inside_the_margin():
    a, b = {0: 60.0, 1: 61.0, 2: 59.5}, {0: 59.0, 1: 60.5, 2: 59.0}
    low, high = t_interval([1.0, 0.5, 0.5])
    assert low > -2.0
    outcome = judge(Check("at_least", "a", "b", "wr", margin=2.0), a, b)
    assert outcome.verdict == "holds"
    assert f"[{low:+.3g}, {high:+.3g}]" in outcome.evidence


def test_at_least_fails_when_clearly_worse_and_is_inconclusive_when_noisy():
    worse = judge(Check("at_least", "a", "b", "wr", margin=1.0), {0: 50, 1: 51, 2: 50.5}, {0: 60, 1: 60.5, 2: 61})
    assert worse.verdict == "does not hold"
    noisy = judge(Check("at_least", "a", "b", "wr", margin=1.0), {0: 50, 1: 70, 2: 55}, {0: 60, 1: 58, 2: 61})
    assert noisy.verdict == "inconclusive"


def test_differences_are_paired_by_seed_and_unmatched_seeds_are_ignored():
    # Seed 3 exists only in a; pairing by seed makes the difference exactly 1 on every shared seed.
    outcome = judge(Check("at_least", "a", "b", "wr"), {0: 11.0, 1: 21.0, 2: 31.0, 3: -100.0},
                    {0: 10.0, 1: 20.0, 2: 30.0})
    assert outcome.verdict == "holds"
    assert "+1 [+1, +1] over 3 seeds" in outcome.evidence


def test_below_with_one_measurement_compares_the_values():
    assert judge(Check("below", "a", "b", "mb"), {0: 500.0}, {0: 600.0}).verdict == "holds"
    assert judge(Check("below", "a", "b", "mb"), {0: 700.0}, {0: 600.0}).verdict == "does not hold"


def test_lower_variance_uses_the_one_sided_f_test():
    a = {0: 1.0, 1: 1.01, 2: 0.99}                 # variance 1e-4
    b = {0: 0.0, 1: 1.0, 2: 2.0}                   # variance 1
    outcome = judge(Check("lower_variance", "a", "b", "gold"), a, b)
    assert stats.f.cdf(1e-4, 2, 2) < 0.05
    assert outcome.verdict == "holds"
    assert judge(Check("lower_variance", "b", "a", "gold"), b, a).verdict == "does not hold"
    close = judge(Check("lower_variance", "a", "b", "gold"), {0: 0, 1: 1, 2: 2.5}, b)
    assert close.verdict == "inconclusive"


@pytest.mark.parametrize(("verdicts", "expected"), [
    (["holds", "holds"], "holds"),
    (["holds", "inconclusive"], "inconclusive"),
    (["holds", "does not hold", "inconclusive"], "does not hold"),
    ([], "inconclusive"),
])
def test_claim_verdict_combines_checks(verdicts, expected):
    check = Check("at_least", "a", "b", "m")
    assert claim_verdict([Outcome(check, v, "") for v in verdicts]) == expected
