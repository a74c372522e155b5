"""The contract checks of bench/methods/contract.py: every built-in passes, each kind of bug is named.

The broken objectives here are the bugs the checks exist for (a flipped sign, an undeclared read, a
declaration never used, a NaN on one-token responses, unseeded randomness); each must fail its own
check with a message that says what is wrong, and only that check where the bug is that specific.
"""

from __future__ import annotations

import dataclasses

import pytest
import torch

from bench.methods import METHODS, build_objective
from bench.methods.base import LossOutput, Needs, Objective, SaeCodes, SequenceStats, log_sigmoid
from bench.methods.contract import EDGE_CASES, check_objective
from bench.methods.dpo import DPO
from bench.methods.pairwise import pair_output, reference_margin


def results(report) -> dict[str, object]:
    return {r.name: r for r in report.results}


def failed(report) -> set[str]:
    return {r.name for r in report.failures}


@pytest.mark.parametrize("name", METHODS.names())
@pytest.mark.parametrize("reduction", ["sum", "mean"])
def test_every_builtin_objective_passes_the_contract_checks(name, reduction):
    report = check_objective(build_objective(name, {"reduction": reduction}))
    assert report.passed, report.render()


def test_every_check_runs_and_is_named():
    names = [r.name for r in check_objective("dpo").results]
    assert names == ["output", *(f"finite.{case}" for case in EDGE_CASES), "monotone_chosen", "deterministic",
                     "needs.undeclared", "needs.unused"]


def test_apo_down_opts_out_of_monotonicity_by_a_documented_class_attribute():
    monotone = results(check_objective("apo_down"))["monotone_chosen"]
    assert monotone.passed and monotone.skipped and "monotone_in_chosen = False" in monotone.message
    assert METHODS.get("apo_down").monotone_in_chosen is False
    assert all(METHODS.get(n).monotone_in_chosen for n in METHODS.names() if n != "apo_down")


def test_name_class_and_instance_are_all_accepted():
    assert check_objective("dpo").passed and check_objective(DPO).passed
    assert check_objective(DPO(beta=0.5)).objective == "dpo"


def test_the_checks_leave_a_stateful_instance_as_it_was():
    objective = build_objective("bco_pair")
    objective.load_state_dict({"count": 8.0, "mean": 0.25})
    assert check_objective(objective).passed
    assert objective.state_dict() == {"count": 8.0, "mean": 0.25}


@dataclasses.dataclass
class FlippedDPO(DPO):
    """DPO with the sign of the margin flipped: it learns to prefer the rejected response."""

    def loss(self, stats: SequenceStats) -> LossOutput:
        rho_w, rho_l, h = reference_margin(stats, self.reduction)
        return pair_output(-log_sigmoid(-self.beta * h), self.beta * rho_w, self.beta * rho_l)


def test_a_flipped_sign_fails_monotonicity_with_a_readable_message():
    report = check_objective(FlippedDPO)
    assert failed(report) == {"monotone_chosen"}
    message = results(report)["monotone_chosen"].message
    assert "raises the loss" in message and "chosen" in message and "monotone_in_chosen = False" in message
    assert "\n" not in message
    assert "FAIL  monotone_chosen" in report.render()


@dataclasses.dataclass
class UndeclaredReference(Objective):
    """Reads the reference log-probs without declaring reference=True (None in training)."""

    needs = Needs(data="pairs")
    beta: float = 0.1

    def loss(self, stats: SequenceStats) -> LossOutput:
        logps = stats.logps - stats.ref_logps
        return LossOutput(loss=-log_sigmoid(self.beta * (logps[:, 0] - logps[:, 1])).mean())


def test_reading_ref_logps_without_declaring_it_fails_the_needs_check():
    report = check_objective(UndeclaredReference)
    undeclared = results(report)["needs.undeclared"]
    assert not undeclared.passed
    assert "ref_logps" in undeclared.message and "reference=True" in undeclared.message


@dataclasses.dataclass
class UnusedReference(Objective):
    """Declares reference=True (a reference pass for nothing) but computes a reference-free loss."""

    needs = Needs(data="pairs", reference=True)

    def loss(self, stats: SequenceStats) -> LossOutput:
        return LossOutput(loss=-log_sigmoid(stats.logps[:, 0] - stats.logps[:, 1]).mean())


def test_declaring_a_statistic_never_read_fails_the_needs_check():
    report = check_objective(UnusedReference)
    assert failed(report) == {"needs.unused"}
    assert "reference=True" in results(report)["needs.unused"].message


@dataclasses.dataclass
class PerTokenBeyondFirst(DPO):
    """Divides by |y| - 1: fine on real lengths, NaN (0/0) on one-token responses."""

    def loss(self, stats: SequenceStats) -> LossOutput:
        rho = stats.logratios("sum") / (stats.lengths - 1)
        return LossOutput(loss=-log_sigmoid(self.beta * (rho[:, 0] - rho[:, 1])).mean())


def test_a_nan_on_one_token_responses_fails_that_edge_case():
    report = check_objective(PerTokenBeyondFirst)
    assert "finite.length_1" in failed(report)
    assert "responses of one token" in results(report)["finite.length_1"].message


@dataclasses.dataclass
class NoisyDPO(DPO):
    """DPO plus unseeded noise: two runs of the same job would differ."""

    def loss(self, stats: SequenceStats) -> LossOutput:
        out = super().loss(stats)
        out.loss = out.loss + 1e-3 * torch.rand(())
        return out


def test_unseeded_randomness_fails_the_determinism_check():
    report = check_objective(NoisyDPO)
    assert "deterministic" in failed(report)
    assert "two fresh instances" in results(report)["deterministic"].message


@dataclasses.dataclass
class PerExampleLoss(DPO):
    """Forgets to average over the batch."""

    def loss(self, stats: SequenceStats) -> LossOutput:
        _, _, h = reference_margin(stats, self.reduction)
        return LossOutput(loss=-log_sigmoid(self.beta * h))


def test_a_loss_that_is_not_a_scalar_fails_the_output_check():
    report = check_objective(PerExampleLoss)
    assert not results(report)["output"].passed and "scalar" in results(report)["output"].message


@dataclasses.dataclass
class OutcomeModelObjective(DPO):
    needs = Needs(data="pairs", reference=True, outcome_model=True)


def test_a_need_the_checks_do_not_know_is_reported_not_crashed_on(monkeypatch):
    from bench.methods import contract

    monkeypatch.setattr(contract, "_KNOWN_NEEDS", contract._KNOWN_NEEDS - {"outcome_model"})
    report = check_objective(OutcomeModelObjective)
    assert failed(report) == {"needs.supported"} and "outcome_model" in report.failures[0].message


def test_declaring_an_outcome_model_never_read_fails_the_needs_check():
    report = check_objective(OutcomeModelObjective)
    assert failed(report) == {"needs.unused"} and "outcome_model" in results(report)["needs.unused"].message


@dataclasses.dataclass
class UnusedSaeCodes(DPO):
    """Declares SAE codes (a reference pass and an SAE per step) but computes plain DPO."""

    needs = Needs(data="pairs", reference=True, sae=SaeCodes(top_k=4))


def test_declaring_sae_codes_never_read_fails_the_needs_check():
    report = check_objective(UnusedSaeCodes)
    assert failed(report) == {"needs.unused"} and "sae_codes" in results(report)["needs.unused"].message


@dataclasses.dataclass
class ListwiseTop(Objective):
    """A k-wise objective: maximise the softmax probability of the highest-scored response."""

    needs = Needs(data="kwise")

    def loss(self, stats: SequenceStats) -> LossOutput:
        top = stats.scores.argmax(dim=1, keepdim=True)
        return LossOutput(loss=-torch.log_softmax(stats.logps, dim=1).gather(1, top).mean())


@dataclasses.dataclass
class OutcomeRegression(Objective):
    """An outcome-data objective (no chosen response, so monotonicity is undefined)."""

    needs = Needs(data="outcomes")

    def loss(self, stats: SequenceStats) -> LossOutput:
        return LossOutput(loss=-(stats.outcomes * stats.logps).mean())


@dataclasses.dataclass
class TokenLevel(Objective):
    """Reads per-token log-probs only: the chosen direction is every token of the chosen response."""

    needs = Needs(data="pairs", token_logps=True)

    def loss(self, stats: SequenceStats) -> LossOutput:
        per_token = (stats.token_logps * stats.token_mask).sum(-1) / stats.token_mask.sum(-1)
        return LossOutput(loss=-log_sigmoid(per_token[:, 0] - per_token[:, 1]).mean())


def test_kwise_outcome_and_token_level_objectives_are_exercised_with_their_own_fields():
    assert check_objective(ListwiseTop).passed, check_objective(ListwiseTop).render()
    outcome = check_objective(OutcomeRegression)
    assert outcome.passed and results(outcome)["monotone_chosen"].skipped
    token = check_objective(TokenLevel)
    assert token.passed, token.render()
    assert "token_logps" in results(token)["needs.undeclared"].message


@dataclasses.dataclass
class UnpairedReadingScores(Objective):
    """Unpaired data carry labels, not scores: reading scores without declaring them is a bug."""

    needs = Needs(data="unpaired")

    def loss(self, stats: SequenceStats) -> LossOutput:
        weight = stats.scores if stats.scores is not None else stats.labels
        return LossOutput(loss=-(weight * stats.logps).mean())


def test_reading_scores_that_unpaired_data_lack_fails_the_needs_check():
    undeclared = results(check_objective(UnpairedReadingScores))["needs.undeclared"]
    assert not undeclared.passed and "scores" in undeclared.message and "scores=True" in undeclared.message
