"""An objective's strength: the hyper-parameter that sets how far it may move from where it starts.

``beta`` for the objectives regularised towards the reference (or RLOO's ``beta_kl``), ORPO's and SLiC's
weight on their likelihood term. Objectives without one (SFT, SimPER, the causal objectives) have none.
Both the frontier report (a curve over strengths) and equal-budget tuning (``tune=beta``) sweep it.
"""

from __future__ import annotations

from bench.methods import METHODS

STRENGTH_PARAMETERS = ("beta", "beta_kl", "lambda_or", "lambda_reg")
"""The strength parameter of an objective: the first of these among its hyper-parameters."""


def strength_default(method: str) -> tuple[str, float] | None:
    """(``method``'s strength parameter, its default value), or None when it has none."""
    defaults = METHODS.get(method)().hyperparameters()
    return next(((name, defaults[name]) for name in STRENGTH_PARAMETERS if name in defaults), None)


def strength_parameter(method: str) -> str | None:
    """``method``'s strength parameter, or None when it has none."""
    strength = strength_default(method)
    return strength[0] if strength else None
