"""Tests for bench.evaluators.length_controlled: the LC win rate, its two fits and the evaluator."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bench.errors import BenchError
from bench.evaluators import EVALUATORS
from bench.evaluators.base import EvalInputs, PointwiseJudge
from bench.evaluators.length_controlled import (
    ALPACA_EVAL_DATA,
    ALPACA_EVAL_GLM,
    LOCAL_FORMULA_DIFFICULTY,
    LOCAL_GLM,
    LengthControlledWinRate,
    alpaca_eval_glm_available,
    length_controlled_from_annotations,
    length_controlled_win_rate,
)
from bench.evaluators.winrate import WinRate

pytest.importorskip("alpaca_eval", reason="the LC win rate fits alpaca_eval's GLM: pip install 'bench[eval]'")


class LongerIsBetter(PointwiseJudge):
    """Prefers the response with more whitespace words, and nothing else."""

    name = "longer"

    def score(self, prompts: Sequence[str], responses: Sequence[str]) -> np.ndarray:
        return np.array([len(r.split()) for r in responses], dtype=float)


class CountsGood(PointwiseJudge):
    """Prefers the response with more 'good' words: quality, blind to length."""

    name = "quality"

    def score(self, prompts: Sequence[str], responses: Sequence[str]) -> np.ndarray:
        return np.array([r.split().count("good") for r in responses], dtype=float)


def _text(n_words: int, n_good: int = 0) -> str:
    return " ".join(["good"] * n_good + ["filler"] * (n_words - n_good))


def _length_gamed_inputs(n_prompts: int = 48, k: int = 4, seed: int = 0) -> EvalInputs:
    """Policy samples about 6 words longer than the reference's, sometimes shorter."""
    rng = np.random.default_rng(seed)
    reference_lengths = rng.integers(8, 30, size=(n_prompts, k))
    policy_lengths = np.maximum(1, reference_lengths + rng.integers(-8, 21, size=(n_prompts, k)))
    return EvalInputs(prompts=[f"prompt {p}" for p in range(n_prompts)],
                      policy_samples=[[_text(n) for n in row] for row in policy_lengths],
                      reference_samples=[[_text(n) for n in row] for row in reference_lengths],
                      judges={"longer": LongerIsBetter()})


def test_judge_that_only_rewards_length_gets_lc_near_fifty_while_raw_is_far_from_it() -> None:
    inputs = _length_gamed_inputs()
    raw = WinRate().evaluate(inputs)["longer_win_rate"]
    lc = LengthControlledWinRate().evaluate(inputs)["longer_lc_win_rate"]
    assert raw > 65.0
    assert lc == pytest.approx(50.0, abs=3.0)


def test_soft_length_preferences_are_explained_by_the_length_term() -> None:
    rng = np.random.default_rng(1)
    reference = rng.integers(10, 40, size=400).astype(float)
    policy = reference + rng.normal(8.0, 10.0, size=400).round()
    prefs = 1.0 / (1.0 + np.exp(-(policy - reference) / 5.0))  # P(policy wins) from length alone
    result = length_controlled_win_rate(prefs, policy, reference, np.arange(400) // 4)
    assert result.win_rate > 65.0
    assert result.lc_win_rate == pytest.approx(50.0, abs=2.0)
    assert result.length_weight < 0  # alpaca_eval's sign: delta = len(reference) - len(policy)
    assert result.method == LOCAL_GLM


def test_quality_driven_preferences_at_equal_lengths_leave_lc_equal_to_raw() -> None:
    rng = np.random.default_rng(2)
    n_prompts, k = 256, 4  # bench's default test split; far smaller sets are shrunk toward 50 (docstring)
    policy_good = rng.integers(0, 6, size=(n_prompts, k)) + (rng.random((n_prompts, 1)) < 0.5)
    reference_good = rng.integers(0, 6, size=(n_prompts, k))
    inputs = EvalInputs(prompts=[f"prompt {p}" for p in range(n_prompts)],
                        policy_samples=[[_text(12, g) for g in row] for row in policy_good],
                        reference_samples=[[_text(12, g) for g in row] for row in reference_good],
                        judges={"quality": CountsGood()})
    raw = WinRate().evaluate(inputs)["quality_win_rate"]
    lc = LengthControlledWinRate().evaluate(inputs)["quality_lc_win_rate"]
    expected_raw = 100 * np.mean(np.where(policy_good > reference_good, 1.0,
                                          np.where(policy_good < reference_good, 0.0, 0.5)))
    assert raw == pytest.approx(expected_raw)
    assert abs(raw - 50.0) > 5.0
    assert lc == pytest.approx(raw, abs=1.0)


def test_evaluator_emits_the_lc_its_interval_and_its_weights_per_judge_and_names_its_method() -> None:
    inputs = _length_gamed_inputs(n_prompts=12, k=2)
    inputs.judges["quality"] = CountsGood()
    metrics = LengthControlledWinRate(refits=5).evaluate(inputs)
    assert set(metrics) == {f"{judge}_lc_{name}" for judge in ("longer", "quality")
                            for name in ("win_rate", "win_rate_ci_low", "win_rate_ci_high", "length_weight",
                                         "policy_weight")}
    identity = EVALUATORS.get("lc_win_rate")().identity()
    assert identity["name"] == "lc_win_rate"
    assert identity["lc_method"] == LOCAL_GLM
    assert identity["refits"] == 200 and identity["length_blind"] == ()


def test_a_length_blind_judge_gets_no_lc() -> None:
    """The gym's gold reward ignores length by construction: fitting a length term to it could only move a gain
    that came with longer responses onto length."""
    inputs = _length_gamed_inputs(n_prompts=12, k=2)
    inputs.judges["quality"] = CountsGood()
    metrics = LengthControlledWinRate(length_blind=("quality",), refits=5).evaluate(inputs)
    assert {name for name in metrics if name.startswith("quality")} == set()
    assert "longer_lc_win_rate" in metrics
    assert LengthControlledWinRate(length_blind=("quality", "longer")).evaluate(inputs) == {}


def test_the_gym_names_its_gold_judge_length_blind_and_only_it() -> None:
    from bench.gym.judges import AnnotatorJudge, GoldJudge
    from bench.runner.world import World

    world = World.__new__(World)
    world.judges = {"gold": GoldJudge(), "proxy": AnnotatorJudge.__new__(AnnotatorJudge)}
    assert world.length_blind_judges == ("gold",)


def _quality_preferences(n_prompts: int, k: int, shift: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Preferences of a length-blind judge at equal lengths, with P(policy wins) about 0.5 + shift."""
    rng = np.random.default_rng(seed)
    prefs = (rng.random(n_prompts * k) < 0.5 + shift).astype(float)
    return prefs, np.full(n_prompts * k, 12.0)


def test_the_lc_interval_brackets_the_estimate_and_narrows_with_more_prompts() -> None:
    widths = []
    for n_prompts in (64, 256):
        prefs, lengths = _quality_preferences(n_prompts, 4, 0.12, seed=3)
        prompts = np.arange(n_prompts * 4) // 4
        result = length_controlled_win_rate(prefs, lengths, lengths, prompts, refits=60, seed=0)
        assert result.ci_low < result.lc_win_rate < result.ci_high
        assert result.policy_weight > 0 and result.length_weight == 0.0  # equal lengths: no length term
        widths.append(result.ci_high - result.ci_low)
        again = length_controlled_win_rate(prefs, lengths, lengths, prompts, refits=60, seed=0)
        assert (again.ci_low, again.ci_high) == (result.ci_low, result.ci_high)  # the draws are seeded
    assert widths[1] < widths[0]


def test_an_lc_of_exactly_fifty_from_shrinkage_shows_as_a_zero_policy_weight() -> None:
    """The module docstring's case: 48 prompts x 4 pairs at a raw rate near 55% are too few for the cross-validated
    penalty to keep the policy term, so the LC is 50.0 and the policy weight says why."""
    prefs, lengths = _quality_preferences(48, 4, 0.05, seed=5)
    result = length_controlled_win_rate(prefs, lengths, lengths, np.arange(48 * 4) // 4)
    assert result.win_rate != pytest.approx(50.0, abs=1.0)
    assert result.lc_win_rate == pytest.approx(50.0, abs=1e-9)
    assert result.policy_weight == 0.0


def test_evaluator_without_judges_is_an_error() -> None:
    with pytest.raises(BenchError, match="needs at least one judge"):
        LengthControlledWinRate().evaluate(EvalInputs(["p"], [["a"]], [["b"]]))


@pytest.mark.parametrize(("prefs", "message"), [(np.full(4, 0.5), "at least 5"),
                                                (np.array([0.5, 0.5, 0.5, 0.5, 1.2]), r"\[0, 1\]")])
def test_bad_preferences_are_errors(prefs: np.ndarray, message: str) -> None:
    n = prefs.size
    with pytest.raises(BenchError, match=message):
        length_controlled_win_rate(prefs, np.ones(n), np.ones(n), np.arange(n))


def test_misaligned_lengths_are_errors() -> None:
    with pytest.raises(BenchError, match="policy_lengths has 4 entries for 6"):
        length_controlled_win_rate(np.full(6, 0.5), np.ones(4), np.ones(6), np.arange(6))


# ---- alpaca_eval's own GLM, run offline on a fixture in a private Hugging Face cache -----------------

def _fake_hub_cache(root: Path, df_gamed: pd.DataFrame) -> None:
    """Lay out ``df_gamed.csv`` as huggingface_hub caches a dataset file (refs/main -> snapshot)."""
    repo = root / f"datasets--{ALPACA_EVAL_DATA[0].replace('/', '--')}"
    commit = "0" * 40
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(commit)
    (repo / "snapshots" / commit).mkdir(parents=True)
    df_gamed.to_csv(repo / "snapshots" / commit / ALPACA_EVAL_DATA[1], index=False)


@pytest.fixture
def hub_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    return tmp_path


def _annotations(n_prompts: int, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    """alpaca_eval-format annotations, one pair per instruction, judged on quality and length."""
    rng = np.random.default_rng(seed)
    len_baseline = rng.integers(200, 1200, size=n_prompts)
    len_model = np.maximum(10, len_baseline + rng.integers(-300, 700, size=n_prompts))
    difficulty = rng.normal(size=n_prompts)
    logit = 0.3 - 0.8 * difficulty + (len_model - len_baseline) / 400.0
    preference = 1.0 + 1.0 / (1.0 + np.exp(-logit))
    frame = pd.DataFrame({"instruction": [f"instruction {i}" for i in range(n_prompts)],
                          "output_1": ["b" * n for n in len_baseline], "output_2": ["m" * n for n in len_model],
                          "generator_1": "baseline", "generator_2": "model", "annotator": "fixture_judge",
                          "preference": preference})
    return frame, difficulty


def test_glm_is_unavailable_without_the_cached_file(hub_cache: Path) -> None:
    assert not alpaca_eval_glm_available()
    frame, _ = _annotations(40, seed=3)
    assert length_controlled_from_annotations(frame).method == LOCAL_GLM
    with pytest.raises(BenchError, match="not in the Hugging Face cache"):
        length_controlled_from_annotations(frame, use_alpaca_eval=True)


@pytest.mark.filterwarnings("ignore::FutureWarning")  # alpaca_eval's fitter on sklearn >= 1.8
def test_local_fit_equals_alpaca_eval_noreg_glm_given_the_same_difficulties(hub_cache: Path) -> None:
    from alpaca_eval.metrics import glm_winrate

    frame, difficulty = _annotations(120, seed=4)
    _fake_hub_cache(hub_cache, pd.DataFrame({"model": "fixture", "index": np.arange(120),
                                             "instruction_difficulty": difficulty}))
    theirs = glm_winrate.get_length_controlled_winrate(frame, glm_name="length_controlled_noreg",
                                                       save_weights_dir=None)
    ours = length_controlled_win_rate(frame["preference"] - 1.0, frame["output_2"].str.len(),
                                      frame["output_1"].str.len(), np.arange(120), prompt_difficulty=difficulty)
    assert ours.formula == LOCAL_FORMULA_DIFFICULTY
    assert ours.win_rate == pytest.approx(theirs["win_rate"], abs=1e-9)
    assert ours.lc_win_rate == pytest.approx(theirs["length_controlled_winrate"], abs=1e-6)
    assert ours.lc_standard_error == pytest.approx(theirs["lc_standard_error"], abs=1e-6)
    assert abs(ours.lc_win_rate - ours.win_rate) > 5.0  # the length effect in the fixture is large


def test_alpaca_eval_v1_glm_runs_when_its_data_are_cached_and_says_so(hub_cache: Path) -> None:
    frame, difficulty = _annotations(120, seed=5)
    rng = np.random.default_rng(6)
    gamed = [pd.DataFrame({"model": name, "index": np.arange(120), "instruction_difficulty": difficulty,
                           "std_delta_len": shift + rng.normal(0, 0.3, 120), "not_gamed_baseline": False,
                           "preference": 1.0 / (1.0 + np.exp(-(0.8 * difficulty - shift)))})
             for name, shift in (("baseline_verbose", -1.0), ("baseline_concise", 1.0))]
    _fake_hub_cache(hub_cache, pd.concat(gamed, ignore_index=True))
    assert alpaca_eval_glm_available()
    result = length_controlled_from_annotations(frame)
    assert result.method == ALPACA_EVAL_GLM
    assert result.n_pairs == 120
    assert 0.0 < result.lc_win_rate < 100.0
    assert result.win_rate == pytest.approx(100 * (frame["preference"] - 1).mean())
