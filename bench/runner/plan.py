"""Plan expansion: methods x selectors x seeds into jobs, checked against the data before anything trains.

Every check that can fail without a GPU-hour spent (unknown method, bad hyper-parameter, an objective
needing a data kind or statistic the run cannot supply) fails here, for all jobs at once.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field, replace
from typing import Any

from bench.config import RunConfig, TuningSettings
from bench.data.derive import can_derive
from bench.data.selectors import SELECTORS, AllSelector, Selector, build_selector
from bench.errors import ConfigError, PlanError
from bench.methods import METHODS, build_objective
from bench.methods.base import Objective
from bench.methods.composite import build as build_composite
from bench.methods.composite import canonical, is_composite, parse_composite
from bench.runner.strength import strength_default
from bench.typed_values import coerce


@dataclass
class Variant:
    """One objective configuration to train: a method with fixed hyper-parameters, maybe a sweep point."""

    method: str
    objective: Objective
    point: dict[str, Any] = field(default_factory=dict)
    """The swept hyper-parameters' values, the learning rate among them when it is swept ({} when the method
    is not swept)."""
    grid_size: int = 1
    train: dict[str, Any] = field(default_factory=dict)
    """Training settings of this point that differ from the run's (``{"lr": 3e-4}`` when the lr is swept)."""


TRAINING_POINT_KEYS = ("lr",)
"""Sweep keys that are training settings (``train.lr``) rather than hyper-parameters of the objective."""


NATIVE = "native"
SELECTED = "@"
"""Separates a dataset's kind from the selection it was cut from: ``pairs@<selection fingerprint>``."""


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
    train: dict[str, Any] = field(default_factory=dict)
    """The point's training settings that differ from the run's (:attr:`Variant.train`)."""
    selector: Selector = field(default_factory=AllSelector)
    """Which share of the training pool the job trains on (``all`` for jobs that do not read the pool)."""

    @property
    def swept(self) -> bool:
        return self.grid_size > 1

    @property
    def selected(self) -> bool:
        """Whether the job trains on a selector's share of the pool rather than on all of it."""
        return self.selector.name != AllSelector.name

    @property
    def selection_key(self) -> str:
        """Identity of the rows the job's selector keeps (its name, parameters and, if it uses one, the seed)."""
        return self.selector.fingerprint(self.seed)

    @property
    def trains_on_pool(self) -> bool:
        """Whether the job's rows come from the training pool (directly or derived), where selectors apply."""
        return not self.objective.needs.online and f":{NATIVE}" not in self.dataset

    @property
    def label(self) -> str:
        return f"{self.method} selector={self.selector.spec} seed={self.seed}" if self.selected else \
            f"{self.method} seed={self.seed}"


def resolve_methods(requested: list[str]) -> list[str]:
    """Expand ``all`` into every registered objective (in registration order), keeping the rest as given."""
    names: list[str] = []
    for name in requested:
        if is_composite(name):
            terms = parse_composite(name)
            for _, part in terms:
                METHODS.get(part)  # an unknown part fails here, with the closest valid names
            expanded_names = [canonical(terms)]
        else:
            expanded_names = METHODS.names() if name == "all" else [name]
            for expanded in expanded_names:
                METHODS.get(expanded)  # unknown names fail here, with the closest valid ones
        names.extend(expanded for expanded in expanded_names if expanded not in names)
    return names


def build_variants(config: RunConfig) -> list[Variant]:
    """Every objective configuration to train, built and validated; cheap, so it runs before any data.

    A method with a ``sweep.NAME.PARAM=`` grid (or one that ``tune=`` gives it) becomes one variant per grid
    point (the cartesian product of its swept parameters), each validated like a plain override; errors
    name the ``sweep.NAME.PARAM`` key a bad point value came from. ``lr`` in a grid is the objective's
    learning rate (``train.lr``), not a hyper-parameter of the objective.
    """
    methods = resolve_methods(config.method)
    parts = {part for method in methods if is_composite(method) for _, part in parse_composite(method)}
    for section in ("methods", "sweep"):
        for name in getattr(config, section):
            if name not in methods and not (section == "methods" and name in parts):
                METHODS.get(name)  # an unknown name raises with suggestions
                raise ConfigError(f"{section}.{name}.* is set but {name} is not in "
                                  f"method={','.join(config.method)}; add it to method= or drop the override")
    variants = []
    for method in methods:
        if is_composite(method):
            if any(part in config.sweep for _, part in parse_composite(method)) or config.tune:
                raise ConfigError(f"method={method}: a composite cannot be swept or tuned; sweep its parts as "
                                  f"methods of their own, or fix their values with methods.PART.PARAM=")
            variants.append(Variant(method, build_composite(method, config.methods), {}, 1))
            continue
        fixed = dict(config.methods.get(method, {}))
        explicit = {key: list(values) for key, values in config.sweep.get(method, {}).items()}
        grid = {**tuning_grid(method, config.tune, config.tuning, fixed, explicit), **explicit}
        for key, values in grid.items():
            if not values:
                raise ConfigError(f"sweep.{method}.{key} is empty; give values like sweep.{method}.{key}=0.1,0.2")
            if key in fixed:
                raise ConfigError(f"{method}.{key} is both fixed (methods.) and swept (sweep.); keep one")
        points = [dict(zip(grid, values, strict=True)) for values in itertools.product(*grid.values())]
        for point in points:
            train = {key: _training_value(method, key, point[key]) for key in TRAINING_POINT_KEYS if key in point}
            objective = build_objective(method, fixed, {k: v for k, v in point.items() if k not in train})
            typed = {key: train[key] if key in train else getattr(objective, key) for key in point}  # 1 -> 1.0
            swept = len(points) > 1
            variants.append(Variant(method, objective, typed if swept else {}, len(points), train))
    return variants


def tuning_grid(method: str, tune: list[str], settings: TuningSettings, fixed: dict[str, Any],
                explicit: dict[str, list]) -> dict[str, list]:
    """The grid ``tune=`` gives ``method``: ``tuning.lr`` as its learning rates, and its strength times each of
    ``tuning.strength`` around the value the run would use (a ``methods.NAME.PARAM=`` value, moved from
    ``fixed`` into the grid, or the default). An objective without a strength is tuned on the lr only; a
    parameter with an ``explicit`` grid (``sweep.NAME.PARAM=``) keeps that grid."""
    grid: dict[str, list] = {}
    if "lr" in tune and "lr" not in explicit:
        grid["lr"] = list(settings.lr)
    strength = strength_default(method) if "beta" in tune else None
    if strength is not None and strength[0] not in explicit:
        name, default = strength
        base = coerce(fixed.pop(name), float, f"methods.{method}.{name}") if name in fixed else default
        grid[name] = [float(f"{base * factor:.6g}") for factor in settings.strength]
    return grid


def _training_value(method: str, key: str, value: Any) -> Any:
    """A training setting of a sweep point, typed and checked like ``train.KEY`` (the learning rate: > 0)."""
    typed = coerce(value, float, f"sweep.{method}.{key}")
    if not typed > 0:
        raise ConfigError(f"sweep.{method}.{key}={value}: must be > 0")
    return typed


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
                            f"give data.val.path=FILE (held-out pairs; the gym has them)")
        for seed in config.seed:
            jobs.append(Job(method=method, seed=seed, objective=variant.objective, data_kind=needs.data,
                            dataset=dataset,
                            hyperparameters=variant.objective.hyperparameters(), point=variant.point,
                            grid_size=variant.grid_size, train=variant.train))
    return jobs


def selection_seeds(config: RunConfig) -> list[int]:
    """The seeds every point of a sweep trains on and its point is chosen on (``tuning.select_seeds``)."""
    count = config.tuning.select_seeds
    return list(config.seed[:count]) if count else list(config.seed)


def build_selectors(config: RunConfig) -> list[Selector]:
    """The run's data selectors (``selector=``, with ``selectors.NAME.PARAM=`` overrides), validated.

    Cheap, so it runs with :func:`build_variants`, before any data is built.
    """
    names = list(dict.fromkeys(config.selector))
    for name in config.selectors:
        if name not in names:
            build_selector(name)  # an unknown name raises with the valid ones
            raise ConfigError(f"selectors.{name}.* is set but {name} is not in selector={','.join(config.selector)}; "
                              f"add it to selector= or drop the override")
    selectors = []
    for name in names:
        if name not in SELECTORS:
            build_selector(name, where=f"selector={name}")  # raises: unknown, with the valid names
        selectors.append(build_selector(name, config.selectors.get(name)))
    return selectors


def apply_selectors(jobs: list[Job], selectors: list[Selector], source_kind: str) -> tuple[list[Job], str | None]:
    """Every job once per selector, and the one log line naming the jobs that run under ``all`` only.

    A selector chooses rows of the training pool, so it applies to objectives trained on the pool or
    on a kind derived from it (unpaired rows, demonstrations). On-policy objectives sample their own
    responses, and a world's native datasets (the gym's scored k-wise rows) are not the pool: they run
    under ``all`` only and are skipped, not refused, under the other selectors, so ``method=all`` can
    be crossed with any selector list. A selected job's dataset is ``<kind>@<selection fingerprint>``:
    its own tokenised dataset and reference cache entry.
    """
    planned: list[Job] = []
    skipped: list[str] = []
    for job in jobs:
        for selector in selectors:
            if selector.name == AllSelector.name:
                planned.append(replace(job, selector=selector))
            elif job.trains_on_pool:
                if (selector.needs_explicit or selector.needs_implicit) and source_kind != "pairs":
                    raise PlanError(f"selector={selector.name} ranks preference pairs; the training pool holds "
                                    f"{source_kind!r} rows; use selector=all or random")
                selected = replace(job, selector=selector)
                planned.append(replace(selected, dataset=f"{job.dataset}{SELECTED}{selected.selection_key}"))
            elif job.method not in skipped:
                skipped.append(job.method)
    others = [s.name for s in selectors if s.name != AllSelector.name]
    if not skipped or not others:
        return planned, None
    where = "under selector=all only" if len(others) < len(selectors) else "not at all (add all to selector=)"
    return planned, (f"selector={','.join(others)}: {', '.join(skipped)} train on on-policy samples or native "
                     f"data, not on the pool a selector chooses from; they run {where}")
