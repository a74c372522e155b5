"""Fully sharded data parallelism (FSDP2) for one job over several processes, when the launch asks for it.

``accelerate launch --config_file configs/accelerate/fsdp2.yaml -m bench run ...`` puts the config's FSDP settings in
the processes' environment. bench reads them through accelerate's own plugin (:func:`launch_sharding`) and shards
the policy itself with PyTorch's ``fully_shard``: every decoder block (the model's ``_no_split_modules``, or the
config's ``fsdp_transformer_layer_cls_to_wrap``) is one group, the embeddings, final norm and head the root's.

Why bench shards rather than ``Accelerator.prepare``: accelerate's FSDP runs only on GPUs, so that path could
never be checked on the CPU machines bench is tested on; ``fully_shard`` works over gloo as over NCCL, so the code
a GPU cluster runs is the code ``tests/train/test_distributed.py`` runs. The accelerator then sees a plain
data-parallel launch (the FSDP flag is taken out of the environment once read) and only places tensors, reduces
metrics and runs autocast. ``train.precision`` stays autocast over fp32 weights, as in one process, so a sharded
run computes what an unsharded one does.

bench's packed scorer calls the decoder body and applies the head's weight itself, outside the model's ``forward``
where FSDP gathers the root's parameters; it does so inside a method registered for the purpose
(:mod:`bench.models.fsdp_forward`). The blocks gather and free their own parameters as they are called.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cache
from typing import Any

import torch
from torch.distributed.checkpoint.state_dict import (
    StateDictOptions,
    get_model_state_dict,
    get_optimizer_state_dict,
    set_model_state_dict,
    set_optimizer_state_dict,
)
from torch.distributed.fsdp import FSDPModule, OffloadPolicy, fully_shard

from bench.errors import ConfigError
from bench.models.adapters import unwrapped_causal_lm
from bench.models.fsdp_forward import enable_calls_in_forward

FULL = StateDictOptions(full_state_dict=True, cpu_offload=True)
"""Whole (gathered) tensors on the CPU of the main process: what snapshots and checkpoints hold either way."""


@dataclass(frozen=True)
class ShardingSettings:
    """What the launch's FSDP config asks for, as bench applies it."""

    reshard_after_forward: bool = True
    """Free each block's gathered parameters after its forward (ZeRO-3); False keeps them to the backward (ZeRO-2)."""
    offload: OffloadPolicy | None = None
    """Keep the sharded parameters, gradients and optimiser state in CPU memory (``fsdp_offload_params``)."""
    block_classes: tuple[str, ...] = ()
    """Class names sharded as one group each; empty: the model's ``_no_split_modules``."""


@cache
def launch_sharding() -> ShardingSettings | None:
    """The FSDP settings ``accelerate launch`` put in this process's environment, or None when it asked for none.

    Read once per process; the FSDP flag is then removed from the environment so that the accelerator treats the
    launch as data parallel (bench does the sharding, see the module docstring).
    """
    if _flag("ACCELERATE_USE_DEEPSPEED"):
        raise ConfigError("bench does not train under DeepSpeed: its packed scorer applies the output head outside "
                          "the model's forward, where ZeRO-3 cannot gather it; launch with "
                          "configs/accelerate/fsdp2.yaml (ZeRO-3's counterpart) or fsdp2-grad-op.yaml (ZeRO-2's)")
    if not _flag("ACCELERATE_USE_FSDP"):
        return None
    from accelerate.utils import FullyShardedDataParallelPlugin

    plugin = FullyShardedDataParallelPlugin()
    if plugin.fsdp_version != 2:
        raise ConfigError(f"the launch's FSDP config says fsdp_version: {plugin.fsdp_version}; bench shards with "
                          f"FSDP2: set fsdp_version: 2 (configs/accelerate/fsdp2.yaml)")
    os.environ.pop("ACCELERATE_USE_FSDP")
    offload = plugin.cpu_offload if type(plugin.cpu_offload) is not OffloadPolicy else None
    return ShardingSettings(reshard_after_forward=bool(plugin.reshard_after_forward), offload=offload,
                            block_classes=tuple(plugin.transformer_cls_names_to_wrap or ()))


def _flag(name: str) -> bool:
    return os.environ.get(name, "false").lower() == "true"


def shard(model: torch.nn.Module, settings: ShardingSettings) -> None:
    """Shard ``model`` in place over the launch's processes: each decoder block, then the rest as the root."""
    causal_lm = unwrapped_causal_lm(model)
    if causal_lm is not model:
        raise ConfigError("train.lora with an FSDP launch is not supported: LoRA's adapters are small enough for "
                          "plain data parallelism (launch without the FSDP config)")
    names = set(settings.block_classes or getattr(model, "_no_split_modules", None) or ())
    blocks = [module for module in model.modules() if type(module).__name__ in names]
    if not blocks:
        raise ConfigError(f"an FSDP launch found no block to shard in {type(model).__name__} (looked for "
                          f"{sorted(names) or 'its _no_split_modules'}); name them in the accelerate config's "
                          f"fsdp_transformer_layer_cls_to_wrap")
    options: dict[str, Any] = {"reshard_after_forward": settings.reshard_after_forward}
    if settings.offload is not None:
        options["offload_policy"] = settings.offload
    for block in blocks:
        fully_shard(block, **options)
    fully_shard(model, **options)
    enable_calls_in_forward(model)


def is_sharded(model: torch.nn.Module) -> bool:
    return isinstance(model, FSDPModule)


def full_weights(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """Every weight of a sharded ``model`` gathered whole on the main process's CPU (empty elsewhere), as
    ``state_dict()`` gives them unsharded: the names of one shared parameter (tied embeddings) hold one tensor, which
    is how ``save_pretrained`` and safetensors recognise ties. Called on every process (it communicates)."""
    weights = get_model_state_dict(model, options=FULL)
    if weights:
        names_of: dict[int, list[str]] = {}
        for name, parameter in model.named_parameters(remove_duplicate=False):
            names_of.setdefault(id(parameter), []).append(name)
        for first, *others in names_of.values():
            weights.update({name: weights[first] for name in others})
    return weights


def load_full_weights(model: torch.nn.Module, weights: dict[str, torch.Tensor]) -> None:
    """Give a sharded ``model`` the whole ``weights`` every process read (each keeps its shard)."""
    set_model_state_dict(model, weights, options=StateDictOptions(full_state_dict=True, strict=False))


def full_optimizer_state(model: torch.nn.Module, optimizer: torch.optim.Optimizer) -> dict[str, Any]:
    """The optimiser's state gathered whole on the main process (empty elsewhere), in ``optimizer.state_dict()``'s
    layout (parameters by position), so a sharded run's snapshot is the one an unsharded run writes; called on
    every process (it communicates)."""
    gathered = get_optimizer_state_dict(model, optimizer, options=FULL)
    if not gathered:
        return {}
    position = {name: index for index, name in enumerate(_trainable_names(model))}
    return {"state": {position[name]: slots for name, slots in gathered["state"].items()},
            "param_groups": [{**group, "params": [position[name] for name in group["params"]]}
                             for group in gathered["param_groups"]]}


def load_full_optimizer_state(model: torch.nn.Module, optimizer: torch.optim.Optimizer, state: dict[str, Any]) -> None:
    """Load ``state`` (``optimizer.state_dict()``'s layout, whole, read by every process) into the optimiser of a
    sharded ``model``."""
    names = _trainable_names(model)
    by_name = {"state": {names[int(index)]: slots for index, slots in state["state"].items()},
               "param_groups": [{**group, "params": [names[int(index)] for index in group["params"]]}
                                for group in state["param_groups"]]}
    set_optimizer_state_dict(model, optimizer, by_name, options=StateDictOptions(full_state_dict=True))


def _trainable_names(model: torch.nn.Module) -> list[str]:
    """The names of the parameters the optimiser holds, in its order (each shared parameter once, by the name
    ``named_parameters`` gives it first, as distributed checkpointing names it too)."""
    return [name for name, parameter in model.named_parameters() if parameter.requires_grad]
