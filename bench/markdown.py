"""Text from users inside Markdown tables: escaped so it reads as text and cannot break or script the page.

A method, selector or judge name, a hyper-parameter value or a prompt is user input. In a Markdown table a
``|`` in it splits the cell, a newline ends the table, and ``<script>`` is live HTML where the Markdown is
rendered (GitHub, a static site). :func:`cell` makes any such value one inert table cell.
"""

from __future__ import annotations

import html


def cell(value: object) -> str:
    """``value`` as the text of one Markdown table cell: on one line, HTML escaped, ``|`` escaped. Names,
    numbers and intervals come out unchanged."""
    return html.escape(" ".join(str(value).split()), quote=False).replace("|", "\\|")
