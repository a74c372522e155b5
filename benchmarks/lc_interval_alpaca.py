"""The local LC win rate with its prompt-bootstrap interval on real AlpacaEval 2 annotations.

`.venv/bin/python benchmarks/lc_interval_alpaca.py` reads the shared data's GPT-4 Turbo annotations of two
gpt-3.5-turbo-1106 variants (805 instructions each; lengths in characters, as alpaca_eval measures them) and
prints raw and LC win rates, the LC's 95% interval from 200 refits, the fitted weights and the time taken.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from bench.evaluators.length_controlled import LC_REFITS, length_controlled_win_rate

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "alpaca_eval"
MODELS = ("gpt-3.5-turbo-1106_verbose", "gpt-3.5-turbo-1106_concise")


def main() -> None:
    if not DATA.is_dir():
        sys.exit(f"{DATA} is absent: this benchmark needs the shared AlpacaEval annotations")
    for name in MODELS:
        rows = pd.DataFrame(json.loads((DATA / name / "annotations.json").read_text()))
        preference = rows["preference"].astype(float).replace({0.0: 1.5}) - 1.0  # alpaca_eval's draw code
        rated = preference.notna().to_numpy()
        judged = rows[rated]
        started = time.perf_counter()
        result = length_controlled_win_rate(preference[rated].to_numpy(), judged["output_2"].str.len().to_numpy(),
                                            judged["output_1"].str.len().to_numpy(), np.flatnonzero(rated),
                                            refits=LC_REFITS)
        print(f"{name}: raw {result.win_rate:.1f}, LC {result.lc_win_rate:.1f} [{result.ci_low:.1f}, "
              f"{result.ci_high:.1f}], length weight {result.length_weight:.3f}, policy weight "
              f"{result.policy_weight:.3f} ({time.perf_counter() - started:.1f} s)")


if __name__ == "__main__":
    main()
