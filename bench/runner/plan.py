"""Plan expansion: methods x seeds into jobs, checked against the data before anything trains.

Every check that can fail without a GPU-hour spent (unknown method, bad hyper-parameter, an objective
needing a data kind or statistic the run cannot supply) fails here, for all jobs at once.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

from bench.config import RunConfig
from bench.data.derive import can_derive
from bench.errors import ConfigError, PlanError
from bench.methods import METHODS, build_objective
from bench.methods.base import Objective


@dataclass
class Variant:
    """One objective configuration to train: a method with fixed hyper-parameters, maybe a sweep point."""

    method: str
    objective: Objective
    point: dict[str, Any] = field(default_factory=dict)
    """The swept hyper-parameters' values ({} when the method is not swept)."""
    grid_size: int = 1


NATIVE = "native"


@dataclass
class Job:
    """One training run: an objective with its hyper-parameters, a seed, and the data kind it reads."""

    method: str
    seed: int
    objective: Objective
    data_kind: str
    dataset: str
    """Which tokenised dataset it trains on: the data kind derived from the training pool, or
    ``"<kind>:native"`` for a dataset the world provides in that kind (the gym's scored k-wise rows)."""
    hyperparameters: dict[str, Any] = field(default_factory=dict)
    point: dict[str, Any] = field(default_factory=dict)
    grid_size: int = 1

    @property
    def swept(self) -> bool:
        return self.grid_size > 1

    @property
    def label(self) -> str:
        return f"{self.method} seed={self.seed}"


def resolve_methods(requested: list[str]) -> list[str]:
    """Expand ``all`` into every registered objective (in registration order), keeping the rest as given."""
    names: list[str] = []
    for name in requested:
        for expanded in (METHODS.names() if name == "all" else [name]):
            METHODS.get(expanded)  # unknown names fail here, with the closest valid ones
            if expanded not in names:
                names.append(expanded)
    return names


def build_variants(config: RunConfig) -> list[Variant]:
    """Every objective configuration to train, built and validated; cheap, so it runs before any data.

    A method with a ``sweep.NAME.PARAM=`` grid becomes one variant per grid point (the cartesian
    product of its swept parameters), each validated like a plain override.
    """
    methods = resolve_methods(config.method)
    for section in ("methods", "sweep"):
        for name in getattr(config, section):
            if name not in methods:
                METHODS.get(name)  # an unknown name raises with suggestions
                raise ConfigError(f"{section}.{name}.* is set but {name} is not in "
                                  f"method={','.join(config.method)}; add it to method= or drop the override")
    variants = []
    for method in methods:
        fixed = dict(config.methods.get(method, {}))
        grid = {key: list(values) for key, values in config.sweep.get(method, {}).items()}
        for key, values in grid.items():
            if not values:
                raise ConfigError(f"sweep.{method}.{key} is empty; give values like sweep.{method}.{key}=0.1,0.2")
            if key in fixed:
                raise ConfigError(f"{method}.{key} is both fixed (methods.) and swept (sweep.); keep one")
        points = [dict(zip(grid, values, strict=True)) for values in itertools.product(*grid.values())]
        for point in points:
            objective = build_objective(method, {**fixed, **point})
            variants.append(Variant(method, objective, point if len(points) > 1 else {}, len(points)))
    return variants


def plan_jobs(config: RunConfig, variants: list[Variant], source_kind: str, has_scores: bool,
              has_validation: bool, native: dict[str, bool] | None = None) -> list[Job]:
    """All jobs of a run, validated against a dataset of ``source_kind`` (with or without scores).

    ``native`` maps the data kinds the world also provides ready-made to whether they carry scores;
    an objective trains on the pool derived to its kind when that has what it needs, else on those.
    """
    native = native or {}
    jobs = []
    for variant in variants:
        method, needs = variant.method, variant.objective.needs
        dataset = needs.data
        derivable = can_derive(source_kind, needs.data) and (has_scores or not needs.scores)
        if not needs.online and not derivable:
            if needs.data in native and (native[needs.data] or not needs.scores):
                dataset = f"{needs.data}:{NATIVE}"
            elif not can_derive(source_kind, needs.data):
                raise PlanError(f"method {method} needs {needs.data!r} data; the run's dataset holds "
                                f"{source_kind!r} rows; drop {method} from method= or use a dataset of that kind")
            else:
                raise PlanError(f"method {method} needs a score per response; the dataset has none")
        if variant.grid_size > 1 and not has_validation:
            raise PlanError(f"sweep.{method}.* needs validation prompts to choose a point; "
                            f"give data.val_path (the gym has them)")
        for seed in config.seed:
            if seed < 0:
                raise ConfigError(f"seed={seed}: seeds must be >= 0")
            jobs.append(Job(method=method, seed=seed, objective=variant.objective, data_kind=needs.data,
                            dataset=dataset,
                            hyperparameters=variant.objective.hyperparameters(), point=variant.point,
                            grid_size=variant.grid_size))
    return jobs
