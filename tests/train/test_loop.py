"""The training loop: accumulation-invariant metrics, a resumable kill, loadable checkpoints."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
import torch
from safetensors.torch import load_file
from transformers import AutoModelForCausalLM

from bench.methods import build_objective
from bench.models.loading import load_causal_lm
from bench.models.refcache import ReferenceCache
from bench.train.batches import OfflineBatches
from bench.train.loop import TrainConfig, train
from bench.train.stats import CachedReference


def _run(tmp_path, gym, pairs, name, config, batches=None, reference=True):
    tokenizer, data = pairs
    cache = ReferenceCache(tmp_path / "refcache", "ref", data,
                           lambda: load_causal_lm(gym.reference_dir, dtype="float32"))
    cache.ensure(["responses"])
    batches = batches or OfflineBatches(data, config.micro_batch_size, seed=0, mismatched=False)
    model = load_causal_lm(gym.reference_dir, dtype="float32")
    return train(build_objective("dpo"), model, tokenizer, batches, CachedReference(cache) if reference else None,
                 config, tmp_path / name, seed=0, progress=False)


def _log(result):
    return [json.loads(line) for line in (result.checkpoint.parent / "train_log.jsonl").read_text().splitlines()]


def test_metrics_and_update_do_not_depend_on_accumulation(tmp_path, smoke_gym, smoke_pairs):
    whole = _run(tmp_path, smoke_gym, smoke_pairs, "whole",
                 TrainConfig(steps=1, micro_batch_size=8, grad_accum=1, warmup_steps=0, snapshot_every=0))
    split = _run(tmp_path, smoke_gym, smoke_pairs, "split",
                 TrainConfig(steps=1, micro_batch_size=4, grad_accum=2, warmup_steps=0, snapshot_every=0))
    a, b = _log(whole)[0], _log(split)[0]
    for key in ("loss", "rewards/accuracy", "rewards/margins", "grad_norm"):
        assert a[key] == pytest.approx(b[key], rel=1e-4, abs=1e-6), key
    wa, wb = load_file(whole.checkpoint / "model.safetensors"), load_file(split.checkpoint / "model.safetensors")
    for name in wa:
        torch.testing.assert_close(wa[name], wb[name], rtol=1e-4, atol=1e-6)


class _Killed(RuntimeError):
    pass


class _KillAt:
    """A batch source that dies when asked for micro-batch ``number`` (a pre-empted job)."""

    def __init__(self, inner, number):
        self.inner, self.number = inner, number

    def get(self, number, model):
        if number == self.number:
            raise _Killed
        return self.inner.get(number, model)


def test_a_killed_run_resumes_to_the_same_weights(tmp_path, smoke_gym, smoke_pairs):
    config = TrainConfig(steps=6, micro_batch_size=8, warmup_steps=1, snapshot_every=3)
    clean = _run(tmp_path, smoke_gym, smoke_pairs, "clean", config)
    _, data = smoke_pairs
    with pytest.raises(_Killed):
        _run(tmp_path, smoke_gym, smoke_pairs, "killed", config,
             batches=_KillAt(OfflineBatches(data, 8, seed=0, mismatched=False), 4))
    assert (tmp_path / "killed" / "snapshot" / "state.json").is_file()
    resumed = _run(tmp_path, smoke_gym, smoke_pairs, "killed", config)
    assert resumed.resumed_from == 3
    assert [r["step"] for r in _log(resumed)] == [1, 2, 3, 4, 5, 6]
    assert [r["loss"] for r in _log(resumed)] == pytest.approx([r["loss"] for r in _log(clean)], rel=1e-5)
    wa, wb = load_file(clean.checkpoint / "model.safetensors"), load_file(resumed.checkpoint / "model.safetensors")
    for name in wa:
        torch.testing.assert_close(wa[name], wb[name], rtol=1e-5, atol=1e-6)


def test_checkpoint_opens_with_auto_model_and_moved_toward_chosen(tmp_path, smoke_gym, smoke_pairs):
    config = TrainConfig(steps=4, micro_batch_size=8, warmup_steps=0, lr=1e-3, snapshot_every=0)
    result = _run(tmp_path, smoke_gym, smoke_pairs, "ckpt", config)
    model = AutoModelForCausalLM.from_pretrained(result.checkpoint, use_safetensors=True)
    assert model.config.model_type == "llama"
    log = _log(result)
    assert log[-1]["rewards/margins"] > log[0]["rewards/margins"]  # DPO widened the implicit-reward margin


def test_a_reference_objective_without_a_reference_is_refused(tmp_path, smoke_gym, smoke_pairs):
    from bench.errors import PlanError

    with pytest.raises(PlanError, match="reference"):
        _run(tmp_path, smoke_gym, smoke_pairs, "noref", TrainConfig(steps=1, micro_batch_size=8, warmup_steps=0),
             reference=False)


def test_warm_up_is_a_share_of_the_steps_unless_given_in_steps():
    assert TrainConfig().warmup() == 10  # 0.1 of 100 steps
    assert TrainConfig(steps=4).warmup() == 0  # 0.4 rounds to 0: a short run is not refused
    assert TrainConfig(steps=5).warmup() == 1 and TrainConfig(steps=25).warmup() == 3  # halves round up
    assert TrainConfig(steps=8, warmup_ratio=0.25).warmup() == 2
    assert TrainConfig(steps=8, warmup_ratio=0.25, warmup_steps=5).warmup() == 5  # explicit steps win
    assert TrainConfig(steps=8, warmup_steps=0).warmup() == 0


def test_the_scheduler_warms_up_for_the_effective_steps(tmp_path, smoke_gym, smoke_pairs):
    """Linear schedule, lr 1e-3, 4 steps: the logged lr (after each step) shows how many steps warmed up."""
    short = TrainConfig(steps=4, micro_batch_size=8, snapshot_every=0)
    default = _run(tmp_path, smoke_gym, smoke_pairs, "default", short)
    assert [r["lr"] for r in _log(default)] == pytest.approx([7.5e-4, 5e-4, 2.5e-4, 0.0])  # no warm-up
    half = _run(tmp_path, smoke_gym, smoke_pairs, "half", replace(short, warmup_ratio=0.5))
    assert [r["lr"] for r in _log(half)] == pytest.approx([5e-4, 1e-3, 5e-4, 0.0])  # two warm-up steps
