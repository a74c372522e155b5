"""Length-normalised reference log-probs of every response of a dataset, read from the reference cache.

The implicit-margin data selectors rank pairs by LN(pi, y) = log pi(y|x) / |y| under the model about
to be trained, which is the base (reference) model; the reference pass already holds every response's
per-token log-probs, so the selection reads them instead of running the model again.
"""

from __future__ import annotations

import numpy as np
import torch

from bench.data.tokenize import TokenizedDataset, collate_rows
from bench.models.refcache import PASS_BATCH_ROWS, ReferenceCache


def length_normalised_reference_logps(cache: ReferenceCache, data: TokenizedDataset) -> np.ndarray:
    """LN(pi_ref, y) per response [N, n] of ``data`` (the dataset ``cache`` was built for).

    |y| counts the response tokens as training tokenises them (truncated, EOS included), the same
    length :func:`bench.data.selectors.length_normalised_logps` divides by.
    """
    cache.ensure(["responses"])
    out = np.zeros((len(data), data.n), dtype=np.float64)
    for start in range(0, len(data), PASS_BATCH_ROWS):
        rows = torch.arange(start, min(start + PASS_BATCH_ROWS, len(data)))
        scores = cache.scores(collate_rows(data, rows))
        out[start:start + len(rows)] = (scores.logps.double() / scores.lengths.double()).view(len(rows), data.n).numpy()
    return out
