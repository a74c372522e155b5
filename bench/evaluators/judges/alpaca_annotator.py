"""The ``alpaca_eval:<annotator config>`` judge: delegates each comparison to an alpaca_eval annotator.

alpaca_eval's annotators (its GPT-4 Turbo judges, Claude, local vLLM judges, ...) are the reference
implementation of the win rates papers report; bench does not re-implement them, it hands them
(instruction, output_1, output_2) rows and reads back their ``preference`` (1: output_1 better,
2: output_2 better, fractional for the weighted judges). Most call a paid API, so before anything is
sent the judge checks that the API's credentials are present and that the machine is not marked
offline (``BENCH_OFFLINE=1``); if not, it raises :class:`JudgeUnavailable` with one line saying it is
skipped and why, and the caller may drop it. alpaca_eval randomises the order of the two outputs
itself, so its position bias is not ours to correct.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from functools import cached_property
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from bench.errors import BenchError, closest
from bench.evaluators.base import Judge
from bench.evaluators.judges.interface import JudgeUnavailable
from bench.fingerprint import file_fingerprint, fingerprint

OFFLINE_VARIABLE = "BENCH_OFFLINE"
"""Set to 1 (or true/yes) to forbid every network judge, whatever keys are set."""

CREDENTIALS: dict[str, tuple[str, ...]] = {
    "openai_completions": ("OPENAI_API_KEY", "OPENAI_API_KEYS", "OPENAI_CLIENT_CONFIG_PATH"),
    "anthropic_completions": ("ANTHROPIC_API_KEY",),
    "google_completions": ("GOOGLE_API_KEY",),
    "cohere_completions": ("COHERE_API_KEY",),
    "huggingface_api_completions": ("HUGGINGFACEHUB_API_TOKEN",),
    "replicate_completions": ("REPLICATE_API_TOKEN",),
    "jina_chat_completions": ("JINA_CHAT_API_KEY",),
    "bedrock_anthropic_completions": ("AWS_ACCESS_KEY_ID", "AWS_PROFILE"),
}
"""alpaca_eval completion function -> environment variables of which one must be set (from its decoders)."""
LOCAL_COMPLETIONS = frozenset({"huggingface_local_completions", "vllm_local_completions", "test_completions",
                               "cache_completions"})
"""Completion functions that run on this machine: no credentials, allowed offline."""


def _offline() -> bool:
    return os.environ.get(OFFLINE_VARIABLE, "").strip().lower() in {"1", "true", "yes"}


def _alpaca_eval_config_dir() -> Path:
    try:
        from alpaca_eval import constants
    except ImportError as exc:
        raise JudgeUnavailable("judge alpaca_eval skipped: the alpaca_eval package is not installed; "
                               "pip install 'bench[eval]' to use alpaca_eval annotators") from exc
    return Path(constants.EVALUATORS_CONFIG_DIR)


def resolve_annotator_config(name: str) -> Path:
    """The ``configs.yaml`` of an annotator: a name from alpaca_eval's evaluators_configs, or a path."""
    given = Path(name).expanduser()
    if given.is_file():
        return given
    if given.is_dir() and (given / "configs.yaml").is_file():
        return given / "configs.yaml"
    directory = _alpaca_eval_config_dir()
    if (directory / name / "configs.yaml").is_file():
        return directory / name / "configs.yaml"
    known = sorted(p.name for p in directory.iterdir() if (p / "configs.yaml").is_file())
    raise BenchError(f"judge alpaca_eval:{name}: no such annotator config{closest(name, known)}; use a directory "
                     f"name from {directory} or a path to a configs.yaml")


class AlpacaEvalJudge(Judge):
    """P(a preferred) from an alpaca_eval annotator's ``preference``: 2 - preference (1.5, a tie, is 0.5)."""

    name: ClassVar[str] = "alpaca_eval"

    def __init__(self, annotator: str, cache_path: str | Path | None = None) -> None:
        self.annotator = annotator
        self.config_path = resolve_annotator_config(annotator)
        self.cache_path = cache_path
        self._configs: dict[str, dict[str, Any]] = self._load_configs()
        self._check_reachable()

    def _load_configs(self) -> dict[str, dict[str, Any]]:
        import yaml  # alpaca_eval's own config format; pyyaml comes with it

        configs = yaml.safe_load(self.config_path.read_text())
        if not isinstance(configs, dict) or not all(isinstance(c, dict) for c in configs.values()):
            raise BenchError(f"judge alpaca_eval:{self.annotator}: {self.config_path} is not an alpaca_eval "
                             f"annotator config (a mapping of annotator name to settings)")
        return configs

    def _check_reachable(self) -> None:
        """Raise :class:`JudgeUnavailable` before any request when the annotator's API cannot be used."""
        for settings in self._configs.values():
            completions = str(settings.get("fn_completions", "openai_completions"))
            if completions in LOCAL_COMPLETIONS:
                continue
            if _offline():
                raise JudgeUnavailable(f"judge alpaca_eval:{self.annotator} skipped: it calls an API "
                                       f"({completions}) and {OFFLINE_VARIABLE} is set; unset it to allow network "
                                       f"judges, or use a local judge (llm, reward-model)")
            names = CREDENTIALS.get(completions, ())
            if names and not any(os.environ.get(n) for n in names):
                raise JudgeUnavailable(f"judge alpaca_eval:{self.annotator} skipped: it calls an API "
                                       f"({completions}) and none of {', '.join(names)} is set; set one, or use a "
                                       f"local judge (llm, reward-model)")

    def identity(self) -> dict[str, Any]:
        from importlib.metadata import version

        base = self.config_path.parent.parent  # alpaca_eval resolves prompt templates against this directory
        templates = {}
        for settings in self._configs.values():
            template = settings.get("prompt_template")
            if isinstance(template, str) and (base / template).is_file():
                templates[template] = file_fingerprint(base / template)
        return {"name": f"{self.name}:{self.annotator}", "model_fingerprint": file_fingerprint(self.config_path),
                "prompt_template_hash": fingerprint(templates), "alpaca_eval_version": version("alpaca_eval")}

    @cached_property
    def _annotator(self):
        from alpaca_eval.annotators import PairwiseAnnotator

        return PairwiseAnnotator(annotators_config=str(self.config_path),
                                 caching_path=None if self.cache_path is None else str(self.cache_path))

    def preference(self, prompts: Sequence[str], a: Sequence[str], b: Sequence[str]) -> np.ndarray:
        if not len(prompts) == len(a) == len(b):
            raise BenchError(f"judge alpaca_eval:{self.annotator}: {len(prompts)} prompts, {len(a)} and {len(b)} "
                             f"responses; pass one pair per prompt")
        self._check_reachable()  # keys may have been unset since construction
        rows = [{"instruction": p, "output_1": x, "output_2": y} for p, x, y in zip(prompts, a, b, strict=True)]
        annotated = self._annotator.annotate_pairs(rows)
        if len(annotated) != len(rows):
            raise BenchError(f"judge alpaca_eval:{self.annotator} returned {len(annotated)} annotations for "
                             f"{len(rows)} pairs")
        values = np.array([np.nan if row.get("preference") is None else float(row["preference"])
                           for row in annotated], dtype=np.float64)
        missing = int(np.isnan(values).sum())
        if missing:
            raise BenchError(f"judge alpaca_eval:{self.annotator} left {missing} of {len(rows)} pairs unannotated "
                             f"(API errors or unparsable answers); rerun, or pass cache_path=... to keep the rest")
        # alpaca_eval: 1 = output_1 better, 2 = output_2 better, 0 = identical outputs (a tie).
        return np.where(values == 0.0, 0.5, 2.0 - values)
