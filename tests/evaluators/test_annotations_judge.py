"""Tests for bench.evaluators.judges.annotations: verdicts judged elsewhere come back in, in either order."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from bench.errors import BenchError, ConfigError
from bench.evaluators.judges import build_judge


@pytest.fixture
def annotations(tmp_path: Path) -> Path:
    path = tmp_path / "annotations.json"
    path.write_text(json.dumps([
        {"instruction": "q1", "output_1": "base", "output_2": "model", "preference": 2.0},
        {"instruction": "q2", "output_1": "base", "output_2": "model", "preference": "1.25"},
        {"instruction": "q3", "output_1": "base", "output_2": "model", "preference": 1.5},
        {"instruction": "q4", "output_1": "base", "output_2": "model", "preference": None},
    ]))
    return path


def test_preferences_are_read_in_both_orders(annotations: Path) -> None:
    judge = build_judge(f"annotations:{annotations}")
    np.testing.assert_allclose(judge.preference(["q1", "q2", "q3"], ["base"] * 3, ["model"] * 3), [0.0, 0.75, 0.5])
    np.testing.assert_allclose(judge.preference(["q1", "q2"], ["model"] * 2, ["base"] * 2), [1.0, 0.25])
    assert judge.identity()["name"] == "annotations" and judge.identity()["files"]


def test_a_comparison_no_file_holds_is_an_error_naming_the_count(annotations: Path) -> None:
    judge = build_judge(f"annotations:{annotations}")
    with pytest.raises(BenchError, match=r"2 of 2 comparisons are in none of"):
        judge.preference(["q4", "q9"], ["base", "base"], ["model", "model"])  # q4 failed: unknown
    with pytest.raises(ConfigError, match="does not exist"):
        build_judge(f"annotations:{annotations.parent / 'missing.json'}")


def test_published_alpaca_eval_annotations_read_back(tmp_path: Path) -> None:
    folder = Path(__file__).resolve().parents[3] / "shared" / "data" / "alpaca_eval" / "oasst-sft-llama-33b"
    if not folder.is_dir():
        pytest.skip("needs ../shared/data/alpaca_eval (the published AlpacaEval 2 annotations)")
    rows = json.loads((folder / "annotations.json").read_text())[:20]
    judge = build_judge(f"annotations:{folder / 'annotations.json'}")
    expected = [2.0 - float(r["preference"]) for r in rows]
    got = judge.preference([r["instruction"] for r in rows], [r["output_1"] for r in rows],
                           [r["output_2"] for r in rows])
    np.testing.assert_allclose(got, expected)
