"""Fixed small batches for the objective tests, with their raw numbers for hand computation.

Expected losses in the tests are computed from these plain Python lists with ``math``; the tensors
built here only feed the implementation. float64 throughout so that agreement can be tight.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import pytest
import torch

from bench.methods.base import SequenceStats


@dataclass
class PairBatch:
    """B = 4 preference pairs with non-trivial, unequal log-probs and lengths.

    Summed log-ratios: rho_w = [1.5, -1.5, 0.75, 2.5], rho_l = [-1.0, 1.5, -0.75, -2.0], so
    h = [2.5, -3.0, 1.5, 4.5] (one pair ranked wrongly).
    """

    logp_w: list[float] = field(default_factory=lambda: [-12.0, -30.5, -7.25, -20.0])
    logp_l: list[float] = field(default_factory=lambda: [-15.0, -28.0, -9.5, -26.0])
    ref_w: list[float] = field(default_factory=lambda: [-13.5, -29.0, -8.0, -22.5])
    ref_l: list[float] = field(default_factory=lambda: [-14.0, -29.5, -8.75, -24.0])
    len_w: list[int] = field(default_factory=lambda: [6, 15, 4, 10])
    len_l: list[int] = field(default_factory=lambda: [8, 12, 5, 13])

    def __len__(self) -> int:
        return len(self.logp_w)

    def stats(self, requires_grad: bool = False, reference: bool = True, **extra: object) -> SequenceStats:
        """SequenceStats [B, 2]; with ``requires_grad`` the policy log-probs are a leaf (``.logps``)."""
        logps = torch.tensor([self.logp_w, self.logp_l], dtype=torch.float64).T.contiguous()
        logps.requires_grad_(requires_grad)
        ref = torch.tensor([self.ref_w, self.ref_l], dtype=torch.float64).T.contiguous()
        ref = ref if reference else None
        lengths = torch.tensor([self.len_w, self.len_l]).T.contiguous()
        return SequenceStats(logps=logps, lengths=lengths, ref_logps=ref, **extra)  # type: ignore[arg-type]

    def policy(self, reduction: str = "sum") -> tuple[list[float], list[float]]:
        """(log pi(y_w), log pi(y_l)) per pair, as sums or per-token means."""
        if reduction == "sum":
            return list(self.logp_w), list(self.logp_l)
        return ([lp / n for lp, n in zip(self.logp_w, self.len_w, strict=True)],
                [lp / n for lp, n in zip(self.logp_l, self.len_l, strict=True)])

    def rho(self, reduction: str = "sum") -> tuple[list[float], list[float]]:
        """(rho_w, rho_l) per pair, as sums or per-token means."""
        if reduction == "sum":
            return ([p - r for p, r in zip(self.logp_w, self.ref_w, strict=True)],
                    [p - r for p, r in zip(self.logp_l, self.ref_l, strict=True)])
        return ([(p - r) / n for p, r, n in zip(self.logp_w, self.ref_w, self.len_w, strict=True)],
                [(p - r) / n for p, r, n in zip(self.logp_l, self.ref_l, self.len_l, strict=True)])

    def h(self, reduction: str = "sum") -> list[float]:
        rho_w, rho_l = self.rho(reduction)
        return [w - lo for w, lo in zip(rho_w, rho_l, strict=True)]


@pytest.fixture
def pairs() -> PairBatch:
    return PairBatch()


@pytest.fixture
def make_pairs() -> Callable[..., PairBatch]:
    return PairBatch


def gradients(objective, stats: SequenceStats) -> torch.Tensor:
    """d loss / d logps, shape [B, n]."""
    objective.loss(stats).loss.backward()
    return stats.logps.grad


@pytest.fixture
def grad_of() -> Callable[..., torch.Tensor]:
    return gradients
