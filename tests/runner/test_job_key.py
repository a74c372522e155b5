"""A job's key covers the code its numbers come from: editing a loss, or a helper it calls, must not silently
reuse old results (bench.source_fingerprint)."""

from __future__ import annotations

import importlib.util
import sys

from bench.methods.dpo import DPO
from bench.methods.ipo import IPO
from bench.source_fingerprint import module_closure, source_fingerprint

TEMPLATE = '''
from bench.methods.base import BetaObjective, LossOutput, Needs, log_sigmoid
from {helper} import pair_output, reference_margin


class Edited(BetaObjective):
    needs = Needs(data="pairs", reference=True)

    def loss(self, stats):
        rho_w, rho_l, h = reference_margin(stats, self.reduction)
        return pair_output(-log_sigmoid({scale} * self.beta * h), self.beta * rho_w, self.beta * rho_l)
'''
HELPER = '''
from bench.methods.pairwise import pair_output


def reference_margin(stats, reduction):
    rho = stats.logratios(reduction)
    return rho[:, 0], rho[:, 1], {offset} + rho[:, 0] - rho[:, 1]
'''


def _import(path, module_name):
    spec = importlib.util.spec_from_file_location(module_name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    return module


def _load(directory, module_name, scale, helper="bench.methods.pairwise"):
    """Import an objective from ``directory/edited.py`` whose loss scales the margin by ``scale``."""
    directory.mkdir(exist_ok=True)
    path = directory / "edited.py"
    path.write_text(TEMPLATE.format(scale=scale, helper=helper))
    return _import(path, module_name).Edited


def test_the_same_code_gives_the_same_key_and_an_edit_changes_it(tmp_path):
    original = source_fingerprint(_load(tmp_path / "a", "edited_a", 1.0))
    same = source_fingerprint(_load(tmp_path / "b", "edited_b", 1.0))
    edited = source_fingerprint(_load(tmp_path / "c", "edited_c", 2.0))
    assert original == same
    assert edited != original


def test_editing_a_helper_module_the_loss_calls_changes_the_key(tmp_path):
    """The objective's own file is unchanged; only the module it imports its margin from is edited."""
    keys = []
    for name, offset in (("h1", 0.0), ("h2", 0.5)):
        package = tmp_path / name
        package.mkdir()
        (package / "__init__.py").write_text("")
        (package / "margins.py").write_text(HELPER.format(offset=offset))
        sys.path.insert(0, str(tmp_path))
        try:
            importlib.import_module(f"{name}.margins")
            keys.append(source_fingerprint(_load(package, f"{name}.edited", 1.0, helper=f"{name}.margins")))
        finally:
            sys.path.remove(str(tmp_path))
    assert keys[0] != keys[1]


def test_the_closure_follows_shared_helpers_but_not_sibling_objectives():
    """dpo's key covers bench/methods/pairwise.py (its margin helper) and the contract, not ipo.py: reaching the
    registry package must not make every objective depend on every other."""
    names = {module.__name__ for module in module_closure(DPO)}
    assert {"bench.methods.dpo", "bench.methods.pairwise", "bench.methods.base"} <= names
    assert "bench.methods.ipo" not in names
    assert "bench.methods.dpo" not in {module.__name__ for module in module_closure(IPO)}
