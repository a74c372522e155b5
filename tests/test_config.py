"""Tests for bench.config: the selector list, selector overrides, data.kwise_k, and values refused at parse time."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from bench.cli import main
from bench.config import build_config
from bench.errors import ConfigError


def test_selector_is_a_comma_list_with_per_selector_overrides():
    config = build_config(["selector=all, random,alignment_potential", "selectors.alignment_potential.w=0.5",
                           "selectors.random.ratio=0.2", "data.kwise_k=2"])
    assert config.selector == ["all", "random", "alignment_potential"]
    assert config.selectors == {"alignment_potential": {"w": 0.5}, "random": {"ratio": 0.2}}
    assert config.data.kwise_k == 2
    default = build_config([])
    assert default.selector == ["all"] and default.selectors == {} and default.data.kwise_k is None


def test_the_removed_data_selector_key_says_what_replaced_it():
    with pytest.raises(ConfigError, match=r"^config key 'data.selector' was removed; use selector=NAME\[,NAME\.\.\.\] "
                                          r"and selectors\.NAME\.PARAM=VALUE$"):
        build_config(["data.selector=random"])


def test_bad_selector_settings_fail_with_one_line_naming_the_key():
    with pytest.raises(ConfigError, match=r"^override 'selectors\.random': use selectors\.NAME\.PARAM=VALUE"):
        build_config(["selectors.random=0.5"])
    with pytest.raises(ConfigError, match=r"^selector= is empty"):
        build_config(["selector="])
    for k in ("1", "0", "-3"):
        with pytest.raises(ConfigError, match=rf"^data\.kwise_k={k}: k-wise rows need k >= 2"):
            build_config([f"data.kwise_k={k}"])
    with pytest.raises(ConfigError, match=r"data.kwise_k"):
        build_config(["data.kwise_k=two"])


@pytest.mark.parametrize(("override", "message"), [
    ("train.lr=inf", "train.lr=inf: must be a finite number"),
    ("train.lr=nan", "train.lr=nan: must be a finite number"),
    ("generate.temperature=-.inf", "generate.temperature=-inf: must be a finite number"),
    ("gym.reference.sft_lr=nan", "gym.reference.sft_lr=nan: must be a finite number"),
    ("train.adam_betas=[0.9,inf]", "train.adam_betas=inf: must be a finite number"),
    ("methods.dpo.beta=.inf", "methods.dpo.beta=inf: must be a finite number"),
    ("sweep.dpo.beta=0.1,.nan", "sweep.dpo.beta=nan: must be a finite number"),
])
def test_a_non_finite_number_anywhere_is_refused_naming_the_key(override, message):
    with pytest.raises(ConfigError) as raised:
        build_config([override])
    assert str(raised.value) == message


def test_a_short_run_takes_a_proportionate_warm_up():
    assert build_config([]).train.warmup() == 10
    short = build_config(["train.steps=4"]).train  # refused before: the warm-up was a fixed 10 steps
    assert short.warmup_steps is None and short.warmup() == 0
    assert build_config(["train.steps=20", "train.warmup_ratio=0.25"]).train.warmup() == 5
    assert build_config(["preset=smoke"]).train.warmup() == 1  # the preset's explicit train.warmup_steps=1


@pytest.mark.parametrize(("override", "message"), [
    ("train.warmup_ratio=1", r"^train\.warmup_ratio=1\.0 must be in \[0, 1\)"),
    ("train.warmup_ratio=-0.1", r"^train\.warmup_ratio=-0\.1 must be in \[0, 1\)"),
    ("train.warmup_steps=101", r"^train\.warmup_steps=101 must be between 0 and train\.steps=100 \(or null"),
    ("train.warmup_steps=-1", r"^train\.warmup_steps=-1 must be between 0 and train\.steps=100"),
])
def test_bad_warm_up_settings_name_the_key(override, message):
    with pytest.raises(ConfigError, match=message):
        build_config([override])


def test_model_dtype_and_generate_backend_are_checked_at_parse_time():
    with pytest.raises(ConfigError, match=r"^model\.dtype='nonsense': use auto or one of float32, bfloat16, float16$"):
        build_config(["model.dtype=nonsense"])
    with pytest.raises(ConfigError, match=r"^generate\.backend='tf': use one of auto, transformers, vllm$"):
        build_config(["generate.backend=tf"])
    config = build_config(["model.dtype=bfloat16", "generate.backend=transformers"])
    assert (config.model.dtype, config.generate.backend) == ("bfloat16", "transformers")


def test_a_judge_can_be_added_by_name():
    config = build_config(["eval.judges={llm: 'llm:/models/judge'}", "eval.judges.rm=reward-model:/models/rm"])
    assert config.eval.judges == {"llm": "llm:/models/judge", "rm": "reward-model:/models/rm"}


@pytest.mark.parametrize(("override", "key"), [
    ("eval.judges.../../escape=reward-model:/x", "eval.judges.../../escape"),
    ("eval.judges.a.b=reward-model:/x", "eval.judges.a.b"),
    ("eval.judges.1rm=reward-model:/x", "eval.judges.1rm"),
    ("eval.judges={'../x': 'reward-model:/x'}", "eval.judges.../x"),
    ("eval.judges={'r m': 'reward-model:/x'}", "eval.judges.r m"),
])
def test_judge_names_must_be_identifiers(override, key):
    with pytest.raises(ConfigError) as raised:
        build_config([override])
    assert str(raised.value) == f"{key}: judge names must be identifiers (letters, digits, _), starting with a letter"


def test_seeds_must_be_integers_of_at_least_zero():
    with pytest.raises(ConfigError, match=r"^seed=-1: seeds must be integers >= 0$"):
        build_config(["seed=0,-1"])
    with pytest.raises(ConfigError, match=r"^bad value for seed\[1\]: Value 'abc' .*Integer$"):
        build_config(["seed=0,abc"])


def test_a_store_or_cache_that_is_a_file_is_refused(tmp_path):
    file = tmp_path / "runs"
    file.write_text("")
    with pytest.raises(ConfigError) as raised:
        build_config([f"store={file}"])
    assert str(raised.value) == f"store={file}: is a file, not a directory; give a directory (created if missing)"
    with pytest.raises(ConfigError) as raised:
        build_config([f"cache={file}/cache"])
    assert str(raised.value) == (f"cache={file}/cache: {file} is a file, not a directory; "
                                 f"give a directory (created if missing)")
    assert build_config([f"store={tmp_path}/new/runs"]).store == f"{tmp_path}/new/runs"  # missing: fine


def test_a_bad_hyper_parameter_value_is_one_error_line_from_the_command_line(tmp_path):
    result = CliRunner().invoke(main, ["run", "methods.dpo.beta=abc", f"store={tmp_path}/runs",
                                       f"cache={tmp_path}/cache"])
    assert result.exit_code == 2
    assert result.output == "error: methods.dpo.beta=abc: must be a number\n"  # one line, no traceback
