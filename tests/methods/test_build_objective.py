"""build_objective: command-line values become the objective fields' declared types, or one line naming the key."""

from __future__ import annotations

from typing import Literal

import pytest

from bench.errors import ConfigError
from bench.methods import METHODS, build_objective, coerce


def test_values_are_converted_to_the_declared_types():
    dpo = build_objective("dpo", {"beta": "0.25", "reduction": "mean"})
    assert dpo.beta == 0.25 and isinstance(dpo.beta, float) and dpo.reduction == "mean"
    assert isinstance(build_objective("dpo", {"beta": 1}).beta, float)  # an int is a number
    fpo = build_objective("fpo", {"k": "7", "layer": "3", "alpha": 1})
    assert (fpo.k, fpo.layer, fpo.alpha) == (7, 3, 1.0)
    assert build_objective("fpo", {"layer": None}).layer is None  # Optional: null is a value
    assert build_objective("beta_dpo", {"seed": 3}).seed == 3


@pytest.mark.parametrize(("method", "param", "value", "message"), [
    ("dpo", "beta", "abc", "methods.dpo.beta=abc: must be a number"),
    ("dpo", "beta", "nan", "methods.dpo.beta=nan: must be a finite number"),
    ("dpo", "beta", float("inf"), "methods.dpo.beta=inf: must be a finite number"),
    ("dpo", "beta", "-inf", "methods.dpo.beta=-inf: must be a finite number"),
    ("dpo", "beta", True, "methods.dpo.beta=true: must be a number"),
    ("dpo", "beta", None, "methods.dpo.beta=null: must be a number"),
    ("dpo", "beta", [0.1, 0.2], "methods.dpo.beta=[0.1, 0.2]: must be a number"),
    ("dpo", "reduction", "avg", "methods.dpo.reduction=avg: must be one of sum, mean"),
    ("fpo", "k", 2.5, "methods.fpo.k=2.5: must be an integer"),
    ("fpo", "k", "many", "methods.fpo.k=many: must be an integer"),
    ("fpo", "k", False, "methods.fpo.k=false: must be an integer"),
    ("fpo", "layer", "none", "methods.fpo.layer=none: must be an integer or null"),
])
def test_a_value_that_does_not_fit_its_type_is_one_line_naming_key_and_value(method, param, value, message):
    with pytest.raises(ConfigError) as raised:
        build_objective(method, {param: value})
    assert str(raised.value) == message


def test_sweep_point_errors_name_the_sweep_key():
    with pytest.raises(ConfigError, match=r"^sweep\.dpo\.beta=b: must be a number$"):
        build_objective("dpo", {"reduction": "mean"}, {"beta": "b"})
    with pytest.raises(ConfigError, match=r"^sweep\.dpo\.gamma is not a hyper-parameter of dpo"):
        build_objective("dpo", {}, {"gamma": 1})


def test_bools_come_only_from_true_or_false():
    assert coerce("true", bool, "k") is True and coerce("False", bool, "k") is False and coerce(True, bool, "k")
    for value in (1, "yes", "1", None):
        with pytest.raises(ConfigError, match=r"^k=.*: must be true or false$"):
            coerce(value, bool, "k")


def test_literals_strings_and_tuples_are_checked_item_by_item():
    assert coerce(2, Literal[1, 2], "k") == 2
    with pytest.raises(ConfigError, match=r"^k=2: must be one of 1, 2$"):
        coerce("2", Literal[1, 2], "k")  # a string is not the int choice
    assert coerce(2024, str, "k") == "2024" and coerce(True, str, "k") == "true"
    assert coerce([0.9, "0.99"], tuple[float, float], "k") == (0.9, 0.99)
    assert coerce([1, 2, 3], tuple[int, ...], "k") == (1, 2, 3)
    with pytest.raises(ConfigError, match=r"^k=\[0\.9\]: must be a list of 2 values$"):
        coerce([0.9], tuple[float, float], "k")
    with pytest.raises(ConfigError, match=r"^k=\[0\.9, 'x'\]: must be a list whose item 2 is a number$"):
        coerce([0.9, "x"], tuple[float, float], "k")


def test_every_built_in_objective_builds_from_its_defaults_given_as_strings():
    """The command line gives every value as text; each default, written out, must read back unchanged."""
    for name in METHODS.names():
        defaults = build_objective(name).hyperparameters()
        text = {key: str(value) for key, value in defaults.items() if value is not None}  # null is not text
        assert build_objective(name, text).hyperparameters() == defaults, name
