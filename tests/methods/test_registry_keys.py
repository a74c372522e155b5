"""Adding or editing an objective must not change the key of the gym, the trainer or any other objective."""

from __future__ import annotations

from bench.gym.build import Annotator, GoldJudge, _write_datasets, build_tokenizer, train_reference
from bench.methods import METHODS
from bench.runner.run import TRAINING_CODE
from bench.source_fingerprint import module_closure


def test_no_objective_module_is_part_of_the_trainers_or_the_gyms_code():
    objective_modules = {METHODS.get(name).__module__ for name in METHODS.names()}
    shared = {m.__name__ for m in module_closure(*TRAINING_CODE, train_reference, build_tokenizer, _write_datasets,
                                                 Annotator, GoldJudge)}
    assert "bench.methods" in shared  # the registry is reached, so its file must not list the objectives
    assert not objective_modules & shared


def test_an_objective_key_holds_its_own_module_but_no_other_objectives():
    dpo = {m.__name__ for m in module_closure(METHODS.get("dpo"))}
    assert "bench.methods.dpo" in dpo and not {"bench.methods.kto", "bench.methods.simpo"} & dpo


def test_the_run_settings_module_is_in_neither_the_trainers_nor_the_evaluations_key():
    """Settings reach training and evaluation as values, which are in the keys; the file that declares them is
    not, so that adding a setting (a new executor, a tuning grid) does not retrain or re-evaluate every job."""
    from bench.runner.evaluate import Evaluation

    for code in (TRAINING_CODE, (Evaluation,)):
        assert "bench.config" not in {m.__name__ for m in module_closure(*code)}
