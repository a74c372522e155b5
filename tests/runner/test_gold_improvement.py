"""The point of the gym: on the default settings, preference training beats the reference on gold.

This builds the full default gym (about a minute of SFT on two cores, once per session in the shared
``default_gym_cache``) and trains DPO once; it is the test that would fail if the gym, the data, the
trainer or the evaluation lost the signal.
"""

from __future__ import annotations

import json

import pytest

from bench.config import build_config
from bench.runner.run import run

pytestmark = pytest.mark.slow


def test_dpo_beats_the_reference_on_gold_at_default_settings(tmp_path, default_gym_cache):
    config = build_config([f"cache={default_gym_cache}", f"store={tmp_path / 'runs'}", "progress=false",
                           "method=dpo"])
    run(config, say=lambda line: None)
    records = {json.loads(p.read_text())["job"]["method"]: json.loads(p.read_text())["metrics"]
               for p in (tmp_path / "runs").glob("jobs/*/metrics.json")}
    dpo, reference = records["dpo"], records["reference"]
    assert dpo["gold_win_rate_ci_low"] > 50.0
    assert dpo["gold_reward"] > reference["gold_reward"]
    # the reference row compares the reference with itself: its interval must cover 50
    assert reference["gold_win_rate_ci_low"] < 50.0 < reference["gold_win_rate_ci_high"]
