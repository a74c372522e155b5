"""Tests for bench.markdown: user text in a table cell."""

from __future__ import annotations

from bench.markdown import cell


def test_a_cell_is_one_line_with_table_and_html_marks_escaped() -> None:
    assert cell("a|b\n<img src=x onerror=alert(1)> & c") == "a\\|b &lt;img src=x onerror=alert(1)&gt; &amp; c"


def test_names_numbers_and_intervals_are_unchanged() -> None:
    for text in ("rpo_sq_online", "57.1 [54.5, 60.0]", "≥3.45", "beta=0.1, gamma=0.5"):
        assert cell(text) == text
