"""``bench report frontier``: curve summaries computed by hand, the sweep's overrides, and a smoke study end to end."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from bench.cli import main
from bench.errors import BenchError
from bench.runner.frontier_curves import CurvePoint, CurveSummary, Interval, envelope, mean_regret, summarise
from bench.runner.frontier_report import (
    KL_BUDGETS,
    OUT_OF_RANGE,
    FrontierReport,
    FrontierStudy,
    _ranking_key,
    ranking_table,
    strength_overrides,
    studies_named,
)


def linear_frontier(xs: np.ndarray) -> np.ndarray:
    return np.asarray(xs, dtype=np.float64)  # reward = KL: a made-up frontier whose integrals are easy


def test_envelope_is_the_best_reward_within_each_budget_and_never_below_the_reference():
    points = [CurvePoint(1.0, kl=2.0, reward=0.8), CurvePoint(2.0, kl=0.5, reward=0.3),
              CurvePoint(4.0, kl=0.2, reward=-1.0)]
    assert envelope(points, 0.1, np.array([0.0, 0.2, 0.5, 1.9, 2.0, 50.0])).tolist() == [0.1, 0.1, 0.3, 0.3, 0.8, 0.8]


def test_mean_regret_integrates_the_gap_to_the_frontier():
    # One point at KL 1 with reward 0.5 over a reference at 0: the gap is x below KL 1 and x - 0.5 above it, so
    # over [0, 2] the integral is 0.5 + 1.0 and the mean 0.75.
    assert mean_regret([CurvePoint(1.0, 1.0, 0.5)], 0.0, linear_frontier, 2.0) == pytest.approx(0.75, abs=5e-3)
    assert mean_regret([], 0.0, linear_frontier, 2.0) == pytest.approx(1.0, abs=1e-9)  # only the reference
    assert math.isnan(mean_regret([], 0.0, linear_frontier, 0.0))


def test_summaries_have_intervals_over_seeds():
    by_seed = {seed: [CurvePoint(1.0, kl=0.5, reward=0.2 + 0.1 * seed), CurvePoint(2.0, kl=5.0, reward=1.0)]
               for seed in range(3)}
    summary = summarise("dpo", by_seed, {0: 0.0, 1: 0.0, 2: 0.0}, linear_frontier, 2.0, (1.0, 10.0))
    assert summary.best_at[1.0].mean == pytest.approx(0.3) and summary.best_at[1.0].low < 0.3
    assert summary.best_at[10.0].mean == pytest.approx(1.0) and summary.best_at[10.0].text() == "1.00 [1.00, 1.00]"
    assert summary.regret.low < summary.regret.mean < summary.regret.high


def test_each_objective_is_swept_over_its_own_strength():
    methods, overrides = strength_overrides(("dpo", "rloo", "orpo", "sft"), 2.0)
    assert methods == ["dpo", "rloo", "orpo"]  # sft has no strength: trained at its defaults only
    assert overrides == ["methods.dpo.beta=0.2", "methods.rloo.beta_kl=0.1", "methods.orpo.lambda_or=0.2"]
    assert strength_overrides(("sft",), 1.0) == (["sft"], [])


def test_unknown_study_and_too_few_seeds_are_one_line_errors(tmp_path):
    with pytest.raises(BenchError, match="no such frontier study; use one of dpo"):
        studies_named(["dpoo"])
    with pytest.raises(BenchError, match="at least 2 seeds"):
        FrontierReport(tmp_path, (0,))
    result = CliRunner().invoke(main, ["report", "frontier", "--study", "dpoo", "--root", str(tmp_path)])
    assert result.exit_code == 2 and result.output.count("\n") == 1 and "--study dpoo" in result.output
    assert not any(tmp_path.iterdir())  # nothing ran


@pytest.mark.slow
def test_a_smoke_study_runs_every_strength_and_writes_the_report(tmp_path: Path, smoke_cache: Path):
    study = FrontierStudy("tiny", ("dpo", "sft"))
    lines: list[str] = []
    report = FrontierReport(tmp_path / "runs", (0, 1), ("preset=smoke", f"cache={smoke_cache}", "train.steps=2"),
                            say=lines.append)
    report.run_study(study)
    rows, frontier = report.results(study)
    trained = rows[rows["method"] != "reference"]
    assert sorted(trained.groupby("method").size().items()) == [("dpo", 10), ("sft", 2)]  # 5 strengths x 2 seeds
    path = report.write([study, FrontierStudy("later", ("ipo",))], tmp_path / "docs" / "frontier.md")
    text = path.read_text()
    assert "![reward-KL curves of study tiny](frontier_tiny.png)" in text
    assert (tmp_path / "docs" / "frontier_tiny.png").stat().st_size > 10_000
    table = [line for line in text.splitlines() if line.startswith("| 1 ") or line.startswith("| 2 ")]
    assert sorted(line.split(" | ")[1] for line in table) == ["dpo", "sft"]
    later = (f"bench report frontier preset=smoke cache={smoke_cache} train.steps=2 --study later --seeds 0,1 "
             f"--root {tmp_path / 'runs'} --out {path}")
    assert f"Not run yet: `{later}`" in text
    assert frontier.kl_max > 0
    grown = report.section(FrontierStudy("tiny", ("dpo", "sft", "ipo")), path)  # ipo joined after the runs
    assert "Strengths swept: dpo.beta, sft.(none);" in grown and "after they ran" in grown and "ipo." in grown


def test_ranking_breaks_equal_regrets_by_the_best_reward_within_the_largest_budget():
    def summary(name: str, regret: float, best_at_10: float) -> CurveSummary:
        return CurveSummary(name, {1.0: Interval(0.0, 0.0, 0.0), 10.0: Interval(best_at_10, 0.0, 1.0)},
                            Interval(regret, 0.0, 2.0))

    ranked = sorted([summary("far", 1.4, 0.1), summary("close", 0.5, 0.0), summary("farther", 1.4, 0.3),
                     summary("unknown", math.nan, 0.9)], key=_ranking_key)
    assert [s.method for s in ranked] == ["close", "farther", "far", "unknown"]


def test_a_curve_with_no_point_in_the_valid_range_is_marked_in_the_ranking():
    far = {seed: [CurvePoint(1.0, kl=5.0, reward=0.3)] for seed in range(3)}
    near = {seed: [CurvePoint(1.0, kl=0.5, reward=0.2)] for seed in range(3)}
    reference = dict.fromkeys(range(3), 0.0)
    summaries = [summarise(name, curve, reference, linear_frontier, 2.0, KL_BUDGETS)
                 for name, curve in (("far", far), ("near", near))]
    assert [s.reaches_range for s in summaries] == [False, True]
    assert summaries[0].regret.mean == pytest.approx(1.0, abs=1e-9)  # the reference's own regret
    table = ranking_table(summaries, 2.0)
    far_row = next(line for line in table.splitlines() if "| far |" in line)
    near_row = next(line for line in table.splitlines() if "| near |" in line)
    assert OUT_OF_RANGE in far_row and OUT_OF_RANGE not in near_row
    assert "No point of this curve lies within [0, 2.00]" in table
    assert OUT_OF_RANGE not in ranking_table(summaries[1:], 2.0)


def test_every_registered_objective_is_in_exactly_one_study():
    from bench.methods import METHODS
    from bench.runner.frontier_report import STUDIES

    studied = [method for study in STUDIES for method in study.methods]
    assert sorted(studied) == sorted(METHODS.names())
