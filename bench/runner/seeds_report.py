"""``bench report seeds``: each seed paper's comparison on the gym, over several seeds, with a verdict.

Four papers motivate this harness (FPO, RPO, causal PO, alignment-potential selection). For each,
this module names the claim, the arms that test it, and the checks that decide it
(:mod:`bench.leaderboards.verdicts`); runs every arm with ``bench run`` (so finished jobs are reused
and a killed report resumes); and writes ``docs/seeds.md`` from the results it finds: the claim, the
setting, per-arm means with 95% Student-t intervals over seeds, each check's evidence and a plain
verdict, whatever the outcome.

Peak memory is the one figure not taken from the runs themselves: in one process every job inherits
what earlier jobs left (caches, allocator pools), so the FPO study trains each method once more in a
fresh process (``eval.evaluators=[]``) and reads that process's peak (:mod:`bench.train.memory`).
"""

from __future__ import annotations

import datetime
import json
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from bench import __version__, atomic
from bench.config import build_config
from bench.errors import BenchError
from bench.evaluators.statistics import seed_aggregate
from bench.leaderboards.table import load_results
from bench.leaderboards.verdicts import Check, Outcome, claim_verdict, judge
from bench.runner.run import run

DEFAULT_SEEDS = (0, 1, 2)
WIN_RATE_MARGIN = 2.0
"""Non-inferiority margin for win rates, in points: about one paired-bootstrap standard error of one run."""
KEYS_FILE = "comparability_keys.json"
"""Per study, the benchmark each setting's last run published: the report reads that run's rows only (a
store can hold other benchmarks too, e.g. its jobs' earlier evaluations)."""
PEAK_MEMORY = "cost_train_peak_memory_mb"
SECONDS_PER_STEP = "cost_train_seconds_per_step"


@dataclass(frozen=True)
class Study:
    """One paper's comparison: which runs to make, what to show, and the checks that decide the claim."""

    name: str
    paper: str
    claim: str
    setting: str
    methods: tuple[str, ...]
    checks: tuple[Check, ...]
    columns: tuple[tuple[str, str], ...]
    """(metric, header) pairs shown per arm."""
    settings: dict[str, tuple[str, ...]] = field(default_factory=lambda: {"": ()})
    """Named groups of overrides, each one ``bench run`` (e.g. confounder off / on); "" when one suffices."""
    selectors: tuple[str, ...] = ()
    cost_probe: tuple[str, ...] = ()
    """Methods trained once more in a fresh process each, for their peak memory."""

    def arm(self, method: str, setting: str = "", selector: str = "") -> str:
        """The label rows and checks use: method, then /selector and @setting when the study has several."""
        return method + (f"/{selector}" if selector else "") + (f"@{setting}" if setting else "")


def _fpo() -> Study:
    return Study(
        name="fpo", paper="Yin et al. 2024, Direct Preference Optimization Using Sparse Feature-Level "
                          "Constraints (FPO, arXiv 2411.07618)",
        claim="FPO's gold win rate and diversity are at least TDPO-2's, with lower peak memory and less time "
              "per step than TDPO-2 (the paper: about 17% less GPU memory).",
        setting="Default gym (768 training pairs, 100 steps, lr 1e-3); FPO with the gym's own SAE (residual "
                "stream, documented layer) and default beta 0.1, alpha 0.5, k 50; DPO, SimPO, TDPO-1/2 at their "
                "defaults. Peak memory: each method trained once more in a fresh process, seed 0.",
        methods=("fpo", "dpo", "simpo", "tdpo1", "tdpo2"),
        checks=(Check("at_least", "fpo", "tdpo2", "gold_win_rate", WIN_RATE_MARGIN),
                Check("at_least", "fpo", "tdpo2", "distinct_2_per_input", 0.01),
                Check("below", "fpo", "tdpo2", PEAK_MEMORY),
                Check("below", "fpo", "tdpo2", SECONDS_PER_STEP)),
        columns=(("gold_win_rate", "gold WR"), ("kl", "KL"), ("distinct_2_per_input", "distinct-2"),
                 ("ead_per_input", "EAD"), ("entropy", "entropy"), (SECONDS_PER_STEP, "s/step"),
                 (PEAK_MEMORY, "peak MB (fresh process)")),
        cost_probe=("fpo", "dpo", "simpo", "tdpo1", "tdpo2"))


def _rpo() -> Study:
    online = ("rpo_sq_online", "rloo")  # the other two online distances cost as much and add no new question
    checks = [Check("at_least", f"{m}@k={k}", f"dpo@k={k}", "gold_win_rate", WIN_RATE_MARGIN)
              for k in (2, 4) for m in ("rpo_sq", "rpo_fwd_kl", "rpo_bwd_kl")]
    checks += [Check("at_least", f"{m}@k=4", f"{m}@k=2", "gold_win_rate", WIN_RATE_MARGIN)
               for m in ("rpo_sq", "rpo_bwd_kl", "rpo_sq_online")]
    return Study(
        name="rpo", paper="Sun et al. 2025, Reward-aware Preference Optimization (arXiv 2502.00203)",
        claim="Matching the policy's implicit reward gaps to explicit score gaps (RPO) does at least as well as "
              "DPO on the same scored data, and more responses per prompt (k = 4) at least as well as k = 2.",
        setting="Default gym with the scored k-wise rows as the training pool (`data.gym_pool=kwise`, annotator "
                "scores with noise): DPO trains on the best-vs-worst pair of each row, the offline RPO variants "
                "on all k responses; rpo_sq_online and RLOO sample k responses per prompt from the policy and "
                "score them with the annotator (50 steps). k = 2 keeps the first two responses of each row.",
        methods=("dpo", "rpo_sq", "rpo_fwd_kl", "rpo_bwd_kl", *online),
        settings={f"k={k}": ("data.gym_pool=kwise", f"data.kwise_k={k}", *(f"methods.{m}.k={k}" for m in online))
                  for k in (2, 4)},
        checks=tuple(checks),
        columns=(("gold_win_rate", "gold WR"), ("kl", "KL"), ("gold_reward", "gold reward"),
                 ("length_gain", "length gain")))


def _causal() -> Study:
    methods = ("causal_po", "dr_causal_po", "outcome_po")
    return Study(
        name="causal", paper="Lin, Ben-Michael, Morency 2024, Optimizing Language Models for Human Preferences "
                             "is a Causal Inference Problem (UAI)",
        claim="With an unobserved confounder in the outcomes, DR-CPO's gold reward is at least CPO's and varies "
              "less across seeds.",
        setting="The gym's outcome rows (each reference response with outcome = gold + s * U + noise, U an "
                "unobserved confounder correlated 0.7 with length); confounder off (s = 0) and on (s = 1). "
                "Uniform assignment design over the training texts; the outcome model is the harness's ridge "
                "regression on text features; X~ sampled from the reference.",
        methods=methods,
        settings={"confounder off": ("gym.annotator.confounder_strength=0.0",),
                  "confounder on": ("gym.annotator.confounder_strength=1.0",)},
        checks=(Check("at_least", "dr_causal_po@confounder on", "causal_po@confounder on", "gold_reward", 0.05),
                Check("lower_variance", "dr_causal_po@confounder on", "causal_po@confounder on", "gold_reward")),
        columns=(("gold_reward", "gold reward"), ("gold_win_rate", "gold WR"), ("kl", "KL"),
                 ("length_gain", "length gain")))


def _selectors() -> Study:
    selectors = ("random", "explicit_margin", "implicit_margin", "alignment_potential")
    return Study(
        name="selectors", paper="Huang et al. 2025, alignment potential (arXiv 2503.01864)",
        claim="At an equal data budget, alignment_potential selection gives at least the gold win rate of "
              "random, explicit-margin and implicit-margin selection, for DPO and SimPO.",
        setting="Default gym pairs; each selector keeps 40% of the 768 pairs (ratio 0.4; alignment_potential "
                "w = 1); explicit margins from the gold reward r*, implicit margins from the reference model's "
                "length-normalised log-probs; 100 steps on the kept pairs.",
        methods=("dpo", "simpo"), selectors=selectors,
        checks=tuple(Check("at_least", f"{m}/alignment_potential", f"{m}/{s}", "gold_win_rate", WIN_RATE_MARGIN)
                     for m in ("dpo", "simpo") for s in selectors if s != "alignment_potential"),
        columns=(("gold_win_rate", "gold WR"), ("kl", "KL"), ("gold_reward", "gold reward")))


STUDIES: dict[str, Callable[[], Study]] = {"fpo": _fpo, "rpo": _rpo, "causal": _causal, "selectors": _selectors}


@dataclass
class SeedsReport:
    root: Path
    """Where each study's stores live (``<root>/<study>/<setting>``)."""
    seeds: tuple[int, ...] = DEFAULT_SEEDS
    overrides: tuple[str, ...] = ()
    say: Callable[[str], None] = print

    def store(self, study: Study, setting: str) -> Path:
        return self.root / study.name / (_slug(setting) or "runs")

    def run_study(self, study: Study) -> None:
        for setting, extra in study.settings.items():
            overrides = [f"method={','.join(study.methods)}", f"seed={','.join(map(str, self.seeds))}",
                         f"store={self.store(study, setting)}", "progress=false",
                         "workers=1",  # jobs one at a time: the cost columns (s/step) are timed without contention
                         *extra, *self.overrides]
            if study.selectors:
                overrides.append(f"selector={','.join(study.selectors)}")
            self.say(f"[{study.name}{' ' + setting if setting else ''}] bench run {' '.join(overrides)}")
            key = run(build_config(overrides), say=self.say).comparability_key
            atomic.write_json(self.root / study.name / KEYS_FILE, {**self.published_keys(study), setting: key})
        for method in study.cost_probe:
            self._probe(study, method)

    def published_keys(self, study: Study) -> dict[str, str]:
        path = self.root / study.name / KEYS_FILE
        return json.loads(path.read_text()) if path.is_file() else {}

    def results(self, study: Study, setting: str) -> pd.DataFrame | None:
        """The rows of the setting's last run; None when the setting has not been run."""
        key, store = self.published_keys(study).get(setting), self.store(study, setting)
        if key is None or not store.is_dir():
            return None
        rows = load_results(store)
        return rows[rows["comparability_key"] == key]

    def _probe(self, study: Study, method: str) -> None:
        """Train ``method`` once (seed 0, no evaluation) in a fresh process, for its peak memory."""
        store = self.root / study.name / "cost" / method
        if any(store.rglob("metrics.json")):
            return
        command = [sys.executable, "-m", "bench.cli", "run", f"method={method}", f"seed={self.seeds[0]}",
                   "eval.evaluators=[]", f"store={store}", "progress=false", *self.overrides]
        self.say(f"[{study.name} cost] {' '.join(command[2:])}")
        finished = subprocess.run(command, capture_output=True, text=True)
        if finished.returncode != 0:
            raise BenchError(f"cost probe for {method} failed (exit {finished.returncode}): "
                             f"{finished.stderr.strip().splitlines()[-1] if finished.stderr.strip() else 'no output'}")

    def arm_values(self, study: Study) -> dict[str, dict[str, dict[int, float]]]:
        """arm label -> metric -> seed -> value, from the study's stores (cost-probe memory folded in)."""
        values: dict[str, dict[str, dict[int, float]]] = {}
        several = len(study.settings) > 1
        for setting in study.settings:
            rows = self.results(study, setting)
            if rows is None:
                continue
            for row in rows.to_dict("records"):
                if row["method"] == "reference":
                    continue
                selector = str(row.get("selector") or "").partition(":")[0] if study.selectors else ""
                label = study.arm(row["method"], setting if several else "", selector)
                for metric, _ in study.columns:
                    if metric != PEAK_MEMORY and metric in row:
                        values.setdefault(label, {}).setdefault(metric, {})[int(row["seed"])] = float(row[metric])
        for method in study.cost_probe:
            store = self.root / study.name / "cost" / method
            if store.is_dir():
                for row in load_results(store).to_dict("records"):
                    if PEAK_MEMORY in row:
                        values.setdefault(method, {}).setdefault(PEAK_MEMORY, {})[int(row["seed"])] = \
                            float(row[PEAK_MEMORY])
        return values

    def compute_minutes(self, study: Study) -> float:
        """Training plus evaluation time summed over the study's jobs, as their metrics.json record it."""
        total = 0.0
        for setting in study.settings:
            rows = self.results(study, setting)
            if rows is not None:
                for column in ("cost_train_seconds", "cost_eval_seconds"):
                    if column in rows:
                        total += float(rows[column].fillna(0).sum())
        return total / 60

    def section(self, study: Study) -> str:
        values = self.arm_values(study)
        if not values:
            return f"## {study.name}\n\nNot run yet: `bench report seeds --study {study.name}`.\n"
        outcomes = [judge(check, values.get(check.a, {}).get(check.metric, {}),
                          values.get(check.b, {}).get(check.metric, {})) for check in study.checks]
        verdict = claim_verdict(outcomes)
        return "\n".join([
            f"## {study.name}: {study.paper}", "",
            f"**Claim.** {study.claim}", "",
            f"**Setting.** {study.setting} Compute: {self.compute_minutes(study):.1f} min of training and "
            f"evaluation summed over the study's jobs.", "",
            _arm_table(study, values), "",
            _check_table(outcomes), "",
            f"**Verdict: {verdict}.**", ""])

    def write(self, studies: Sequence[Study], out: Path) -> Path:
        header = (f"# The seed papers on the gym: claims, our numbers, verdicts\n\n"
                  f"Written by `bench report seeds` (bench {__version__}, seeds {', '.join(map(str, self.seeds))}"
                  f"{', overrides ' + ' '.join(self.overrides) if self.overrides else ''}) on "
                  f"{datetime.date.today().isoformat()}. Every cell is a mean over seeds with its 95% Student-t "
                  f"interval; differences between arms are paired by seed (same data order and sampling seed). "
                  f"Verdict rules (fixed in `bench/leaderboards/verdicts.py` before the runs): an \"at least\" "
                  f"check holds when the lower end of the difference's interval is above minus the margin, fails "
                  f"when its upper end is below zero; a \"below\" (cost) check holds when the upper end is below "
                  f"zero; a variance check is a one-sided F-test at 5%. A claim holds when all its checks hold and "
                  f"fails when any fails; anything else is inconclusive. With three seeds many checks are "
                  f"inconclusive; that is the honest reading, not a failure of the report.\n")
        atomic.write_text(out, header + "\n" + "\n".join(self.section(s) for s in studies))
        return out


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in text).strip("_")


def _cell(values: dict[int, float]) -> str:
    if not values:
        return "-"
    mean, low, high = seed_aggregate(list(values.values()))
    if len(values) == 1 or not pd.notna(low):
        return f"{mean:.3g}"
    return f"{mean:.3g} [{low:.3g}, {high:.3g}]"


def _arm_table(study: Study, values: dict[str, dict[str, dict[int, float]]]) -> str:
    header = "| arm | seeds | " + " | ".join(h for _, h in study.columns) + " |"
    rule = "|" + "---|" * (len(study.columns) + 2)
    lines = [header, rule]
    for label, metrics in values.items():
        seeds = sorted({s for per_seed in metrics.values() for s in per_seed})
        cells = [_cell(metrics.get(metric, {})) for metric, _ in study.columns]
        lines.append(f"| {label} | {len(seeds)} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _check_table(outcomes: list[Outcome]) -> str:
    lines = ["| check | evidence | verdict |", "|---|---|---|"]
    lines += [f"| {o.check.describe()} | {o.evidence} | {o.verdict} |" for o in outcomes]
    return "\n".join(lines)


def studies_named(names: Sequence[str]) -> list[Study]:
    """The studies to run, in the report's order; ``all`` (or nothing) means every one."""
    if not names or "all" in names:
        return [build() for build in STUDIES.values()]
    unknown = [n for n in names if n not in STUDIES]
    if unknown:
        raise BenchError(f"unknown study {unknown[0]!r}; studies: all, {', '.join(STUDIES)}")
    return [STUDIES[n]() for n in names]
