"""Every registered objective honours the contract: documented, validated defaults, a finite loss."""

from __future__ import annotations

import inspect
import sys

import pytest
import torch

from bench.errors import PlanError
from bench.methods import METHODS, build_objective
from bench.methods.base import Needs, Objective, SequenceStats

REFERENCE_FREE = {"simpo", "orpo", "slic", "sft", "simper", "alphapo"}
BATCH_LEVEL = {"aot", "beta_dpo", "bco_pair", "kto", "causal_po", "dr_causal_po", "outcome_po"}
STATEFUL = {"bco_pair", "beta_dpo"}
ALL = METHODS.names()


def own_docstring(cls: type) -> str:
    """The class's own docstring (not the signature dataclasses writes), else its module's."""
    doc = cls.__dict__.get("__doc__") or ""
    if doc.startswith(f"{cls.__name__}("):
        doc = ""
    return doc or (sys.modules[cls.__module__].__doc__ or "")


def test_every_objective_of_the_spec_tables_is_registered():
    expected = {"dpo", "cdpo", "robust_dpo", "ipo", "hinge", "dpo_norm", "rdpo", "exo_pair", "nca_pair",
                "bco_pair", "apo_zero", "apo_down", "sppo_hard", "aot", "discopop", "beta_dpo", "tdpo1",
                "tdpo2", "simpo", "orpo", "slic", "kto"}
    assert expected <= set(ALL)


@pytest.mark.parametrize("name", ALL)
def test_objective_is_documented(name):
    cls = METHODS.get(name)
    assert cls.family and cls.source and cls.formula
    assert sys.modules[cls.__module__].__doc__
    assert len(own_docstring(cls)) > 40


@pytest.mark.parametrize("name", ALL)
def test_reference_use_is_declared_truthfully(name):
    needs = METHODS.get(name).needs  # the direct method reads the reference only through its samples
    assert (needs.reference or needs.reference_samples) is (name not in REFERENCE_FREE)


@pytest.mark.parametrize("name", sorted(BATCH_LEVEL))
def test_batch_level_objectives_say_their_batch_size_is_part_of_them(name):
    cls = METHODS.get(name)
    assert cls.needs.batch_level
    assert "per-device batch size" in " ".join(own_docstring(cls).split())


@pytest.mark.parametrize("name", ALL)
def test_only_the_batch_level_objectives_are_marked_so(name):
    assert METHODS.get(name).needs.batch_level is (name in BATCH_LEVEL)


@pytest.mark.parametrize("name", ALL)
def test_reduction_is_a_field(name):
    assert build_objective(name).hyperparameters()["reduction"] in ("sum", "mean")


def stats_for(needs: Needs, batch) -> SequenceStats:
    """A batch of the kind ``needs`` asks for, built from the shared pairs fixture."""
    if needs.data == "unpaired":
        stats = batch.stats(requires_grad=True)
        stats.logps = stats.logps.detach()[:, :1].requires_grad_(True)
        stats.ref_logps, stats.lengths = stats.ref_logps[:, :1], stats.lengths[:, :1]
        stats.labels = torch.tensor([[1], [-1], [1], [-1]])
        stats.mismatched_logps = stats.logps.detach().roll(-1, 0)
        stats.mismatched_ref_logps = stats.ref_logps.roll(-1, 0)
        stats.mismatched_lengths = stats.lengths.roll(-1, 0)
        return stats
    stats = batch.stats(requires_grad=True, reference=needs.reference)
    if needs.token_logps:  # each response's log-prob spread evenly over its tokens
        width = int(stats.lengths.max())
        stats.token_mask = torch.arange(width) < stats.lengths.unsqueeze(-1)
        stats.token_logps = torch.where(stats.token_mask, (stats.logps / stats.lengths).detach().unsqueeze(-1), 0.0)
        if needs.reference:
            stats.ref_token_logps = torch.where(stats.token_mask, (stats.ref_logps / stats.lengths).unsqueeze(-1), 0.0)
    if needs.token_kl:
        stats.token_kl = torch.full((4, 2, 3), 0.1, dtype=torch.float64)
        stats.token_mask = torch.ones(4, 2, 3, dtype=torch.bool)
    if needs.token_collision:
        stats.token_log_collision = torch.full((4, 2, 3), -1.5, dtype=torch.float64)
        stats.token_mask = torch.ones(4, 2, 3, dtype=torch.bool)
    if needs.training_progress:
        stats.progress = 0.5
    if needs.sae is not None:
        codes = torch.rand(4, 2, 2 * needs.sae.top_k, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
        stats.sae_codes = codes
        stats.ref_sae_indices = torch.arange(needs.sae.top_k).expand(4, 2, -1)
        stats.ref_sae_values = codes[..., :needs.sae.top_k] * 0.5
    return stats


@pytest.mark.parametrize("name", [n for n in ALL if METHODS.get(n).needs.data in ("pairs", "unpaired")])
@pytest.mark.parametrize("reduction", ["sum", "mean"])
def test_default_objective_gives_a_finite_differentiable_loss(pairs, name, reduction):
    objective = build_objective(name, {"reduction": reduction})
    stats = stats_for(objective.needs, pairs)
    out = objective.loss(stats)
    assert out.loss.dim() == 0 and torch.isfinite(out.loss)
    out.loss.backward()
    assert torch.isfinite(stats.logps.grad).all()
    for key, value in out.metrics.items():
        assert not value.requires_grad, key
        assert value.dim() == 0 or value.shape == (stats.logps.shape[0],), key


@pytest.mark.parametrize("name", [n for n in ALL if n not in STATEFUL])
def test_stateless_objectives_have_empty_state(name):
    objective = build_objective(name)
    assert objective.state_dict() == {}
    objective.load_state_dict({})
    with pytest.raises(PlanError, match=name):
        objective.load_state_dict({"mean": 1.0})


@pytest.mark.parametrize("name", sorted(STATEFUL))
def test_state_is_not_a_hyper_parameter(name):
    objective = build_objective(name)
    assert objective.state_dict()
    assert not set(objective.state_dict()) & set(objective.hyperparameters())


def test_base_objective_defaults():
    assert Needs().mismatched is False
    assert Objective().state_dict() == {}
    assert inspect.getdoc(Objective.state_dict)
