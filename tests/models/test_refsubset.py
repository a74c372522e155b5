"""Tests for bench.models.refsubset: a subset's reference statistics are the full dataset's rows."""

from __future__ import annotations

import pytest
import torch

from bench.data.tokenize import TokenizedDataset, collate_rows
from bench.errors import DataError
from bench.models.loading import load_causal_lm
from bench.models.logprobs import response_scores
from bench.models.refcache import ReferenceCache
from bench.models.refsubset import RowSubsetReference, subset_rows

ROWS = [5, 0, 9, 2]


def _subset(data: TokenizedDataset, rows: list[int]) -> TokenizedDataset:
    return TokenizedDataset(kind=data.kind, n=data.n, prompt_ids=[data.prompt_ids[i] for i in rows],
                            response_ids=[data.response_ids[i] for i in rows], scores=None, labels=None,
                            outcomes=None, fingerprint=f"{data.fingerprint}-subset", pad_id=data.pad_id)


def _loader(gym, counter: list[int]):
    def load():
        counter.append(1)
        return load_causal_lm(gym.reference_dir, dtype="float32")
    return load


def test_subset_rows_finds_positions_and_refuses_a_stranger() -> None:
    assert subset_rows(["c", "a"], ["a", "b", "c"]).tolist() == [2, 0]
    with pytest.raises(DataError, match="row z of a selected dataset is not in the full dataset"):
        subset_rows(["z"], ["a", "b"])


def test_subset_rows_refuses_a_full_dataset_with_a_repeated_id() -> None:
    """A repeated full id would map a selected row to whichever twin came last: another row's reference."""
    with pytest.raises(DataError) as caught:
        subset_rows(["a"], ["a", "b", "a"])
    assert str(caught.value) == ("the full dataset a selection was made from: duplicate id 'a' at rows 0 and 2 "
                                 "(counting from 0); ids must be unique within a dataset (rename one)")


def test_responses_are_sliced_from_the_full_pass_and_mismatched_is_computed_for_the_subset(
        tmp_path, smoke_gym, smoke_pairs) -> None:
    _, data = smoke_pairs
    loads: list[int] = []
    full = ReferenceCache(tmp_path, "ref", data, _loader(smoke_gym, loads))
    full.ensure(["responses"])
    subset_data = _subset(data, ROWS)
    own = ReferenceCache(tmp_path, "ref", subset_data, _loader(smoke_gym, loads))
    subset = RowSubsetReference(full, torch.tensor(ROWS), own)

    report = subset.ensure(["responses", "mismatched"])
    assert report.hits == ["responses"] and report.computed == ["mismatched"]
    assert len(loads) == 2  # the full pass, then the subset's own mismatched pass; no pass for responses
    batch = collate_rows(subset_data, torch.tensor([3, 1, 0]))
    expected = full.scores(collate_rows(data, torch.tensor([ROWS[3], ROWS[1], ROWS[0]])))
    got = subset.scores(batch)
    assert torch.equal(got.token_logps, expected.token_logps) and torch.equal(got.mask, expected.mask)
    # mismatched pairs row i with the subset's next row, which the full dataset's pass never scored
    twin = collate_rows(subset_data, torch.tensor([0]), mismatched=True)
    with torch.no_grad():
        direct_logps = response_scores(load_causal_lm(smoke_gym.reference_dir, dtype="float32"), twin).logps
    torch.testing.assert_close(subset.scores(twin, "mismatched").logps, direct_logps, rtol=1e-5, atol=1e-5)
