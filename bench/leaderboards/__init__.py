"""Leaderboards: load the results store, aggregate seeds per comparability key, render tables.

``table`` turns metrics.json files into one ranked table per comparability key; ``render`` prints a
table as Markdown or CSV and writes one leaderboard per key. Neither ever puts rows with different
comparability keys in one table.
"""

from __future__ import annotations

from bench.leaderboards.render import single_key_table, to_csv, to_markdown, write_leaderboard
from bench.leaderboards.table import aggregate, aggregate_key, load_results, primary_metric

__all__ = ["aggregate", "aggregate_key", "load_results", "primary_metric", "single_key_table", "to_csv",
           "to_markdown", "write_leaderboard"]
