"""Tests for bench.leaderboards.render: Markdown and CSV output, the mixed-key guard, files per key."""

from __future__ import annotations

import io
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bench.errors import BenchError
from bench.leaderboards.render import to_csv, to_markdown, write_leaderboard
from bench.leaderboards.table import aggregate, load_results

from .test_table import (
    AP,
    DPO_GOLD,
    RANDOM,
    T_0975_DF1,
    T_0975_DF2,
    grid_store,
    hand_frontier,
    store,
    t_interval,
    win_metrics,
    write_job,
)

__all__ = ["grid_store", "store"]  # the results-store fixtures, shared with test_table


def test_markdown_shows_ranked_rows_with_win_rate_cis_and_provenance(store: Path) -> None:
    table = aggregate(load_results(store))["key-a"]
    text = to_markdown(table)
    assert "model `model-a`" in text and "dataset `data-a`" in text and "evaluation `eval-a`" in text
    mean = np.mean(DPO_GOLD)
    half = T_0975_DF2 * np.std(DPO_GOLD, ddof=1) / math.sqrt(3)
    assert f"{mean:.1f} [{mean - half:.1f}, {mean + half:.1f}]" in text  # "63.0 [54.0, 72.0]"
    assert "55.0 [49.0, 61.0]" in text  # ipo: one seed, its own bootstrap interval
    lines = [line for line in text.splitlines() if line.startswith("|")]
    assert "gold WR" in lines[0] and "proxy WR" in lines[0] and "gold reward" in lines[0]
    assert "KL (nats)" in lines[0] and "length (words)" in lines[0]
    body = lines[2:]
    assert [line.split("|")[2].strip() for line in body] == ["simpo", "dpo", "ipo", "reference"]
    assert [line.split("|")[1].strip() for line in body] == ["1", "2", "3", ""]
    assert "n/a" in body[2]  # ipo's NaN KL and missing proxy WR print as n/a


def test_markdown_adds_a_hyperparameter_column_only_for_sweeps(tmp_path: Path) -> None:
    write_job(tmp_path, "d1", "dpo", 0, {"gold_win_rate": 50.0}, hyperparameters={"beta": 0.1})
    assert "hyper-parameters" not in to_markdown(aggregate(load_results(tmp_path))["key-a"])
    write_job(tmp_path, "d2", "dpo", 0, {"gold_win_rate": 60.0}, hyperparameters={"beta": 0.5})
    text = to_markdown(aggregate(load_results(tmp_path))["key-a"])
    assert "hyper-parameters" in text and "beta=0.5" in text and "beta=0.1" in text


def test_markdown_shows_steps_when_rows_trained_for_different_budgets(tmp_path: Path) -> None:
    write_job(tmp_path, "dpo-0", "dpo", 0, {"gold_win_rate": 50.0})
    write_job(tmp_path, "ref", "reference", 1, {"gold_win_rate": 48.0})
    assert "| steps" not in to_markdown(aggregate(load_results(tmp_path))["key-a"])  # one budget: no column
    online = write_job(tmp_path, "rloo-0", "rloo", 0, {"gold_win_rate": 60.0})
    online.write_text(online.read_text().replace('"steps": 100', '"steps": 50'))
    text = to_markdown(aggregate(load_results(tmp_path))["key-a"])
    header, _, *body = [line for line in text.splitlines() if line.startswith("|")]
    column = [cell.strip() for cell in header.split("|")].index("steps")
    assert {row.split("|")[2].strip(): row.split("|")[column].strip() for row in body} == {
        "rloo": "50", "dpo": "100", "reference": "-"}
    assert "train.online_steps" in text


def test_csv_keeps_every_column_at_full_precision(store: Path) -> None:
    table = aggregate(load_results(store))["key-a"]
    back = pd.read_csv(io.StringIO(to_csv(table)))
    assert list(back.columns) == list(table.columns)
    dpo, expected = back.set_index("method").loc["dpo"], table.set_index("method").loc["dpo"]
    for column in ("gold_win_rate_ci_low", "gold_win_rate_ci_high", "gold_reward", "kl"):
        assert dpo[column] == expected[column]  # bit for bit, not rounded for display
    assert dpo["gold_win_rate_ci_low"] != round(dpo["gold_win_rate_ci_low"], 6)
    assert dpo["cost_train_seconds"] == pytest.approx(11.0)


def test_rendering_a_mixed_frame_is_refused(store: Path) -> None:
    write_job(store, "dpo-other", "dpo", 0, win_metrics("gold", 90.0), key="key-b", model="model-b")
    raw = load_results(store)
    mixed = pd.concat(list(aggregate(raw).values()), ignore_index=True)
    for frame in (raw, mixed):
        with pytest.raises(BenchError, match="different comparability keys"):
            to_markdown(frame)
        with pytest.raises(BenchError, match="different comparability keys"):
            to_csv(frame)


def test_a_raw_single_key_frame_is_aggregated_before_rendering(store: Path) -> None:
    assert to_markdown(load_results(store)) == to_markdown(aggregate(load_results(store))["key-a"])


def test_write_leaderboard_writes_one_pair_of_files_per_key(store: Path, tmp_path: Path) -> None:
    write_job(store, "dpo-other", "dpo", 0, win_metrics("gold", 90.0), key="key-b", model="model-b")
    out = tmp_path / "leaderboards"
    written = write_leaderboard(store, out)
    assert sorted(p.relative_to(out).as_posix() for p in written) == [
        "key-a/leaderboard.csv", "key-a/leaderboard.md", "key-b/leaderboard.csv", "key-b/leaderboard.md"]
    assert "model `model-b`" in (out / "key-b" / "leaderboard.md").read_text()
    assert "model-a" not in (out / "key-b" / "leaderboard.md").read_text()
    assert len(pd.read_csv(out / "key-a" / "leaderboard.csv")) == 4


def test_write_leaderboard_on_an_empty_store_says_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(BenchError, match="bench run"):
        write_leaderboard(tmp_path, tmp_path / "out")


def test_markdown_shows_regret_after_kl_with_bounds_marked(store: Path, tmp_path: Path) -> None:
    out = tmp_path / "boards"
    write_leaderboard(store, out, frontiers={"key-a": hand_frontier()})
    text = (out / "key-a" / "leaderboard.md").read_text()
    lines = [line for line in text.splitlines() if line.startswith("|")]
    headers = [cell.strip() for cell in lines[0].split("|")]
    assert headers.index("regret") == headers.index("KL (nats)") + 1 and "regret_is_bound" not in headers
    rows = {line.split("|")[2].strip(): [c.strip() for c in line.split("|")] for line in lines[2:]}
    column = headers.index("regret")
    assert rows["dpo"][column] == "0.450" and rows["simpo"][column] == "≥0.100"
    assert rows["ipo"][column] == "n/a" and rows["reference"][column] == "0.000"
    assert "lower bound" in text
    csv = pd.read_csv(out / "key-a" / "leaderboard.csv").set_index("method")
    assert csv.loc["simpo", "regret_is_bound"] == 1.0 and csv.loc["dpo", "regret"] == pytest.approx(0.45)
    assert "regret" not in to_markdown(aggregate(load_results(store))["key-a"])  # no frontier, no column


def test_markdown_adds_the_objective_x_selector_grid_when_a_key_has_several_selectors(
        grid_store: Path, store: Path) -> None:
    text = to_markdown(aggregate(load_results(grid_store))["key-a"])
    grid = text[text.index("## Objective x selector: gold WR [95% CI]"):]
    lines = [line for line in grid.splitlines() if line.startswith("|")]
    assert [cell.strip() for cell in lines[0].strip("|").split("|")] == ["method", "all", RANDOM, AP]
    low, _ = t_interval([64.0, 70.0], T_0975_DF1)  # two seeds; the upper end is clipped at 100
    assert [cell.strip() for cell in lines[3].strip("|").split("|")] == [
        "dpo", "61.0 [48.3, 73.7]", "56.0 [43.3, 68.7]", f"67.0 [{low:.1f}, 100.0]"]
    assert [cell.strip() for cell in lines[2].strip("|").split("|")] == ["rloo", "72.0 [59.3, 84.7]", "-", "-"]
    assert [cell.strip() for cell in lines[4].strip("|").split("|")][2] == "-"  # simpo never ran under random
    assert "## Objective x selector" not in to_markdown(aggregate(load_results(store))["key-a"])


def test_user_text_cannot_break_or_script_a_markdown_table(tmp_path: Path) -> None:
    """A method name from a third-party registry and a hyper-parameter value are user text: a `|` must not add a
    column, and `<script>` must reach the page as text."""
    write_job(tmp_path, "a", "evil|name", 0, {"gold_win_rate": 50.0}, hyperparameters={"tag": "<script>x</script>"})
    write_job(tmp_path, "b", "evil|name", 0, {"gold_win_rate": 60.0}, hyperparameters={"tag": "a|b"})
    text = to_markdown(aggregate(load_results(tmp_path))["key-a"])
    table = [line for line in text.splitlines() if line.startswith("|")]
    assert len({line.count("|") - line.count("\\|") for line in table}) == 1  # every row has the header's cells
    assert "<script>" not in text and "&lt;script&gt;" in text and "evil\\|name" in text


def test_a_judge_its_held_out_checks_distrust_is_flagged_beside_its_win_rates(tmp_path: Path) -> None:
    write_job(tmp_path, "d", "dpo", 0, {**win_metrics("llm", 61.0), **win_metrics("rm", 55.0)})
    write_job(tmp_path, "ref", "reference", 1, {
        **win_metrics("llm", 50.0), **win_metrics("rm", 50.0),
        "llm_heldout_accuracy": 51.0, "llm_heldout_accuracy_ci_low": 45.0, "llm_heldout_accuracy_ci_high": 57.0,
        "llm_heldout_position_bias": 88.0,
        "rm_heldout_accuracy": 71.0, "rm_heldout_accuracy_ci_low": 64.0, "rm_heldout_accuracy_ci_high": 78.0,
        "rm_heldout_position_bias": 0.0, "agreement_llm_vs_rm": 52.0, "kappa_llm_vs_rm": 0.04})
    text = to_markdown(aggregate(load_results(tmp_path))["key-a"])
    header = next(line for line in text.splitlines() if line.startswith("|"))
    assert "llm WR⚠" in header and "rm WR⚠" not in header and "rm WR" in header
    assert "heldout" not in header and "agreement" not in header  # judge checks are a section, not columns
    assert "⚠ judge llm: 88% of its held-out verdicts flip when the answers swap places; its held-out accuracy " \
           "(51.0%, interval from 45.0) is not above chance: its win rates in this table are not evidence." in text
    section = text[text.index("## Judges, on the held-out pairs"):]
    assert "| llm     |     51.0 [45.0, 57.0] |              88.0 | ⚠ not evidence |" in section
    assert "| rm      |     71.0 [64.0, 78.0] |               0.0 | ok" in section
    assert "| llm vs rm |          52.0 |           0.040 |" in section
