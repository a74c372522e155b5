"""The Markdown leaderboard marks a length-controlled win rate the fit's penalty shrank to the prompt terms."""

from __future__ import annotations

import pandas as pd

from bench.leaderboards.render import SHRUNK, to_markdown


def _table(policy_weights: list[float]) -> pd.DataFrame:
    rows = len(policy_weights)
    return pd.DataFrame({
        "rank": [1.0, 2.0][:rows], "method": ["dpo", "ipo"][:rows], "selector": "all", "reduction": "sum",
        "steps": "100", "hyperparameters": "{}", "chosen": "", "grid": 0, "n_seeds": 3.0, "seeds": "0,1,2",
        "comparability_key": "k", "model": "m", "dataset": "d", "evaluation": "e",
        "proxy_win_rate": [70.0, 60.0][:rows], "proxy_win_rate_ci_low": 55.0, "proxy_win_rate_ci_high": 75.0,
        "proxy_lc_win_rate": [62.0, 50.0][:rows], "proxy_lc_win_rate_ci_low": 45.0,
        "proxy_lc_win_rate_ci_high": 66.0, "proxy_lc_length_weight": -0.4, "proxy_lc_policy_weight": policy_weights,
    })


def test_an_lc_with_a_zero_policy_weight_is_marked_and_explained_and_the_weights_stay_in_the_csv() -> None:
    text = to_markdown(_table([0.3, 0.0]))
    ipo = next(line for line in text.splitlines() if line.startswith("|") and "ipo" in line)
    dpo = next(line for line in text.splitlines() if line.startswith("|") and "dpo" in line)
    assert f"50.0 [45.0, 66.0]{SHRUNK}" in ipo and SHRUNK not in dpo
    assert "policy's own term to 0" in text
    assert not any("weight" in line for line in text.splitlines() if line.startswith("|"))  # the CSV's


def test_no_mark_and_no_note_when_every_policy_term_survived() -> None:
    text = to_markdown(_table([0.3, 0.2]))
    assert SHRUNK not in text and "policy's own term" not in text
