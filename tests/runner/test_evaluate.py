"""Tests for bench.runner.evaluate's choice of evaluators: what cannot run in a world is known before training."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from bench.config import build_config
from bench.errors import ConfigError
from bench.evaluators import DEFAULT_EVALUATORS
from bench.gym.annotator import Annotator, AnnotatorConfig
from bench.gym.judges import AnnotatorJudge
from bench.runner.evaluate import choose_evaluators

NO_JUDGES = SimpleNamespace(judges={}, length_blind_judges=())


def test_defaults_leave_out_what_needs_a_missing_judge_and_say_so() -> None:
    evaluators, log = choose_evaluators(build_config([]), NO_JUDGES)
    names = [e.name for e in evaluators]
    assert names == [n for n in DEFAULT_EVALUATORS if n not in ("win_rate", "lc_win_rate", "marker_uptake",
                                                                 "position_bias")]
    assert len(log) == 1 and "left out win_rate, lc_win_rate, marker_uptake, position_bias" in log[0]
    assert "eval.judges.NAME=SPEC" in log[0]


def test_an_explicit_evaluator_that_cannot_run_fails_before_training() -> None:
    with pytest.raises(ConfigError, match=r"win_rate needs a judge and the run has none.*eval\.judges\.rm="):
        choose_evaluators(build_config(["eval.evaluators=[win_rate,kl]"]), NO_JUDGES)


def test_marker_uptake_needs_a_judge_that_declares_markers() -> None:
    proxy = SimpleNamespace(judges={"proxy": AnnotatorJudge(Annotator(AnnotatorConfig()))}, length_blind_judges=())
    evaluators, log = choose_evaluators(build_config(["eval.evaluators=[marker_uptake]"]), proxy)
    assert [e.name for e in evaluators] == ["marker_uptake"] and log == []
    judge_without_markers = SimpleNamespace(judges={"x": SimpleNamespace(name="x")}, length_blind_judges=())
    with pytest.raises(ConfigError, match="marker_uptake needs a judge that declares spurious markers"):
        choose_evaluators(build_config(["eval.evaluators=[marker_uptake]"]), judge_without_markers)


def test_the_run_wide_bootstrap_setting_reaches_the_win_rate_and_its_identity() -> None:
    (win_rate,), _ = choose_evaluators(build_config(["eval.evaluators=[win_rate]", "eval.bootstrap_samples=300"]),
                                      SimpleNamespace(judges={"g": object()}, length_blind_judges=()))
    assert win_rate.n_boot == 300 and win_rate.identity()["n_boot"] == 300


def test_the_worlds_length_blind_judges_reach_the_lc_evaluator_and_its_identity() -> None:
    (lc,), _ = choose_evaluators(build_config(["eval.evaluators=[lc_win_rate]"]),
                                 SimpleNamespace(judges={"gold": object(), "proxy": object()},
                                                 length_blind_judges=("gold",)))
    assert lc.length_blind == ("gold",) and lc.identity()["length_blind"] == ("gold",)
