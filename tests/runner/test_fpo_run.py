"""FPO in the runner: trains from the reference cache and the run's SAE, with no reference model loaded."""

from __future__ import annotations

import json

import pytest

import bench.runner.run as runner_module
from bench.config import build_config
from bench.errors import BenchError, ConfigError
from bench.runner.run import Runner


@pytest.fixture
def fpo_config(smoke_run_config):
    """A train-only fpo run on the smoke gym: ``fpo_config(store, *overrides)``."""
    return lambda store, *extra: smoke_run_config(store, "eval.evaluators=[]", "method=fpo", *extra)


def test_fpo_trains_without_loading_the_reference_model(tmp_path, fpo_config, smoke_gym, monkeypatch):
    lines: list[str] = []
    runner = Runner(fpo_config(tmp_path), say=lines.append)
    runner.reference_pass(runner.jobs)
    cache = runner.reference_cache("pairs")
    loads = cache.model_loads
    assert any(item.startswith("sae_topk:layer=0:k=50") for item in cache._tensors)

    def refuse(*args, **kwargs):
        raise AssertionError("the reference model was loaded during FPO training")

    cache._load_model = refuse
    monkeypatch.setattr(runner_module, "LiveReference", refuse)
    result = runner.run()
    assert result.trained == 1 and cache.model_loads == loads
    (log,) = tmp_path.glob("jobs/fpo-*/train_log.jsonl")
    records = [json.loads(line) for line in log.read_text().splitlines()]
    assert len(records) == 4
    assert all(r["sae/distance_rejected"] >= 0 and r["sae/distance_chosen"] >= 0 for r in records)
    assert records[-1]["sae/distance_rejected"] > 0  # the policy has moved away from the reference's features
    assert any(line.startswith("gym SAE at block 0") and "FVU" in line for line in lines)


def test_a_user_sae_directory_gives_the_layer_and_enters_the_job_key(tmp_path, fpo_config, smoke_gym):
    from dataclasses import replace

    from bench.gym.sae import gym_sae

    gym_run = Runner(fpo_config(tmp_path / "a"), say=lambda line: None)
    sae_dir = gym_sae(smoke_gym.reference_dir, gym_run.dataset("pairs"), gym_run.config.gym.sae).directory
    lines: list[str] = []
    user_run = Runner(fpo_config(tmp_path / "b", f"model.sae_path={sae_dir}"), say=lines.append)
    assert user_run.sae().layer == 0 and any(line.startswith(f"SAE: {sae_dir}") for line in lines)
    (job,) = user_run.jobs
    assert user_run.job_key(job) == gym_run.job_key(job)  # the same SAE files: the same job
    other_dir = gym_sae(smoke_gym.reference_dir, gym_run.dataset("pairs"),
                        replace(gym_run.config.gym.sae, steps=20)).directory
    other_run = Runner(fpo_config(tmp_path / "d", f"model.sae_path={other_dir}"), say=lambda line: None)
    assert other_run.job_key(job) != gym_run.job_key(job)
    dpo = Runner(fpo_config(tmp_path / "c", "method=dpo"), say=lambda line: None)
    assert "sae" not in str(dpo._cached_items(dpo.jobs[0]))


def test_k_wider_than_the_sae_is_refused_before_training(tmp_path, fpo_config, smoke_gym):
    runner = Runner(fpo_config(tmp_path, "methods.fpo.k=500"), say=lambda line: None)
    with pytest.raises(ConfigError, match=r"methods\.fpo\.k=500 exceeds the SAE's 128 features"):
        runner.reference_pass(runner.jobs)


def test_a_layer_past_the_model_is_a_one_line_error(tmp_path, fpo_config, smoke_gym):
    runner = Runner(fpo_config(tmp_path, "methods.fpo.layer=3"), say=lambda line: None)
    with pytest.raises(BenchError, match="layer 3 is out of range"):
        runner.reference_pass(runner.jobs)


def test_a_model_without_an_sae_must_name_one(tmp_path, smoke_gym):
    from bench.data.records import save_jsonl

    save_jsonl(tmp_path / "pairs.jsonl", smoke_gym.dataset("pairs")[:16])
    config = build_config(["data.source=jsonl", f"data.path={tmp_path / 'pairs.jsonl'}",
                           f"model.path={smoke_gym.reference_dir}", "eval.evaluators=[]", "method=fpo",
                           "progress=false", f"cache={tmp_path / 'cache'}", f"store={tmp_path / 'runs'}"])
    runner = Runner(config, say=lambda line: None)
    with pytest.raises(ConfigError, match=r"fpo needs a sparse autoencoder.*model\.sae_path=DIR"):
        runner.reference_pass(runner.jobs)
