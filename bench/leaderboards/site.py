"""The published leaderboard as a self-contained static site: ``index.html`` and a page per configuration.

Everything a page needs is inside it (CSS, the sorting script, figures as data URIs), so the folder
works offline, from a file system or any static host. The pages are rendered with Jinja2 with
autoescaping on: every piece of user text (method names, hyper-parameters, prompts, outputs, judge
names) reaches the browser as text, never as markup. Figures are embedded as ``<img>`` data URIs,
which cannot run scripts whatever their content.
"""

from __future__ import annotations

import base64
import io
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from jinja2 import Environment, PackageLoader, select_autoescape

from bench.atomic import write_text
from bench.evaluators.judge_quality import is_judge_quality, untrustworthy
from bench.fingerprint import fingerprint
from bench.leaderboards.collect import STORE_COLUMN, PublishedTable, job_record
from bench.leaderboards.figures import new_figure
from bench.leaderboards.ranking import RANK_HIGH, RANK_LOW, TIED_GROUP, configuration_labels
from bench.leaderboards.render import LC_WEIGHTS, NAMED_COLUMNS, _judge_quality, _judges, win_rate_text
from bench.leaderboards.table import CI_HIGH, CI_LOW, GROUP_COLUMNS, REFERENCE_METHOD, value_columns, win_rate_metrics

INDEX_FILE = "index.html"
METHODS_DIRECTORY = "methods"
SAMPLES_SHOWN = 3
CURVE_KEYS = ("loss", "reward_accuracy", "reward_margin", "kl", "grad_norm")
"""Training-log series drawn on a configuration's page, where its log has them."""
EXPLANATIONS = {
    "rank": "Rank by the primary metric (1 = best); the reference row is not ranked.",
    "rank interval": "95% interval of the rank over redraws of seeds and prompts (bench.leaderboards.ranking).",
    "group": "Tied group: configurations no Holm-corrected test separates from the group's best share a number; "
             "group 1 holds the best (marked with a dagger).",
    "method": "The objective; its page has hyper-parameters, curves, samples and provenance.",
    "family": "The objective's family in the registry.",
    "selector": "The data selector that chose the training pairs (all: every pair).",
    "seeds": "Training seeds aggregated in the row.",
    "kl": "Mean KL(policy || reference) in nats, estimated from the policy's samples.",
    "regret": "Gold reward of the optimal KL-regularised policy at the row's KL minus the row's gold reward.",
    "length": "Mean response length in words.",
    "length_gain": "Relative change of the mean length against the reference's samples.",
}
WIN_RATE_EXPLANATION = ("Win rate (%) against the reference outputs under judge {judge}, ties half; the bar draws "
                        "its 95% interval on a 0-100 scale (the line marks 50): the paired bootstrap over prompts "
                        "for one seed, the Student-t interval over seeds for several.")


def _environment() -> Environment:
    return Environment(loader=PackageLoader("bench.leaderboards", "templates"),
                       autoescape=select_autoescape(["html", "j2"], default=True), keep_trailing_newline=True)


def data_uri(path: Path) -> str:
    kind = "image/svg+xml" if path.suffix == ".svg" else "image/png"
    return f"data:{kind};base64,{base64.b64encode(path.read_bytes()).decode('ascii')}"


def _number(value: Any) -> tuple[str, str]:
    """(shown text, sort value) of a number; missing values sort last."""
    try:
        x = float(value)
    except (TypeError, ValueError):
        return "n/a", ""
    if not math.isfinite(x):
        return "n/a", ""
    return (f"{x:.3g}" if abs(x) < 1000 else f"{x:,.0f}"), repr(x)


def _text_cell(text: Any, cls: str = "text", link: str | None = None) -> dict[str, Any]:
    text = "" if text is None or (isinstance(text, float) and math.isnan(text)) else str(text)
    return {"text": text or "-", "sort": text, "cls": cls, "link": link, "bar": None}


def _win_rate_cell(row: pd.Series, metric: str) -> dict[str, Any]:
    value, low, high = (row.get(metric), row.get(metric + CI_LOW), row.get(metric + CI_HIGH))
    text, sort = _number(value)
    cell = {"text": text, "sort": sort, "cls": "", "link": None, "bar": None}
    if sort and low is not None and high is not None and pd.notna(low) and pd.notna(high):
        clip = [min(100.0, max(0.0, float(v))) for v in (value, low, high)]
        cell["text"] = win_rate_text(row, metric)
        cell["bar"] = {"mean": f"{clip[0]:.2f}", "low": f"{clip[1]:.2f}", "width": f"{clip[2] - clip[1]:.2f}",
                       "high": f"{clip[2]:.2f}"}
    return cell


def _columns(published: PublishedTable) -> tuple[list[str], list[str]]:
    """The win rates (primary first) and the other metrics a table shows."""
    table = published.table
    values = [c for c in value_columns(table) if not c.endswith((CI_LOW, CI_HIGH)) and not c.startswith("cost_")
              and not is_judge_quality(c) and not c.endswith(LC_WEIGHTS)
              and c not in (RANK_LOW, RANK_HIGH, TIED_GROUP, "kl_stderr", "regret_is_bound", "selection_score")]
    win_rates = win_rate_metrics(values)
    if published.primary in win_rates:
        win_rates = [published.primary] + [m for m in win_rates if m != published.primary]
    others = [c for c in values if c not in win_rates and table[c].notna().any()]
    return win_rates, others


def page_name(label: str) -> str:
    """A file name for a configuration's page (safe on any file system, unique per label)."""
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in label)[:60].strip("._") or "method"
    return f"{safe}-{fingerprint(label)[:8]}.html"


def _flags(published: PublishedTable, win_rates: list[str]) -> list[str]:
    """The judges whose held-out checks distrust them, as the Markdown leaderboard flags them."""
    quality = _judge_quality(published.table)
    return [f"judge {judge}: {reason}: its win rates in this table are not evidence"
            for judge in _judges(win_rates) if (reason := untrustworthy(quality, judge))]


def table_context(published: PublishedTable, figures: list[tuple[Path, str]]) -> dict[str, Any]:
    """What index.html shows of one table (the template only lays it out)."""
    table = published.table
    win_rates, others = _columns(published)
    labels = configuration_labels(table)
    has_family = "family" in table and table["family"].astype(str).str.len().gt(0).any()
    columns = [("rank", "rank", False), ("rank interval", "rank interval", False), ("group", "group", False),
               ("method", "method", True)]
    columns += [("family", "family", True)] if has_family else []
    columns += [("selector", "selector", True), ("seeds", "seeds", False)]
    columns += [(m, f"{m.removesuffix('_win_rate')} WR", False) for m in win_rates]
    columns += [(c, NAMED_COLUMNS.get(c, c), False) for c in others]
    rows = []
    for _, row in table.iterrows():
        label = labels[tuple(row[c] for c in GROUP_COLUMNS)]
        link = f"{METHODS_DIRECTORY}/{published.directory}/{page_name(label)}"
        interval = ("" if pd.isna(row.get(RANK_LOW)) else f"{int(row[RANK_LOW])}-{int(row[RANK_HIGH])}")
        cells = [_text_cell("" if pd.isna(row["rank"]) else int(row["rank"]), ""),
                 {**_text_cell(interval, ""), "sort": "" if not interval else str(row[RANK_LOW])},
                 _text_cell("" if pd.isna(row.get(TIED_GROUP)) else int(row[TIED_GROUP]), ""),
                 _text_cell(label, "text method", link)]
        cells += [_text_cell(row.get("family"))] if has_family else []
        cells += [_text_cell(row["selector"]), _text_cell(row["n_seeds"], "")]
        cells += [_win_rate_cell(row, m) for m in win_rates]
        for column in others:
            text, sort = _number(row.get(column))
            cells.append({"text": text, "sort": sort, "cls": "", "link": None, "bar": None})
        cls = ("reference" if row["method"] == REFERENCE_METHOD
               else "tied" if row.get(TIED_GROUP) == 1 and row.get("rank") != 1 else "")
        rows.append({"cls": cls, "cells": cells})
    provenance = published.provenance()
    first = table.iloc[0]
    explained = [{"label": label, "text": text, "explanation": EXPLANATIONS.get(name) or (
        WIN_RATE_EXPLANATION.format(judge=name.removesuffix("_win_rate")) if name in win_rates
        else f"{name}: mean over seeds of the metric its evaluator reports.")} for name, label, text in columns]
    return {"key": published.key, "anchor": published.directory, "model": first["model"], "dataset": first["dataset"],
            "evaluation": first["evaluation"], "judges": ", ".join(sorted(provenance.get("judges") or {})),
            "primary": published.primary, "flags": _flags(published, win_rates), "columns": explained, "rows": rows,
            "figures": [{"src": data_uri(path), "caption": caption} for path, caption in figures],
            "comparisons": [vars(c) | {"significant": c.significant} for c in published.comparisons]}


def _curves(runs: pd.DataFrame) -> str | None:
    """A data URI of the configuration's training curves (one line per seed), or None without logs."""
    logs = {}
    for _, run in runs.iterrows():
        path = Path(run[STORE_COLUMN]) / Path(str(run["path"])).parent / "train_log.jsonl"
        try:
            lines = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
        except (OSError, json.JSONDecodeError):
            continue
        if lines:
            logs[int(run["seed"])] = pd.DataFrame(lines)
    series = [key for key in CURVE_KEYS if any(key in log for log in logs.values())]
    if not series:
        return None
    figure = new_figure(4.0 * len(series), 3.2)
    for i, key in enumerate(series):
        axes = figure.add_subplot(1, len(series), i + 1)
        for seed, log in sorted(logs.items()):
            if key in log:
                axes.plot(log["step"], log[key], label=f"seed {seed}", linewidth=1.0)
        axes.set_title(key, fontsize=9)
        axes.set_xlabel("step", fontsize=8)
        axes.grid(True, alpha=0.3)
    figure.axes[0].legend(fontsize=7)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="svg")
    return f"data:image/svg+xml;base64,{base64.b64encode(buffer.getvalue()).decode('ascii')}"


def _outputs(path: Path) -> dict[str, str]:
    try:
        rows = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return {}
    return {str(r.get("instruction")): str(r.get("output")) for r in rows if isinstance(r, dict)}


def _samples(runs: pd.DataFrame, directory: str) -> list[dict[str, str]]:
    first = runs.sort_values("seed").iloc[0]
    store = Path(first[STORE_COLUMN])
    outputs = _outputs(store / Path(str(first["path"])).parent / "model_outputs.json")
    reference = _outputs(store / directory / "reference_outputs.json")
    return [{"instruction": instruction, "output": output, "reference": reference.get(instruction, "(none)")}
            for instruction, output in list(outputs.items())[:SAMPLES_SHOWN]]


def _config_text(runs: pd.DataFrame) -> str:
    """The resolved configuration the first seed ran with (its job directory's config.yaml)."""
    first = runs.sort_values("seed").iloc[0]
    path = Path(first[STORE_COLUMN]) / Path(str(first["path"])).parent / "config.yaml"
    try:
        return path.read_text()
    except OSError:
        return "(not in the store)"


def method_pages(published: PublishedTable) -> dict[str, str]:
    """Relative path -> HTML of every configuration's page of one table."""
    environment = _environment()
    template = environment.get_template("method.html.j2")
    labels = configuration_labels(published.table)
    pages = {}
    for _, row in published.table.iterrows():
        group = tuple(row[c] for c in GROUP_COLUMNS)
        label = labels[group]
        runs = published.runs[np.logical_and.reduce([published.runs[c] == v for c, v in zip(GROUP_COLUMNS, group,
                                                                                               strict=True)])]
        if runs.empty:
            continue
        record = job_record(runs.iloc[0]) or {}
        metrics = [(name, _number(row[name])[0]) for name in value_columns(published.table) if name in row.index
                   and pd.notna(row[name])]
        pages[f"{METHODS_DIRECTORY}/{published.directory}/{page_name(label)}"] = template.render(
            label=label, key=published.key, anchor=published.directory, family=row.get("family", ""),
            seeds=row["seeds"], jobs=list(runs["job_id"]),
            hyperparameters=json.dumps(json.loads(str(row["hyperparameters"]) or "{}"), indent=2),
            metrics=metrics, curves=_curves(runs), samples=_samples(runs, published.directory),
            config=_config_text(runs),
            provenance=json.dumps(record.get("provenance", {}), indent=2, sort_keys=True, default=str),
            cost=json.dumps(record.get("cost", {}), indent=2, sort_keys=True, default=str))
    return pages


def write_site(out: Path, tables: list[tuple[PublishedTable, list[tuple[Path, str]]]], generated: dict[str, Any],
               title: str = "bench leaderboard") -> list[Path]:
    """Write index.html and every configuration's page under ``out``; the paths."""
    environment = _environment()
    index = environment.get_template("index.html.j2").render(
        title=title, generated=generated, tables=[table_context(t, figures) for t, figures in tables])
    written = [out / INDEX_FILE]
    write_text(out / INDEX_FILE, index)
    for published, _ in tables:
        for relative, html in method_pages(published).items():
            write_text(out / relative, html)
            written.append(out / relative)
    return written


__all__ = ["INDEX_FILE", "METHODS_DIRECTORY", "method_pages", "page_name", "table_context", "write_site"]
