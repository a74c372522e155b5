"""Planning: sweeps expand into grid points, selectors cross every pool-trained job, bad grids and bad
selectors fail before any data is built."""

from __future__ import annotations

import pytest

from bench.config import build_config
from bench.errors import ConfigError, PlanError, RegistryError
from bench.runner.plan import apply_selectors, build_selectors, build_variants, plan_jobs


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
    with pytest.raises(ConfigError, match=r"^sweep\.dpo\.betta is not a hyper-parameter of dpo"):
        build_variants(build_config(["method=dpo", "sweep.dpo.betta=0.1,0.2"]))
    with pytest.raises(ConfigError, match="both fixed"):
        build_variants(build_config(["method=dpo", "methods.dpo.beta=0.1", "sweep.dpo.beta=0.1,0.2"]))
    with pytest.raises(ConfigError, match="not in method"):
        build_variants(build_config(["method=dpo", "sweep.simpo.beta=1,2"]))
    with pytest.raises(RegistryError, match="dpoo"):
        build_variants(build_config(["method=dpo", "sweep.dpoo.beta=1,2"]))


def test_a_bad_sweep_value_is_one_line_naming_the_sweep_key():
    with pytest.raises(ConfigError, match=r"^sweep\.dpo\.beta=a: must be a number$"):
        build_variants(build_config(["method=dpo", "sweep.dpo.beta=a,b"]))
    with pytest.raises(ConfigError, match=r"^sweep\.simpo\.gamma_beta_ratio=nan: must be a finite number$"):
        build_variants(build_config(["method=simpo", "methods.simpo.beta=2", "sweep.simpo.gamma_beta_ratio=0.5,nan"]))
    with pytest.raises(ConfigError, match=r"^methods\.simpo\.beta=x: must be a number$"):  # fixed values keep methods.
        build_variants(build_config(["method=simpo", "methods.simpo.beta=x", "sweep.simpo.gamma_beta_ratio=0.3,0.5"]))


def test_sweep_points_hold_the_typed_values():
    variants = build_variants(build_config(["method=dpo", "sweep.dpo.beta=1,2"]))
    assert [v.point for v in variants] == [{"beta": 1.0}, {"beta": 2.0}]
    assert all(isinstance(v.point["beta"], float) and isinstance(v.objective.beta, float) for v in variants)


def test_a_sweep_without_validation_prompts_is_refused_at_plan_time():
    config = build_config(["method=dpo", "sweep.dpo.beta=0.1,0.2"])
    with pytest.raises(PlanError, match="validation"):
        plan_jobs(config, build_variants(config), "pairs", has_scores=False, has_validation=False)


def test_an_objective_needing_unavailable_data_is_refused_at_plan_time():
    config = build_config(["method=kto"])
    with pytest.raises(PlanError, match="kto"):
        plan_jobs(config, build_variants(config), "demonstrations", has_scores=False, has_validation=True)



# ---- equal-budget tuning: tune=lr,beta ------------------------------------------------------------

def test_tune_gives_every_objective_the_lr_grid_times_its_own_strength_grid():
    config = build_config(["method=dpo,orpo,sft", "tune=lr,beta", "tuning.lr=1e-4,1e-3", "tuning.strength=0.5,2"])
    points = {}
    for variant in build_variants(config):
        points.setdefault(variant.method, []).append((variant.point, variant.train, variant.grid_size))
    assert points["dpo"] == [({"lr": lr, "beta": beta}, {"lr": lr}, 4) for lr in (1e-4, 1e-3) for beta in (0.05, 0.2)]
    assert [point["lambda_or"] for point, _, _ in points["orpo"]] == [0.05, 0.2, 0.05, 0.2]  # ORPO's default 0.1
    assert points["sft"] == [({"lr": lr}, {"lr": lr}, 2) for lr in (1e-4, 1e-3)]  # no strength: the lr only
    dpo = [v for v in build_variants(config) if v.method == "dpo"]
    assert [v.objective.beta for v in dpo] == [0.05, 0.2, 0.05, 0.2]  # the lr never reaches the objective


def test_tune_scales_a_fixed_strength_and_an_explicit_grid_wins():
    config = build_config(["method=dpo,ipo", "tune=beta", "tuning.strength=1,4", "methods.dpo.beta=0.02",
                           "sweep.ipo.beta=0.3,0.6,0.9"])
    points = {v.method: [] for v in build_variants(config)}
    for variant in build_variants(config):
        points[variant.method].append(variant.point)
    assert points == {"dpo": [{"beta": 0.02}, {"beta": 0.08}], "ipo": [{"beta": 0.3}, {"beta": 0.6}, {"beta": 0.9}]}


def test_the_lr_can_be_swept_per_objective_and_is_checked():
    (low, high) = build_variants(build_config(["method=dpo", "sweep.dpo.lr=1e-4,3e-4"]))
    assert (low.train, high.train, low.point) == ({"lr": 1e-4}, {"lr": 3e-4}, {"lr": 1e-4})
    with pytest.raises(ConfigError, match=r"^sweep\.dpo\.lr=0: must be > 0$"):
        build_variants(build_config(["method=dpo", "sweep.dpo.lr=0,1e-3"]))
    with pytest.raises(ConfigError, match=r"^sweep\.dpo\.lr=fast: must be a number$"):
        build_variants(build_config(["method=dpo", "sweep.dpo.lr=fast,1e-3"]))


def test_tuning_settings_are_checked_when_the_config_is_built():
    with pytest.raises(ConfigError, match=r"^tune=gamma: tune= names lr and/or beta"):
        build_config(["tune=lr,gamma"])
    with pytest.raises(ConfigError, match=r"^tuning\.lr=0\.001,-1\.0: give one or more values > 0"):
        build_config(["tune=lr", "tuning.lr=1e-3,-1"])
    with pytest.raises(ConfigError, match=r"^tuning\.select_seeds=3: must be between 0"):
        build_config(["tune=lr", "seed=0,1", "tuning.select_seeds=3"])
    with pytest.raises(ConfigError, match="composite cannot be swept or tuned"):
        build_variants(build_config(["method=dpo+0.1*sft", "tune=lr"]))


def test_select_seeds_keeps_the_other_seeds_for_the_chosen_point():
    from bench.runner.plan import selection_seeds

    assert selection_seeds(build_config(["seed=3,1,2", "tuning.select_seeds=1"])) == [3]
    assert selection_seeds(build_config(["seed=3,1,2"])) == [3, 1, 2]

# ---- selectors: methods x selectors x seeds ---------------------------------------------------------

def _selected_plan(overrides: list[str], source_kind: str = "pairs"):
    config = build_config(overrides)
    jobs = plan_jobs(config, build_variants(config), source_kind, has_scores=False, has_validation=True,
                     native={"kwise": True})
    return apply_selectors(jobs, build_selectors(config), source_kind)


def test_selectors_are_built_from_names_with_their_overrides_in_canonical_form():
    config = build_config(["selector=all,random,alignment_potential,random", "selectors.alignment_potential.w=0.5",
                           "selectors.random.ratio=0.25"])
    assert [s.spec for s in build_selectors(config)] == ["all", "random:ratio=0.25",
                                                         "alignment_potential:ratio=0.4,w=0.5"]


def test_selector_errors_name_the_key_and_the_valid_choices():
    with pytest.raises(ConfigError, match=r"^selector=randm: unknown selector 'randm' \(did you mean: random\?\); "
                                          r"valid: all, random, explicit_margin"):
        build_selectors(build_config(["selector=all,randm"]))
    with pytest.raises(ConfigError, match=r"^selectors\.random: 'w' is not a parameter of random; valid: ratio$"):
        build_selectors(build_config(["selector=random", "selectors.random.w=1"]))
    with pytest.raises(ConfigError, match=r"^selectors\.random: ratio=1\.5 must be in \(0, 1\]"):
        build_selectors(build_config(["selector=random", "selectors.random.ratio=1.5"]))
    with pytest.raises(ConfigError, match=r"^selectors\.random\.\* is set but random is not in selector=all; add it"):
        build_selectors(build_config(["selectors.random.ratio=0.5"]))
    with pytest.raises(ConfigError, match=r"^selectors\.rnd: unknown selector 'rnd'"):
        build_selectors(build_config(["selectors.rnd.ratio=0.5"]))


def test_pool_jobs_cross_every_selector_and_native_or_online_ones_run_under_all_only():
    jobs, note = _selected_plan(["method=dpo,kto,rpo_sq,rloo", "selector=all,random,explicit_margin", "seed=0,1"])
    by_method: dict[str, list] = {}
    for job in jobs:
        by_method.setdefault(job.method, []).append(job)
    assert {m: len(j) for m, j in by_method.items()} == {"dpo": 6, "kto": 6, "rpo_sq": 2, "rloo": 2}
    assert all(job.selector.name == "all" for job in by_method["rpo_sq"] + by_method["rloo"])
    assert note == ("selector=random,explicit_margin: rpo_sq, rloo train on on-policy samples or native data, "
                    "not on the pool a selector chooses from; they run under selector=all only")
    datasets = {(j.method, j.selector.name, j.seed): j.dataset for j in jobs}
    assert datasets[("dpo", "all", 0)] == "pairs" and datasets[("kto", "all", 1)] == "unpaired"
    random0, random1 = datasets[("dpo", "random", 0)], datasets[("dpo", "random", 1)]
    assert random0.startswith("pairs@") and random0 != random1  # random is seeded by the job's seed
    margin0, margin1 = datasets[("dpo", "explicit_margin", 0)], datasets[("dpo", "explicit_margin", 1)]
    assert margin0 == margin1 != random0  # a ranking selector keeps the same rows for every seed
    assert datasets[("kto", "random", 0)] == "unpaired@" + random0.partition("@")[2]  # one selection, two kinds
    assert len({j.label for j in jobs}) == len(jobs)


def test_without_all_the_skipped_jobs_do_not_run_and_the_line_says_so():
    jobs, note = _selected_plan(["method=dpo,rloo", "selector=random"])
    assert [(j.method, j.selector.name) for j in jobs] == [("dpo", "random")]
    assert note.endswith("rloo train on on-policy samples or native data, not on the pool a selector chooses from; "
                         "they run not at all (add all to selector=)")
    assert _selected_plan(["method=dpo,rloo", "selector=all"])[1] is None


def test_a_margin_selector_on_a_pool_that_is_not_pairs_is_refused_at_plan_time():
    with pytest.raises(PlanError, match=r"^selector=alignment_potential ranks preference pairs; the training pool "
                                        r"holds 'kwise' rows; use selector=all or random$"):
        _selected_plan(["method=dpo", "selector=alignment_potential"], source_kind="kwise")
    jobs, _ = _selected_plan(["method=dpo", "selector=random"], source_kind="kwise")
    assert jobs[0].dataset.startswith("pairs@")
