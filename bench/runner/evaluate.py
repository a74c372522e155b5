"""Evaluating a checkpoint: sample once, score once, run every evaluator, record the cost.

Reference samples on the evaluation prompts are drawn once per run and shared by every job; each
checkpoint's samples are cached by (checkpoint, prompts, sampling), so re-evaluating an unchanged
checkpoint costs nothing but the evaluators themselves. ``split="validation"`` evaluates on the
held-out prompts that sweeps select on; final numbers always come from the test prompts.
"""

from __future__ import annotations

import time
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from bench.config import RunConfig
from bench.evaluators import run_evaluators
from bench.evaluators.base import EVALUATORS, EvalInputs, Evaluator
from bench.fingerprint import fingerprint
from bench.generate import Generations, generate
from bench.models.loading import load_causal_lm, load_tokenizer
from bench.models.sampling import SamplingParams
from bench.models.scoring import sequence_logps
from bench.runner.world import World

REFERENCE_SAMPLE_SEED = 0
REFERENCE_ROW_SEED = 1
"""The reference row is the reference's own samples under another seed: its win rate is the noise floor."""
SPLITS = ("test", "validation")


class Evaluation:
    """The evaluation shared by all jobs of a run: prompts, sampling, evaluators and judges."""

    def __init__(self, config: RunConfig, world: World) -> None:
        self.config, self.world = config, world
        g = config.generate
        self.params = SamplingParams(max_new_tokens=g.max_new_tokens, temperature=g.temperature,
                                     top_p=g.top_p, n=g.samples_per_prompt, seed=REFERENCE_SAMPLE_SEED)
        self.evaluators: list[Evaluator] = [EVALUATORS.get(name)() for name in config.eval.evaluators]
        self.prompts = {"test": world.test_prompts,
                        "validation": list(dict.fromkeys(ex.prompt for ex in world.validation_examples))}
        self.key = fingerprint({
            "prompts": world.test_prompts, "sampling": self.params.as_dict(), "backend": g.backend,
            "evaluators": [e.identity() for e in self.evaluators],
            "heldout": [ex.id for ex in world.validation_examples],
            "judges": {name: judge.identity() for name, judge in world.judges.items()},
            "bootstrap": config.eval.bootstrap_samples, "reference": world.base_fingerprint,
            "select_on": config.eval.select_on})

    def _generate(self, model_dir: str | Path, name: str, seed: int, split: str) -> Generations:
        params = SamplingParams(**{**self.params.as_dict(), "seed": seed})
        return generate(Path(model_dir), self.prompts[split], params, Path(self.config.cache),
                        self.config.data.max_prompt_tokens, generator_name=name,
                        backend=self.config.generate.backend,
                        batch_prompts=self.config.generate.batch_prompts, dtype=self.config.model.dtype)

    def reference_samples(self, split: str) -> Generations:
        return self._generate(self.world.base_model, "reference", REFERENCE_SAMPLE_SEED, split)

    @cached_property
    def _reference_model(self):
        return load_causal_lm(self.world.base_model, dtype=self.config.model.dtype,
                              trust_remote_code=self.config.model.trust_remote_code)

    @cached_property
    def _tokenizer(self):
        return load_tokenizer(self.world.base_model, trust_remote_code=self.config.model.trust_remote_code)

    def _logps(self, model, prompts: list[str], samples: list[list[str]]) -> np.ndarray:
        data = self.config.data
        return sequence_logps(model, self._tokenizer, prompts, samples, data.max_prompt_tokens,
                              data.max_response_tokens)

    def _heldout_logps(self, model) -> np.ndarray:
        pairs = self.world.validation_examples
        return self._logps(model, [ex.prompt for ex in pairs], [[r.text for r in ex.responses] for ex in pairs])

    @cached_property
    def _heldout_ref_logps(self) -> np.ndarray:
        return self._heldout_logps(self._reference_model)

    def evaluate(self, model_dir: str | Path, name: str, seed: int = REFERENCE_SAMPLE_SEED,
                 split: str = "test") -> tuple[dict[str, float], dict[str, Any]]:
        """Metrics and cost of the checkpoint at ``model_dir`` on ``split`` (samples drawn with ``seed``)."""
        started = time.perf_counter()
        policy = self._generate(model_dir, name, seed, split)
        inputs = EvalInputs(prompts=self.prompts[split], policy_samples=policy.samples,
                            reference_samples=self.reference_samples(split).samples, judges=self.world.judges,
                            seed=seed)
        is_reference = str(model_dir) == str(self.world.base_model)
        model = None
        if any(e.needs_logps for e in self.evaluators) or any(e.needs_heldout_pairs for e in self.evaluators):
            model = self._reference_model if is_reference else load_causal_lm(model_dir,
                                                                               dtype=self.config.model.dtype)
        if any(e.needs_logps for e in self.evaluators):
            inputs.policy_logps = self._logps(model, self.prompts[split], policy.samples)
            inputs.policy_ref_logps = (inputs.policy_logps if is_reference
                                       else self._logps(self._reference_model, self.prompts[split],
                                                        policy.samples))
        if split == "test" and self.world.validation_examples and \
                any(e.needs_heldout_pairs for e in self.evaluators):
            inputs.heldout_ref_logps = self._heldout_ref_logps
            inputs.heldout_logps = inputs.heldout_ref_logps if is_reference else self._heldout_logps(model)
        metrics, _ = run_evaluators(inputs, [e.name for e in self.evaluators])
        cost = {"eval_seconds": time.perf_counter() - started, "generation_seconds": policy.seconds,
                "generation_cached": policy.cached, "samples": sum(len(s) for s in policy.samples),
                "generation_backend": policy.backend}
        return metrics, cost
