"""Shared fixtures: one tiny gym build (the ``smoke`` preset) reused by the machinery tests, and one
cache for the tests that need the full default gym (its SFT is a minute on two cores: paid once)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

import pytest

from bench.config import RunConfig, build_config

if TYPE_CHECKING:
    from bench.runner.run import RunResult


@pytest.fixture(scope="session")
def smoke_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("bench-cache")


@pytest.fixture(scope="session")
def default_gym_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One cache for every test that runs on the default gym, so the gym is built once per session."""
    return tmp_path_factory.mktemp("default-gym-cache")


@pytest.fixture(scope="session")
def smoke_config(smoke_cache: Path) -> RunConfig:
    return build_config(["preset=smoke", f"cache={smoke_cache}", "progress=false"])


@pytest.fixture(scope="session")
def smoke_run_config(smoke_cache: Path) -> Callable[..., RunConfig]:
    """``smoke_run_config(store, "method=dpo", ...)``: a smoke-preset run on the shared cache, writing to ``store``."""

    def build(store: Path, *overrides: str) -> RunConfig:
        return build_config(["preset=smoke", f"cache={smoke_cache}", f"store={store}", "progress=false", *overrides])

    return build


class SmokeRun(NamedTuple):
    config: RunConfig
    store: Path
    result: RunResult
    lines: list[str]
    """What the run said (its log), line by line."""


@pytest.fixture(scope="session")
def smoke_run(smoke_run_config: Callable[..., RunConfig]) -> Callable[..., SmokeRun]:
    """``smoke_run(store, "method=dpo", ...)``: run the smoke preset into ``store`` and keep what it said."""

    def go(store: Path, *overrides: str) -> SmokeRun:
        from bench.runner.run import run

        config, lines = smoke_run_config(store, *overrides), []
        return SmokeRun(config, store, run(config, say=lines.append), lines)

    return go


@pytest.fixture(scope="session")
def smoke_gym(smoke_config: RunConfig):
    from bench.gym.build import build_gym

    data = smoke_config.data
    return build_gym(smoke_config.gym, data.max_prompt_tokens, data.max_response_tokens, Path(smoke_config.cache),
                     progress=False)


@pytest.fixture(scope="session")
def smoke_pairs(smoke_gym, smoke_config: RunConfig):
    """The smoke gym's training pairs, tokenised with its reference tokenizer."""
    from bench.data.tokenize import tokenize_dataset
    from bench.models.loading import load_tokenizer

    tokenizer = load_tokenizer(smoke_gym.reference_dir)
    data = tokenize_dataset(smoke_gym.dataset("pairs"), tokenizer, smoke_config.data.max_prompt_tokens,
                            smoke_config.data.max_response_tokens, tokenizer_id="smoke")
    return tokenizer, data
