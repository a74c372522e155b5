"""Reference statistics of a row subset read from the full dataset's cache, not from a second pass.

A data selector keeps a share of the training pool, and every selected dataset is a subset of the
rows the full pool's reference pass already scored. Per-response log-probs depend on their own row
only, so the subset's are the full set's rows, sliced: one reference pass serves every selector of a
run, and every selector sees bit-identical reference numbers for the same row. Items that couple rows
(``mismatched`` pairs each prompt with the NEXT row's responses, which differs in a subset) and items
not listed in :data:`SLICED_ITEMS` are computed for the subset itself.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import replace

import torch

from bench.data.records import check_unique_ids
from bench.data.tokenize import Batch
from bench.errors import DataError
from bench.models.logprobs import ResponseScores
from bench.models.refcache import PassReport, ReferenceCache

SLICED_ITEMS = ("responses",)
"""Cached items whose row i depends on dataset row i alone (full distributions would too, but their size
limit is decided per dataset, so they are computed for the subset)."""


def subset_rows(subset_ids: list[str], full_ids: list[str]) -> torch.Tensor:
    """Positions of ``subset_ids`` among ``full_ids``; refuses repeated full ids, which would map a row to
    another row's cached reference statistics."""
    check_unique_ids(full_ids, "the full dataset a selection was made from")
    position = {row_id: i for i, row_id in enumerate(full_ids)}
    missing = [row_id for row_id in subset_ids if row_id not in position]
    if missing:
        raise DataError(f"row {missing[0]} of a selected dataset is not in the full dataset it was selected "
                        f"from; this is a bug in the selection, report it")
    return torch.tensor([position[row_id] for row_id in subset_ids], dtype=torch.long)


class RowSubsetReference:
    """The reference cache of a dataset whose rows are ``rows`` of ``full``'s dataset (same layout).

    Sliced items come from ``full``; the rest from ``own``, the subset's own :class:`ReferenceCache`.
    It answers :meth:`ensure` and :meth:`scores` like a ReferenceCache, so the trainer cannot tell.
    """

    def __init__(self, full: ReferenceCache, rows: torch.Tensor, own: ReferenceCache) -> None:
        self.full, self.rows, self.own = full, rows, own
        self.data = own.data

    def ensure(self, items: Iterable[str]) -> PassReport:
        """Make ``items`` available: sliced ones through the full cache (usually a hit), the rest here."""
        started = time.perf_counter()
        items = set(items)
        sliced = self.full.ensure(sorted(items & set(SLICED_ITEMS)))
        own = self.own.ensure(sorted(items - set(SLICED_ITEMS)))
        return PassReport(hits=sliced.hits + own.hits, computed=sliced.computed + own.computed,
                          seconds=time.perf_counter() - started)

    @property
    def sae(self):
        """The subset's SAE (FPO); its top-k codes are not sliced but computed for the subset itself."""
        return self.own.sae

    def sae_topk(self, batch: Batch, layer: int, k: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.own.sae_topk(batch, layer, k)

    def scores(self, batch: Batch, item: str = "responses") -> ResponseScores:
        """Cached reference statistics for the subset rows of ``batch``."""
        if item in SLICED_ITEMS:
            return self.full.scores(replace(batch, indices=self.rows[batch.indices]), item)
        return self.own.scores(batch, item)
