"""Social bias and capability regression of a checkpoint, measured by lm-eval's own tasks.

Preference training can make a model more stereotyped or erase what it knew; both are measured here
with lm-eval's task definitions (``crows_pairs_english``, ``bbq``, or any task list), never a rewrite of
them: an :class:`lm_eval.models.huggingface.HFLM` is wrapped around a model and tokenizer that bench
loaded itself (so GGUF files and bench checkpoints work the same), the tasks are built by lm-eval's
``TaskManager`` with only their dataset location overridden (:mod:`bench.evaluators.lm_eval_data`), and
``simple_evaluate`` computes every metric. Every result carries the provenance needed to trace a number:
lm-eval version, task names and versions, the fingerprints of the data files and of the model, and the
item selection (``limit`` or explicit indices).

These tasks are English text scored by log-likelihood, so they only mean something for a model with a
general English vocabulary (:func:`has_general_vocabulary`); the gym's word-level model is refused.
lm-eval is an optional dependency (the ``eval`` extra): it is imported when a task runs, not on import.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.errors import BenchError, closest
from bench.evaluators import register_evaluator
from bench.evaluators.base import EvalInputs, Evaluator
from bench.evaluators.lm_eval_data import data_fingerprints, shared_data_overrides
from bench.fingerprint import directory_fingerprint, file_fingerprint, fingerprint

SOCIAL_BIAS_TASKS: tuple[str, ...] = ("crows_pairs_english", "bbq")
"""The issue's social-bias pair: CrowS-Pairs (stereotype preference by likelihood) and BBQ (biased QA answers)."""
MIN_GENERAL_VOCABULARY = 1000
"""Fewer tokens than this cannot cover English without unknown tokens; the gym's tokenizer has 349."""
VOCABULARY_PROBE = ("Quartz sphinx judges vow: 1,024 zealous cobblers' bleak yachts (ok?) -- e.g. "
                    "Wagner's xylophone & Fjord jumps; https://example.org/x_y #42!")
"""English a general tokenizer must encode and decode losslessly: rare words, capitals, digits, punctuation."""
DEFAULT_BATCH_SIZE = 16
HF_OFFLINE_VARIABLES = ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE")


def has_general_vocabulary(tokenizer: Any) -> bool:
    """Whether a tokenizer can represent arbitrary English, so lm-eval's English tasks are meaningful.

    Two checks, both needed: at least :data:`MIN_GENERAL_VOCABULARY` tokens, and the probe sentence
    :data:`VOCABULARY_PROBE` encodes without the unknown token and decodes back to the same text (up to
    whitespace). A word-level vocabulary such as the gym's fails both: its 349 words map anything else
    to ``<unk>``. Byte-level BPE and SentencePiece-with-byte-fallback tokenizers pass.
    """
    if len(tokenizer) < MIN_GENERAL_VOCABULARY:
        return False
    ids = tokenizer.encode(VOCABULARY_PROBE, add_special_tokens=False)
    if tokenizer.unk_token_id is not None and tokenizer.unk_token_id in ids:
        return False
    decoded = tokenizer.decode(ids, skip_special_tokens=True)
    return decoded.split() == VOCABULARY_PROBE.split()


def use_offline_hub() -> None:
    """Keep lm-eval and ``datasets`` off the HF hub (must run before ``datasets`` is first imported).

    An explicit setting in the environment wins; otherwise bench runs offline, so a task whose data has
    no local copy fails at once instead of trying the network.
    """
    for variable in HF_OFFLINE_VARIABLES:
        os.environ.setdefault(variable, "1")


@dataclass
class LmEvalResult:
    """Metrics of one model on a task list, and everything that fixes them."""

    metrics: dict[str, dict[str, float]]
    """{task: {metric: value}}; a metric under a non-default lm-eval filter is named ``metric[filter]``."""
    provenance: dict[str, Any]
    samples: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    """lm-eval's logged per-document records (only with ``log_samples=True``)."""
    seconds: float = 0.0

    def flat(self, prefix: str = "lm_eval") -> dict[str, float]:
        """``{prefix/task/metric: value}`` for ``metrics.json``'s flat namespace."""
        return {f"{prefix}/{task}/{metric}": value
                for task, values in self.metrics.items() for metric, value in values.items()}


def _task_specs(tasks: Sequence[str], overrides: Mapping[str, Mapping[str, Any]], manager: Any) -> list[Any]:
    unknown = [name for name in tasks if name not in manager.all_tasks]
    if unknown:
        raise BenchError(f"lm-eval has no task {unknown[0]!r}{closest(unknown[0], manager.all_tasks)}; "
                         f"`lm-eval ls tasks` lists them")
    stray = [name for name in overrides if name not in tasks]
    if stray:
        raise BenchError(f"dataset override for task {stray[0]!r}, which is not in the task list {list(tasks)}")
    # A task with overrides is named inside an ad-hoc group, the documented way of overriding a
    # registered task's fields while keeping its definition; only the leaf tasks are evaluated.
    members = [{"task": name, **overrides[name]} if name in overrides else name for name in tasks]
    loaded = manager.load({"group": "bench_lm_eval", "task": members})
    return list(loaded["tasks"].values())


def _metric_values(task_results: Mapping[str, Any]) -> dict[str, float]:
    """lm-eval's ``"metric,filter"`` entries as floats, without stderrs, labels and NaNs.

    BBQ reports a bias score for each of its 11 categories and NaN for those absent from the data (the
    shared copy has 6): a NaN means "not measured", so it is left out rather than stored.
    """
    values: dict[str, float] = {}
    for key, value in task_results.items():
        if "," not in key or "_stderr," in key or not isinstance(value, (int, float)):
            continue
        metric, filter_name = key.split(",", 1)
        if math.isnan(float(value)):
            continue
        values[metric if filter_name == "none" else f"{metric}[{filter_name}]"] = float(value)
    return values


def run_lm_eval(model: Any, tokenizer: Any, tasks: Sequence[str], *, model_fingerprint: str,
                overrides: Mapping[str, Mapping[str, Any]] | None = None, limit: int | None = None,
                samples: Mapping[str, Sequence[int]] | None = None, batch_size: int = DEFAULT_BATCH_SIZE,
                log_samples: bool = False) -> LmEvalResult:
    """Evaluate a loaded causal LM on lm-eval tasks, zero-shot, with their dataset location overridden.

    ``overrides`` maps a task to config fields (see :mod:`bench.evaluators.lm_eval_data`); ``limit``
    keeps each task's first documents and ``samples`` names document indices per task (one or the
    other). A group or tag name (``mmlu``) is expanded to its leaf tasks, each reported on its own;
    group aggregates are not computed. Bootstrap stderrs are skipped: bench computes its own
    intervals where it needs them.
    """
    if not has_general_vocabulary(tokenizer):
        raise BenchError(f"tokenizer of model {model_fingerprint} has no general English vocabulary "
                         f"({len(tokenizer)} tokens); lm-eval's tasks need a model like SmolLM2, not the "
                         f"gym's word-level one")
    if limit is not None and samples is not None:
        raise BenchError("give lm-eval either limit or samples (document indices), not both")
    use_offline_hub()
    import lm_eval
    from lm_eval.models.huggingface import HFLM
    from lm_eval.tasks import TaskManager

    overrides = dict(overrides or {})
    manager = TaskManager()
    task_objects = _task_specs(tasks, overrides, manager)
    device = str(next(model.parameters()).device)
    lm = HFLM(pretrained=model, tokenizer=tokenizer, batch_size=batch_size, device=device)
    started = time.perf_counter()
    output = lm_eval.simple_evaluate(
        model=lm, tasks=task_objects, limit=limit, bootstrap_iters=0, log_samples=log_samples,
        samples={k: list(v) for k, v in samples.items()} if samples is not None else None,
        task_manager=manager)
    seconds = time.perf_counter() - started
    metrics = {task: _metric_values(output["results"][task]) for task in output["results"]
               if task in output["versions"]}
    provenance = {
        "lm_eval_version": output.get("lm_eval_version", getattr(lm_eval, "__version__", "unknown")),
        "transformers_version": output.get("transformers_version"),
        "tasks": {task: {"version": output["versions"][task], "n_shot": output["n-shot"].get(task, 0),
                         "documents": output["n-samples"][task]["effective"],
                         "documents_total": output["n-samples"][task]["original"],
                         "dataset_path": output["configs"][task].get("dataset_path")}
                  for task in metrics},
        "data": data_fingerprints(overrides),
        "limit": limit,
        "samples": {k: fingerprint(list(v)) for k, v in samples.items()} if samples is not None else None,
        "model": model_fingerprint,
        "dtype": str(next(model.parameters()).dtype).removeprefix("torch."),
        "batch_size": batch_size,
    }
    return LmEvalResult(metrics=metrics, provenance=provenance,
                        samples=output.get("samples", {}) if log_samples else {}, seconds=seconds)


def model_fingerprint(path: str | Path) -> str:
    """Identity of a model named by a directory, a GGUF file or a hub id (its bytes where it is local)."""
    local = Path(path)
    if local.is_dir():
        return directory_fingerprint(local)
    if local.is_file():
        return file_fingerprint(local)
    return fingerprint({"hub_id": str(path)})


def evaluate_checkpoint(path: str | Path, tasks: Sequence[str] = SOCIAL_BIAS_TASKS, *,
                        data_root: Path | None = None, dtype: str = "float32", **kwargs: Any) -> LmEvalResult:
    """Load a checkpoint (directory, ``.gguf`` or hub id) with bench's loader and run :func:`run_lm_eval`.

    ``data_root`` is a folder laid out like the project's reference data (``crows_pairs/``, ``bbq/``);
    tasks with a local copy there read it, the others use lm-eval's dataset location.
    """
    from bench.models.loading import load_causal_lm, load_tokenizer

    overrides = shared_data_overrides(data_root, tasks) if data_root is not None else {}
    model = load_causal_lm(path, dtype=dtype).eval()
    tokenizer = load_tokenizer(path)
    return run_lm_eval(model, tokenizer, tasks, model_fingerprint=model_fingerprint(path),
                       overrides=overrides, **kwargs)


COMPARABLE_PROVENANCE = ("lm_eval_version", "data", "limit", "samples")
"""What two results must share for their difference to be a change of the model and nothing else."""


def capability_deltas(checkpoint: LmEvalResult, reference: LmEvalResult) -> dict[str, tuple[float, float, float]]:
    """``{task/metric: (checkpoint, reference, checkpoint - reference)}`` over the metrics both measured.

    A delta is only the model's doing if both sides ran the same lm-eval, task versions, data bytes
    and documents; anything else differing is an error here, not a silently meaningless number.
    Whether a delta is a regression depends on the metric's direction (lm-eval's ``higher_is_better``);
    the sign is left as measured.
    """
    for key in COMPARABLE_PROVENANCE:
        if checkpoint.provenance.get(key) != reference.provenance.get(key):
            raise BenchError(f"checkpoint and reference lm-eval results differ in {key!r} "
                             f"({checkpoint.provenance.get(key)!r} vs {reference.provenance.get(key)!r}); "
                             f"evaluate both with the same tasks, data and limit")
    for task, info in checkpoint.provenance["tasks"].items():
        other = reference.provenance["tasks"].get(task)
        if other is not None and (other["version"], other["documents"]) != (info["version"], info["documents"]):
            raise BenchError(f"task {task!r} ran as version {info['version']} on {info['documents']} documents "
                             f"for the checkpoint but {other['version']} on {other['documents']} for the "
                             f"reference; re-run both with the same lm-eval and limit")
    deltas: dict[str, tuple[float, float, float]] = {}
    for task, values in checkpoint.metrics.items():
        for metric, value in values.items():
            if metric in reference.metrics.get(task, {}):
                ref = reference.metrics[task][metric]
                deltas[f"{task}/{metric}"] = (value, ref, value - ref)
    return deltas


_REFERENCE_RESULTS: dict[str, LmEvalResult] = {}
"""Reference results by settings key: every checkpoint of a run compares against the same reference."""


@register_evaluator("lm_eval")
class LmEvalEvaluator(Evaluator):
    """lm-eval tasks on the checkpoint and the reference: values and deltas, as flat metrics.

    Unlike the sample-based evaluators it needs the models themselves, named by the
    ``EvalInputs.policy_model`` / ``EvalInputs.reference_model`` fields; without them it says so. It
    reads models by path, so its results are never served from the evaluator cache.
    Emits ``lm_eval/TASK/METRIC`` and ``lm_eval/TASK/METRIC_delta`` (checkpoint minus reference).
    """

    version = "1"
    cacheable = False

    def __init__(self, tasks: Sequence[str] = SOCIAL_BIAS_TASKS, data_root: str | Path | None = None,
                 limit: int | None = None, dtype: str = "float32", batch_size: int = DEFAULT_BATCH_SIZE) -> None:
        self.tasks, self.limit, self.dtype, self.batch_size = tuple(tasks), limit, dtype, batch_size
        self.data_root = Path(data_root) if data_root is not None else None

    def identity(self) -> dict[str, Any]:
        overrides = shared_data_overrides(self.data_root, self.tasks) if self.data_root is not None else {}
        return {"name": self.name, "version": self.version, "tasks": list(self.tasks), "limit": self.limit,
                "dtype": self.dtype, "data": data_fingerprints(overrides)}

    def _evaluate(self, path: str) -> LmEvalResult:
        return evaluate_checkpoint(path, self.tasks, data_root=self.data_root, dtype=self.dtype, limit=self.limit,
                                   batch_size=self.batch_size)

    def evaluate(self, inputs: EvalInputs) -> dict[str, float]:
        policy, reference = inputs.policy_model, inputs.reference_model
        if policy is None or reference is None:
            raise BenchError("evaluator 'lm_eval' needs the checkpoint and reference model paths "
                             "(EvalInputs.policy_model / reference_model); drop it from eval.evaluators")
        key = fingerprint({"model": model_fingerprint(reference), **self.identity()})
        if key not in _REFERENCE_RESULTS:
            _REFERENCE_RESULTS[key] = self._evaluate(str(reference))
        reference_result = _REFERENCE_RESULTS[key]
        checkpoint_result = (reference_result if str(policy) == str(reference) else self._evaluate(str(policy)))
        metrics = checkpoint_result.flat(self.name)
        for name, (_, _, delta) in capability_deltas(checkpoint_result, reference_result).items():
            metrics[f"{self.name}/{name}_delta"] = delta
        return metrics
