"""What a run trains on and is judged by: the gym, or a user's model and JSONL data.

Both enter the runner the same way, as a :class:`World`: a base (reference) model, a training pool,
evaluation prompts, judges and (for online objectives) a reward function. Nothing below the runner
knows whether the data came from the gym.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from bench.data.conversation import Prompt
from bench.data.records import Example, dataset_fingerprint, has_scores
from bench.data.selectors import explicit_scores_from_meta, explicit_scores_from_responses
from bench.data.sources import given, load_examples, load_prompts
from bench.errors import BenchError
from bench.evaluators.base import Judge
from bench.fingerprint import directory_fingerprint, file_fingerprint, fingerprint
from bench.models.loading import dtype_name
from bench.models.model_source import prepare_model, resolve_model
from bench.train.batches import RewardFunction

if TYPE_CHECKING:  # the run's settings reach the evaluation as values: config.py is not in its key
    from bench.config import RunConfig


@dataclass
class World:
    base_model: str
    base_fingerprint: str
    train_examples: list[Example]
    test_prompts: list[Prompt]
    validation_examples: list[Example]
    """Held-out preference pairs (empty when the run has none): reward accuracy and sweep selection."""
    judges: dict[str, Judge]
    reward_function: Callable[[int], RewardFunction] | None
    dataset_fingerprint: str
    model_dtype: str
    """The dtype the base model and every checkpoint load in (``model.dtype`` resolved on this machine)."""
    attention: str | None = None
    """The attention kernel they load with (``model.attn_implementation``; None: transformers' default)."""
    log: list[str] = field(default_factory=list)
    native_datasets: dict[str, list[Example]] = field(default_factory=dict)
    """Ready-made training rows of other data kinds, for objectives the pool cannot feed (the gym's
    scored k-wise rows for reward-aware objectives, its outcome rows for causal ones: every reference
    sample with a numeric outcome, each text assigned to its reader uniformly at random)."""
    gym: Any = None
    """The :class:`bench.gym.build.Gym` when the gym is the source (its optimal frontier needs it)."""
    explicit_scores: Callable[[Sequence[Example]], np.ndarray] = explicit_scores_from_responses
    """r* per response [N, 2] of pool pairs, for the explicit-margin selectors: the responses' ``score``
    for a user's data, the gold reward (``meta["gold"]``) on the gym."""

    @property
    def length_blind_judges(self) -> tuple[str, ...]:
        """The judges whose verdicts cannot reward length (``Judge.length_blind``), so no length-controlled win rate
        is fitted for them: on the gym its gold reward. A user's reward models and LLM judges can reward length."""
        return tuple(sorted(name for name, judge in self.judges.items() if judge.length_blind))

    @property
    def reference_id(self) -> str:
        """The base model as it computes: its files, the dtype and the attention kernel it is loaded with. Keys every
        artefact computed with the base model (reference passes, tokenised data), so a bf16 run never reads an fp32
        pass. The default kernel adds nothing, so keys made before the kernel was a setting still hold."""
        return fingerprint({"model": self.base_fingerprint, "dtype": self.model_dtype,
                            **({"attention": self.attention} if self.attention else {})})

    @property
    def source_kind(self) -> str:
        return self.train_examples[0].kind

    @property
    def has_scores(self) -> bool:
        return has_scores(self.train_examples)


def _model_fingerprint(path: str) -> str:
    """A model's identity by content: a directory's weight, config and tokenizer files, or a GGUF file's bytes."""
    local = Path(path)
    return directory_fingerprint(local) if local.is_dir() else file_fingerprint(local)


def build_world(config: RunConfig, progress: bool) -> World:
    """Build or load everything the run's jobs share (the gym is built here when it is the source)."""
    world = _source_world(config, progress)
    _add_configured_judges(world, config.eval.judges, config.eval.judge_options, Path(config.cache))
    return world


def _add_configured_judges(world: World, specs: dict[str, str], options: dict[str, dict[str, Any]],
                           cache: Path) -> None:
    """Build the run's extra judges with their options; one that cannot run here (no API key, offline) is left
    out, said once. Their verdicts are remembered in the cache (:mod:`bench.evaluators.judges.verdicts`), so the
    evaluators, the head-to-head matrix and later runs share every comparison."""
    from bench.evaluators.judges import JudgeUnavailable, build_judge
    from bench.evaluators.judges.verdicts import VERDICTS_FILE, VerdictStore, remembering

    for name in options:
        if name not in specs:
            raise BenchError(f"eval.judge_options.{name}.* is set but the run has no judge {name!r} "
                             f"(eval.judges: {', '.join(specs) or 'none'}); add eval.judges.{name}=SPEC")
    store = VerdictStore(cache / VERDICTS_FILE)
    for name, spec in specs.items():
        if name in world.judges:
            raise BenchError(f"eval.judges.{name}: the run already has a judge named {name!r}; pick another name")
        try:
            settings = options.get(name, {})
            judge = build_judge(_prepared_judge_model(spec, cache, name, bool(settings.get("trust_remote_code"))),
                                where=f"eval.judge_options.{name}", **settings)
        except JudgeUnavailable as unavailable:
            world.log.append(f"eval.judges.{name}: {unavailable}")
            continue
        world.judges[name] = remembering(judge, store)


def _prepared_judge_model(spec: str, cache: Path, name: str, trust_remote_code: bool) -> str:
    """``spec`` with a model judge's GGUF model converted once into the cache (:func:`prepare_model`), as the base
    model is: each evaluation loads the judge again, and dequantising the file each time costs more than that."""
    from bench.evaluators.judges import JUDGE_KINDS

    kind, _, argument = spec.partition(":")
    if not argument or kind not in JUDGE_KINDS or JUDGE_KINDS[kind][2] != "model":
        return spec
    key = f"eval.judges.{name}"
    return f"{kind}:{prepare_model(resolve_model(argument, trust_remote_code, key), cache, key=key)}"


def _source_world(config: RunConfig, progress: bool) -> World:
    user_model = (prepare_model(resolve_model(config.model.path, config.model.trust_remote_code), Path(config.cache),
                                config.model.chat_template, config.model.trust_remote_code)
                  if config.model.path else None)  # checked before the gym is built or any data read
    if config.data.source == "gym":
        from bench.gym.build import build_gym

        gym = build_gym(config.gym, config.data.max_prompt_tokens, config.data.max_response_tokens,
                        Path(config.cache), progress=progress)
        examples = gym.dataset(config.data.gym_pool)
        base = user_model or str(gym.reference_dir)
        return World(base_model=base, base_fingerprint=_model_fingerprint(base), train_examples=examples,
                     test_prompts=gym.test_prompts, validation_examples=gym.dataset("pairs", "val"),
                     judges=gym.judges(), reward_function=gym.reward_function,
                     dataset_fingerprint=dataset_fingerprint(examples), model_dtype=dtype_name(config.model.dtype),
                     attention=config.model.attn_implementation, log=list(gym.log), gym=gym,
                     native_datasets={"kwise": gym.dataset("kwise"), "outcomes": gym.dataset("outcomes")},
                     explicit_scores=explicit_scores_from_meta)
    examples = load_examples(config.data, "data")
    prompts = load_prompts(config.data.test, "data.test") if given(config.data.test) else []
    validation = load_examples(config.data.val, "data.val") if given(config.data.val) else []
    if validation and validation[0].kind != "pairs":
        raise BenchError(f"data.val.path={config.data.val.path} holds {validation[0].kind} rows; held-out data must be "
                         f"preference pairs (any pairwise format: prompt/chosen/rejected, conversations, bench pairs)")
    base = str(user_model)
    return World(base_model=base, base_fingerprint=_model_fingerprint(base), train_examples=examples,
                 test_prompts=prompts, validation_examples=validation, judges={}, reward_function=None,
                 dataset_fingerprint=dataset_fingerprint(examples), model_dtype=dtype_name(config.model.dtype),
                 attention=config.model.attn_implementation)
