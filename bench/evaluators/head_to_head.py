"""Head-to-head win rates between methods: every method's samples judged against every other's.

Win rate against a fixed reference ranks methods only through that reference; comparing them
directly (as the FPO paper's tables do) shows whether method a actually beats method b on the same
prompts. Each ordered pair (a, b) is judged with a's response in the first position, so for a judge
without position bias M[a, b] + M[b, a] = 100, and a judge with one shows it as a departure from 100.
Statistics are bench's win rate: ties half, prompts weigh equally, paired bootstrap over prompts
with one seed for every cell, so all cells resample the same prompts (METHODS.md, Metrics).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from tabulate import tabulate

from bench.errors import BenchError
from bench.evaluators.base import Judge, PointwiseJudge, judge_preferences, paired_flat_samples
from bench.evaluators.statistics import DEFAULT_LEVEL, DEFAULT_N_BOOT, paired_bootstrap_cis, prompt_mean
from bench.evaluators.winrate import check_preferences
from bench.markdown import cell as markdown_cell


class _ScoredOnce(PointwiseJudge):
    """A pointwise judge that scores each (prompt, response) once: m methods meet m - 1 opponents each."""

    def __init__(self, judge: PointwiseJudge) -> None:
        self.judge, self.name = judge, judge.name
        self._scores: dict[tuple[str, str], float] = {}

    def score(self, prompts: Sequence[str], responses: Sequence[str]) -> np.ndarray:
        pairs = list(zip(prompts, responses, strict=True))
        new = list(dict.fromkeys(pair for pair in pairs if pair not in self._scores))
        if new:
            scores = self.judge.score([p for p, _ in new], [r for _, r in new])
            self._scores.update(zip(new, np.asarray(scores, dtype=np.float64).tolist(), strict=True))
        return np.array([self._scores[pair] for pair in pairs], dtype=np.float64)


@dataclass(frozen=True)
class HeadToHead:
    """Win rates (percent) between methods: ``win_rate.loc[a, b]`` is how often a beats b.

    Rows are the method, columns its opponent; the diagonal is 50 by definition. ``ci_low`` and
    ``ci_high`` are the paired-bootstrap limits of each cell at ``level``.
    """

    win_rate: pd.DataFrame
    ci_low: pd.DataFrame
    ci_high: pd.DataFrame
    n_prompts: int
    level: float


def head_to_head(prompts: Sequence[str], samples: Mapping[str, Sequence[Sequence[str]]], judge: Judge,
                 n_boot: int = DEFAULT_N_BOOT, seed: int = 0, level: float = DEFAULT_LEVEL) -> HeadToHead:
    """Judge every method's samples against every other method's on the same prompts.

    ``samples[method]`` is indexed [prompt][sample] in the order of ``prompts``. The judge runs once
    per ordered pair of methods (m (m - 1) calls for m methods), each call one flat batch of all
    prompts' sample pairs.
    """
    methods = list(samples)
    if isinstance(judge, PointwiseJudge):
        judge = _ScoredOnce(judge)
    if len(methods) < 2:
        raise BenchError(f"head-to-head needs at least two methods, got {methods}; pass samples for each "
                         f"method to compare")
    shape = (len(methods), len(methods))
    cells = {name: np.full(shape, 50.0) for name in ("win_rate", "win_rate_ci_low", "win_rate_ci_high")}
    ordered_pairs = [(row, column) for row in range(len(methods)) for column in range(len(methods)) if row != column]
    per_prompt = []
    for row, column in ordered_pairs:
        first, second = methods[row], methods[column]
        flat_prompts, responses, opponents, counts = paired_flat_samples(
            prompts, samples[first], samples[second], (f"samples of {first!r}", f"samples of {second!r}"))
        prefs = judge_preferences(judge.name, judge, flat_prompts, responses, opponents,
                                  f"pairs of {first!r} vs {second!r}")
        per_prompt.append(check_preferences(prompt_mean(prefs, counts)))
    values = np.stack(per_prompt)
    low, high = paired_bootstrap_cis(values, n_boot=n_boot, seed=seed, level=level)  # one set of resamples
    rows, columns = (list(axis) for axis in zip(*ordered_pairs, strict=True))
    cells["win_rate"][rows, columns] = 100.0 * values.mean(axis=1)
    cells["win_rate_ci_low"][rows, columns] = 100.0 * low
    cells["win_rate_ci_high"][rows, columns] = 100.0 * high
    frames = {name: pd.DataFrame(grid, index=pd.Index(methods, name="method"),
                                 columns=pd.Index(methods, name="opponent"))
              for name, grid in cells.items()}
    return HeadToHead(win_rate=frames["win_rate"], ci_low=frames["win_rate_ci_low"],
                      ci_high=frames["win_rate_ci_high"], n_prompts=len(prompts), level=level)


def head_to_head_markdown(result: HeadToHead, decimals: int = 1, with_ci: bool = True) -> str:
    """The matrix as a Markdown table: row method's win rate over the column method, CI in brackets."""

    def cell(method: str, opponent: str) -> str:
        if method == opponent:
            return "-"
        text = f"{result.win_rate.loc[method, opponent]:.{decimals}f}"
        if with_ci:
            text += (f" [{result.ci_low.loc[method, opponent]:.{decimals}f}, "
                     f"{result.ci_high.loc[method, opponent]:.{decimals}f}]")
        return text

    methods = list(result.win_rate.index)
    rows = [[markdown_cell(method), *(cell(method, opponent) for opponent in methods)] for method in methods]
    headers = ["win rate of row over column", *map(markdown_cell, methods)]
    return tabulate(rows, headers=headers, tablefmt="pipe", colalign=("left", *("right",) * len(methods)))


def head_to_head_record(result: HeadToHead, judge: str, seed: int) -> dict:
    """The matrix as a JSON-ready record (``bench publish`` draws its heatmap from it)."""
    return {"judge": judge, "seed": seed, "methods": [str(m) for m in result.win_rate.index],
            "win_rate": result.win_rate.to_numpy(dtype=float).tolist(),
            "ci_low": result.ci_low.to_numpy(dtype=float).tolist(),
            "ci_high": result.ci_high.to_numpy(dtype=float).tolist(),
            "n_prompts": int(result.n_prompts), "level": float(result.level)}

