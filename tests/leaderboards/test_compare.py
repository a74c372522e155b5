"""``bench publish`` and ``bench compare`` on real smoke runs: a deliberately changed objective (dpo with its
beta doubled) is flagged, an unchanged one (ipo, the same job reused) passes; and the comparison's logic on
hand-made results."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from bench.cli import main
from bench.leaderboards.compare import compare


def invoke(*args: str):
    return CliRunner().invoke(main, list(args))


def test_compare_flags_dpo_with_its_beta_doubled_and_passes_unchanged_ipo(tmp_path: Path, smoke_run) -> None:
    smoke_run(tmp_path / "old", "method=dpo,ipo", "train.steps=12", "train.lr=3e-3")
    smoke_run(tmp_path / "new", "method=dpo,ipo", "train.steps=12", "train.lr=3e-3", "methods.dpo.beta=0.2")
    for name in ("old", "new"):
        result = invoke("publish", str(tmp_path / name), "--out", str(tmp_path / f"{name}-site"))
        assert result.exit_code == 0, result.output
        assert (tmp_path / f"{name}-site" / "index.html").is_file()
    result = invoke("compare", str(tmp_path / "old-site" / "results.json"), str(tmp_path / "new-site" / "results.json"))
    assert result.exit_code == 1, result.output
    moved = [line for line in result.output.splitlines() if line.startswith("MOVED")]
    assert moved and all(line.startswith("MOVED dpo ") for line in moved), result.output
    assert all("beta" in line for line in moved), result.output  # the changed hyper-parameter is shown
    assert "FAIL" in result.output.splitlines()[-1]
    same = invoke("compare", str(tmp_path / "old-site" / "results.json"), str(tmp_path / "old-site" / "results.json"))
    assert same.exit_code == 0 and same.output.splitlines()[-1].startswith("PASS"), same.output


def _results(rows: list[dict], key: str = "k") -> dict:
    return {"tables": [{"comparability_key": key, "rows": rows}]}


def _row(method: str, mean: float, half: float = 2.0, beta: float = 0.1) -> dict:
    return {"method": method, "selector": "all", "reduction": "sum", "hyperparameters": {"beta": beta},
            "metrics": {"gold_win_rate": {"mean": mean, "ci_low": mean - half, "ci_high": mean + half},
                        "length": {"mean": mean}}}


def test_a_move_inside_both_intervals_passes_and_one_outside_either_is_flagged() -> None:
    assert compare(_results([_row("dpo", 60.0)]), _results([_row("dpo", 61.5)])).passed
    outcome = compare(_results([_row("dpo", 60.0)]), _results([_row("dpo", 61.5, half=1.0, beta=0.2)]))
    (change,) = outcome.changes
    assert change.metric == "gold_win_rate" and "0.1" in change.hyperparameters and "0.2" in change.hyperparameters
    assert compare(_results([_row("dpo", 60.0)]), _results([_row("dpo", 70.0)])).changes  # metrics without intervals
    # (length) are never flagged; only the win rate moved here


def test_tables_and_rows_present_on_one_side_are_reported_not_compared() -> None:
    outcome = compare(_results([_row("dpo", 60.0), _row("ipo", 50.0)]), _results([_row("dpo", 60.0)], key="other"))
    assert outcome.passed and outcome.compared == 0
    assert outcome.notes == ["table k: only in OLD", "table other: only in NEW"]
    outcome = compare(_results([_row("dpo", 60.0), _row("ipo", 50.0)]), _results([_row("dpo", 60.0)]))
    assert outcome.compared == 1 and outcome.notes == ["ipo (sum): only in OLD (table k)"]


def test_compare_on_a_file_that_is_not_a_results_file_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "x.json"
    path.write_text(json.dumps({"rows": []}))
    result = invoke("compare", str(path), str(path))
    assert result.exit_code == 2 and "not a bench results file" in result.output
    assert len(result.output.strip().splitlines()) == 1
