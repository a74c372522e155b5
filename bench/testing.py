"""Test helpers for objectives written outside bench: the contract checks as one pytest assertion.

A package that registers its own objectives (``[project.entry-points."bench.methods"]``) can check
them in its own test suite, with no model, data or GPU, in well under a second per objective::

    # tests/test_objectives.py of your package
    import pytest

    from bench.testing import assert_objective_contract
    from my_package.objectives import MyDPO

    def test_my_dpo_honours_the_bench_contract():
        assert_objective_contract(MyDPO)              # the class, with its default hyper-parameters

    @pytest.mark.parametrize("beta", [0.01, 0.1, 1.0])
    def test_my_dpo_contract_across_beta(beta):
        assert_objective_contract(MyDPO(beta=beta))   # or a configured instance

    def test_registered_name():
        assert_objective_contract("my_dpo")           # or the registered name (entry points included)

A failure raises AssertionError whose message is the whole report: one line per check, PASS/FAIL,
saying what went wrong (e.g. ``FAIL monotone_chosen raising log pi of the chosen response raises the
loss ...``). ``bench regress NAME`` runs the same checks and then the embedded benchmark.
"""

from __future__ import annotations

from bench.methods.base import Objective
from bench.methods.contract import ContractReport, check_objective


def assert_objective_contract(objective: str | type[Objective] | Objective) -> ContractReport:
    """Run :func:`bench.methods.contract.check_objective` and fail the test with its report if any check fails.

    Returns the report, so a test can look at individual results when it passes.
    """
    report = check_objective(objective)
    if not report.passed:
        raise AssertionError(report.render())
    return report


__all__ = ["assert_objective_contract"]
