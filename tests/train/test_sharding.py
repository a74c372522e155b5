"""What a launch's FSDP config becomes (bench.train.sharding) and the accelerate configs the repository ships.

The sharded training itself runs in tests/train/test_distributed.py (two gloo processes, FSDP2)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from accelerate.commands.config.config_args import ClusterConfig
from accelerate.utils import DistributedType
from torch.distributed.fsdp import CPUOffloadPolicy
from transformers import LlamaConfig, LlamaForCausalLM

from bench.errors import ConfigError
from bench.train.loop import LoraSettings, TrainConfig
from bench.train.model_setup import with_adapters
from bench.train.sharding import ShardingSettings, launch_sharding, shard

CONFIGS = Path(__file__).parents[2] / "configs" / "accelerate"


@pytest.fixture
def launch_environment(monkeypatch):
    """A clean slate for :func:`launch_sharding` (it reads the environment once per process)."""
    for name in [name for name in os.environ if name.startswith(("FSDP_", "ACCELERATE_USE_"))]:
        monkeypatch.delenv(name)
    launch_sharding.cache_clear()
    yield monkeypatch
    launch_sharding.cache_clear()


def test_no_fsdp_launch_means_no_sharding(launch_environment):
    assert launch_sharding() is None


def test_the_launch_settings_are_read_and_the_flag_taken_from_the_environment(launch_environment):
    for name, value in {"ACCELERATE_USE_FSDP": "true", "FSDP_VERSION": "2", "FSDP_RESHARD_AFTER_FORWARD": "false",
                        "FSDP_OFFLOAD_PARAMS": "true", "FSDP_AUTO_WRAP_POLICY": "TRANSFORMER_BASED_WRAP",
                        "FSDP_TRANSFORMER_CLS_TO_WRAP": "Qwen2DecoderLayer"}.items():
        launch_environment.setenv(name, value)
    settings = launch_sharding()
    assert settings.reshard_after_forward is False
    assert isinstance(settings.offload, CPUOffloadPolicy)
    assert settings.block_classes == ("Qwen2DecoderLayer",)
    # accelerate must then see plain data parallelism: bench shards, not Accelerator.prepare
    assert "ACCELERATE_USE_FSDP" not in os.environ


def test_defaults_shard_after_forward_without_offloading(launch_environment):
    launch_environment.setenv("ACCELERATE_USE_FSDP", "true")
    launch_environment.setenv("FSDP_VERSION", "2")
    assert launch_sharding() == ShardingSettings(reshard_after_forward=True, offload=None, block_classes=())


@pytest.mark.parametrize(("variables", "message"), [
    ({"ACCELERATE_USE_FSDP": "true", "FSDP_VERSION": "1"}, "fsdp_version: 1; bench shards with FSDP2"),
    ({"ACCELERATE_USE_DEEPSPEED": "true"}, "does not train under DeepSpeed"),
])
def test_launches_bench_cannot_train_under_are_refused_in_one_line(launch_environment, variables, message):
    for name, value in variables.items():
        launch_environment.setenv(name, value)
    with pytest.raises(ConfigError, match=message) as error:
        launch_sharding()
    assert "\n" not in str(error.value)


def _tiny_llama() -> LlamaForCausalLM:
    return LlamaForCausalLM(LlamaConfig(vocab_size=32, hidden_size=16, intermediate_size=32, num_hidden_layers=2,
                                        num_attention_heads=2, num_key_value_heads=2))


def test_a_model_without_the_named_blocks_is_refused_before_any_sharding():
    with pytest.raises(ConfigError, match=r"no block to shard in LlamaForCausalLM \(looked for \['GPT2Block'\]\)"):
        shard(_tiny_llama(), ShardingSettings(block_classes=("GPT2Block",)))


def test_lora_is_refused_under_fsdp():
    model = with_adapters(_tiny_llama(), TrainConfig(lora=LoraSettings(r=4)))
    with pytest.raises(ConfigError, match=r"train\.lora with an FSDP launch is not supported"):
        shard(model, ShardingSettings())


@pytest.mark.parametrize(("name", "kind", "reshards"), [
    ("ddp.yaml", DistributedType.MULTI_GPU, None),
    ("fsdp2.yaml", DistributedType.FSDP, True),
    ("fsdp2-grad-op.yaml", DistributedType.FSDP, False),
])
def test_the_shipped_accelerate_configs_say_what_the_readme_says(name, kind, reshards):
    config = ClusterConfig.from_yaml_file(CONFIGS / name)
    assert config.distributed_type == kind
    assert config.mixed_precision == "no"  # train.precision decides the autocast, in every launch
    if reshards is not None:
        assert config.fsdp_config["fsdp_version"] == 2
        assert config.fsdp_config["fsdp_reshard_after_forward"] is reshards
