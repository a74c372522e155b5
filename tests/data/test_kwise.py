"""Tests for bench.data.kwise: k-wise rows cut to their first k responses, meta kept aligned."""

from __future__ import annotations

import pytest

from bench.data.kwise import first_k_responses
from bench.data.records import Example, Response
from bench.errors import DataError


def _row(row_id: str, n: int) -> Example:
    return Example(id=row_id, prompt=f"prompt {row_id}", kind="kwise",
                   responses=tuple(Response(f"r{j}", score=float(j)) for j in range(n)),
                   meta={"gold": [10.0 + j for j in range(n)], "utility": tuple(range(n)), "group": 7,
                         "tags": ["a", "b"]})


def test_rows_keep_their_first_k_responses_and_the_aligned_meta() -> None:
    (cut,) = first_k_responses([_row("k0", 4)], 2)
    assert [r.text for r in cut.responses] == ["r0", "r1"] and [r.score for r in cut.responses] == [0.0, 1.0]
    assert cut.meta["gold"] == [10.0, 11.0] and cut.meta["utility"] == [0, 1]
    assert cut.meta["group"] == 7 and cut.meta["tags"] == ["a", "b"]  # not one value per response: untouched
    assert cut.id == "k0" and cut.kind == "kwise" and cut.n == 2


def test_none_keeps_every_response_and_k_equal_to_n_changes_nothing() -> None:
    rows = [_row("k0", 3), _row("k1", 3)]
    assert first_k_responses(rows, None) is rows
    assert first_k_responses(rows, 3) == rows


def test_k_beyond_a_row_or_below_two_names_the_key_and_the_row() -> None:
    with pytest.raises(DataError, match=r"^data\.kwise_k=4: row k1 has only 3 responses; lower data\.kwise_k"):
        first_k_responses([_row("k0", 4), _row("k1", 3)], 4)
    with pytest.raises(DataError, match=r"^data\.kwise_k=1: k-wise rows need k >= 2"):
        first_k_responses([_row("k0", 4)], 1)
