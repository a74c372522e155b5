"""A job's key covers the objective's code: editing a loss must not silently reuse old results."""

from __future__ import annotations

import importlib.util
import sys

from bench.runner.run import objective_source_fingerprint

TEMPLATE = '''
from bench.methods.base import BetaObjective, LossOutput, Needs, log_sigmoid
from bench.methods.pairwise import pair_output, reference_margin


class Edited(BetaObjective):
    needs = Needs(data="pairs", reference=True)

    def loss(self, stats):
        rho_w, rho_l, h = reference_margin(stats, self.reduction)
        return pair_output(-log_sigmoid({scale} * self.beta * h), self.beta * rho_w, self.beta * rho_l)
'''


def _load(directory, module_name, scale):
    """Import an objective from ``directory/edited.py`` whose loss scales the margin by ``scale``."""
    directory.mkdir()
    path = directory / "edited.py"
    path.write_text(TEMPLATE.format(scale=scale))
    spec = importlib.util.spec_from_file_location(module_name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    return module.Edited()


def test_the_same_code_gives_the_same_key_and_an_edit_changes_it(tmp_path):
    original = objective_source_fingerprint(_load(tmp_path / "a", "edited_a", 1.0))
    same = objective_source_fingerprint(_load(tmp_path / "b", "edited_b", 1.0))
    edited = objective_source_fingerprint(_load(tmp_path / "c", "edited_c", 2.0))
    assert original == same
    assert edited != original
