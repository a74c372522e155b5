"""Evaluating a checkpoint: sample once, score once, run every evaluator, record the cost.

Reference samples on the evaluation prompts are drawn once per run and shared by every job; each
checkpoint's samples are cached by (checkpoint, prompts, sampling), and each evaluator's metrics by
(evaluator, inputs), so re-evaluating an unchanged checkpoint (say, after adding one evaluator to
the run) runs only the evaluators whose inputs changed and the scoring passes they need.
``split="validation"`` evaluates on the held-out prompts that sweeps select on; final numbers always
come from the test prompts.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from bench.data.conversation import Prompt, as_text
from bench.errors import ConfigError, DataError
from bench.evaluators import DEFAULT_EVALUATORS, build_evaluator
from bench.evaluators.alpaca_metrics import load_model_outputs
from bench.evaluators.base import EvalInputs, Evaluator
from bench.evaluators.cache import EvaluatorCache, run_cached
from bench.evaluators.judge_quality import judge_quality
from bench.fingerprint import directory_fingerprint, file_fingerprint, fingerprint
from bench.generate import Generations, generate
from bench.generate.outputs import write_model_outputs
from bench.models import scoring as scoring_module
from bench.models.loading import load_causal_lm, load_run_model, load_tokenizer
from bench.models.sampling import SamplingParams
from bench.models.scoring import logps_and_token_entropies, sequence_logps
from bench.runner.world import World
from bench.source_fingerprint import source_fingerprint

if TYPE_CHECKING:  # the run's settings reach the evaluation as values: config.py is not in its key
    from bench.config import RunConfig

REFERENCE_SAMPLE_SEED = 0
REFERENCE_ROW_SEED = 1
"""The reference row is the reference's own samples under another seed: its win rate is the noise floor."""
SPLITS = ("test", "validation")


def choose_evaluators(config: RunConfig, world: World) -> tuple[list[Evaluator], list[str]]:
    """The run's evaluators and what to say about them: the defaults this run can use (the others left out, said),
    or the explicit ``eval.evaluators``, each of which must be able to run here (a ConfigError otherwise, before
    any training rather than after it)."""
    run_settings = {"n_boot": config.eval.bootstrap_samples, "length_blind": world.length_blind_judges}
    explicit = config.eval.evaluators is not None
    names = config.eval.evaluators if explicit else DEFAULT_EVALUATORS
    evaluators = [build_evaluator(name, run_settings) for name in names]
    unmet = {e.name: need for e in evaluators if (need := e.unmet_need(world.judges)) is not None}
    if explicit and unmet:
        reasons = "; ".join(f"{name} {need}" for name, need in unmet.items())
        raise ConfigError(f"eval.evaluators: {reasons}; add a judge with eval.judges.NAME=SPEC (e.g. "
                          f"eval.judges.rm=reward-model:DIR) or drop {', '.join(unmet)} from eval.evaluators")
    log = [f"evaluators: left out {', '.join(unmet)} ({'; '.join(unmet.values())}); add a judge with "
           f"eval.judges.NAME=SPEC to use them"] if unmet else []
    return [e for e in evaluators if e.name not in unmet], log


def reference_outputs_for(path: Path, prompts: Sequence[Prompt]) -> list[list[str]]:
    """The outputs of an alpaca_eval ``model_outputs`` file for ``prompts``, matched by instruction, one per prompt.

    A prompt the file does not answer is an error naming how many are missing and an example: a win rate
    against a reference set must compare every prompt with the same set.
    """
    table = load_model_outputs(path)
    by_instruction = dict(zip(table["instruction"].astype(str), table["output"], strict=True))
    missing = [as_text(p) for p in prompts if as_text(p) not in by_instruction]
    if missing:
        raise DataError(f"eval.reference_outputs={path} has no output for {len(missing)} of {len(prompts)} test "
                        f"prompts (e.g. {missing[0][:60]!r}); give outputs for every evaluation instruction")
    return [[by_instruction[as_text(p)]] for p in prompts]


class Evaluation:
    """The evaluation shared by all jobs of a run: prompts, sampling, evaluators and judges."""

    def __init__(self, config: RunConfig, world: World) -> None:
        self.config, self.world = config, world
        g = config.generate
        self.params = SamplingParams(max_new_tokens=g.max_new_tokens, temperature=g.temperature,
                                     top_p=g.top_p, n=g.samples_per_prompt, seed=REFERENCE_SAMPLE_SEED)
        self.evaluators, self.log = choose_evaluators(config, world)
        self.prompts = {"test": world.test_prompts,
                        "validation": list(dict.fromkeys(ex.prompt for ex in world.validation_examples))}
        self.key = fingerprint({
            "prompts": world.test_prompts, "sampling": self.params.as_dict(), "backend": g.backend,
            "evaluators": [e.identity() for e in self.evaluators],
            "heldout": [ex.id for ex in world.validation_examples],
            "judges": {name: judge.identity() for name, judge in world.judges.items()},
            "bootstrap": config.eval.bootstrap_samples, "reference": world.reference_id,
            "select_on": config.eval.select_on,
            "reference_outputs": (None if config.eval.reference_outputs is None
                                  else file_fingerprint(Path(config.eval.reference_outputs))),
            "code": source_fingerprint(Evaluation, *map(type, self.evaluators), *map(type, world.judges.values()))})

    def write_outputs(self, directory: Path, model_dir: str | Path, name: str, generator: str,
                      seed: int = REFERENCE_SAMPLE_SEED, file_name: str = "model_outputs") -> list[Path]:
        """The test samples of ``model_dir`` (drawn with ``seed``, read back from the generation cache) as
        alpaca_eval model_outputs files in ``directory`` (:mod:`bench.generate.outputs`)."""
        samples = self._generate(model_dir, name, seed, "test").samples
        return write_model_outputs(directory, self.prompts["test"], samples, generator, file_name)

    def judge_quality(self) -> dict[str, float]:
        """How far each judge can be trusted, on the held-out pairs (:mod:`bench.evaluators.judge_quality`):
        recorded with the reference row, once per table."""
        return judge_quality(self.world.judges, self.world.validation_examples,
                             n_boot=self.config.eval.bootstrap_samples, seed=REFERENCE_SAMPLE_SEED)

    def check_selection(self, judge: str) -> None:
        """Sweeps pick their point by ``judge``'s win rate on the validation prompts: check, before training, that
        the run has that judge and the win-rate evaluator."""
        if judge not in self.world.judges:
            raise ConfigError(f"eval.select_on={judge!r} is not a judge of this run (judges: "
                              f"{', '.join(self.world.judges) or 'none'}); sweeps choose their point by its win rate")
        if not any(evaluator.name == "win_rate" for evaluator in self.evaluators):
            raise ConfigError(f"a sweep chooses its point by the {judge} win rate on validation prompts: add win_rate "
                              f"to eval.evaluators")

    def _generate(self, model_dir: str | Path, name: str, seed: int, split: str) -> Generations:
        params = SamplingParams(**{**self.params.as_dict(), "seed": seed})
        return generate(Path(model_dir), self.prompts[split], params, Path(self.config.cache),
                        self.config.data.max_prompt_tokens, generator_name=name,
                        backend=self.config.generate.backend,
                        batch_prompts=self.config.generate.batch_prompts, dtype=self.config.model.dtype)

    def samples(self, model_dir: str | Path, name: str, seed: int = REFERENCE_SAMPLE_SEED) -> list[list[str]]:
        """The test-prompt samples ``evaluate`` drew (from the generation cache when it ran before)."""
        return self._generate(model_dir, name, seed, "test").samples

    def reference_samples(self, split: str) -> list[list[str]]:
        """What the policy's samples are compared with: ``eval.reference_outputs`` on the test prompts when given
        (one output per prompt, as alpaca_eval compares with GPT-4 Turbo's), else the base model's own samples."""
        if split == "test" and self.reference_outputs is not None:
            return self.reference_outputs
        return self._generate(self.world.base_model, "reference", REFERENCE_SAMPLE_SEED, split).samples

    @cached_property
    def reference_outputs(self) -> list[list[str]] | None:
        """``eval.reference_outputs`` matched to the test prompts by instruction (None when not given)."""
        path = self.config.eval.reference_outputs
        return None if path is None else reference_outputs_for(Path(path), self.prompts["test"])

    @cached_property
    def _reference_model(self):
        return load_run_model(self.world.base_model, self.config.model)

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

    # caching -----------------------------------------------------------------------------------------
    @cached_property
    def evaluator_cache(self) -> EvaluatorCache:
        """Per-evaluator results under the run's cache dir (see :mod:`bench.evaluators.cache`)."""
        return EvaluatorCache(Path(self.config.cache) / "evaluations")

    @cached_property
    def _scoring_fingerprint(self) -> str:
        """What fixes a scoring pass besides model and texts: token limits, the reference as it computes (its dtype
        and attention kernel), and the scoring code."""
        data = self.config.data
        return fingerprint({"max_prompt_tokens": data.max_prompt_tokens, "reference": self.world.reference_id,
                            "max_response_tokens": data.max_response_tokens,
                            "code": source_fingerprint(scoring_module, load_causal_lm)})

    @cached_property
    def _heldout_fingerprint(self) -> str:
        return fingerprint([[ex.prompt, [r.text for r in ex.responses]] for ex in self.world.validation_examples])

    def _pending_fingerprints(self, model_dir: str | Path, is_reference: bool, samples: list[list[str]],
                              with_heldout: bool) -> dict[str, str]:
        """Fingerprints of the model-derived inputs by what determines them, before computing any."""
        reference = self.world.base_fingerprint
        policy = reference if is_reference else directory_fingerprint(Path(model_dir))  # a stamp read for checkpoints
        texts, scoring = fingerprint(samples), self._scoring_fingerprint
        pending = {
            "policy_logps": fingerprint({"model": policy, "samples": texts, "scoring": scoring}),
            "policy_ref_logps": fingerprint({"model": reference, "samples": texts, "scoring": scoring}),
            "policy_token_entropy": fingerprint({"entropy_of": policy, "samples": texts, "scoring": scoring}),
        }
        if with_heldout:
            pairs = self._heldout_fingerprint
            pending["heldout_logps"] = fingerprint({"model": policy, "pairs": pairs, "scoring": scoring})
            pending["heldout_ref_logps"] = fingerprint({"model": reference, "pairs": pairs, "scoring": scoring})
        return pending

    # evaluating --------------------------------------------------------------------------------------
    def evaluate(self, model_dir: str | Path, name: str, seed: int = REFERENCE_SAMPLE_SEED,
                 split: str = "test") -> tuple[dict[str, float], dict[str, Any]]:
        """Metrics and cost of the checkpoint at ``model_dir`` on ``split`` (samples drawn with ``seed``).

        Model-derived inputs (log-probs, held-out pairs, token entropies) are computed only for
        evaluators that declare them and whose cached results cannot be reused; the cost says, per
        evaluator, its wall time, its sample count, whether it was cached and its inputs' hashes.
        """
        started = time.perf_counter()
        policy = self._generate(model_dir, name, seed, split)
        prompts = self.prompts[split]
        inputs = EvalInputs(prompts=prompts, policy_samples=policy.samples,
                            reference_samples=self.reference_samples(split), judges=self.world.judges,
                            seed=seed, policy_model=str(model_dir), reference_model=str(self.world.base_model))
        is_reference = str(model_dir) == str(self.world.base_model)
        with_heldout = split == "test" and bool(self.world.validation_examples)
        scoring_seconds = 0.0
        loaded: dict[str, Any] = {}

        def policy_model():
            if "model" not in loaded:
                loaded["model"] = self._reference_model if is_reference else load_run_model(
                    model_dir, self.config.model)
            return loaded["model"]

        def fill(target: EvalInputs, fields: set[str]) -> None:
            nonlocal scoring_seconds
            fill_started = time.perf_counter()
            logps = None
            if "policy_token_entropy" in fields:  # the same forward pass gives the samples' log-probs
                data = self.config.data
                logps, target.policy_token_entropy = logps_and_token_entropies(
                    policy_model(), self._tokenizer, prompts, policy.samples, data.max_prompt_tokens,
                    data.max_response_tokens)
            if fields & {"policy_logps", "policy_ref_logps"}:
                target.policy_logps = logps if logps is not None else self._logps(policy_model(), prompts,
                                                                                  policy.samples)
                target.policy_ref_logps = (target.policy_logps if is_reference
                                           else self._logps(self._reference_model, prompts, policy.samples))
            if fields & {"heldout_logps", "heldout_ref_logps"}:
                target.heldout_ref_logps = self._heldout_ref_logps
                target.heldout_logps = (target.heldout_ref_logps if is_reference
                                        else self._heldout_logps(policy_model()))
            scoring_seconds += time.perf_counter() - fill_started

        pending = self._pending_fingerprints(model_dir, is_reference, policy.samples, with_heldout)
        metrics, evaluator_costs = run_cached(self.evaluators, inputs, self.evaluator_cache, pending, fill)
        cost = {"eval_seconds": time.perf_counter() - started, "generation_seconds": policy.seconds,
                "generation_cached": policy.cached, "samples": sum(len(s) for s in policy.samples),
                "generation_backend": policy.backend, "scoring_seconds": scoring_seconds,
                "evaluators": {evaluator: c.as_dict() for evaluator, c in evaluator_costs.items()}}
        return metrics, cost
