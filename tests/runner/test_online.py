"""An on-policy objective runs through the same loop: only its ``needs`` differ (no trainer change).

The objective here is a minimal REINFORCE with a leave-one-out baseline, registered for this test
only; the trainer samples its k responses from the current policy and scores them with the gym's
reward function before the loss, as ``needs.online`` declares.
"""

from __future__ import annotations

import json

import pytest
import torch

from bench.methods import METHODS
from bench.methods.base import LossOutput, Needs, Objective, SequenceStats
from bench.runner.run import run

pytestmark = pytest.mark.slow


class LeaveOneOutReinforce(Objective):
    name = "toy_online"
    family = "test"
    needs = Needs(data="kwise", online=True, samples_per_prompt=2, scores=True)

    def loss(self, stats: SequenceStats) -> LossOutput:
        scores = stats.scores
        k = scores.shape[1]
        advantage = scores - (scores.sum(1, keepdim=True) - scores) / (k - 1)
        loss = -(advantage * stats.logps).mean()
        return LossOutput(loss=loss, metrics={"score": scores.mean(1).detach()})


def test_an_online_objective_samples_scores_and_trains(tmp_path, smoke_run_config, smoke_gym, monkeypatch):
    import dataclasses

    monkeypatch.setitem(METHODS._items, "toy_online", dataclasses.dataclass(LeaveOneOutReinforce))
    lines: list[str] = []
    config = smoke_run_config(tmp_path, "method=toy_online")
    run(config, say=lines.append)
    (log,) = tmp_path.glob("jobs/toy_online-*/train_log.jsonl")
    records = [json.loads(line) for line in log.read_text().splitlines()]
    assert len(records) == config.train.steps
    (metrics,) = tmp_path.glob("jobs/toy_online-*/metrics.json")
    assert json.loads(metrics.read_text())["job"]["steps"] == config.train.steps
    assert all(torch.isfinite(torch.tensor(r["loss"])) for r in records)
    assert all("score" in r for r in records)  # the scores came from the run's reward function
    assert not any(line.startswith("reference pass") for line in lines)  # on-policy: nothing cached


def test_online_objectives_stop_at_train_online_steps(tmp_path, smoke_run_config, smoke_gym):
    config = smoke_run_config(tmp_path, "method=rloo,dpo", "train.online_steps=2")
    run(config, say=lambda line: None)
    steps = {p.parent.name.split("-")[0]: len(p.read_text().splitlines())
             for p in tmp_path.glob("jobs/*/train_log.jsonl")}
    assert steps == {"rloo": 2, "dpo": config.train.steps}
