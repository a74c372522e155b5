"""Judges behind one interface, built from a spec string: ``reward-model``, ``llm``, ``alpaca_eval:<config>``,
``annotations:<files>``.

A spec is ``kind`` or ``kind:argument``; the argument is the model for ``reward-model`` and ``llm`` (a
local directory, ``.gguf`` file or cached hub id; it may also be passed as ``model=``), the annotator
config for ``alpaca_eval`` and annotation files judged elsewhere for ``annotations``. Options are the judge
class's keyword arguments. Each kind's module loads torch, transformers or alpaca_eval only when that kind is
built, so importing the evaluators stays cheap. The gym's ``gold`` and ``proxy`` judges are not built here:
the gym supplies them (layering).
"""

from __future__ import annotations

import importlib
import inspect
import typing
from typing import Any

from bench.errors import ConfigError, RegistryError, closest
from bench.evaluators.base import Judge
from bench.evaluators.judges.interface import JudgeUnavailable, OrderedJudge
from bench.typed_values import coerce

JUDGE_KINDS: dict[str, tuple[str, str, str]] = {
    "reward-model": ("bench.evaluators.judges.reward_model", "RewardModelJudge", "model"),
    "llm": ("bench.evaluators.judges.llm", "LLMJudge", "model"),
    "alpaca_eval": ("bench.evaluators.judges.alpaca_annotator", "AlpacaEvalJudge", "annotator"),
    "annotations": ("bench.evaluators.judges.annotations", "AnnotationsJudge", "path"),
}
"""Spec kind -> (module, class, the keyword argument the ``:argument`` part of the spec fills)."""


def judge_class(kind: str) -> type[Judge]:
    """The judge class of a spec kind, imported on demand."""
    if kind not in JUDGE_KINDS:
        raise RegistryError(f"unknown judge {kind!r}{closest(kind, JUDGE_KINDS)}; judges: {', '.join(JUDGE_KINDS)} "
                            f"(gold and proxy come with the gym)")
    module, name, _ = JUDGE_KINDS[kind]
    return getattr(importlib.import_module(module), name)


def build_judge(spec: str, where: str = "judge", **options: Any) -> Judge:
    """The judge a spec names, e.g. ``build_judge("llm:/models/qwen", batch_size=4)``.

    Unknown kinds and options are errors with the closest valid names, raised before any model loads;
    option values (from the command line: ``eval.judge_options.NAME.OPTION=VALUE``, named ``where``) are
    converted to the types the judge class declares.
    """
    kind, _, argument = str(spec).partition(":")
    kind = kind.strip()
    cls = judge_class(kind)
    target = JUDGE_KINDS[kind][2]
    if argument:
        if target in options:
            raise ConfigError(f"judge {spec!r}: {target} given twice (in the spec and as {target}=); give it once")
        options[target] = argument
    accepted = [p for p in inspect.signature(cls.__init__).parameters if p != "self"]
    hints = typing.get_type_hints(cls.__init__)
    for key, value in list(options.items()):
        if key not in accepted:
            raise ConfigError(f"judge {kind}: unknown option {key!r}{closest(key, accepted)}; options: "
                              f"{', '.join(accepted)}")
        if key in hints and key != target:
            options[key] = coerce(value, hints[key], f"{where}.{key}")
    if target not in options:
        raise ConfigError(f"judge {kind} needs its {target}: write {kind}:<{target}> or pass {target}=...")
    return cls(**options)


__all__ = ["JUDGE_KINDS", "JudgeUnavailable", "OrderedJudge", "build_judge", "judge_class"]
