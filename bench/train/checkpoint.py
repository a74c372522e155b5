"""Training state on disk: resumable snapshots and the final Hugging Face checkpoint.

Snapshots hold everything a killed run needs to continue bit-for-bit (weights, AdamW moments,
scheduler, RNG, the objective's own running statistics, the step) as safetensors plus JSON: no
pickle, so a snapshot from an untrusted source cannot execute code. The final checkpoint is a plain
``save_pretrained`` directory that ``AutoModelForCausalLM`` opens; a LoRA policy's is the merged model, with
its adapter in ``adapter/`` (peft's layout, for ``PeftModel.from_pretrained`` on the base). A LoRA snapshot
holds only the adapters' weights: the frozen base is the run's base model.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, load_model, save_file, save_model

from bench import atomic
from bench.fingerprint import STAMP_FILE, directory_fingerprint
from bench.integrity import Damaged, verify_manifest, write_manifest
from bench.models.adapters import has_adapters
from bench.notices import notice
from bench.train.sharding import (
    full_optimizer_state,
    full_weights,
    is_sharded,
    load_full_optimizer_state,
    load_full_weights,
)

SNAPSHOT = "snapshot"
CHECKPOINT = "checkpoint"
REFERENCE_WEIGHTS = "reference.safetensors"
"""A moving reference's weights in a snapshot (TR-DPO: the reference is part of the training state)."""
ADAPTER = "adapter"
"""A LoRA checkpoint's adapter folder (adapter_config.json and adapter_model.safetensors)."""


def _save_weights(model: torch.nn.Module, path: Path) -> None:
    if has_adapters(model):
        save_file({name: p.detach().cpu().contiguous() for name, p in model.named_parameters() if p.requires_grad},
                  path)
    else:
        save_model(model, str(path))  # handles tied (shared) weights


def _without_tied_copies(weights: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """``weights`` with one name per tensor held under several (tied embeddings): the name safetensors'
    ``save_model`` keeps (the first in sorted order), so a sharded run writes the file an unsharded one does."""
    names_of: dict[int, list[str]] = {}
    for name, tensor in weights.items():
        names_of.setdefault(id(tensor), []).append(name)
    dropped = {name for names in names_of.values() for name in sorted(names)[1:]}
    return {name: tensor for name, tensor in weights.items() if name not in dropped}


def _load_weights(model: torch.nn.Module, path: Path) -> None:
    if is_sharded(model):
        load_full_weights(model, load_file(path))
    elif has_adapters(model):
        saved = load_file(path)
        trainable = {name for name, p in model.named_parameters() if p.requires_grad}
        if set(saved) != trainable:
            raise Damaged(path, f"its adapter weights are not this run's adapters ({len(saved)} saved, "
                                f"{len(trainable)} in the model); remove the snapshot to restart")
        model.load_state_dict(saved, strict=False)
    else:
        load_model(model, str(path))


def _flatten_optimizer(state: dict[str, Any]) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    tensors, scalars = {}, {}
    for index, slots in state["state"].items():
        for name, value in slots.items():
            key = f"{index}.{name}"
            if torch.is_tensor(value):
                tensors[key] = value.detach().cpu().contiguous()
            else:
                scalars[key] = value
    return tensors, {"param_groups": state["param_groups"], "scalars": scalars}


def _unflatten_optimizer(tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> dict[str, Any]:
    state: dict[int, dict[str, Any]] = {}
    for key, value in list(tensors.items()) + list(meta["scalars"].items()):
        index, name = key.split(".", 1)
        state.setdefault(int(index), {})[name] = value
    return {"state": state, "param_groups": meta["param_groups"]}


def save_snapshot(run_dir: Path, step: int, model: torch.nn.Module, optimizer: torch.optim.Optimizer,
                  scheduler: Any, objective_state: dict[str, float], reference: torch.nn.Module | None = None,
                  write: bool = True) -> None:
    """Write a resumable snapshot of the training state after ``step`` optimizer steps; with the weights of a
    ``reference`` that moves during training (TR-DPO) when there is one.

    Every process of a launch calls it (a sharded model's state is gathered whole, which communicates); only the
    one with ``write`` writes, the same files an unsharded run writes."""
    sharded = is_sharded(model)
    weights = full_weights(model) if sharded else None
    optimizer_state = full_optimizer_state(model, optimizer) if sharded else {}
    if not write:
        return
    opt_tensors, opt_meta = _flatten_optimizer(optimizer_state if sharded else optimizer.state_dict())
    with atomic.directory(Path(run_dir) / SNAPSHOT) as tmp:
        if weights is not None:
            save_file(_without_tied_copies(weights), tmp / "model.safetensors")
        else:
            _save_weights(model, tmp / "model.safetensors")
        if reference is not None:
            save_model(reference, str(tmp / REFERENCE_WEIGHTS))
        save_file(opt_tensors, tmp / "optimizer.safetensors")
        rng = {"torch": torch.get_rng_state()}
        if torch.cuda.is_available():
            rng["cuda"] = torch.cuda.get_rng_state()
        save_file(rng, tmp / "rng.safetensors")
        (tmp / "state.json").write_text(json.dumps({
            "step": step, "optimizer": opt_meta, "scheduler": scheduler.state_dict(),
            "objective": objective_state}, default=float))
        write_manifest(tmp)


def load_snapshot(run_dir: Path, model: torch.nn.Module, optimizer: torch.optim.Optimizer,
                  scheduler: Any, reference: torch.nn.Module | None = None) -> tuple[int, dict[str, float]]:
    """Restore a snapshot into the given objects (a moving ``reference`` too); returns (step, objective state).
    (0, {}) if none.

    A snapshot whose manifest does not verify is said, removed and not used: training starts again from
    step 0, which gives the same numbers (every step is seeded), only later.
    """
    path = Path(run_dir) / SNAPSHOT
    if not path.exists():
        return 0, {}
    try:
        verify_manifest(path)
    except Damaged as damage:
        notice(f"{damage}; the snapshot is discarded and training restarts from step 0")
        shutil.rmtree(path)
        return 0, {}
    meta = json.loads((path / "state.json").read_text())
    if reference is not None and not (path / REFERENCE_WEIGHTS).is_file():
        notice(f"{path} holds no weights of the moving reference; the snapshot is discarded and training restarts "
               f"from step 0")
        shutil.rmtree(path)
        return 0, {}
    _load_weights(model, path / "model.safetensors")
    if reference is not None:
        load_model(reference, str(path / REFERENCE_WEIGHTS))
    optimizer_state = _unflatten_optimizer(load_file(path / "optimizer.safetensors"), meta["optimizer"])
    if is_sharded(model):
        load_full_optimizer_state(model, optimizer, optimizer_state)
    else:
        optimizer.load_state_dict(optimizer_state)
    scheduler.load_state_dict(meta["scheduler"])
    rng = load_file(path / "rng.safetensors")
    torch.set_rng_state(rng["torch"])
    if "cuda" in rng and torch.cuda.is_available():
        torch.cuda.set_rng_state(rng["cuda"])
    return meta["step"], meta["objective"]


def save_checkpoint(directory: Path, model, tokenizer, write: bool = True) -> str | None:
    """Write the final HF checkpoint atomically; returns its fingerprint (stamped beside the weights).

    A LoRA policy is saved as its adapter, then merged into its base (in place: training is over) and saved whole.
    Every process of a launch calls it (a sharded model is gathered whole first); only the one with ``write``
    writes, and the others get None.
    """
    weights = full_weights(model) if is_sharded(model) else None
    if not write:
        return None
    with atomic.directory(directory) as tmp:
        if has_adapters(model):
            model.save_pretrained(tmp / ADAPTER, safe_serialization=True)
            model = model.merge_and_unload()
        model.save_pretrained(tmp, safe_serialization=True, state_dict=weights)
        if tokenizer is not None:
            tokenizer.save_pretrained(tmp)
        stamp = directory_fingerprint(tmp)
        (tmp / STAMP_FILE).write_text(stamp + "\n")
        write_manifest(tmp)
    return stamp


def checkpoint_fingerprint(directory: Path) -> str:
    """The fingerprint :func:`save_checkpoint` stamped beside a checkpoint's weights."""
    return (Path(directory) / STAMP_FILE).read_text().strip()


def checkpoint_problem(directory: Path) -> str | None:
    """Why the checkpoint at ``directory`` cannot be reused (missing, unfinished, damaged), or None when intact."""
    directory = Path(directory)
    if not directory.is_dir():
        return f"{directory} is missing"
    try:
        verify_manifest(directory)
    except Damaged as damage:
        return str(damage)
    return None
