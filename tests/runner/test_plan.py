"""Planning: sweeps expand into grid points, bad grids fail before any data is built."""

from __future__ import annotations

import pytest

from bench.config import build_config
from bench.errors import ConfigError, PlanError, RegistryError
from bench.runner.plan import build_variants, plan_jobs


def test_a_sweep_expands_the_cartesian_product_of_its_parameters():
    config = build_config(["method=dpo,simpo", "seed=0,1", "sweep.dpo.beta=0.05,0.1,0.2",
                           "sweep.simpo.beta=2.0,2.5", "sweep.simpo.gamma_beta_ratio=0.3,0.5"])
    variants = build_variants(config)
    points = [(v.method, v.point, v.grid_size) for v in variants]
    assert [p for p in points if p[0] == "dpo"] == [("dpo", {"beta": b}, 3) for b in (0.05, 0.1, 0.2)]
    assert len([p for p in points if p[0] == "simpo"]) == 4 and all(p[2] == 4 for p in points if p[0] == "simpo")
    jobs = plan_jobs(config, variants, "pairs", has_scores=False, has_validation=True)
    assert len(jobs) == (3 + 4) * 2
    assert {j.hyperparameters["beta"] for j in jobs if j.method == "dpo"} == {0.05, 0.1, 0.2}


def test_sweep_errors_name_the_key():
    with pytest.raises(ConfigError, match=r"methods\.dpo\.betta"):
        build_variants(build_config(["method=dpo", "sweep.dpo.betta=0.1,0.2"]))
    with pytest.raises(ConfigError, match="both fixed"):
        build_variants(build_config(["method=dpo", "methods.dpo.beta=0.1", "sweep.dpo.beta=0.1,0.2"]))
    with pytest.raises(ConfigError, match="not in method"):
        build_variants(build_config(["method=dpo", "sweep.simpo.beta=1,2"]))
    with pytest.raises(RegistryError, match="dpoo"):
        build_variants(build_config(["method=dpo", "sweep.dpoo.beta=1,2"]))


def test_a_sweep_without_validation_prompts_is_refused_at_plan_time():
    config = build_config(["method=dpo", "sweep.dpo.beta=0.1,0.2"])
    with pytest.raises(PlanError, match="validation"):
        plan_jobs(config, build_variants(config), "pairs", has_scores=False, has_validation=False)


def test_an_objective_needing_unavailable_data_is_refused_at_plan_time():
    config = build_config(["method=kto"])
    with pytest.raises(PlanError, match="kto"):
        plan_jobs(config, build_variants(config), "demonstrations", has_scores=False, has_validation=True)
