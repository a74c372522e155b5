"""bench.testing: the contract checks as one assertion for users' own test suites."""

from __future__ import annotations

import dataclasses

import pytest

from bench.methods.base import LossOutput, SequenceStats, log_sigmoid
from bench.methods.dpo import DPO
from bench.methods.pairwise import pair_output, reference_margin
from bench.testing import assert_objective_contract


@dataclasses.dataclass
class SignFlippedDPO(DPO):
    def loss(self, stats: SequenceStats) -> LossOutput:
        rho_w, rho_l, h = reference_margin(stats, self.reduction)
        return pair_output(log_sigmoid(self.beta * h), self.beta * rho_w, self.beta * rho_l)


def test_a_passing_objective_returns_its_report():
    report = assert_objective_contract("dpo")
    assert report.passed and report.objective == "dpo"


def test_a_failing_objective_raises_assertion_error_carrying_the_whole_report():
    with pytest.raises(AssertionError) as info:
        assert_objective_contract(SignFlippedDPO)
    message = str(info.value)
    assert message.startswith("contract checks for SignFlippedDPO: FAILED")
    assert "FAIL  monotone_chosen" in message and "PASS  deterministic" in message
