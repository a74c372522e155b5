"""LaTeX leaderboard tables (booktabs) that compile as written: a standalone document and the bare table.

Every win rate prints as mean and 95% interval; the best configuration is bold; a dagger marks every
configuration in its tied group (no Holm-corrected test separates it from the best, see
:mod:`bench.leaderboards.ranking`), and the rank column shows the 95% rank interval. All user text
(method names, hyper-parameters, keys) is escaped, so ``%``, ``&``, ``_`` or a backslash in a name
cannot break the document.
"""

from __future__ import annotations

import json
import math
import re

import pandas as pd

from bench.leaderboards.ranking import RANK_HIGH, RANK_LOW, TIED_GROUP
from bench.leaderboards.table import CI_HIGH, CI_LOW, REFERENCE_METHOD, win_rate_metrics

TABLE_FILE = "leaderboard_table.tex"
DOCUMENT_FILE = "leaderboard.tex"
OTHER_COLUMNS = {"kl": "KL (nats)", "length": "length", "gold_reward": "gold reward", "regret": "regret"}
"""Columns after the win rates, where the table has them."""
_SPECIAL = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_", "{": r"\{",
            "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}", "<": r"\textless{}",
            ">": r"\textgreater{}", "|": r"\textbar{}"}
_PATTERN = re.compile("|".join(re.escape(character) for character in _SPECIAL))


def escape(text: object) -> str:
    """``text`` safe in LaTeX's text mode; characters outside ASCII become '?' (pdflatex's default fonts lack them)."""
    escaped = _PATTERN.sub(lambda match: _SPECIAL[match.group(0)], str(text))
    return escaped.encode("ascii", "replace").decode("ascii")


def _interval(row: pd.Series, metric: str) -> str:
    value = row.get(metric)
    if value is None or pd.isna(value):
        return "--"
    low, high = row.get(metric + CI_LOW), row.get(metric + CI_HIGH)
    if low is None or high is None or pd.isna(low) or pd.isna(high):
        return f"{float(value):.1f}"
    return f"{float(value):.1f} {{\\scriptsize[{float(low):.1f}, {float(high):.1f}]}}"


def _number(value: object) -> str:
    try:
        x = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return "--"
    return "--" if not math.isfinite(x) else f"{x:.3g}" if abs(x) < 100 else f"{x:.0f}"


def _label(row: pd.Series, repeated: bool) -> str:
    text = str(row["method"])
    if str(row.get("selector", "")) not in ("", "all", "-"):
        text += f" [{row['selector']}]"
    if repeated:
        hyper = json.loads(str(row["hyperparameters"]) or "{}")
        text += " (" + ", ".join(f"{k}={v}" for k, v in hyper.items()) + ")"
    return escape(text)


def _rank(row: pd.Series) -> str:
    if pd.isna(row.get("rank")):
        return "--"
    low, high = row.get(RANK_LOW), row.get(RANK_HIGH)
    if low is None or pd.isna(low) or pd.isna(high) or low == high:
        return str(int(row["rank"]))
    return f"{int(row['rank'])} {{\\scriptsize({int(low)}--{int(high)})}}"


def to_latex_table(table: pd.DataFrame, primary: str | None, caption: str) -> str:
    """The ``table`` environment: rank (with interval), method, win rates, then KL, length, rewards."""
    win_rates = win_rate_metrics([c for c in table.columns if not c.endswith((CI_LOW, CI_HIGH))])
    if primary in win_rates:
        win_rates = [primary] + [m for m in win_rates if m != primary]
    others = [c for c in OTHER_COLUMNS if c in table.columns]
    headers = ["rank", "method"] + [escape(m.removesuffix("_win_rate").replace("_lc", " LC")) + " WR"
                                    for m in win_rates] + [escape(OTHER_COLUMNS[c]) for c in others]
    repeated = table["method"].duplicated(keep=False)
    best_group = 1.0
    lines = []
    for (_, row), again in zip(table.iterrows(), repeated, strict=True):
        tied = bool(row.get(TIED_GROUP) == best_group) and row["method"] != REFERENCE_METHOD
        best = pd.notna(row.get("rank")) and int(row["rank"]) == 1
        cells = [_rank(row), _label(row, bool(again)) + (r"$^\dagger$" if tied and not best else "")]
        cells += [_interval(row, m) for m in win_rates] + [_number(row.get(c)) for c in others]
        if best:
            cells = [cells[0], *(f"\\textbf{{{c}}}" for c in cells[1:])]
        lines.append(" & ".join(cells) + r" \\")
    spec = "rl" + "r" * (len(headers) - 2)
    return "\n".join([
        r"\begin{table}[t]", r"\centering", r"\small", f"\\begin{{tabular}}{{{spec}}}", r"\toprule",
        " & ".join(headers) + r" \\", r"\midrule", *lines, r"\bottomrule", r"\end{tabular}",
        f"\\caption{{{caption}}}", r"\end{table}", ""])


def caption_for(key: str, primary: str | None, n_seeds: str) -> str:
    ranked = f"Ranked by {escape(primary)}" if primary else "Unranked"
    return (f"{ranked} (mean and 95\\% interval; {escape(n_seeds)} training seed(s) per row); "
            f"rank intervals in parentheses; "
            f"bold: the best; $^\\dagger$: not distinguishable from the best (Holm-corrected bootstrap tests). "
            f"Comparability key \\texttt{{{escape(key)}}}.")


def to_latex_document(table_tex: str) -> str:
    """A standalone document around a table from :func:`to_latex_table` (``pdflatex`` compiles it as is)."""
    return "\n".join([r"\documentclass{article}", r"\usepackage[T1]{fontenc}", r"\usepackage{booktabs}",
                      r"\usepackage[margin=1.5cm,landscape]{geometry}", r"\begin{document}", table_tex,
                      r"\end{document}", ""])


__all__ = ["DOCUMENT_FILE", "TABLE_FILE", "caption_for", "escape", "to_latex_document", "to_latex_table"]
