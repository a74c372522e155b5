"""What the bench judges add to :class:`~bench.evaluators.base.Judge`: order-aware verdicts and a skip error.

A pairwise judge that reads both responses in one prompt may favour whichever it reads first. The
``llm`` judge therefore asks in both orders and reports the average; :class:`OrderedJudge` keeps the two
single-order verdicts available so the ``position_bias`` evaluator can measure how often they disagree.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from bench.errors import BenchError
from bench.evaluators.base import Judge


class JudgeUnavailable(BenchError):
    """A judge cannot run here (no API key, offline, missing package): the caller may skip it."""


class OrderedJudge(Judge):
    """A pairwise judge whose verdict depends on the order the two responses are shown in.

    Subclasses implement :meth:`order_preferences`; :meth:`preference` averages the two orders, which
    cancels a constant position bias and makes ``preference(p, b, a) == 1 - preference(p, a, b)``.
    """

    def order_preferences(self, prompts: Sequence[str], a: Sequence[str], b: Sequence[str]
                          ) -> tuple[np.ndarray, np.ndarray]:
        """P(a preferred) with a shown first, and P(a preferred) with a shown second, per pair."""
        raise NotImplementedError

    def preference(self, prompts: Sequence[str], a: Sequence[str], b: Sequence[str]) -> np.ndarray:
        a_first, a_second = self.order_preferences(prompts, a, b)
        return 0.5 * (a_first + a_second)
