"""``bench report frontier``: every objective's reward-KL curve on the gym, ranked by its distance to the optimum.

Each objective is trained at five strengths (its paper default times :data:`STRENGTH_FACTORS`) over
several seeds with ``bench run`` (finished jobs are reused, a killed report resumes), and the report
writes ``docs/frontier.md``: the command, the compute it took, one panel per objective with its curve,
the optimal frontier and best-of-n, and a ranking by mean regret against the frontier with the best gold
reward reached at KL <= 1, 3 and 10 nats, every figure with its 95% interval over seeds
(:mod:`bench.runner.frontier_curves`).

The strength (:mod:`bench.runner.strength`) is the parameter that sets how far an objective may move from
where it starts; objectives without one (SFT, SimPER, the causal objectives) are trained at their
defaults only and appear as one point. Forty objectives at five strengths and three seeds are more
than a CPU trains in an hour, so the objectives are split into studies of about ten each.
"""

from __future__ import annotations

import datetime
import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from bench import __version__, atomic
from bench.config import RunConfig, build_config
from bench.errors import BenchError
from bench.gym.frontier import Frontier, frontier_reward, stored_frontiers
from bench.leaderboards.render import FRONTIER_FILE
from bench.leaderboards.table import REFERENCE_METHOD, load_results
from bench.runner.frontier_curves import CurvePoint, CurveSummary, summarise
from bench.runner.run import run
from bench.runner.strength import strength_default, strength_parameter

STRENGTH_FACTORS = (0.5, 1.0, 2.0, 4.0, 8.0)
"""Multiples of the default strength. The default leaderboard's objectives mostly run far from the
reference (KL 2-400 nats at lr 1e-3), so the grid reaches further towards strong regularisation."""
KL_BUDGETS = (1.0, 3.0, 10.0)
OUT_OF_RANGE = "‡"
"""Marks a regret computed from a curve with no point in the frontier's valid range."""
KEYS_FILE = "comparability_key.json"
"""The benchmark a study's runs published, so that the report reads those rows only."""


@dataclass(frozen=True)
class FrontierStudy:
    name: str
    methods: tuple[str, ...]


STUDIES = (
    FrontierStudy("dpo", ("dpo", "dpo_shift", "ipo", "cdpo", "robust_dpo", "hinge", "exo_pair", "discopop",
                          "beta_dpo", "aot", "tr_dpo", "wpo")),
    FrontierStudy("length-token-divergence", ("ld_dpo", "rdpo", "dpo_norm", "tdpo1", "tdpo2", "fpo",
                                              "fdpo_forward_kl", "fdpo_js", "fdpo_alpha")),
    FrontierStudy("reference-free-anchored", ("simpo", "alphapo", "simper", "orpo", "slic", "sft", "apo_zero",
                                              "apo_down", "nca_pair", "bco_pair", "sppo_hard")),
    FrontierStudy("reward-outcome-online", ("kto", "rpo_sq", "rpo_bwd_kl", "rpo_fwd_kl", "rpo_sq_online",
                                            "rpo_bwd_kl_online", "rpo_fwd_kl_online", "rloo", "causal_po",
                                            "dr_causal_po", "outcome_po")),
)


def studies_named(names: Sequence[str]) -> list[FrontierStudy]:
    """The studies called ``names`` (all when empty); an unknown name is a one-line error listing the valid ones."""
    known = {study.name: study for study in STUDIES}
    unknown = [name for name in names if name not in known]
    if unknown:
        raise BenchError(f"--study {unknown[0]}: no such frontier study; use one of {', '.join(known)}")
    return [known[name] for name in names] if names else list(STUDIES)


def strength_overrides(methods: Sequence[str], factor: float) -> tuple[list[str], list[str]]:
    """(the methods trained at ``factor``, their ``methods.NAME.PARAM=VALUE`` overrides)."""
    chosen, overrides = [], []
    for method in methods:
        strength = strength_default(method)
        if strength is None and factor != 1.0:
            continue
        chosen.append(method)
        if strength is not None:
            overrides.append(f"methods.{method}.{strength[0]}={strength[1] * factor:.6g}")
    return chosen, overrides


class FrontierReport:
    """Runs the studies' sweeps into ``root/<study>`` and writes the report from what the stores hold."""

    def __init__(self, root: Path, seeds: Sequence[int], overrides: Sequence[str] = (),
                 say: Callable[[str], None] = print) -> None:
        if len(seeds) < 2:
            raise BenchError(f"--seeds: give at least 2 seeds (got {len(seeds)}); intervals need them")
        self.root, self.seeds, self.overrides, self.say = Path(root), tuple(seeds), tuple(overrides), say

    def store(self, study: FrontierStudy) -> Path:
        return self.root / study.name

    def run_study(self, study: FrontierStudy) -> None:
        keys = set()
        for factor in STRENGTH_FACTORS:
            methods, strengths = strength_overrides(study.methods, factor)
            overrides = [f"method={','.join(methods)}", f"seed={','.join(map(str, self.seeds))}",
                         f"store={self.store(study)}", "progress=false", *strengths, *self.overrides]
            self.say(f"[frontier {study.name} x{factor:g}] bench run {' '.join(overrides)}")
            keys.add(run(build_config(overrides), say=self.say).comparability_key)
        if len(keys) != 1:
            raise BenchError(f"frontier study {study.name}: its runs published {len(keys)} benchmarks; the strength "
                             f"overrides must not change the comparability key")
        atomic.write_json(self.store(study) / KEYS_FILE, {"comparability_key": keys.pop()})

    def results(self, study: FrontierStudy) -> tuple[pd.DataFrame, Frontier] | None:
        """The rows of the study's last run and the gym frontier of its benchmark; None before it has run."""
        path = self.store(study) / KEYS_FILE
        if not path.is_file():
            return None
        key = json.loads(path.read_text())["comparability_key"]
        rows = load_results(self.store(study))
        rows = rows[rows["comparability_key"] == key]
        frontier = stored_frontiers(self.store(study), FRONTIER_FILE).get(key)
        if frontier is None:
            raise BenchError(f"{self.store(study)}: no gym frontier for benchmark {key}; re-run "
                             f"`bench report frontier --study {study.name}`")
        return rows, frontier

    @staticmethod
    def summaries(curves: dict[str, dict[int, list[CurvePoint]]], reference: dict[int, float],
                  frontier: Frontier) -> list[CurveSummary]:
        """Every curve's summary against ``frontier``, best first (:func:`_ranking_key`)."""
        def on_frontier(xs: np.ndarray) -> np.ndarray:
            return np.asarray(frontier_reward(frontier.table, xs), dtype=np.float64)

        return sorted((summarise(method, by_seed, reference, on_frontier, frontier.kl_max, KL_BUDGETS)
                       for method, by_seed in curves.items()), key=_ranking_key)

    def section(self, study: FrontierStudy, out: Path) -> str:
        """The study's part of the report written to ``out``; its figure is ``<out stem>_<study>.png`` beside it."""
        command = " ".join(["bench report frontier", *self.overrides, f"--study {study.name}",
                            f"--seeds {','.join(map(str, self.seeds))}", f"--root {self.root}", f"--out {out}"])
        loaded = self.results(study)
        if loaded is None:
            return f"## Study {study.name}\n\nNot run yet: `{command}` ({', '.join(study.methods)}).\n"
        rows, frontier = loaded
        from bench.runner.frontier_plot import plot_curves

        curves = {m: curve_points(rows, m) for m in study.methods if (rows["method"] == m).any()}
        reference = _reference_by_seed(rows)
        summaries = self.summaries(curves, reference, frontier)
        figure = plot_curves(study.name, {s.method: curves[s.method] for s in summaries}, reference, frontier,
                             out.parent / f"{out.stem}_{study.name}.png")
        cost = _hours(rows)
        strengths = ", ".join(f"{m}.{strength_parameter(m) or '(none)'}" for m in study.methods if m in curves)
        missing = [m for m in study.methods if m not in curves]
        not_run = (f" Not in these runs (added to the study after they ran; the command above trains them): "
                   f"{', '.join(missing)}." if missing else "")
        return (f"## Study {study.name}\n\n`{command}`: {len(rows)} runs, {cost:.2f} CPU-hours of training and "
                f"evaluation as the runs recorded them. Strengths swept: {strengths}; factors "
                f"{', '.join(f'{f:g}' for f in STRENGTH_FACTORS)} of each default.{not_run} {frontier.note()}.\n\n"
                f"![reward-KL curves of study {study.name}]({_relative(figure, out.parent)})\n\n"
                + ranking_table(summaries, frontier.kl_max) + "\n")

    def write(self, studies: Sequence[FrontierStudy], out: Path) -> Path:
        out = Path(out)
        header = (f"# Reward-KL curves: every objective against the optimal frontier\n\n"
                  f"Written by `bench report frontier` (bench {__version__}, seeds {', '.join(map(str, self.seeds))}"
                  f"{', overrides ' + ' '.join(self.overrides) if self.overrides else ''}) on "
                  f"{datetime.date.today().isoformat()}. {_explanation(build_config(list(self.overrides)))}\n")
        sections = [self.section(study, out) for study in studies]
        atomic.write_text(out, header + "\n" + "\n".join(sections))
        return out


def _explanation(config: RunConfig) -> str:
    factors = ", ".join(f"{f:g}" for f in STRENGTH_FACTORS)
    return (
        f"Each objective is trained at five strengths (its default times {factors}) with the same budget "
        f"({config.train.steps} steps at lr {config.train.lr:g} on a gym of {config.gym.train_prompts} training "
        "prompts), over seeds; each panel shows the objective's mean (KL, gold reward) per strength with the "
        "optimal KL-regularised policy's frontier and best-of-n from the reference. The ranking is by **mean "
        "regret**: the average over KL in [0, K] of the frontier's reward minus the best reward the objective "
        "reaches at that KL or below (its envelope; the reference itself at KL 0), K being the largest KL the "
        "frontier estimate is valid at. **best @ KL <= b** is the best gold reward the curve reaches within b nats "
        "(the reference's when no point is that close). Each figure is a mean over seeds with its 95% Student-t "
        "interval, computed seed by seed from that seed's curve.")


def curve_points(rows: pd.DataFrame, method: str) -> dict[int, list[CurvePoint]]:
    """Per seed, ``method``'s (strength, KL, gold reward) points, ordered by strength."""
    parameter = strength_parameter(method)
    by_seed: dict[int, list[CurvePoint]] = {}
    for _, row in rows[rows["method"] == method].iterrows():
        strength = json.loads(row["hyperparameters"]).get(parameter, math.nan) if parameter else math.nan
        by_seed.setdefault(int(row["seed"]), []).append(
            CurvePoint(float(strength), float(row["kl"]), float(row["gold_reward"])))
    return {seed: sorted(points, key=lambda p: p.strength) for seed, points in sorted(by_seed.items())}


def _ranking_key(summary: CurveSummary) -> tuple:
    """Lowest mean regret first; where regrets tie (curves that never come within the frontier's valid range
    reach only the reference there), the best reward within the largest KL budget, then the smaller ones."""
    def descending(value: float) -> float:
        return -value if math.isfinite(value) else math.inf

    regret = summary.regret.mean
    return (not math.isfinite(regret), round(regret, 6) if math.isfinite(regret) else 0.0,
            *(descending(summary.best_at[b].mean) for b in sorted(summary.best_at, reverse=True)))


def ranking_table(summaries: Sequence[CurveSummary], kl_range: float) -> str:
    budgets = " | ".join(f"best @ KL <= {b:g}" for b in KL_BUDGETS)
    lines = [f"| rank | objective | mean regret over [0, {kl_range:.2f}] | {budgets} |",
             "|---|---|---|" + "---|" * len(KL_BUDGETS)]
    for rank, summary in enumerate(summaries, start=1):
        cells = " | ".join(summary.best_at[b].text() for b in KL_BUDGETS)
        mark = "" if summary.reaches_range else f" {OUT_OF_RANGE}"
        lines.append(f"| {rank} | {summary.method} | {summary.regret.text(3)}{mark} | {cells} |")
    if not all(summary.reaches_range for summary in summaries):
        lines.append(f"\n{OUT_OF_RANGE} No point of this curve lies within [0, {kl_range:.2f}]: its regret is the "
                     "reference's own and does not rank the objective; such rows are ordered by the KL budgets.")
    return "\n".join(lines)


def _reference_by_seed(rows: pd.DataFrame) -> dict[int, float]:
    reference = rows[rows["method"] == REFERENCE_METHOD]
    return {int(seed): float(group["gold_reward"].mean()) for seed, group in reference.groupby("seed")}


def _hours(rows: pd.DataFrame) -> float:
    columns = [c for c in ("cost_train_seconds", "cost_eval_seconds") if c in rows.columns]
    return float(rows[columns].apply(pd.to_numeric, errors="coerce").sum().sum()) / 3600.0


def _relative(path: Path, start: Path) -> str:
    try:
        return path.resolve().relative_to(start.resolve()).as_posix()
    except ValueError:
        return path.resolve().as_posix()
