"""Leaderboard renderers: a compact Markdown table for people, a full-precision CSV for programs.

Both take the table of ONE comparability key (from :func:`bench.leaderboards.table.aggregate`) and
refuse a frame that mixes keys, so an incomparable number can never be printed next to another.
:func:`write_leaderboard` renders every key found in a results store into its own directory.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from tabulate import tabulate

from bench.atomic import write_text
from bench.errors import BenchError
from bench.evaluators.judge_quality import ACCURACY, POSITION_BIAS, is_judge_quality, untrustworthy
from bench.fingerprint import fingerprint
from bench.leaderboards.table import (
    CI_HIGH,
    CI_LOW,
    LC_WIN_RATE_SUFFIX,
    REFERENCE_METHOD,
    REGRET,
    REGRET_IS_BOUND,
    RewardFrontier,
    add_regret,
    aggregate,
    aggregate_key,
    load_results,
    primary_metric,
    selector_grid,
    value_columns,
    win_rate_metrics,
)
from bench.markdown import cell

MARKDOWN_FILE = "leaderboard.md"
CSV_FILE = "leaderboard.csv"
FRONTIER_FILE = "frontier.json"
"""Where a gym run leaves its frontier in its table's directory of the store, for later rebuilds to find."""
NOT_AVAILABLE = "n/a"
FLAG = "⚠"
"""Marks the win rates of a judge whose held-out measurements say they are not evidence."""
REFERENCE_SUFFIX = "_reference"
GOLD_REWARD = "gold_reward"
HIDDEN_IN_MARKDOWN = ("kl_stderr", REGRET_IS_BOUND)
"""Shown in the CSV only: the Markdown table keeps one number per cell."""
LC_WEIGHTS = ("_lc_length_weight", "_lc_policy_weight")
"""The LC fit's weights per judge (:mod:`bench.evaluators.length_controlled`): in the CSV; the Markdown marks an LC
whose policy weight the penalty set to zero (:data:`SHRUNK`)."""
SHRUNK = "°"
NAMED_COLUMNS: dict[str, str] = {
    "kl": "KL (nats)",
    REGRET: "regret",
    "length": "length (words)",
    "length_gain": "length gain",
    "distinct_2_across": "distinct-2",
    "distinct_2_per_input": "distinct-2 (per input)",
}


def single_key_table(table: pd.DataFrame) -> pd.DataFrame:
    """The table if it holds exactly one comparability key, aggregated if it is still raw runs.

    This is the guard every renderer goes through: rows with different keys were produced with
    different models, data or evaluation settings, and printing them side by side invites comparing
    numbers that cannot be compared.
    """
    if "comparability_key" not in table.columns:
        raise BenchError("the table has no comparability_key column, so its rows cannot be shown to be "
                         "comparable; build it with bench.leaderboards.table.load_results/aggregate")
    if table.empty:
        raise BenchError("the leaderboard table is empty: there are no results to render")
    keys = sorted(set(table["comparability_key"].astype(str)))
    if len(keys) != 1:
        raise BenchError(f"refusing to render rows with different comparability keys ({', '.join(keys)}) in "
                         f"one table: their numbers are not comparable; render each table from aggregate() "
                         f"separately, or use write_leaderboard, which writes one leaderboard per key")
    return table if "n_seeds" in table.columns else aggregate_key(table)


def _decimals(series: pd.Series) -> int:
    """Decimals that give the column's largest value about three significant figures (at most six).

    One count per column keeps a column's numbers aligned and comparable by eye ("0.50" above "1.33",
    not "0.5" above "1.33").
    """
    numbers = pd.to_numeric(series, errors="coerce").to_numpy(dtype=float)
    numbers = np.abs(numbers[np.isfinite(numbers) & (numbers != 0)])
    if numbers.size == 0:
        return 2
    digits_before_point = math.floor(math.log10(numbers.max())) + 1
    return min(6, max(0, 3 - digits_before_point))


def _number(value: Any, decimals: int = 2) -> str:
    """A number for reading: fixed decimals, thousands separators, never scientific notation."""
    if value is None or pd.isna(value):
        return NOT_AVAILABLE
    x = float(value)
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    return f"{x:,.{decimals}f}"


def _number_column(series: pd.Series) -> list[str]:
    decimals = _decimals(series)
    return [_number(value, decimals) for value in series]


def win_rate_text(row: pd.Series, metric: str) -> str:
    """A win rate with its interval, one decimal: the text of the Markdown table and of the site's cells."""
    value = row.get(metric)
    if value is None or pd.isna(value):
        return NOT_AVAILABLE
    low, high = row.get(metric + CI_LOW), row.get(metric + CI_HIGH)
    if low is None or high is None or pd.isna(low) or pd.isna(high):
        return f"{float(value):.1f}"
    return f"{float(value):.1f} [{float(low):.1f}, {float(high):.1f}]"


def _regret_column(table: pd.DataFrame) -> list[str]:
    """Regret cells; "≥" where some seed's KL lies beyond the frontier, so the value is a lower bound."""
    cells = _number_column(table[REGRET])
    if REGRET_IS_BOUND not in table.columns:
        return cells
    bound = pd.to_numeric(table[REGRET_IS_BOUND], errors="coerce").fillna(0.0).to_numpy() > 0
    return [f"≥{cell}" if is_bound and cell != NOT_AVAILABLE else cell
            for cell, is_bound in zip(cells, bound, strict=True)]


def _percent_change(value: Any) -> str:
    if value is None or pd.isna(value):
        return NOT_AVAILABLE
    return f"{100.0 * float(value):+.1f}%"


def _judge_label(metric: str, suffix: str) -> str:
    return metric[: -len(suffix)].rstrip("_") if metric.endswith(suffix) else metric


def _judges(win_rates: list[str]) -> list[str]:
    """The judges behind the table's win-rate columns (``gold`` of ``gold_win_rate`` and ``gold_lc_win_rate``)."""
    return list(dict.fromkeys(_judge_label(m, "win_rate").removesuffix("_lc") for m in win_rates))


def _judge_quality(table: pd.DataFrame) -> dict[str, float]:
    """The reference row's judge-quality metrics (:mod:`bench.evaluators.judge_quality`), measured once per table."""
    reference = table[table["method"] == REFERENCE_METHOD]
    if reference.empty:
        return {}
    row = reference.iloc[0]
    return {c: float(row[c]) for c in table.columns if is_judge_quality(str(c)) and pd.notna(row[c])}


def _judges_markdown(quality: dict[str, float], flags: dict[str, str]) -> list[str]:
    """The judges section: held-out accuracy and position bias per judge, and how far every two agree."""
    judges = sorted({c.rsplit(f"_{ACCURACY}", 1)[0] for c in quality if c.endswith(ACCURACY)})
    if not judges:
        return []
    rows = [[cell(judge), f"{quality[f'{judge}_{ACCURACY}']:.1f} [{quality[f'{judge}_{ACCURACY}_ci_low']:.1f}, "
                          f"{quality[f'{judge}_{ACCURACY}_ci_high']:.1f}]",
             f"{quality[f'{judge}_{POSITION_BIAS}']:.1f}", f"{FLAG} not evidence" if judge in flags else "ok"]
            for judge in judges]
    lines = ["", "## Judges, on the held-out pairs", "",
             tabulate(rows, headers=["judge", "accuracy % [95% CI]", "position bias %", "verdict"], tablefmt="pipe",
                      disable_numparse=True, colalign=["left", "right", "right", "left"]),
             "", "accuracy: how often the judge prefers the held-out pair's chosen response (50 is chance); position "
                 "bias: how often its verdict flips when the two answers swap places."]
    pairs = [c.removeprefix("agreement_") for c in quality if c.startswith("agreement_")]
    if pairs:
        agreement = [[cell(pair.replace("_vs_", " vs ")), f"{quality['agreement_' + pair]:.1f}",
                      _number(quality.get("kappa_" + pair, math.nan), 3)] for pair in pairs]
        lines += ["", tabulate(agreement, headers=["judges", "agreement %", "Cohen's kappa"], tablefmt="pipe",
                               disable_numparse=True, colalign=["left", "right", "right"])]
    return lines


def _hyperparameter_text(blob: Any) -> str:
    try:
        values = json.loads(str(blob))
    except json.JSONDecodeError:
        return str(blob)
    if not isinstance(values, dict) or not values:
        return "-" if values == {} else str(values)
    return ", ".join(f"{key}={value}" for key, value in values.items())


def _constant(series: pd.Series) -> bool:
    numbers = pd.to_numeric(series, errors="coerce").dropna().to_numpy(dtype=float)
    return numbers.size == 0 or bool(np.allclose(numbers, numbers[0], rtol=1e-9, atol=1e-12))


def _varies(table: pd.DataFrame, column: str, within: list[str]) -> bool:
    if column not in table.columns or len(table) < 2:
        return False
    return bool((table.groupby(within, dropna=False)[column].nunique(dropna=False) > 1).any())


def _grid_markdown(table: pd.DataFrame, metric: str) -> list[str]:
    """The objective x selector grid of ``metric`` (mean [95% CI]) as Markdown lines; none for one selector."""
    grid = selector_grid(table, metric)
    if grid is None:
        return []
    selectors = [c for c in grid.columns[4:] if not c.endswith((CI_LOW, CI_HIGH))]
    repeated = grid["method"].duplicated(keep=False)
    labels = [f"{method} ({_hyperparameter_text(hp)}, {reduction}, {steps} steps)" if again else method
              for method, hp, reduction, steps, again in zip(grid["method"], grid["hyperparameters"],
                                                             grid["reduction"], grid["steps"], repeated, strict=True)]
    cells = [[label] + ["-" if pd.isna(row[column]) else win_rate_text(row, column) for column in selectors]
             for label, (_, row) in zip(labels, grid.iterrows(), strict=True)]
    body = tabulate([[cell(value) for value in row] for row in cells], headers=["method", *map(cell, selectors)],
                    tablefmt="pipe", disable_numparse=True,
                    colalign=["left"] + ["right"] * len(selectors))
    label = _judge_label(metric, "win_rate")
    return ["", f"## Objective x selector: {label + ' ' if label else ''}WR [95% CI]", "", body, "",
            "Each cell is the row of the table above for that method under that selector (seeds aggregated the "
            "same way); - where the method did not run under the selector (on-policy and native-data objectives "
            "run under all only)."]


def _shrunk(table: pd.DataFrame, metric: str) -> pd.Series:
    """Per row, whether ``metric`` is an LC win rate whose fit's policy weight is 0 (the penalty's doing)."""
    weight = metric.removesuffix("win_rate") + "policy_weight"
    if not metric.endswith(LC_WIN_RATE_SUFFIX) or weight not in table.columns:
        return pd.Series(False, index=table.index)
    return table[weight].eq(0.0)


def to_markdown(table: pd.DataFrame) -> str:
    """A compact human leaderboard of one comparability key, with a provenance header and notes.

    Win rates print as "63.2 [58.1, 68.0]" (mean and 95% CI); rewards, KL, length and diversity
    follow, then any other metric present. Reference-side metrics that are the same on every row
    (the reference samples' reward and length) move to a note; standard errors, costs and identifiers
    are in the CSV.
    """
    table = single_key_table(table)
    first = table.iloc[0]
    values = value_columns(table)
    win_rates = win_rate_metrics(values)
    primary = primary_metric(table[table["method"] != REFERENCE_METHOD]) or next(iter(win_rates), None)
    win_rates = ([primary] if primary else []) + [m for m in win_rates if m != primary]
    ci_columns = {m + end for m in win_rates for end in (CI_LOW, CI_HIGH)}
    rewards = [c for c in values if c.endswith("_reward")]
    rewards.sort(key=lambda c: c != GOLD_REWARD)  # stable: gold first, the rest as reported

    def text(column: str) -> list[str]:
        return [str(value) or "-" for value in table[column]]

    columns: dict[str, list[str]] = {
        "rank": ["" if pd.isna(v) else str(int(v)) for v in table["rank"]],
        "method": text("method"),
        "selector": text("selector"),
        "reduction": text("reduction"),
    }
    trained = table["method"] != REFERENCE_METHOD
    unequal_budgets = "steps" in table.columns and table.loc[trained, "steps"].nunique(dropna=False) > 1
    if unequal_budgets:
        columns["steps"] = [str(v) if is_trained else "-" for v, is_trained in zip(table["steps"], trained,
                                                                                   strict=True)]
    if _varies(table, "hyperparameters", ["method", "selector", "reduction"]):
        columns["hyper-parameters"] = [_hyperparameter_text(v) for v in table["hyperparameters"]]
    if "grid" in table.columns and (table["grid"] > 0).any():
        columns["chosen (grid)"] = [f"{c} ({g})" if g else "-" for c, g in zip(table["chosen"], table["grid"],
                                                                              strict=True)]
    columns["seeds"] = [str(int(v)) for v in table["n_seeds"]]
    quality = _judge_quality(table)
    flags = {judge: reason for judge in _judges(win_rates) if (reason := untrustworthy(quality, judge))}
    shrunk_anywhere = False
    for metric in win_rates:
        label = _judge_label(metric, "win_rate")
        mark = FLAG if any(label.removesuffix("_lc") == judge for judge in flags) else ""
        shrunk = _shrunk(table, metric)
        shrunk_anywhere |= shrunk.any()
        columns[f"{label} WR{mark}" if label else "WR"] = [win_rate_text(row, metric) + (SHRUNK if is_shrunk else "")
                                                           for (_, row), is_shrunk in zip(table.iterrows(), shrunk,
                                                                                          strict=True)]
    for metric in rewards:
        columns[f"{_judge_label(metric, 'reward')} reward"] = _number_column(table[metric])
    shown = (set(win_rates) | ci_columns | set(rewards) | set(HIDDEN_IN_MARKDOWN) | set(quality)
             | {c for c in values if c.endswith(LC_WEIGHTS)})
    notes: list[str] = []
    for metric in [c for c in NAMED_COLUMNS if c in values] + values:
        if metric in shown or metric.startswith("cost_"):
            continue
        shown.add(metric)
        if metric.endswith(REFERENCE_SUFFIX) and _constant(table[metric]):
            known = table[metric].dropna()
            if len(known):
                notes.append(f"{metric} {_number_column(known)[0]}")
            continue
        header = NAMED_COLUMNS.get(metric, metric)
        if metric == "length_gain":
            columns[header] = [_percent_change(v) for v in table[metric]]
        elif metric == REGRET:
            columns[header] = _regret_column(table)
        else:
            columns[header] = _number_column(table[metric])

    text_columns = {"method", "selector", "reduction", "hyper-parameters", "chosen (grid)"}
    body = tabulate([[cell(value) for value in row] for row in zip(*columns.values(), strict=True)],
                    headers=[cell(name) for name in columns], tablefmt="pipe",
                    disable_numparse=True,
                    colalign=["left" if name in text_columns else "right" for name in columns])
    lines = [
        f"# Leaderboard `{first['comparability_key']}`",
        "",
        f"model `{first['model'] or NOT_AVAILABLE}` · dataset `{first['dataset'] or NOT_AVAILABLE}` · "
        f"evaluation `{first['evaluation'] or NOT_AVAILABLE}`",
        "",
        body,
        "",
        "WR: win rate (%) against the reference model's outputs, with its 95% CI: the paired bootstrap over "
        "prompts for one seed, the Student-t interval over seeds for several.",
    ]
    if primary:
        lines.append(f"Ranked by {primary}; the {REFERENCE_METHOD} row is not ranked.")
    if REGRET in columns:
        lines.append("regret: the optimal KL-regularised policy's gold reward at the row's KL (the gym's pi* "
                     "frontier) minus the row's gold reward, per seed then averaged; ≥ marks a lower bound "
                     "(some seed's KL lies beyond the frontier's valid range).")
    if unequal_budgets:
        lines.append("steps: the rows trained for different numbers of optimiser steps (on-policy objectives "
                     "stop at train.online_steps, their samples drawn during training), so their training "
                     "budgets are not equal.")
    if shrunk_anywhere:
        lines.append(f"{SHRUNK} the length-controlled fit's penalty set the policy's own term to 0 (in every seed): "
                     f"the LC win rate is the prompt terms' alone, which says the data cannot show an effect, not "
                     f"that there is none; the raw win rate and its interval are the evidence there.")
    if notes:
        lines.append(f"Same on every row (reference samples): {'; '.join(notes)}.")
    lines.extend(f"{FLAG} judge {judge}: {reason}: its win rates in this table are not evidence."
                 for judge, reason in flags.items())
    lines.append(f"Every column at full precision (standard errors, costs, job ids) is in {CSV_FILE}.")
    lines.extend(_judges_markdown(quality, flags))
    if primary:
        lines.extend(_grid_markdown(table, primary))
    return "\n".join(lines) + "\n"


def to_csv(table: pd.DataFrame) -> str:
    """Every column of one comparability key's table at full precision, for plots and further analysis."""
    table = single_key_table(table)
    return table.to_csv(index=False)


def key_directory(key: str) -> str:
    """A file-system-safe directory for ``key``, still unique when characters had to be replaced."""
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", key).strip("._") or "key"
    return safe if safe == key else f"{safe}-{fingerprint(key)[:8]}"


def write_leaderboard(store: Path, out_dir: Path, frontiers: Mapping[str, RewardFrontier] | None = None
                      ) -> list[Path]:
    """Render every comparability key under ``store`` to ``out_dir/<key>/leaderboard.{md,csv}``.

    Every table is rebuilt from all the records of its key in the store. A key with a frontier in
    ``frontiers`` (the gym's, :func:`bench.gym.frontier.stored_frontiers`) gets a ``regret`` column. Files
    are written atomically, so a reader never sees half a leaderboard. Returns the paths.
    """
    store, out_dir = Path(store), Path(out_dir)
    rows = load_results(store)
    for key, frontier in (frontiers or {}).items():
        rows = add_regret(rows, frontier, key=key)
    tables = aggregate(rows)
    if not tables:
        raise BenchError(f"no leaderboard to write: no metrics.json under {store}; run `bench run` first, "
                         f"or point at the results store it wrote")
    written: list[Path] = []
    for key, table in tables.items():
        directory = out_dir / key_directory(key)
        for name, text in ((MARKDOWN_FILE, to_markdown(table)), (CSV_FILE, to_csv(table))):
            write_text(directory / name, text)
            written.append(directory / name)
    return written


__all__ = ["CSV_FILE", "FRONTIER_FILE", "MARKDOWN_FILE", "key_directory", "single_key_table", "to_csv", "to_markdown",
           "write_leaderboard"]
