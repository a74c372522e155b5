"""Preparing what outcome objectives read beside their batch, once per run: reference samples X~ and g.

DR-CPO and the direct method estimate the policy's value on texts X~ sampled from the reference f0
(``needs.reference_samples``: m = ``needs.samples_per_prompt`` per training prompt) and read an
outcome model's predictions (``needs.outcome_model``). Each is made once and shared by every job and
seed of the run, and cached on disk by content:

- the samples through :func:`bench.generate.generate` (the generation cache), at temperature 1 so
  they are draws from f0 itself (the importance ratio P^f / P^f0 assumes it), with the data's response
  length limit, like the gym's training texts;
- their reference log-probs through the reference cache, as one more tokenised dataset (one row per
  prompt, m responses);
- the outcome model's predictions through :func:`bench.models.outcome_model.cached_outcome_model`,
  whose held-out R^2 goes to the run log and into the job record.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from bench.data.records import Example, Response
from bench.data.tokenize import TokenizedDataset, tokenize_dataset
from bench.generate import generate
from bench.methods.base import Needs
from bench.models.outcome_model import cached_outcome_model
from bench.models.refcache import ReferenceCache
from bench.models.sampling import SamplingParams
from bench.train.outcome_inputs import OutcomeInputs
from bench.train.stats import CachedReference

if TYPE_CHECKING:  # a type hint only: the run's config is not training code, so it stays out of the jobs' keys
    from bench.config import RunConfig

REFERENCE_SAMPLE_SEED = 17
"""Seed of the X~ draw: fixed (the samples are part of the data, shared by every job seed) and unlike the
gym's own sampling seeds, so X~ are fresh draws rather than the training texts again."""
SAMPLE_TEMPERATURE = 1.0
"""X~ must be samples of f0 itself for w~ = P^f / P^f0 to be an importance ratio."""


def build_outcome_inputs(examples: list[Example], data: TokenizedDataset, needs: Needs, config: RunConfig,
                         tokenizer, base_model: str, base_fingerprint: str,
                         load_base: Callable[[], torch.nn.Module], say: Callable[[str], None]) -> OutcomeInputs:
    """Reference samples and outcome predictions for the training rows ``examples`` (tokenised as ``data``)."""
    prompts = list(dict.fromkeys(ex.prompt for ex in examples))
    row_of_prompt = {prompt: i for i, prompt in enumerate(prompts)}
    inputs = OutcomeInputs(samples=None, sample_reference=None,
                           sample_row=torch.tensor([row_of_prompt[ex.prompt] for ex in examples]))
    sample_texts: list[list[str]] = []
    if needs.reference_samples:
        m = needs.samples_per_prompt
        params = SamplingParams(max_new_tokens=config.data.max_response_tokens, temperature=SAMPLE_TEMPERATURE,
                                n=m, seed=REFERENCE_SAMPLE_SEED)
        generations = generate(Path(base_model), prompts, params, Path(config.cache), config.data.max_prompt_tokens,
                               generator_name="reference-samples", backend=config.generate.backend,
                               batch_prompts=config.generate.batch_prompts, dtype=config.model.dtype)
        sample_texts = generations.samples
        # m unscored responses per prompt: the k-wise layout, read only by the reference pass and the trainer
        rows = [Example(id=f"reference-sample-{i}", prompt=prompt, kind="kwise",
                        responses=tuple(Response(text) for text in group))
                for i, (prompt, group) in enumerate(zip(prompts, sample_texts, strict=True))]
        inputs.samples = tokenize_dataset(rows, tokenizer, config.data.max_prompt_tokens,
                                          config.data.max_response_tokens, tokenizer_id=base_fingerprint)
        cache = ReferenceCache(Path(config.cache) / "refcache", base_fingerprint, inputs.samples, load_base)
        report = cache.ensure(["responses"])
        inputs.sample_reference = CachedReference(cache)
        inputs.report["reference_samples"] = {"prompts": len(prompts), "per_prompt": m,
                                              "seed": REFERENCE_SAMPLE_SEED, "temperature": SAMPLE_TEMPERATURE}
        say(f"reference samples: {m} per prompt for {len(prompts)} prompts "
            f"({'cached' if generations.cached else f'sampled in {generations.seconds:.1f}s'}); reference log-probs "
            f"{'computed' if report.computed else 'reused'} ({report.seconds:.1f}s)")
    if needs.outcome_model:
        texts = [(ex.prompt, r.text) for ex in examples for r in ex.responses]
        outcomes = [float("nan") if r.outcome is None else float(r.outcome) for ex in examples for r in ex.responses]
        predict = [(prompt, text) for prompt, group in zip(prompts, sample_texts, strict=False) for text in group]
        fit = cached_outcome_model(Path(config.cache), texts, outcomes, predict)
        inputs.row_predictions = torch.tensor(fit.train_predictions, dtype=torch.float32).view(len(examples), data.n)
        if sample_texts:
            inputs.sample_predictions = torch.tensor(fit.predictions, dtype=torch.float32).view(
                len(prompts), needs.samples_per_prompt)
        inputs.report["outcome_model"] = fit.summary
        say(f"outcome model ({'cached' if fit.cached else 'fitted'}): ridge on response n-grams and length, "
            f"alpha {fit.summary['alpha']:g} by cross-validation, held-out R^2 {fit.summary['heldout_r2']:.3f} "
            f"({fit.summary['heldout_rows']} rows of held-out prompts), key {fit.summary['key']}")
    return inputs
