"""``bench regress``: regression-test a new or changed objective before anyone benchmarks it.

Two stages, cheapest first. The contract checks (:mod:`bench.methods.contract`, under a second)
catch sign errors, NaNs on edge cases and undeclared reads; a failure stops there. Then one short run
on the embedded benchmark (seed 0, the default gym, the baseline's settings) is compared with the
committed baseline of the method in ``regress_baselines.json``: ``gold_win_rate``, ``kl`` and
``reward_accuracy``, each within the tolerance stored beside it.

The run uses its own results store under the cache (``CACHE/regress/...``, wiped first), never the
user's leaderboard store, and never reuses a finished job there: job keys name the method and its
hyper-parameters but not its code, so a reused job would hide exactly the change under test. The gym,
the reference passes and the generations are shared with ``bench run`` through the cache.

Baselines are regenerated with ``bench regress METHOD --update-baselines`` (``METHOD`` may be a comma
list or ``all``); the file records the settings, metrics, tolerances, bench version, date and
package versions of each entry.
"""

from __future__ import annotations

import datetime
import json
import math
import shutil
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from bench import __version__, atomic
from bench.config import build_config
from bench.errors import ConfigError
from bench.fingerprint import fingerprint
from bench.methods.contract import ContractReport, check_objective
from bench.runner.plan import build_variants, resolve_methods
from bench.runner.run import run

BASELINES = Path(__file__).with_name("regress_baselines.json")
"""The committed baselines (package data)."""

SETTINGS: tuple[str, ...] = ("train.steps=100",)
"""Settings of a new baseline's run, written into the entry so later runs repeat them even if defaults move."""

SEED = 0
METRICS: tuple[str, ...] = ("gold_win_rate", "kl", "reward_accuracy")
"""What is compared: does it still win on gold, does it move as far from the reference, does its implicit
reward still rank held-out pairs. Together they catch a change in the objective's direction and its size."""

TOLERANCES: dict[str, dict[str, float]] = {
    "gold_win_rate": {"abs": 4.0},
    "kl": {"abs": 3.0, "rel": 0.5},
    "reward_accuracy": {"abs": 0.05},
}
"""Allowed |value - baseline| = max(abs, rel x |baseline|), written into every new entry.

Runs are bit-deterministic on one machine and library stack (a repeated run reproduces every digit),
so where a baseline was written any deviation is a change; the tolerances only absorb other CPUs and
library versions, whose float rounding perturbs 100 training steps and then the sampled tokens.
Measured on dpo (default gym, seed 0, 100 steps; gold WR 59.3, KL 16.3, reward accuracy 0.641):

- rounding-sized perturbations (the same gradients summed in another order, ``train.micro_batch_size=8
  train.grad_accum=2``; ``train.lr`` changed by 1e-4 relative) moved gold WR by 0.5 and 1.2 points, KL by
  0.2 and 1.2 nats (1% and 7%), reward accuracy by 0 and 0.016 (one held-out pair of 64);
- another data order (seeds 1-4, an upper bound far above rounding) moved gold WR by up to 3.0 points,
  KL by up to 17 nats (13.6 to 32.9: DPO's KL is heavy-tailed over seeds), reward accuracy by up to 0.06.

So: gold WR +-4 points (over 3x the rounding effect, beyond every other seed, and about the 95% CI
half-width of one run, 2.8); KL +-50% or +-3 nats, whichever is larger (KL spans 1 to 380 nats across
objectives, so a relative bound is needed for large ones and an absolute floor for near-zero ones);
reward accuracy +-0.05 (three held-out pairs, 3x the rounding effect). A real change moves them more:
a flipped sign never gets past the contract checks, and dpo at 10x beta (methods.dpo.beta=1.0) gave KL
36.0 and reward accuracy 0.578, both outside (gold WR 57.0 stayed inside)."""

RESERVED = ("method", "seed", "store")
"""Keys regress sets itself: the method under test, seed 0 and its own store."""
NOT_SETTINGS = ("cache", "progress")
"""Overrides that steer where and how loudly, not what: never recorded as baseline settings."""


@dataclass
class MetricComparison:
    """One metric of one method against its baseline."""

    method: str
    metric: str
    baseline: float | None
    value: float | None
    tolerance: float | None
    verdict: str
    """PASS, FAIL, or 'not compared' (missing on either side, with the reason in ``note``)."""
    note: str = ""


@dataclass
class MethodRegress:
    """Everything ``bench regress`` found for one method."""

    method: str
    contract: ContractReport
    comparisons: list[MetricComparison] = field(default_factory=list)
    metrics: dict[str, float] = field(default_factory=dict)
    has_baseline: bool = False
    recorded: bool = False
    """True when this run's metrics were written as the method's new baseline."""
    notes: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return self.contract.passed and all(c.verdict != "FAIL" for c in self.comparisons)


@dataclass
class RegressReport:
    """The outcome of :func:`regress`: per-method contract reports and metric comparisons."""

    methods: list[MethodRegress]
    baselines_path: Path
    settings: list[str] = field(default_factory=list)
    store: Path | None = None
    updated: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return all(m.passed for m in self.methods)

    def render(self) -> str:
        lines: list[str] = []
        for m in self.methods:
            lines += [m.contract.render(), ""]
        ran = [m for m in self.methods if m.contract.passed and (m.metrics or m.comparisons)]
        if ran:
            lines.append(f"gym run (seed {SEED}, {' '.join(self.settings) or 'default settings'}), store {self.store}:")
            rows = [("method", "metric", "baseline", "tolerance", "value", "verdict")]
            for m in ran:
                if not m.has_baseline:
                    verdict = "recorded" if m.recorded else "no baseline"
                    rows += [(m.method, k, "-", "-", _fmt(m.metrics.get(k)), verdict) for k in METRICS]
                rows += [(c.method, c.metric, _fmt(c.baseline),
                          "-" if c.tolerance is None else f"+-{_fmt(c.tolerance)}", _fmt(c.value), c.verdict)
                         for c in m.comparisons]
            widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
            for number, row in enumerate(rows):
                lines.append("  " + "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
                if number == 0:
                    lines.append("  " + "  ".join("-" * w for w in widths))
            for m in ran:
                lines += [f"  note ({m.method}): {note}" for note in m.notes]
                lines += [f"  note ({m.method}, {c.metric}): {c.note}" for c in m.comparisons if c.note]
        if self.updated:
            lines.append(f"updated baselines for {', '.join(self.updated)} in {self.baselines_path}; commit the file")
        failed = [m for m in self.methods if not m.passed]
        if failed:
            reasons = []
            for m in failed:
                if not m.contract.passed:
                    names = ", ".join(r.name for r in m.contract.failures)
                    reasons.append(f"{m.method}: contract check {names} failed")
                else:
                    outside = [c.metric for c in m.comparisons if c.verdict == "FAIL"]
                    reasons.append(f"{m.method}: {', '.join(outside)} outside tolerance")
            lines.append("regress: FAILED (" + "; ".join(reasons) + ")")
        else:
            lines.append(f"regress: passed ({', '.join(m.method for m in self.methods)})")
        return "\n".join(lines)


def _fmt(value: float | None) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{value:.4g}" if abs(value) < 1 else f"{value:.2f}"


def allowed_deviation(tolerance: dict[str, float], baseline: float) -> float:
    """max(abs, rel x |baseline|): absolute for small values, relative for metrics that span decades."""
    return max(tolerance.get("abs", 0.0), tolerance.get("rel", 0.0) * abs(baseline))


def compare(method: str, metrics: dict[str, float], entry: dict[str, Any]) -> list[MetricComparison]:
    """Compare a run's ``metrics`` with a baseline ``entry``, metric by metric (see :data:`TOLERANCES`)."""
    out = []
    for metric in METRICS:
        value, baseline = metrics.get(metric), entry.get("metrics", {}).get(metric)
        tolerance = entry.get("tolerances", {}).get(metric, TOLERANCES[metric])
        if value is None or baseline is None:
            missing = "this run" if value is None else "the baseline"
            fix = ("the run's evaluators do not emit it" if value is None
                   else f"`bench regress {method} --update-baselines` records it")
            out.append(MetricComparison(method, metric, baseline, value, None, "not compared",
                                        f"{metric} is missing from {missing} ({fix})"))
            continue
        allowed = allowed_deviation(tolerance, baseline)
        verdict = "PASS" if abs(value - baseline) <= allowed else "FAIL"
        out.append(MetricComparison(method, metric, baseline, value, allowed, verdict))
    return out


def load_baselines(path: Path) -> dict[str, Any]:
    """The baselines file as a dict (an empty skeleton when it does not exist yet)."""
    path = Path(path)
    if not path.is_file():
        return {"methods": {}}
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ConfigError(f"baselines file {path} is not valid JSON ({exc}); restore it from version control "
                          "or regenerate it with --update-baselines") from exc
    data.setdefault("methods", {})
    return data


ABOUT = ("Baselines of `bench regress METHOD`: one entry per method, from one run of the embedded benchmark "
         "(seed 0, default gym, the entry's settings). Regenerate with `bench regress METHOD --update-baselines` "
         "(METHOD: a name, a comma list or all) and commit this file.")
TOLERANCE_RULE = ("a metric passes when |value - baseline| <= max(abs, rel * |baseline|); runs are bit-deterministic "
                  "on one machine, so the tolerances absorb other CPUs and library versions only "
                  "(justified in bench/runner/regress.py, TOLERANCES)")


def _check_overrides(overrides: list[str]) -> None:
    for item in overrides:
        key = item.split("=", 1)[0].strip()
        if key in RESERVED:
            raise ConfigError(f"override {item!r}: bench regress sets {', '.join(RESERVED)} itself "
                              f"(the method is its first argument; the seed is {SEED})")
        if key.startswith("sweep."):
            raise ConfigError(f"override {item!r}: bench regress tests one configuration; fix the value with "
                              f"methods.{key.removeprefix('sweep.')}=VALUE instead of sweeping it")


def _store_for(cache: Path, names: list[str]) -> Path:
    label = ",".join(names)
    return cache / "regress" / (label if len(label) <= 60 else f"{len(names)}-methods-{fingerprint(names)[:12]}")


def _read_metrics(store: Path) -> dict[str, dict[str, Any]]:
    records = {}
    for path in sorted(store.glob("jobs/*/metrics.json")):
        record = json.loads(path.read_text())
        if record["job"]["seed"] == SEED or record["job"]["method"] == "reference":
            records[record["job"]["method"]] = record
    return records


def regress(method: str, overrides: list[str], baselines_path: Path = BASELINES,
            say: Callable[[str], None] = print, update: bool = False) -> RegressReport:
    """Contract checks, then one gym run compared with (or, with ``update``, written as) the baselines.

    ``method`` is a name, a comma list or ``all``; ``overrides`` are ``KEY=VALUE`` settings applied
    after the baseline's own (e.g. ``methods.dpo.beta=0.05``, ``cache=DIR``). A method that fails a
    contract check is not run. A method without a baseline is run and its numbers printed, with the
    command that records them; that alone is not a failure.
    """
    _check_overrides(overrides)
    baselines = load_baselines(baselines_path)
    names = resolve_methods([m.strip() for m in method.split(",") if m.strip()])

    def settings_of(name: str) -> tuple[str, ...]:
        entry = baselines["methods"].get(name)
        return tuple(entry["settings"]) if entry and not update else SETTINGS

    results = {}
    for name in names:  # the objective as the run will build it: baseline settings, then the overrides
        [variant] = build_variants(build_config([*settings_of(name), *overrides, f"method={name}"]))
        results[name] = MethodRegress(name, check_objective(variant.objective))
    runnable = [name for name, r in results.items() if r.contract.passed]
    report = RegressReport(list(results.values()), Path(baselines_path))
    if not runnable:
        return report

    groups: dict[tuple[str, ...], list[str]] = {}
    for name in runnable:
        groups.setdefault(settings_of(name), []).append(name)
    cache = Path(build_config(list(overrides)).cache)
    recordable = [o for o in overrides if o.split("=", 1)[0].strip() not in NOT_SETTINGS]
    for settings, group in groups.items():
        store = _store_for(cache, group)
        if store.exists():  # never reuse a finished job: its key does not cover the objective's code
            shutil.rmtree(store)
        config = build_config([*settings, *overrides, f"method={','.join(group)}", f"seed={SEED}",
                               f"store={store}", "progress=false"])
        say(f"regress: training {', '.join(group)} on the embedded benchmark (seed {SEED}, "
            f"{' '.join([*settings, *overrides]) or 'default settings'}); store {store}")
        run(config, say=say)
        records = _read_metrics(store)
        report.store = store
        report.settings = [*settings, *recordable]
        for name in group:
            record = records[name]
            result = results[name]
            result.metrics = {k: record["metrics"][k] for k in METRICS if k in record["metrics"]}
            entry = baselines["methods"].get(name)
            if update:
                baselines["methods"][name] = _entry(record, report.settings, entry, config)
                report.updated.append(name)
                result.recorded = True
                continue
            if entry is None:
                where = "" if Path(baselines_path) == BASELINES else f" --baselines {baselines_path}"
                command = " ".join(["bench regress", name, *recordable, "--update-baselines"]) + where
                result.notes.append(f"no baseline for {name} in {baselines_path}; record this run as one with "
                                    f"`{command}` and commit the file")
                continue
            result.has_baseline = True
            result.comparisons = compare(name, result.metrics, entry)
            result.notes.extend(_differences(record, entry, list(settings), overrides))
    if report.updated:
        baselines["about"], baselines["tolerance_rule"] = ABOUT, TOLERANCE_RULE
        atomic.write_json(Path(baselines_path), baselines)
    return report


def _entry(record: dict[str, Any], settings: list[str], previous: dict[str, Any] | None, config: Any) -> dict[str, Any]:
    """A baseline entry from a finished job's record; hand-edited tolerances of ``previous`` are kept."""
    provenance = record["provenance"]
    tolerances = {**TOLERANCES, **(previous or {}).get("tolerances", {})}
    return {
        "settings": settings,
        "seed": SEED,
        "hyperparameters": record["job"]["hyperparameters"],
        "metrics": {k: record["metrics"][k] for k in METRICS if k in record["metrics"]},
        "tolerances": {k: tolerances[k] for k in METRICS},
        "train": asdict(config.train),
        "bench_version": __version__,
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d"),
        "packages": provenance.get("packages", {}),
        "fingerprints": {"model": provenance.get("model"), "dataset": provenance.get("dataset"),
                         "evaluation": provenance.get("evaluation")},
    }


def _differences(record: dict[str, Any], entry: dict[str, Any], settings: list[str], overrides: list[str]) -> list[str]:
    """Why a run may legitimately differ from its baseline: other hyper-parameters, data, or packages."""
    notes = []
    hyper, base_hyper = record["job"]["hyperparameters"], entry.get("hyperparameters", {})
    changed = sorted(k for k in set(hyper) | set(base_hyper) if hyper.get(k) != base_hyper.get(k))
    if changed:
        notes.append("hyper-parameters differ from the baseline's: " + ", ".join(
            f"{k}={hyper.get(k)!r} (baseline {base_hyper.get(k)!r})" for k in changed))
    used = [o for o in overrides if o.split("=", 1)[0].strip() not in NOT_SETTINGS]
    if used:
        notes.append(f"run with overrides {' '.join(used)} on top of the baseline's settings {' '.join(settings)}")
    provenance = record["provenance"]
    if entry.get("fingerprints", {}).get("dataset") not in (None, provenance.get("dataset")):
        notes.append("the gym's training data differ from the baseline's (gym settings or generator changed); "
                     "regenerate the baseline if that was intended")
    packages, base_packages = provenance.get("packages", {}), entry.get("packages", {})
    moved = sorted(k for k in ("python", "torch", "transformers", "numpy")
                   if k in base_packages and packages.get(k) != base_packages[k])
    if moved:
        notes.append("packages differ from the baseline's (" + ", ".join(
            f"{k} {packages.get(k)} vs {base_packages[k]}" for k in moved) + "): small deviations are expected")
    return notes


__all__ = ["BASELINES", "METRICS", "SETTINGS", "TOLERANCES", "MethodRegress", "MetricComparison",
           "RegressReport", "allowed_deviation", "compare", "load_baselines", "regress"]
