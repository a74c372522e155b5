"""A run with a model judge from the config: its verdicts are shared by every evaluator and by later runs, and the
leaderboard says how far the judge can be trusted (held-out accuracy, position bias, agreement with the others)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.evaluators.judges.reward_model import RewardModelJudge
from bench.leaderboards.render import MARKDOWN_FILE, key_directory

from ..evaluators.test_judges import save_reward_model

pytestmark = pytest.mark.slow


def test_a_warm_rerun_judges_nothing_again_and_the_judge_is_checked(tmp_path: Path, smoke_run,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    save_reward_model(tmp_path / "rm", seed=0)
    asked: list[int] = []
    score = RewardModelJudge.score

    def counting(self, prompts, responses):
        asked.append(len(responses))
        return score(self, prompts, responses)

    monkeypatch.setattr(RewardModelJudge, "score", counting)
    overrides = ("method=dpo,simpo", f"eval.judges.rm=reward-model:{tmp_path / 'rm'}",
                 "eval.judge_options.rm.batch_size=16")
    first = smoke_run(tmp_path / "store", *overrides)
    assert sum(asked) > 0
    asked.clear()
    again = smoke_run(tmp_path / "store", *overrides)  # every job reused; the head-to-head is rebuilt
    assert again.result.trained == 0 and sum(asked) == 0
    board = (tmp_path / "store" / key_directory(first.result.comparability_key) / MARKDOWN_FILE).read_text()
    assert "## Judges, on the held-out pairs" in board and "| rm " in board
    assert "agreement %" in board and "gold vs rm" in board  # compared with the gym's gold reward
    assert "rm WR" in board and (tmp_path / "store" / key_directory(first.result.comparability_key)
                                 / "head_to_head_rm.md").is_file()
