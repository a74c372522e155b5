"""Composite objectives (``method=dpo+0.005*sft``): parsing, the loss as the weighted sum of its parts
computed by hand, the merged needs, and a composite trained end to end."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from bench.errors import ConfigError
from bench.methods.composite import build, canonical, parse_composite


def log_sigmoid(x: float) -> float:
    return -math.log1p(math.exp(-x)) if x >= 0 else x - math.log1p(math.exp(x))


def test_a_composite_is_read_with_default_weights_of_one() -> None:
    assert parse_composite("dpo+0.005*sft") == [(1.0, "dpo"), (0.005, "sft")]
    assert parse_composite("0.5*dpo + 2e-3*sft") == [(0.5, "dpo"), (0.002, "sft")]
    assert parse_composite("dpo+1e+0*ipo") == [(1.0, "dpo"), (1.0, "ipo")]
    assert canonical(parse_composite("1*dpo+0.0050*sft")) == "dpo+0.005*sft"


@pytest.mark.parametrize(("spec", "message"), [("dpo+", "cannot read the term ''"), ("dpo+-1*sft", "cannot read"),
                                               ("dpo+0*sft", "must be > 0"), ("dpo+dpo", "appear once"),
                                               ("2*dpo", "at least two")])
def test_a_malformed_composite_is_one_line_naming_it(spec: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_composite(spec)


def test_the_loss_is_the_weighted_sum_of_the_parts_computed_by_hand(pairs) -> None:
    composite = build("dpo+0.005*sft", {"dpo": {"beta": 0.2}})
    dpo = sum(-log_sigmoid(0.2 * h) for h in pairs.h()) / len(pairs)
    sft = -sum(pairs.logp_w) / sum(pairs.len_w)  # TRL's sft term: the chosen responses' NLL per token
    out = composite.loss(pairs.stats())
    assert out.loss.item() == pytest.approx(dpo + 0.005 * sft, rel=1e-12)
    assert out.metrics["loss_dpo"].item() == pytest.approx(dpo, rel=1e-12)
    assert out.metrics["loss_sft"].item() == pytest.approx(sft, rel=1e-12)
    assert "rewards/accuracy" in out.metrics  # the first part's metrics


def test_the_sft_part_pulls_only_the_chosen_response_up(pairs, grad_of) -> None:
    plain = grad_of(build("dpo+1e-9*sft", {}), pairs.stats(requires_grad=True))
    heavy = grad_of(build("dpo+10*sft", {}), pairs.stats(requires_grad=True))
    assert (heavy[:, 0] < plain[:, 0]).all()  # more weight on the NLL: a stronger push up on chosen
    assert heavy[:, 1].tolist() == pytest.approx(plain[:, 1].tolist())  # rejected untouched by sft


def test_needs_are_merged_and_incompatible_data_is_refused() -> None:
    composite = build("simpo+dpo", {})
    assert composite.needs.reference and composite.needs.data == "pairs"
    assert composite.hyperparameters()["simpo.beta"] == 2.0 and composite.hyperparameters()["dpo.weight"] == 1.0
    with pytest.raises(ConfigError, match="different data"):
        build("dpo+kto", {})


def test_a_composite_trains_and_logs_the_weighted_sum_of_its_parts(tmp_path: Path, smoke_run) -> None:
    result = smoke_run(tmp_path, "method=dpo+0.5*sft", "methods.dpo.beta=0.2", "eval.evaluators=[]")
    (job,) = [p for p in (tmp_path / "jobs").iterdir() if p.name.startswith("dpo_plus_0.5xsft-seed0-")]
    log = [json.loads(line) for line in (job / "train_log.jsonl").read_text().splitlines()]
    assert len(log) == result.config.train.steps
    for step in log:
        assert step["loss"] == pytest.approx(step["loss_dpo"] + 0.5 * step["loss_sft"], rel=1e-5)
    assert log[-1]["loss_sft"] < log[0]["loss_sft"]  # the NLL of the chosen responses falls
