"""``bench report seeds`` end to end on the smoke gym: runs, a fresh-process cost probe, the written report."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.leaderboards.verdicts import Check
from bench.runner.seeds_report import PEAK_MEMORY, SECONDS_PER_STEP, SeedsReport, Study, studies_named


def tiny_study() -> Study:
    return Study(name="tiny", paper="a smoke-sized study", claim="dpo on k-wise data is not worse than on pairs",
                 setting="smoke gym", methods=("dpo", "ipo"),
                 settings={"pairs": (), "kwise": ("data.gym_pool=kwise",)},
                 checks=(Check("at_least", "dpo@kwise", "dpo@pairs", "gold_win_rate", 100.0),
                         Check("lower_variance", "dpo@kwise", "ipo@kwise", "gold_win_rate")),
                 columns=(("gold_win_rate", "gold WR"), (SECONDS_PER_STEP, "s/step"), (PEAK_MEMORY, "peak MB")),
                 cost_probe=("dpo",))


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory, smoke_cache: Path) -> tuple[SeedsReport, Path]:
    root = tmp_path_factory.mktemp("seeds")
    lines: list[str] = []
    report = SeedsReport(root, (0, 1, 2), ("preset=smoke", f"cache={smoke_cache}"), say=lines.append)
    report.run_study(tiny_study())
    return report, report.write([tiny_study()], root / "seeds.md")


def test_every_arm_has_three_seeds_and_the_kwise_pool_trains_on_scored_rows(report):
    seeds_report, _ = report
    values = seeds_report.arm_values(tiny_study())
    trained = {"dpo@pairs", "ipo@pairs", "dpo@kwise", "ipo@kwise"}
    assert set(values) == trained | {"dpo"}  # "dpo" alone: the cost probe's row
    assert all(sorted(values[arm]["gold_win_rate"]) == [0, 1, 2] for arm in trained)
    kwise, pairs = (json.loads(next(path for path in sorted((seeds_report.root / "tiny" / pool).rglob("metrics.json"))
                                    if path.parent.name.startswith("dpo-")).read_text())
                    for pool in ("kwise", "pairs"))  # a trained job's record, not the reference row's
    assert kwise["provenance"]["dataset"] != pairs["provenance"]["dataset"]  # two pools, two tables
    assert kwise["job"]["data_kind"] == "pairs"  # dpo derives its pairs from the scored k-wise rows


def test_peak_memory_comes_from_the_fresh_process_probe_only(report):
    seeds_report, _ = report
    values = seeds_report.arm_values(tiny_study())
    assert list(values["dpo"]) == [PEAK_MEMORY] and list(values["dpo"][PEAK_MEMORY]) == [0]
    probe = json.loads(next((seeds_report.root / "tiny" / "cost" / "dpo").rglob("metrics.json")).read_text())
    assert probe["metrics"] == {} and probe["cost"]["train_peak_memory_mb"] > 50
    assert all(v > 0 for v in values["dpo@pairs"][SECONDS_PER_STEP].values())


def test_the_report_states_claim_numbers_checks_and_verdict(report):
    _, path = report
    text = path.read_text()
    assert "**Claim.** dpo on k-wise data is not worse than on pairs" in text
    assert "| dpo@kwise | 3 |" in text
    assert "dpo@kwise >= dpo@pairs - 100 on gold_win_rate" in text
    assert text.count("**Verdict: ") == 1
    verdict = text.split("**Verdict: ")[1].split(".**")[0]
    assert verdict in ("holds", "does not hold", "inconclusive")


def test_a_second_run_reuses_every_job(report):
    seeds_report, _ = report
    lines: list[str] = []
    again = SeedsReport(seeds_report.root, seeds_report.seeds, seeds_report.overrides, say=lines.append)
    again.run_study(tiny_study())
    assert any("plan: 6 jobs (6 already finished)" in line for line in lines)
    assert not any("[tiny cost]" in line for line in lines)


def test_unknown_study_names_the_valid_ones():
    from bench.errors import BenchError

    with pytest.raises(BenchError, match="unknown study 'fp0'; studies: all, fpo, rpo, causal, selectors"):
        studies_named(["fp0"])


def test_the_report_reads_only_the_benchmark_its_last_run_published(report, tmp_path):
    import shutil

    from bench.config import build_config
    from bench.runner.run import run

    seeds_report, _ = report
    copy = SeedsReport(tmp_path / "seeds", seeds_report.seeds, seeds_report.overrides, say=lambda line: None)
    shutil.copytree(seeds_report.root, copy.root)
    before = copy.arm_values(tiny_study())
    # the same jobs evaluated again under another evaluation: the store now holds two benchmarks
    run(build_config([*copy.overrides, "method=dpo,ipo", "seed=0,1,2", f"store={copy.store(tiny_study(), 'pairs')}",
                      "eval.evaluators=[kl]", "progress=false"]), say=lambda line: None)
    assert copy.arm_values(tiny_study()) == before
    assert copy.compute_minutes(tiny_study()) == pytest.approx(seeds_report.compute_minutes(tiny_study()))
