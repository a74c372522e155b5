"""Two statistics the trainer gives objectives that ask: the training progress (DPO-Shift's schedules) and the
policy's per-token collision probability log sum_v pi(v)^2 (WPO's weights)."""

from __future__ import annotations

import json

import pytest
import torch

from bench.methods import build_objective
from bench.models.loading import load_causal_lm
from bench.train.batches import OfflineBatches
from bench.train.loop import TrainConfig, train
from bench.train.stats import LiveReference, gather_stats


def _train(tmp_path, gym, pairs, objective, config):
    tokenizer, data = pairs
    batches = OfflineBatches(data, config.micro_batch_size, seed=0, mismatched=False)
    result = train(objective, load_causal_lm(gym.reference_dir, dtype="float32"), tokenizer, batches,
                   LiveReference(load_causal_lm(gym.reference_dir, dtype="float32")), config, tmp_path / "run",
                   seed=0, progress=False)
    return [json.loads(line) for line in (result.checkpoint.parent / "train_log.jsonl").read_text().splitlines()]


def test_a_scheduled_objective_sees_the_steps_done_before_each_step(tmp_path, smoke_gym, smoke_pairs):
    objective = build_objective("dpo_shift", {"schedule": "increase_linear", "lambda_min": 0.5})
    config = TrainConfig(steps=4, micro_batch_size=4, grad_accum=2, warmup_steps=0, snapshot_every=0)
    log = _train(tmp_path, smoke_gym, smoke_pairs, objective, config)
    # s / S = 0, 1/4, 2/4, 3/4 on every micro-batch of the step: lambda = 0.5 + 0.5 s / S
    assert [record["lambda"] for record in log] == pytest.approx([0.5, 0.625, 0.75, 0.875], rel=1e-6)


def test_the_collision_statistic_is_the_policy_distribution_at_each_response_token(smoke_gym, smoke_pairs):
    _, data = smoke_pairs
    model = load_causal_lm(smoke_gym.reference_dir, dtype="float32")
    batch, _ = OfflineBatches(data, 4, seed=0, mismatched=False).get(0, model)
    objective = build_objective("wpo")
    stats = gather_stats(model, batch, objective.needs, LiveReference(load_causal_lm(smoke_gym.reference_dir)))
    with torch.no_grad():  # by hand: the model's own logits at the positions that predict each response token
        logits = model(input_ids=batch.input_ids, attention_mask=batch.attention_mask,
                       position_ids=batch.position_ids).logits
        width, start = batch.response_mask.shape[1], batch.response_start
        probabilities = logits[:, start - 1:start - 1 + width].double().softmax(-1)
        expected = probabilities.square().sum(-1).log() * batch.response_mask
    assert not stats.token_log_collision.requires_grad
    torch.testing.assert_close(stats.token_log_collision.reshape(expected.shape).double(), expected,
                               rtol=1e-5, atol=1e-5)
    assert (stats.token_log_collision[stats.token_mask] < 0).all()  # a probability below 1 on the gym's vocabulary


def test_wpo_trains_with_weights_from_the_current_policy(tmp_path, smoke_gym, smoke_pairs):
    config = TrainConfig(steps=3, micro_batch_size=8, warmup_steps=0, snapshot_every=0)
    log = _train(tmp_path, smoke_gym, smoke_pairs, build_objective("wpo"), config)
    weights = [record["weight"] for record in log]
    assert all(0 < weight < 10 for weight in weights)
    assert len(set(weights)) == 3  # recomputed from the policy of each step, not fixed at the reference's
