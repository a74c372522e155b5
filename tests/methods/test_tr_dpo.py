"""TR-DPO: DPO's loss against a reference the trainer moves toward the policy (its update: tests/train)."""

from __future__ import annotations

import pytest

from bench.errors import ConfigError
from bench.methods import METHODS, build_objective
from bench.methods.base import ReferenceUpdate
from tests.methods.reference_math import log_sigmoid, mean


@pytest.mark.parametrize("beta", [0.1, 0.5])
def test_loss_is_dpos_on_the_reference_it_is_given(pairs, beta):
    rho_w, rho_l = pairs.rho()
    expected = mean([-log_sigmoid(beta * (w - lo)) for w, lo in zip(rho_w, rho_l, strict=True)])
    out = build_objective("tr_dpo", {"beta": beta}).loss(pairs.stats())
    assert out.loss.item() == pytest.approx(expected, rel=1e-12)


def test_the_reference_update_comes_from_the_hyper_parameters():
    assert build_objective("tr_dpo", {"sync_every": 8, "mix": 1.0}).needs.reference_update == ReferenceUpdate(8, 1.0)
    assert METHODS.get("tr_dpo").needs.reference_update == ReferenceUpdate(32, 0.6)  # listings read the class
    assert build_objective("dpo").needs.reference_update is None


@pytest.mark.parametrize(("key", "value"), [("mix", 0.0), ("mix", 1.5), ("sync_every", 0)])
def test_validate_keeps_the_update_in_range(key, value):
    with pytest.raises(ConfigError, match=rf"^methods\.tr_dpo\.{key}="):
        build_objective("tr_dpo", {key: value})
