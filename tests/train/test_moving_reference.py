"""A reference that moves toward the policy during training (TR-DPO's ``Needs.reference_update``)."""

from __future__ import annotations

import copy
import math

import pytest
import torch
from safetensors.torch import load_file

from bench.errors import PlanError
from bench.methods import build_objective
from bench.methods.base import ReferenceUpdate
from bench.models.loading import load_causal_lm
from bench.train.batches import OfflineBatches
from bench.train.loop import TrainConfig, train
from bench.train.stats import LiveReference, MovingReference
from tests.train.test_loop import _KillAt, _Killed, _log


def _train(tmp_path, gym, pairs, name, config, objective="tr_dpo", reference=MovingReference, batches=None,
           **hyperparameters):
    tokenizer, data = pairs
    batches = batches or OfflineBatches(data, config.micro_batch_size, seed=0, mismatched=False)
    built = build_objective(objective, hyperparameters)
    base = load_causal_lm(gym.reference_dir, dtype="float32")
    source = reference(base, built.needs.reference_update) if reference is MovingReference else reference(base)
    result = train(built, load_causal_lm(gym.reference_dir, dtype="float32"),
                   tokenizer, batches, source, config, tmp_path / name, seed=0, progress=False)
    return result, source


def test_the_update_moves_every_parameter_by_the_mixing_formula_every_tau_steps(smoke_gym):
    reference = MovingReference(load_causal_lm(smoke_gym.reference_dir, dtype="float32"), ReferenceUpdate(3, 0.25))
    policy = load_causal_lm(smoke_gym.reference_dir, dtype="float32")
    with torch.no_grad():
        for parameter in policy.parameters():
            parameter.add_(torch.randn_like(parameter))
    before = copy.deepcopy(reference.model)
    for steps_done in (1, 2):  # not a multiple of tau: no update
        reference.after_step(policy, steps_done)
    for unmoved, old in zip(reference.model.parameters(), before.parameters(), strict=True):
        assert torch.equal(unmoved, old)
    reference.after_step(policy, 3)
    for moved, old, current in zip(reference.model.parameters(), before.parameters(), policy.parameters(), strict=True):
        torch.testing.assert_close(moved, 0.25 * current + 0.75 * old)


def test_the_reference_is_the_policy_after_a_hard_update_and_losses_part_from_dpo_after_it(
        tmp_path, smoke_gym, smoke_pairs):
    config = TrainConfig(steps=4, micro_batch_size=8, warmup_steps=0, snapshot_every=0)
    moved, reference = _train(tmp_path, smoke_gym, smoke_pairs, "moved", config, sync_every=2, mix=1.0)
    final = load_file(moved.checkpoint / "model.safetensors")
    for name, parameter in reference.model.state_dict().items():
        if name in final:
            torch.testing.assert_close(parameter, final[name])  # the step-4 update copied the policy
    fixed, _ = _train(tmp_path, smoke_gym, smoke_pairs, "fixed", config, objective="dpo", reference=LiveReference)
    moved_losses, fixed_losses = [r["loss"] for r in _log(moved)], [r["loss"] for r in _log(fixed)]
    assert moved_losses[:2] == pytest.approx(fixed_losses[:2], rel=1e-6)  # same reference until step 2
    assert moved_losses[2] == pytest.approx(math.log(2), rel=1e-6)  # the reference is the policy: rho = 0
    assert fixed_losses[2] != pytest.approx(math.log(2), rel=1e-3)


def test_a_killed_run_resumes_against_the_reference_it_had_reached(tmp_path, smoke_gym, smoke_pairs):
    config = TrainConfig(steps=6, micro_batch_size=8, warmup_steps=1, snapshot_every=3)
    clean, _ = _train(tmp_path, smoke_gym, smoke_pairs, "clean", config, sync_every=2)
    _, data = smoke_pairs
    with pytest.raises(_Killed):
        _train(tmp_path, smoke_gym, smoke_pairs, "killed", config, sync_every=2,
               batches=_KillAt(OfflineBatches(data, 8, seed=0, mismatched=False), 4))
    resumed, _ = _train(tmp_path, smoke_gym, smoke_pairs, "killed", config, sync_every=2)
    assert resumed.resumed_from == 3  # the reference of step 2's update came back from the snapshot
    assert [r["loss"] for r in _log(resumed)] == pytest.approx([r["loss"] for r in _log(clean)], rel=1e-5)
    wa, wb = load_file(clean.checkpoint / "model.safetensors"), load_file(resumed.checkpoint / "model.safetensors")
    for name in wa:
        torch.testing.assert_close(wa[name], wb[name], rtol=1e-5, atol=1e-6)


def test_a_moving_reference_objective_refuses_a_reference_it_cannot_move(tmp_path, smoke_gym, smoke_pairs):
    with pytest.raises(PlanError, match="moves its reference"):
        _train(tmp_path, smoke_gym, smoke_pairs, "fixed-ref", TrainConfig(steps=1, micro_batch_size=8),
               reference=LiveReference)
    tokenizer, data = smoke_pairs
    other_update = MovingReference(load_causal_lm(smoke_gym.reference_dir, dtype="float32"), ReferenceUpdate(5, 1.0))
    with pytest.raises(PlanError, match="with that update"):  # tau and alpha are the objective's, not the caller's
        train(build_objective("tr_dpo", {}), load_causal_lm(smoke_gym.reference_dir, dtype="float32"), tokenizer,
              OfflineBatches(data, 8, seed=0, mismatched=False), other_update, TrainConfig(steps=1, micro_batch_size=8),
              tmp_path / "other-update", seed=0, progress=False)
