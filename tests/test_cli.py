"""The command line: one-line errors naming the closest valid keys and methods; the methods table."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from bench.cli import main
from bench.methods import METHODS


def _invoke(*args):
    return CliRunner().invoke(main, list(args))


def test_bad_key_is_one_line_with_suggestions():
    result = _invoke("run", "train.stepz=3")
    assert result.exit_code == 2
    assert result.output.strip().count("\n") == 0
    assert "train.stepz" in result.output and "train.steps" in result.output


def test_bad_method_is_one_line_with_suggestions():
    result = _invoke("run", "method=dpoo")
    assert result.exit_code == 2
    assert "unknown method 'dpoo'" in result.output and "dpo" in result.output


def test_bad_hyperparameter_names_the_key():
    result = _invoke("run", "methods.dpo.betta=0.1")
    assert result.exit_code == 2 and "methods.dpo.betta" in result.output and "beta" in result.output


def test_bad_value_type_names_the_key():
    result = _invoke("run", "train.steps=many")
    assert result.exit_code == 2 and "train.steps" in result.output


def test_list_methods_shows_every_registered_objective():
    result = _invoke("list", "methods")
    assert result.exit_code == 0
    for name in METHODS.names():
        assert f"| {name} " in result.output
    assert "sae=top-50 codes at the SAE's layer" in result.output  # FPO's need, readable rather than a repr


def test_leaderboard_on_a_missing_store_says_what_to_do(tmp_path):
    result = _invoke("leaderboard", "--store", str(tmp_path / "nowhere"))
    assert result.exit_code == 2 and "bench run" in result.output


@pytest.mark.parametrize(("kind", "expected"), [
    ("sources", ["| gym ", "| jsonl ", "| hf ", "formats (data.format=", "preference", "implicit"]),
    ("judges", ["reward-model:<model>", "llm:<model>", "annotations:<path>", "max_answer_tokens=None"]),
    ("evaluators", ["| win_rate ", "a judge", "| kl ", "log-probs", "| self_bleu "]),
    ("selectors", ["| random ", "ratio=0.4", "| alignment_potential "]),
])
def test_every_plugin_kind_is_listed(kind: str, expected: list[str]) -> None:
    result = _invoke("list", kind)
    assert result.exit_code == 0, result.output
    for text in expected:
        assert text in result.output


@pytest.mark.slow
def test_key_prints_the_table_a_run_goes_to_without_training(tmp_path, smoke_run_config, smoke_gym):
    from bench.runner.run import run

    overrides = ["preset=smoke", f"cache={smoke_run_config(tmp_path).cache}", f"store={tmp_path}", "method=sft"]
    printed = CliRunner().invoke(main, ["key", *overrides])
    assert printed.exit_code == 0, printed.output
    assert not list(tmp_path.glob("jobs/*"))  # nothing trained
    result = run(smoke_run_config(tmp_path, "method=sft"), say=lambda line: None)
    assert printed.stdout.strip().splitlines()[-1] == result.comparability_key
    lean = CliRunner().invoke(main, ["key", *overrides, "lean_host_memory=true"])  # how memory is managed: no key
    assert lean.stdout.strip().splitlines()[-1] == result.comparability_key
