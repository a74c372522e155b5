"""Re-evaluating a checkpoint reuses each evaluator's cached result, and its scoring pass, until an input changes.

Runs bench.runner.evaluate.Evaluation on the smoke gym's reference model (the run's cache dir, real
generation and a real entropy pass); the evaluator that counts its calls is registered for this test only.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import ClassVar

import numpy as np
import pytest

from bench.config import build_config
from bench.evaluators import EVALUATORS
from bench.evaluators.base import EvalInputs, Evaluator
from bench.runner import evaluate as evaluate_module
from bench.runner.evaluate import Evaluation
from bench.runner.world import build_world


class CountingWords(Evaluator):
    name = "counting_words_for_test"
    calls: ClassVar[int] = 0

    def evaluate(self, inputs: EvalInputs) -> dict[str, float]:
        CountingWords.calls += 1
        return {"test_words": float(np.mean([len(s.split()) for group in inputs.policy_samples for s in group]))}


def test_reevaluation_hits_the_cache_and_a_changed_sample_misses_it(smoke_config, smoke_gym,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(EVALUATORS._items, CountingWords.name, CountingWords)
    entropy_passes: list[int] = []
    real_entropies = evaluate_module.logps_and_token_entropies

    def counted_entropies(*args, **kwargs):
        entropy_passes.append(1)
        return real_entropies(*args, **kwargs)

    monkeypatch.setattr(evaluate_module, "logps_and_token_entropies", counted_entropies)
    config = build_config(["preset=smoke", f"cache={smoke_config.cache}", "progress=false",
                           f"eval.evaluators=[{CountingWords.name},entropy]"])
    world = build_world(config, progress=False)
    evaluation = Evaluation(config, world)

    first, first_cost = evaluation.evaluate(world.base_model, "reference")
    again, cost = evaluation.evaluate(world.base_model, "reference")
    assert CountingWords.calls == 1 and len(entropy_passes) == 1  # the second evaluation ran neither
    assert again == first and 0.0 < first["entropy"] < np.log(evaluation._reference_model.config.vocab_size)
    mine = cost["evaluators"][CountingWords.name]
    assert not first_cost["evaluators"][CountingWords.name]["cached"] and mine["cached"]
    assert mine["samples"] == len(world.test_prompts) * config.generate.samples_per_prompt
    assert set(cost["evaluators"]["entropy"]["inputs"]) >= {"policy_samples", "policy_token_entropy"}
    assert cost["scoring_seconds"] == 0.0 < first_cost["scoring_seconds"]
    assert (Path(config.cache) / "evaluations" / f"{mine['key']}.json").is_file()

    real_generate = Evaluation._generate

    def one_sample_changed(self, model_dir, name, seed, split):
        generations = real_generate(self, model_dir, name, seed, split)
        if name == "reference":  # the shared reference samples stay as they are
            return generations
        samples = [list(group) for group in generations.samples]
        samples[0][0] += " extra words"
        return dataclasses.replace(generations, samples=samples)

    monkeypatch.setattr(Evaluation, "_generate", one_sample_changed)
    changed, cost = evaluation.evaluate(world.base_model, "reference-edited")
    assert CountingWords.calls == 2 and len(entropy_passes) == 2
    assert not cost["evaluators"][CountingWords.name]["cached"]
    assert changed["test_words"] > first["test_words"]
