"""Tests for bench.evaluators.cache: hits when an evaluator's inputs are unchanged, misses otherwise."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import numpy as np
import pytest

from bench.errors import BenchError
from bench.evaluators.base import EvalInputs, Evaluator
from bench.evaluators.cache import EvaluatorCache, run_cached, value_fingerprint


class CountingWords(Evaluator):
    """Mean word count of the policy's samples; counts how often it really runs."""

    name = "counting_words"
    calls: ClassVar[int] = 0

    def evaluate(self, inputs: EvalInputs) -> dict[str, float]:
        CountingWords.calls += 1  # subclasses below count here too
        return {"words": float(np.mean([len(s.split()) for group in inputs.policy_samples for s in group]))}


class CountingKL(Evaluator):
    """Reads the log-prob arrays (needs_logps), like the kl evaluator."""

    name = "counting_kl"
    needs_logps = True
    calls: ClassVar[int] = 0

    def evaluate(self, inputs: EvalInputs) -> dict[str, float]:
        type(self).calls += 1
        return {"gap": float(np.mean(inputs.policy_logps - inputs.policy_ref_logps))}


@pytest.fixture(autouse=True)
def _reset_counts() -> None:
    CountingWords.calls = CountingKL.calls = 0


def _inputs(samples: list[list[str]] | None = None) -> EvalInputs:
    return EvalInputs(["p0", "p1"], samples or [["a b", "c"], ["d e f", "g"]], [["r"], ["r"]])


def _fill_logps(record: list[set[str]]):
    def fill(inputs: EvalInputs, fields: set[str]) -> None:
        record.append(set(fields))
        inputs.policy_logps = np.array([[-1.0, -2.0], [-3.0, -4.0]])
        inputs.policy_ref_logps = np.array([[-2.0, -2.0], [-3.0, -6.0]])

    return fill


def test_second_evaluation_with_unchanged_inputs_is_read_from_the_cache(tmp_path: Path) -> None:
    cache = EvaluatorCache(tmp_path)
    first, first_costs = run_cached([CountingWords()], _inputs(), cache)
    again, costs = run_cached([CountingWords()], _inputs(), cache)
    assert CountingWords.calls == 1
    assert first == again == {"words": pytest.approx(7 / 4)}
    assert not first_costs["counting_words"].cached and costs["counting_words"].cached
    assert costs["counting_words"].samples == 4
    assert costs["counting_words"].computed_seconds == pytest.approx(first_costs["counting_words"].seconds)
    assert costs["counting_words"].key == first_costs["counting_words"].key
    assert set(costs["counting_words"].inputs) == {"prompts", "policy_samples", "reference_samples", "judges",
                                                   "seed"}


def test_a_changed_sample_misses_the_cache(tmp_path: Path) -> None:
    cache = EvaluatorCache(tmp_path)
    run_cached([CountingWords()], _inputs(), cache)
    changed, costs = run_cached([CountingWords()], _inputs([["a b", "c"], ["d e f", "g h"]]), cache)
    assert CountingWords.calls == 2
    assert changed == {"words": pytest.approx(8 / 4)}
    assert not costs["counting_words"].cached


def test_a_changed_identity_misses_the_cache(tmp_path: Path) -> None:
    class CountingWordsV2(CountingWords):
        version = "2"

    cache = EvaluatorCache(tmp_path)
    run_cached([CountingWords()], _inputs(), cache)
    run_cached([CountingWordsV2()], _inputs(), cache)
    assert CountingWords.calls == 2


def test_known_inputs_are_filled_only_for_evaluators_that_missed(tmp_path: Path) -> None:
    cache = EvaluatorCache(tmp_path)
    known = {"policy_logps": "policy-model-1", "policy_ref_logps": "reference-model"}
    filled: list[set[str]] = []
    metrics, _ = run_cached([CountingWords(), CountingKL()], _inputs(), cache, known, _fill_logps(filled))
    assert filled == [{"policy_logps", "policy_ref_logps"}]
    assert metrics == {"words": pytest.approx(7 / 4), "gap": pytest.approx(0.75)}  # gaps 1, 0, 0, 2
    # both hit: no scoring pass at all
    run_cached([CountingWords(), CountingKL()], _inputs(), cache, known, _fill_logps(filled))
    assert len(filled) == 1 and CountingKL.calls == 1
    # another policy model: only the evaluator that reads its log-probs runs again
    other = {**known, "policy_logps": "policy-model-2"}
    run_cached([CountingWords(), CountingKL()], _inputs(), cache, other, _fill_logps(filled))
    assert len(filled) == 2 and CountingKL.calls == 2 and CountingWords.calls == 1


def test_without_a_cache_everything_runs_and_costs_are_recorded() -> None:
    run_cached([CountingWords()], _inputs(), None)
    _, costs = run_cached([CountingWords()], _inputs(), None)
    assert CountingWords.calls == 2 and not costs["counting_words"].cached


def test_a_damaged_cache_entry_is_recomputed(tmp_path: Path) -> None:
    cache = EvaluatorCache(tmp_path)
    _, costs = run_cached([CountingWords()], _inputs(), cache)
    cache.path(costs["counting_words"].key).write_text("{not json")
    metrics, costs = run_cached([CountingWords()], _inputs(), cache)
    assert CountingWords.calls == 2 and metrics == {"words": pytest.approx(7 / 4)}
    assert cache.load(costs["counting_words"].key)["metrics"] == {"words": pytest.approx(7 / 4)}


def test_two_evaluators_emitting_one_metric_is_still_an_error(tmp_path: Path) -> None:
    class WordsAgain(CountingWords):
        name = "words_again"

    with pytest.raises(BenchError, match="both emit metric 'words'"):
        run_cached([CountingWords(), WordsAgain()], _inputs(), EvaluatorCache(tmp_path))


def test_arrays_are_fingerprinted_by_every_element() -> None:
    big = np.zeros(10_000)
    changed = big.copy()
    changed[5_000] = 1e-9  # invisible in numpy's abbreviated repr
    assert value_fingerprint(big) != value_fingerprint(changed)
    assert value_fingerprint(big) == value_fingerprint(np.zeros(10_000))
    assert value_fingerprint(big) != value_fingerprint(big.reshape(100, 100))


def test_an_uncacheable_evaluator_always_runs_and_leaves_no_entry(tmp_path: Path) -> None:
    class ReadsAFile(CountingWords):
        name = "reads_a_file"
        cacheable = False

    cache = EvaluatorCache(tmp_path)
    run_cached([ReadsAFile()], _inputs(), cache)
    _, costs = run_cached([ReadsAFile()], _inputs(), cache)
    assert CountingWords.calls == 2 and not costs["reads_a_file"].cached
    assert not list(tmp_path.glob("*.json"))


def test_an_evaluator_declaring_another_input_is_keyed_by_it(tmp_path: Path) -> None:
    class ReadsModelPath(CountingWords):
        name = "reads_model_path"

        def inputs_read(self) -> tuple[str, ...]:
            return (*super().inputs_read(), "policy_model")  # a field EvalInputs does not have (yet)

    cache = EvaluatorCache(tmp_path)
    run_cached([ReadsModelPath()], _inputs(), cache, {"policy_model": "checkpoint-a"})
    _, costs = run_cached([ReadsModelPath()], _inputs(), cache, {"policy_model": "checkpoint-a"})
    assert CountingWords.calls == 1 and costs["reads_model_path"].inputs["policy_model"] == "checkpoint-a"
    run_cached([ReadsModelPath()], _inputs(), cache, {"policy_model": "checkpoint-b"})
    assert CountingWords.calls == 2
