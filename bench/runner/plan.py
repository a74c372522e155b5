"""Plan expansion: methods x seeds into jobs, checked against the data before anything trains.

Every check that can fail without a GPU-hour spent (unknown method, bad hyper-parameter, an objective
needing a data kind or statistic the run cannot supply) fails here, for all jobs at once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from bench.config import RunConfig
from bench.data.derive import can_derive
from bench.errors import ConfigError, PlanError
from bench.methods import METHODS, build_objective
from bench.methods.base import Objective
from bench.train.stats import check_supported


@dataclass
class Job:
    """One training run: an objective with its hyper-parameters, a seed, and the data kind it reads."""

    method: str
    seed: int
    objective: Objective
    data_kind: str
    hyperparameters: dict[str, Any] = field(default_factory=dict)

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


def build_objectives(config: RunConfig) -> dict[str, Objective]:
    """Every requested objective, built and validated; cheap, so it runs before any data is built."""
    methods = resolve_methods(config.method)
    for name in config.methods:
        if name not in methods:
            METHODS.get(name)  # an unknown name raises with suggestions
            raise ConfigError(f"methods.{name}.* is set but {name} is not in method={','.join(config.method)}; "
                              f"add it to method= or drop the override")
    objectives = {}
    for method in methods:
        objectives[method] = build_objective(method, dict(config.methods.get(method, {})))
        check_supported(objectives[method].needs, method)
    return objectives


def plan_jobs(config: RunConfig, objectives: dict[str, Objective], source_kind: str,
              has_scores: bool) -> list[Job]:
    """All jobs of a run, validated against a dataset of ``source_kind`` (with or without scores)."""
    jobs = []
    for method, objective in objectives.items():
        needs = objective.needs
        if not needs.online and not can_derive(source_kind, needs.data):
            raise PlanError(f"method {method} needs {needs.data!r} data; the run's dataset holds {source_kind!r} "
                            f"rows; drop {method} from method= or use a dataset of that kind")
        if needs.scores and not needs.online and not has_scores:
            raise PlanError(f"method {method} needs a score per response; the dataset has none")
        for seed in config.seed:
            if seed < 0:
                raise ConfigError(f"seed={seed}: seeds must be >= 0")
            jobs.append(Job(method=method, seed=seed, objective=objective, data_kind=needs.data,
                            hyperparameters=objective.hyperparameters()))
    return jobs
