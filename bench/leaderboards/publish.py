"""``bench publish``: one or several results stores into a folder for the web or a paper.

The folder holds, per comparability key (one directory each): the Markdown and CSV tables, the LaTeX
table and a standalone document that compiles as it is, the Holm-corrected comparisons as CSV, and the
figures (frontier on the gym, win rate against KL and against length, the head-to-head heatmap per
judge) as PNG and SVG; at the top, ``results.json`` (the versioned schema of
:mod:`bench.leaderboards.results_file`) and ``index.html`` with a page per configuration
(:mod:`bench.leaderboards.site`). Publishing reads the stores and writes only into the folder.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from bench.atomic import write_json, write_text
from bench.leaderboards.collect import PublishedTable, collect
from bench.leaderboards.figures import head_to_head_heatmap, save, win_rate_against
from bench.leaderboards.latex import DOCUMENT_FILE, TABLE_FILE, caption_for, to_latex_document, to_latex_table
from bench.leaderboards.plot import method_points, plot_frontier
from bench.leaderboards.ranking import RANK_HIGH, RANK_LOW, TIED_GROUP, comparisons_frame
from bench.leaderboards.render import CSV_FILE, MARKDOWN_FILE, to_csv, to_markdown
from bench.leaderboards.results_file import RESULTS_FILE, results_record
from bench.leaderboards.site import write_site
from bench.leaderboards.table import RewardFrontier

COMPARISONS_FILE = "comparisons.csv"


def _figures(published: PublishedTable, directory: Path) -> tuple[list[Path], list[tuple[Path, str]]]:
    """Every figure of one table as PNG and SVG; (paths written, (PNG, caption) for the site)."""
    written, shown = [], []

    def keep(figure, stem: str, caption: str) -> None:
        paths = save(figure, directory / stem)
        written.extend(paths)
        shown.append((paths[0], caption))

    if published.frontier is not None:
        points, reference = method_points(published.runs.drop(columns=["store"]))
        keep(plot_frontier(published.frontier, points, reference_reward=reference), "frontier",
             "Gold reward against KL: every configuration (colour: family), the optimal KL-regularised frontier "
             "and best-of-n sampling from the reference.")
    if published.primary is not None:
        for metric, stem, label in (("kl", "win_rate_vs_kl", "KL(policy || reference), nats"),
                                    ("length", "win_rate_vs_length", "mean response length (words)")):
            figure = win_rate_against(published.table, published.primary, metric, label)
            if figure is not None:
                keep(figure, stem, f"{published.primary} against {label}, with 95% intervals.")
    for judge, record in published.head_to_head.items():
        keep(head_to_head_heatmap(record), f"head_to_head_{judge}",
             f"Head-to-head win rates under judge {judge}: cell (row, column) is how often the row beats the column.")
    return written, shown


def publish(stores: Sequence[Path], out: Path, frontiers: Mapping[str, RewardFrontier] | None = None,
            title: str = "bench leaderboard", keys: Sequence[str] = ()) -> list[Path]:
    """Write the publication of ``stores`` into ``out`` (module docstring), only the tables whose comparability
    key starts with one of ``keys`` when given; the paths written."""
    out = Path(out)
    stores = [Path(s) for s in stores]
    tables = collect(stores, frontiers, keys)
    written: list[Path] = []
    shown = []
    for published in tables:
        directory = out / published.directory
        latex = to_latex_table(published.table, published.primary,
                               caption_for(published.key, published.primary, _seed_counts(published)))
        texts = {MARKDOWN_FILE: to_markdown(published.table.drop(columns=_extra(published))),
                 CSV_FILE: to_csv(published.table), TABLE_FILE: latex, DOCUMENT_FILE: to_latex_document(latex),
                 COMPARISONS_FILE: comparisons_frame(published.comparisons).to_csv(index=False)}
        for name, text in texts.items():
            write_text(directory / name, text)
            written.append(directory / name)
        figures, captions = _figures(published, directory)
        written += figures
        shown.append((published, captions))
    record = results_record(tables, stores)
    write_json(out / RESULTS_FILE, record)
    written.append(out / RESULTS_FILE)
    written += write_site(out, shown, record["generated_by"], title)
    return written


def _extra(published: PublishedTable) -> list[str]:
    return [c for c in (RANK_LOW, RANK_HIGH, TIED_GROUP) if c in published.table.columns]


def _seed_counts(published: PublishedTable) -> str:
    counts = sorted({int(n) for n in published.table["n_seeds"]})
    return str(counts[0]) if len(counts) == 1 else f"{counts[0]} to {counts[-1]}"


__all__ = ["COMPARISONS_FILE", "publish"]
