"""Tests for bench.evaluators.head_to_head: the win-rate matrix between methods and its Markdown."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest

from bench.errors import BenchError
from bench.evaluators.base import Judge, PointwiseJudge, paired_flat_samples
from bench.evaluators.head_to_head import head_to_head, head_to_head_markdown
from bench.evaluators.statistics import paired_bootstrap_ci


class NumberJudge(PointwiseJudge):
    """Scores a response by the number written in it: "7" beats "3", equal numbers tie."""

    name = "number"

    def score(self, prompts: Sequence[str], responses: Sequence[str]) -> np.ndarray:
        return np.array([float(r) for r in responses])


class FirstPositionBiased(Judge):
    """Always prefers whichever response it is shown first: the extreme position bias."""

    name = "first"

    def preference(self, prompts: Sequence[str], a: Sequence[str], b: Sequence[str]) -> np.ndarray:
        return np.ones(len(a))


PROMPTS = ["p0", "p1", "p2"]
SAMPLES = {
    "dpo": [["5", "1"], ["4"], ["9", "0", "2"]],
    "ipo": [["3", "3"], ["4"], ["1", "1", "1"]],
    "sft": [["0", "2"], ["6"], ["2", "8", "8"]],
}


def _hand_win_rate(a: list[list[str]], b: list[list[str]]) -> float:
    """Per prompt the mean of 1 / 0.5 / 0 over aligned pairs (up to the shorter list), then over prompts."""
    per_prompt = []
    for xs, ys in zip(a, b, strict=True):
        verdicts = [1.0 if float(x) > float(y) else 0.5 if x == y else 0.0 for x, y in zip(xs, ys, strict=False)]
        per_prompt.append(np.mean(verdicts))
    return 100 * float(np.mean(per_prompt))


def test_matrix_cells_are_hand_counted_win_rates_of_row_over_column() -> None:
    matrix = head_to_head(PROMPTS, SAMPLES, NumberJudge(), n_boot=200).win_rate
    assert list(matrix.index) == list(matrix.columns) == ["dpo", "ipo", "sft"]
    for a in SAMPLES:
        for b in SAMPLES:
            expected = 50.0 if a == b else _hand_win_rate(SAMPLES[a], SAMPLES[b])
            assert matrix.loc[a, b] == pytest.approx(expected), (a, b)
    # dpo vs ipo: p0 (5>3, 1<3) = .5, p1 tie = .5, p2 (9>1, 0<1, 2>1) = 2/3
    assert matrix.loc["dpo", "ipo"] == pytest.approx(100 * (0.5 + 0.5 + 2 / 3) / 3)


def test_symmetric_judge_gives_cells_summing_to_a_hundred_with_fifty_on_the_diagonal() -> None:
    rng = np.random.default_rng(0)
    samples = {name: [[str(v) for v in rng.integers(0, 5, size=4)] for _ in range(30)] for name in "abcd"}
    matrix = head_to_head([f"p{i}" for i in range(30)], samples, NumberJudge(), n_boot=200).win_rate
    np.testing.assert_allclose(matrix.to_numpy() + matrix.to_numpy().T, 100.0)
    np.testing.assert_allclose(np.diag(matrix.to_numpy()), 50.0)


def test_a_position_biased_judge_shows_as_cells_not_summing_to_a_hundred() -> None:
    matrix = head_to_head(PROMPTS, SAMPLES, FirstPositionBiased(), n_boot=50).win_rate
    assert matrix.loc["dpo", "sft"] == 100.0 and matrix.loc["sft", "dpo"] == 100.0


def test_intervals_are_the_paired_bootstrap_of_per_prompt_means_with_one_seed() -> None:
    result = head_to_head(PROMPTS, SAMPLES, NumberJudge(), n_boot=500, seed=7, level=0.9)
    per_prompt = np.array([0.5, 0.5, 2 / 3])  # dpo over ipo, as hand-counted above
    low, high = paired_bootstrap_ci(per_prompt, n_boot=500, seed=7, level=0.9)
    assert result.ci_low.loc["dpo", "ipo"] == pytest.approx(100 * low)
    assert result.ci_high.loc["dpo", "ipo"] == pytest.approx(100 * high)
    assert result.ci_low.loc["dpo", "dpo"] == result.ci_high.loc["dpo", "dpo"] == 50.0
    assert (result.n_prompts, result.level) == (3, 0.9)


def test_pairs_stop_at_the_smaller_sample_count_of_each_prompt() -> None:
    prompts, first, second, counts = paired_flat_samples(["p", "q"], [["a", "b", "c"], ["d"]], [["x"], ["y", "z"]])
    assert (prompts, first, second, counts.tolist()) == (["p", "q"], ["a", "d"], ["x", "y"], [1, 1])


def test_markdown_has_one_row_per_method_with_value_and_interval() -> None:
    result = head_to_head(PROMPTS, SAMPLES, NumberJudge(), n_boot=200)
    text = head_to_head_markdown(result)
    lines = text.splitlines()
    assert len(lines) == 2 + 3
    assert [cell.strip() for cell in lines[0].strip("|").split("|")] == ["win rate of row over column", "dpo",
                                                                         "ipo", "sft"]
    dpo_row = next(line for line in lines if line.startswith("| dpo"))
    value = result.win_rate.loc["dpo", "ipo"]
    low, high = result.ci_low.loc["dpo", "ipo"], result.ci_high.loc["dpo", "ipo"]
    assert f"{value:.1f} [{low:.1f}, {high:.1f}]" in dpo_row
    assert "[" not in head_to_head_markdown(result, with_ci=False)


def test_fewer_than_two_methods_is_an_error() -> None:
    with pytest.raises(BenchError, match="at least two methods"):
        head_to_head(PROMPTS, {"dpo": SAMPLES["dpo"]}, NumberJudge())


def test_samples_misaligned_with_prompts_name_the_method() -> None:
    with pytest.raises(BenchError, match="samples of 'ipo'"):
        head_to_head(PROMPTS, {"dpo": SAMPLES["dpo"], "ipo": SAMPLES["ipo"][:2]}, NumberJudge())


def test_a_judge_returning_the_wrong_count_is_an_error() -> None:
    class Short(Judge):
        name = "short"

        def preference(self, prompts: Sequence[str], a: Sequence[str], b: Sequence[str]) -> np.ndarray:
            return np.ones(len(a) - 1)

    with pytest.raises(BenchError, match="returned 5 preferences for 6 pairs of 'dpo' vs 'ipo'"):
        head_to_head(PROMPTS, SAMPLES, Short())
