"""Tests for bench.evaluators.judges.verdicts: a judge is asked each comparison once, across evaluators and runs."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from bench.evaluators.base import Judge, PointwiseJudge
from bench.evaluators.bias import single_order_preferences
from bench.evaluators.judges.interface import OrderedJudge
from bench.evaluators.judges.verdicts import VerdictStore, remembering


class CountingOrdered(OrderedJudge):
    """Prefers the longer answer, plus a pull toward whichever is shown first; counts the pairs it is asked."""

    name = "counting"

    def __init__(self, tag: str = "a") -> None:
        self.asked, self.tag = 0, tag
        self.spurious_markers = ("certainly",)

    def identity(self):
        return {"name": self.name, "tag": self.tag}

    def order_preferences(self, prompts, a, b):
        self.asked += len(a)
        longer = np.array([float(len(x) > len(y)) for x, y in zip(a, b, strict=True)])
        return np.clip(longer + 0.3, 0, 1), np.clip(longer - 0.3, 0, 1)


class CountingPointwise(PointwiseJudge):
    name = "points"

    def __init__(self) -> None:
        self.asked = 0

    def score(self, prompts: Sequence[str], responses: Sequence[str]) -> np.ndarray:
        self.asked += len(responses)
        return np.array([float(len(r)) for r in responses])


class CountingPairwise(Judge):
    name = "pairs"

    def __init__(self) -> None:
        self.asked = 0

    def preference(self, prompts, a, b):
        self.asked += len(a)
        return np.array([0.75] * len(a))


PROMPTS, A, B = ["p1", "p2", "p3"], ["long answer", "x", "mid"], ["short", "longer one", "mid!"]


def test_an_ordered_judge_is_asked_each_pair_once_across_evaluators_and_processes(tmp_path: Path) -> None:
    judge = CountingOrdered()
    store = VerdictStore(tmp_path / "verdicts.sqlite")
    wrapped = remembering(judge, store)
    assert isinstance(wrapped, OrderedJudge) and wrapped.spurious_markers == ("certainly",)
    first = wrapped.preference(PROMPTS, A, B)
    orders = single_order_preferences(wrapped, PROMPTS, A, B)  # the position-bias evaluator's question
    assert judge.asked == 3
    np.testing.assert_allclose(first, 0.5 * (orders[0] + orders[1]))
    again = remembering(CountingOrdered(), VerdictStore(tmp_path / "verdicts.sqlite"))  # a later run
    np.testing.assert_array_equal(again.preference(PROMPTS, A, B), first)
    assert again.judge.asked == 0
    assert remembering(CountingOrdered("b"), store).preference(PROMPTS[:1], A[:1], B[:1]) is not None
    assert store.get(wrapped._id, []) == {}


def test_only_new_comparisons_reach_the_judge(tmp_path: Path) -> None:
    judge = CountingPointwise()
    wrapped = remembering(judge, VerdictStore(tmp_path / "v.sqlite"))
    assert isinstance(wrapped, PointwiseJudge)
    wrapped.score(PROMPTS[:2], A[:2])
    scores = wrapped.score(PROMPTS, A)
    assert judge.asked == 3 and list(scores) == [11.0, 1.0, 3.0]
    pairwise = CountingPairwise()
    remembered = remembering(pairwise, VerdictStore(tmp_path / "v.sqlite"))
    remembered.preference(PROMPTS, A, B)
    remembered.preference(PROMPTS, B, A)  # the other order is another question
    assert pairwise.asked == 6


def test_a_damaged_store_is_said_and_replaced(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "v.sqlite"
    path.write_bytes(b"this is not a database" * 100)
    judge = CountingPairwise()
    assert list(remembering(judge, VerdictStore(path)).preference(PROMPTS, A, B)) == [0.75] * 3
    assert "v.sqlite: damaged" in caplog.text and judge.asked == 3
