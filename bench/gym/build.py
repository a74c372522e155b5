"""Building the gym: language, tokenizer, reference model and every data kind, cached by content.

A build is a directory under ``<cache>/gym/<key>`` whose key hashes everything that determines it
(the gym settings, the language, annotator, reward and build-code versions). The reference model has
its own, narrower key (changing the annotator does not retrain it). A second run with the same
settings finds both and builds nothing.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from bench import atomic
from bench.cached import cached_directory
from bench.data.records import Example, load_jsonl, save_jsonl
from bench.evaluators.base import Judge
from bench.fingerprint import directory_fingerprint, fingerprint
from bench.generate import generate
from bench.gym import datasets
from bench.gym.annotator import ANNOTATOR_VERSION, Annotator, AnnotatorConfig
from bench.gym.judges import AnnotatorJudge, GoldJudge
from bench.gym.language import Language
from bench.gym.reference_model import train_reference
from bench.gym.reward import REWARD_VERSION
from bench.gym.settings import GymSettings
from bench.gym.tokenizer import build_tokenizer
from bench.models.sampling import SamplingParams
from bench.source_fingerprint import source_fingerprint

BUILD_VERSION = "1"
RESPONSES_PER_PROMPT = 4
"""Reference samples per train/val prompt: pairs use the first two, k-wise data all four."""
DATASETS = ("pairs", "kwise", "unpaired", "outcomes")


@dataclass
class Gym:
    """A finished gym build: where its parts are, and the judges and reward function it defines."""

    root: Path
    reference_dir: Path
    test_prompts: list[str]
    annotator: Annotator
    fingerprint: str
    log: list[str]

    def dataset(self, kind: str, split: str = "train") -> list[Example]:
        """The ``split`` rows of one data kind (``pairs``, ``kwise``, ``unpaired``, ``outcomes``)."""
        return load_jsonl(self.root / f"{split}_{kind}.jsonl")

    def judges(self) -> dict[str, Judge]:
        """``gold`` (the true reward) and ``proxy`` (the training annotator's biased utility)."""
        return {"gold": GoldJudge(), "proxy": AnnotatorJudge(self.annotator)}

    def reward_function(self, seed: int = 0):
        """The annotator's noisy scores: the reward online objectives train on (as a reward model would be)."""
        rng = np.random.default_rng(seed)
        return lambda prompts, responses: self.annotator.scores(prompts, responses, rng)


def _annotator(settings: GymSettings) -> Annotator:
    return Annotator(AnnotatorConfig(**asdict(settings.annotator)))


def build_gym(settings: GymSettings, max_prompt_tokens: int, max_response_tokens: int, cache: Path,
              progress: bool = True) -> Gym:
    """Build (or find) the gym for ``settings`` under ``cache``; returns the finished :class:`Gym`."""
    language = Language()
    annotator = _annotator(settings)
    lengths = {"prompt": max_prompt_tokens, "response": max_response_tokens}
    reference_key = fingerprint({"version": BUILD_VERSION, "language": language.identity(), "seed": settings.seed,
                                 "splits": [settings.train_prompts, settings.val_prompts, settings.test_prompts],
                                 "reference": asdict(settings.reference), "lengths": lengths,
                                 "code": source_fingerprint(train_reference, build_tokenizer)})
    key = fingerprint({"reference": reference_key, "annotator": asdict(settings.annotator),
                       "annotator_version": ANNOTATOR_VERSION, "reward_version": REWARD_VERSION,
                       "pair_temperature": settings.pair_temperature,
                       "code": source_fingerprint(_write_datasets, Annotator, GoldJudge)})
    root = Path(cache) / "gym" / key
    reference_root = Path(cache) / "gym-reference" / reference_key
    log: list[str] = []
    splits = language.split_prompts(settings.seed, settings.train_prompts, settings.val_prompts,
                                    settings.test_prompts)
    started = time.perf_counter()

    def build_reference(tmp: Path) -> None:
        tokenizer = build_tokenizer(language, tmp / "tokenizer")
        train_reference(language, tokenizer, splits["train"] + splits["val"], settings.reference,
                        settings.seed, max_prompt_tokens, max_response_tokens, tmp, progress)

    if cached_directory(reference_root, build_reference, "the gym's reference model"):
        log.append(f"gym: trained the reference model in {time.perf_counter() - started:.1f}s")
    reference_dir = reference_root / "checkpoint"
    started = time.perf_counter()

    def build_datasets(tmp: Path) -> None:
        _write_datasets(tmp, splits, reference_dir, annotator, settings, lengths, cache)
        atomic.write_json(tmp / "test_prompts.json", splits["test"])
        atomic.write_json(tmp / "manifest.json", {
            "key": key, "settings": asdict(settings), "language": language.identity(),
            "annotator": annotator.identity(), "reference": str(reference_dir),
            "reference_fingerprint": directory_fingerprint(reference_dir),
            "pair_statistics": datasets.pair_statistics(load_jsonl(tmp / "train_pairs.jsonl"))})

    if cached_directory(root, build_datasets, "the gym's datasets"):
        log.append(f"gym: sampled and annotated the datasets in {time.perf_counter() - started:.1f}s")
    else:
        log.append(f"gym: reusing build {key}")
    test_prompts = [str(p) for p in json.loads((root / "test_prompts.json").read_text())]
    return Gym(root=root, reference_dir=reference_dir, test_prompts=test_prompts, annotator=annotator,
               fingerprint=key, log=log)


def _write_datasets(directory: Path, splits: dict[str, list[str]], reference_dir: Path, annotator: Annotator,
                    settings: GymSettings, lengths: dict[str, int], cache: Path) -> None:
    """Sample responses from the reference for train/val prompts and annotate every data kind."""
    for offset, split in enumerate(("train", "val")):
        prompts = splits[split]
        params = SamplingParams(max_new_tokens=lengths["response"], temperature=settings.pair_temperature,
                                n=RESPONSES_PER_PROMPT, seed=settings.seed * 10 + offset)
        samples = generate(reference_dir, prompts, params, cache, lengths["prompt"],
                           generator_name="gym-reference").samples
        # A sample that is only EOS decodes to ""; it becomes "." so every row is a well-formed record.
        groups = [(p, [s if s.strip() else "." for s in group]) for p, group in zip(prompts, samples, strict=True)]
        seed = settings.seed * 1000 + offset
        rows = {"pairs": datasets.pairs(groups, annotator, seed, split),
                "kwise": datasets.kwise(groups, annotator, seed, RESPONSES_PER_PROMPT, split),
                "unpaired": datasets.unpaired(groups, annotator, seed, split),
                "outcomes": datasets.outcomes(groups, annotator, seed, split)}
        for kind, examples in rows.items():
            save_jsonl(directory / f"{split}_{kind}.jsonl", examples)
