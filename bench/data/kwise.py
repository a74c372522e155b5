"""k for k-wise data: keep the first k responses of every k-wise row (``data.kwise_k``).

Reward-aware objectives (RPO) read a score for each of a prompt's k responses, and how much they gain
from more responses per prompt is a question the benchmark should answer at an equal prompt budget:
the same rows with k = 2 or k = 4. The gym's k-wise responses are independent reference samples in
sampling order, so their first k are a uniform random k-subset; a user's file keeps its own order.
``meta`` lists that hold one value per response (the gym's ``gold`` and ``utility``) are cut the same
way, so they stay aligned with ``responses``.
"""

from __future__ import annotations

from dataclasses import replace

from bench.data.records import Example
from bench.errors import DataError


def first_k_responses(examples: list[Example], k: int | None) -> list[Example]:
    """``examples`` with every row cut to its first ``k`` responses; None keeps every response.

    Rows with fewer than ``k`` responses are an error (naming the row), not silently kept shorter,
    since a k-wise batch needs the same k for every prompt.
    """
    if k is None:
        return examples
    if k < 2:
        raise DataError(f"data.kwise_k={k}: k-wise rows need k >= 2 responses (or null for all of them)")
    rows = []
    for ex in examples:
        if ex.n < k:
            raise DataError(f"data.kwise_k={k}: row {ex.id} has only {ex.n} responses; lower data.kwise_k to "
                            f"at most {ex.n} or set it to null")
        meta = {key: (list(value[:k]) if isinstance(value, (list, tuple)) and len(value) == ex.n else value)
                for key, value in ex.meta.items()}
        rows.append(replace(ex, responses=ex.responses[:k], meta=meta))
    return rows
