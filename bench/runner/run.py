"""``bench run``: plan, share the expensive work, train and evaluate every job, publish the leaderboard.

Order of work, each step skipped when its output exists: the world (gym build), the plan (every job
validated before any training), ONE reference pass per tokenised dataset covering the union of what
the unfinished jobs need, the shared reference samples, then per job: train (resuming a snapshot),
evaluate, write ``metrics.json``. Finished jobs are recognised by their content key and skipped.

Data selectors run per (selector, seed) on the training pool before anything is tokenised. Their
inputs come from what the run has anyway: explicit scores from the world (the gym's gold reward),
implicit LN log-probs from the full pool's reference pass. A selected dataset is its own tokenised
dataset (``<kind>@<selection fingerprint>``) whose reference log-probs are the full pool's rows,
sliced (:mod:`bench.models.refsubset`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, replace
from datetime import timedelta
from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from accelerate import PartialState
from accelerate.utils import broadcast_object_list

from bench import __version__, atomic, failpoints
from bench.cached import write_record
from bench.config import RunConfig, to_yaml
from bench.data.derive import derive
from bench.data.kwise import first_k_responses
from bench.data.records import Example, dataset_fingerprint, has_scores
from bench.data.selectors import Selection
from bench.data.tokenize import TokenizedDataset, Truncation, encode_prompts_with_cuts, tokenize_dataset
from bench.errors import ConfigError
from bench.evaluators.head_to_head import head_to_head, head_to_head_markdown, head_to_head_record
from bench.fingerprint import fingerprint
from bench.generate.outputs import generator_name
from bench.gym.frontier import gym_frontier, save_frontier, stored_frontiers
from bench.host_memory import return_freed_memory
from bench.leaderboards.plot import PLOT_FILE, method_points, plot_frontier
from bench.leaderboards.record import JobInfo, JobRecord, Sweep
from bench.leaderboards.render import FRONTIER_FILE, key_directory, write_leaderboard
from bench.leaderboards.table import best_points, load_results, point_label
from bench.locks import held
from bench.methods.composite import objective_types
from bench.models.loading import load_causal_lm, load_run_model, load_tokenizer
from bench.models.refcache import ReferenceCache, distribution_cache_bytes, sae_item
from bench.models.reference_margins import length_normalised_reference_logps
from bench.models.refsubset import SLICED_ITEMS, RowSubsetReference, subset_rows
from bench.models.sae import SparseAutoencoder, load_sae
from bench.models.sampling import SamplingParams
from bench.notices import notice
from bench.runner.evaluate import REFERENCE_ROW_SEED, Evaluation
from bench.runner.outcome_setup import build_outcome_inputs
from bench.runner.plan import (
    NATIVE,
    SELECTED,
    Job,
    apply_selectors,
    build_selectors,
    build_variants,
    plan_jobs,
    selection_seeds,
)
from bench.runner.slurm import run_on_slurm, slurm_plan
from bench.runner.store import (
    admit_to_benchmark,
    check_writable,
    earlier_training,
    finished,
    job_dir,
    package_versions,
    supersede_earlier,
    write_metrics,
)
from bench.runner.workers import run_in_workers, worker_count
from bench.runner.world import World, build_world
from bench.source_fingerprint import source_fingerprint
from bench.store_layout import METRICS_FILE
from bench.train.batches import OfflineBatches, OnlineBatches
from bench.train.checkpoint import CHECKPOINT, checkpoint_problem
from bench.train.loop import TrainConfig, train
from bench.train.model_setup import AdapterReference, prepare_model
from bench.train.outcome_inputs import OutcomeInputs
from bench.train.sharding import launch_sharding
from bench.train.stats import CachedReference, LiveReference, MovingReference, ReferenceSource

DISTRIBUTION_CACHE_LIMIT = 512 * 2**20
"""Largest full-vocabulary reference cache (TDPO) kept on disk; above it the reference stays in memory."""
SELECTION_FILE = "selection.json"
"""Written into the directory of every job trained on the pool: which rows its selector kept, and why."""
REFERENCE_SELECTOR = "-"
"""The selector column of the untrained reference row (no data was selected for it)."""
PROCESS_GROUP_TIMEOUT = timedelta(hours=6)
"""How long a launch's processes wait for each other: the others wait while the main process evaluates a job."""
REUSED = "reused"
"""Marks the record of a job that another bench process finished while this one waited for its lock."""


TRAINING_CODE = (train, prepare_model, OfflineBatches, OnlineBatches, tokenize_dataset, encode_prompts_with_cuts,
                 derive, first_k_responses, load_causal_lm, build_outcome_inputs)
"""Where the training of every job runs besides its objective: the loop, batching, tokenisation, loading. Their
source (and what it reaches, :mod:`bench.source_fingerprint`) is part of every job's key."""


@dataclass
class RunResult:
    jobs: int
    trained: int
    reused: int
    seconds: float
    leaderboards: list[Path]
    comparability_key: str
    """The benchmark the run's jobs belong to (its leaderboard table's key)."""
    reports: bool = True
    """False in the processes of a launch other than the main one, which reports the run."""


class Runner:
    """One ``bench run``: holds what jobs share (tokenised data, reference caches, the evaluation)."""

    def __init__(self, config: RunConfig, say: Callable[[str], None]) -> None:
        # The processes of `accelerate launch` (one otherwise): they train each job together and the main one
        # alone says, evaluates and writes (bench.train.distributed).
        self.processes = PartialState(cpu=not torch.cuda.is_available(), timeout=PROCESS_GROUP_TIMEOUT)
        self.main = self.processes.is_main_process
        self.sharding = launch_sharding()  # read (and a DeepSpeed or FSDP1 launch refused) before any work
        say = say if self.main else _silent
        self.config, self.say = config, say
        self.store, self.cache = Path(config.store), Path(config.cache)
        variants = build_variants(config)  # fail on a bad method or hyper-parameter before building data
        selectors = build_selectors(config)
        check_writable(self.store, "store")
        check_writable(self.cache, "cache")
        # The main process builds what the world caches (the gym's reference model is trained by it alone) and the
        # others then read it: transformers writes checkpoints only from the launch's rank 0.
        with self.processes.main_process_first():
            self.world: World = build_world(config, progress=config.progress)
        for line in self.world.log:
            say(line)
        planned = plan_jobs(config, variants, self.world.source_kind, self.world.has_scores,
                            has_validation=bool(self.world.validation_examples),
                            native={kind: has_scores(rows) for kind, rows in self.world.native_datasets.items()})
        planned, skipped = apply_selectors(planned, selectors, self.world.source_kind)
        if skipped:
            say(skipped)
        chosen_on = selection_seeds(config)
        self.jobs = [job for job in planned if not job.swept or job.seed in chosen_on]
        """The jobs the run trains first: every unswept job, and every sweep point at the seeds it is chosen on."""
        self.deferred = [job for job in planned if job.swept and job.seed not in chosen_on]
        """Sweep points at the other seeds (``tuning.select_seeds``): the chosen points train after the choice."""
        self.tokenizer = load_tokenizer(self.world.base_model, config.model.trust_remote_code)
        self.evaluation = Evaluation(config, self.world)
        for line in self.evaluation.log:
            say(line)
        if any(job.swept for job in self.jobs):
            self.evaluation.check_selection(config.eval.select_on)
        self._datasets: dict[str, TokenizedDataset] = {}
        self._rows: dict[str, list[Example]] = {}
        self._caches: dict[str, ReferenceCache | RowSubsetReference] = {}
        self._sae: SparseAutoencoder | None = None
        self._outcome_inputs: dict[tuple, OutcomeInputs] = {}
        self._selections: dict[str, Selection] = {}
        self._selected_by = {job.selection_key: job for job in planned}
        self._pool_logps: np.ndarray | None = None
        self._native_keys: dict[str, str] = {}

    # shared artefacts -------------------------------------------------------------------------------
    def training_rows(self, name: str) -> list[Example]:
        """The rows of dataset ``name``: native rows, or the (selected) pool derived to the kind.

        k-wise rows keep their first ``data.kwise_k`` responses, whichever way they were made (see :attr:`pool`).
        """
        if name not in self._rows:
            base, _, selection = name.partition(SELECTED)
            kind, _, native = base.partition(":")
            if native:
                rows = self.world.native_datasets[kind]
            else:
                pool = self.selection(self._selected_by[selection]).examples if selection else self.pool
                rows = derive(pool, kind)
            self._rows[name] = first_k_responses(rows, self.config.data.kwise_k) if kind == "kwise" else rows
        return self._rows[name]

    @cached_property
    def pool(self) -> list[Example]:
        """The training pool; a k-wise pool keeps its first ``data.kwise_k`` responses per row before anything
        is derived from it, so pairwise objectives at k = 2 see the same two responses as reward-aware ones."""
        rows = self.world.train_examples
        return first_k_responses(rows, self.config.data.kwise_k) if self.world.source_kind == "kwise" else rows

    def dataset(self, name: str) -> TokenizedDataset:
        """The tokenised dataset ``name`` (a :attr:`Job.dataset`), built once per run."""
        if name not in self._datasets:
            self._datasets[name] = tokenize_dataset(self.training_rows(name), self.tokenizer,
                                                    self.config.data.max_prompt_tokens,
                                                    self.config.data.max_response_tokens,
                                                    tokenizer_id=self.world.reference_id)
            if cut := self._datasets[name].truncation.message():
                self.say(f"data {name}: {cut}")
        return self._datasets[name]

    def reference_cache(self, name: str) -> ReferenceCache | RowSubsetReference:
        """The reference cache of dataset ``name``; a selected dataset's reads the full dataset's rows."""
        if name not in self._caches:
            needs_sae = any(job.objective.needs.sae is not None for job in self.jobs)
            own = ReferenceCache(self.cache / "refcache", self.world.reference_id, self.dataset(name),
                                 self._load_base, sae=self.sae() if needs_sae else None)
            full, selected, _ = name.partition(SELECTED)
            if selected:
                rows = subset_rows([ex.id for ex in self.training_rows(name)],
                                   [ex.id for ex in self.training_rows(full)])
                own = RowSubsetReference(self.reference_cache(full), rows, own)
            self._caches[name] = own
        return self._caches[name]

    @cached_property
    def online_prompts(self) -> tuple[list[str], list[list[int]], Truncation]:
        """The training prompts on-policy objectives sample from, their token ids and what was cut (said once)."""
        prompts = [ex.prompt for ex in self.world.train_examples]
        prompt_ids, cut = encode_prompts_with_cuts(self.tokenizer, prompts, self.config.data.max_prompt_tokens)
        truncation = Truncation(prompts=len(prompts), prompts_cut=sum(cut),
                                max_prompt_tokens=self.config.data.max_prompt_tokens)
        if message := truncation.message():
            self.say(f"data (on-policy prompts): {message}")
        return prompts, prompt_ids, truncation

    def truncation(self, job: Job) -> Truncation:
        """What tokenisation cut from the data ``job`` trains on (recorded in its metrics.json)."""
        return self.online_prompts[2] if job.objective.needs.online else self.dataset(job.dataset).truncation

    def sae(self) -> SparseAutoencoder:
        """The run's sparse autoencoder (FPO): ``model.sae_path``, else the gym's own, found or trained once."""
        if self._sae is None:
            path = self.config.model.sae_path
            if path:
                self._sae = load_sae(path)
                self.say(f"SAE: {path} ({self._sae.architecture}, {self._sae.d_sae} features, "
                         f"block {self._sae.layer})")
            elif self.world.gym is not None and not self.config.model.path:
                from bench.gym.sae import gym_sae

                built = gym_sae(Path(self.world.base_model), self.dataset("pairs"), self.config.gym.sae)
                self._sae = load_sae(built.directory)
                self.say(built.summary())
            else:
                methods = sorted({job.method for job in self.jobs if job.objective.needs.sae is not None})
                raise ConfigError(f"{', '.join(methods)} needs a sparse autoencoder for model.path; give "
                                  "model.sae_path=DIR (cfg.json + sae_weights.safetensors, the sae-lens layout)")
        return self._sae

    def outcome_inputs(self, job: Job) -> OutcomeInputs | None:
        """Reference samples and outcome predictions for ``job`` when its needs ask for them (once per run)."""
        needs = job.objective.needs
        if not (needs.reference_samples or needs.outcome_model):
            return None
        key = (job.dataset, needs.reference_samples, needs.samples_per_prompt, needs.outcome_model)
        if key not in self._outcome_inputs:
            self._outcome_inputs[key] = build_outcome_inputs(
                self.training_rows(job.dataset), self.dataset(job.dataset), needs, self.config, self.tokenizer,
                self.world.base_model, self.world.reference_id, self._load_base, self.say)
        return self._outcome_inputs[key]

    def selection(self, job: Job) -> Selection:
        """The rows of the pool ``job``'s selector keeps for its seed, chosen once per run."""
        key = job.selection_key
        if key not in self._selections:
            pool = self.world.train_examples
            selection = job.selector.select(pool, explicit=lambda: self.world.explicit_scores(pool),
                                            implicit=self.pool_reference_logps, seed=job.seed)
            self._selections[key] = selection
            if job.selected:
                self.say(f"selection {selection.spec}"
                         + (f" seed={job.seed}" if job.selector.uses_seed else "")
                         + f": kept {len(selection.kept_ids)} of {selection.pool_size} rows"
                         + (f" by {selection.score_name}" if selection.score_name else ""))
        return self._selections[key]

    def pool_reference_logps(self) -> np.ndarray:
        """LN(pi_ref, y) [N, 2] of the pool's responses, from the pool's reference pass (no second pass)."""
        if self._pool_logps is None:
            kind = self.world.source_kind
            self._pool_logps = length_normalised_reference_logps(self.reference_cache(kind), self.dataset(kind))
        return self._pool_logps

    def _load_base(self):
        return load_run_model(self.world.base_model, self.config.model)

    def _cached_items(self, job: Job) -> list[str]:
        """What ``job`` reads from the reference cache (empty when it needs no reference or is online)."""
        needs = job.objective.needs
        if needs.online or needs.reference_update is not None or not (needs.reference or needs.token_kl):
            return []
        items = ["responses"] if needs.reference else []
        if needs.mismatched:
            items.append("mismatched")
        if needs.token_kl and self._distributions_cacheable(job.dataset):
            items.append("distributions")
        if needs.sae is not None:
            sae = self.sae()
            if needs.sae.top_k > sae.d_sae:
                raise ConfigError(f"methods.{job.method}.k={needs.sae.top_k} exceeds the SAE's {sae.d_sae} "
                                  f"features; lower it")
            items.append(sae_item(sae.resolve_layer(needs.sae.layer, f"methods.{job.method}.layer"), needs.sae.top_k))
        return items

    def _distributions_cacheable(self, kind: str) -> bool:
        return distribution_cache_bytes(self.dataset(kind), len(self.tokenizer)) <= DISTRIBUTION_CACHE_LIMIT

    def reference_pass(self, pending: list[Job]) -> None:
        """One pass per tokenised dataset computing the union of what pending jobs need.

        Selected datasets read their sliceable items from the full dataset's pass, and the implicit-margin
        selectors read the pool's ``responses``; both join the full datasets' passes, which run first.
        """
        wanted: dict[str, set[str]] = {}
        for job in pending:
            items = set(self._cached_items(job))
            if job.selected:
                wanted.setdefault(job.dataset.partition(SELECTED)[0], set()).update(items & set(SLICED_ITEMS))
                items -= set(SLICED_ITEMS)
            if job.selector.needs_implicit:
                wanted.setdefault(self.world.source_kind, set()).add("responses")
            wanted.setdefault(job.dataset, set()).update(items)
        for kind in sorted(wanted, key=lambda name: SELECTED in name):
            items = wanted[kind]
            if not items:
                continue
            report = self.reference_cache(kind).ensure(items)
            if report.computed:
                self.say(f"reference pass ({kind}, {len(self.dataset(kind))} rows): computed "
                         f"{', '.join(report.computed)} in {report.seconds:.1f}s"
                         + (f"; reused {', '.join(report.hits)}" if report.hits else ""))
            else:
                self.say(f"reference pass ({kind}): reused cached {', '.join(report.hits)}")

    def reference_source(self, job: Job, policy: torch.nn.Module) -> ReferenceSource | None:
        """Where ``job``'s reference statistics come from: the cache, or a model scored live. A live reference of a
        LoRA run is ``policy`` with its adapters off, not a second copy of the base."""
        needs = job.objective.needs
        if not (needs.reference or needs.token_kl):
            return None
        if needs.reference_update is not None:
            if self.config.train.lora.enabled:
                raise ConfigError(f"{job.method} moves its reference toward the policy, which a LoRA run's reference "
                                  f"(the base with adapters off) cannot do; train it without train.lora.r")
            self.say(f"{job.label}: reference model held in memory and moved toward the policy every "
                     f"{needs.reference_update.every} steps (mix {needs.reference_update.mix:g})")
            return MovingReference(self._load_base(), needs.reference_update)
        if needs.online or (needs.token_kl and not self._distributions_cacheable(job.dataset)):
            why = "on-policy batches" if needs.online else "vocabulary too large to cache distributions"
            if self.config.train.lora.enabled:
                self.say(f"{job.label}: reference = the policy with its adapters disabled ({why})")
                return AdapterReference(policy)
            self.say(f"{job.label}: reference model held in memory ({why})")
            return LiveReference(self._load_base())
        if needs.token_kl:
            size = distribution_cache_bytes(self.dataset(job.dataset), len(self.tokenizer)) / 2**20
            self.say(f"{job.label}: full reference distributions read from the cache ({size:.0f} MB; "
                     f"the limit is {DISTRIBUTION_CACHE_LIMIT / 2**20:.0f} MB)")
        return CachedReference(self.reference_cache(job.dataset))

    def train_config(self, job: Job) -> TrainConfig:
        """The run's optimisation settings; on-policy objectives stop at ``train.online_steps``.

        Their warm-up is ``train.warmup_ratio`` of their own steps, or ``train.warmup_steps`` capped at them.
        """
        train = replace(self.config.train, **job.train)
        if job.objective.needs.online and train.online_steps is not None and train.online_steps < train.steps:
            warmup = None if train.warmup_steps is None else min(train.warmup_steps, train.online_steps)
            return replace(train, steps=train.online_steps, warmup_steps=warmup)
        return train

    # keys ------------------------------------------------------------------------------------------
    def comparability_key(self) -> str:
        """Rows share a table only when model, data, training budget and code, and evaluation are the same.

        The selector is not part of it: a selector is a column of the table (the objective x selector grid).
        Equal-budget tuning is (``tune=`` and its grid): its rows are each objective at its own chosen settings.
        Nor is an objective's own source: a retrained objective replaces its earlier rows in the table
        (:func:`bench.runner.store.supersede_earlier`).
        """
        return fingerprint({"model": self.world.reference_id, "data": self.world.dataset_fingerprint,
                            "native_data": self.native_fingerprints,
                            "data_settings": asdict(self.config.data), "train": asdict(self.effective_train),
                            "training_source": self.training_source, "evaluation": self.evaluation.key,
                            **({"tuning": {"tune": self.config.tune, **asdict(self.config.tuning)}}
                               if self.config.tune else {})})

    @cached_property
    def native_fingerprints(self) -> dict[str, str]:
        """Every ready-made dataset of the world, whether or not this run's jobs use it: they are part of the
        benchmark (the gym's outcome rows change with the confounder, which the pairs do not show), so two
        runs that differ in them never share a table."""
        return {kind: dataset_fingerprint(rows) for kind, rows in sorted(self.world.native_datasets.items())}

    def job_key(self, job: Job) -> str:
        """Content key of a job; the objective's source is part of it, so an edited loss is retrained.

        A sweep point is keyed apart from the same settings trained unswept: its record holds validation scores
        and its sweep, and it must not take the place of another run's row in the same store."""
        return fingerprint({"method": job.method, "hyperparameters": job.hyperparameters, "seed": job.seed,
                            "selector": job.selector.spec, **({"swept": True} if job.swept else {}),
                            **({"dataset": job.dataset} if job.dataset != job.data_kind else {}),
                            **({"native_rows": self.native_fingerprint(job.dataset)}
                               if job.dataset.endswith(f":{NATIVE}") else {}),
                            "objective_source": source_fingerprint(*objective_types(job.objective)),
                            "training_source": self.training_source,
                            "train": asdict(replace(self.effective_train, **job.train)),
                            "data": self.world.dataset_fingerprint, "data_settings": asdict(self.config.data),
                            "model": self.world.reference_id, "bench": __version__,
                            **({"sae": self.sae().fingerprint} if job.objective.needs.sae is not None else {}),
                            **({"reward_source": self.reward_source} if job.objective.needs.online else {})})

    @cached_property
    def reward_source(self) -> str | None:
        """Fingerprint of the code of the reward that on-policy jobs train on (the gym's annotator), which the
        training code does not reach: an edited reward retrains them."""
        reward = self.world.reward_function
        return None if reward is None else source_fingerprint(reward)

    @cached_property
    def effective_train(self) -> TrainConfig:
        """The run's optimisation settings as one process would express them: N launched processes with
        ``grad_accum=A`` train exactly like one process with ``A*N`` (bench.train.distributed), so they share keys."""
        train = self.config.train
        return replace(train, grad_accum=train.grad_accum * self.processes.num_processes)

    @cached_property
    def training_source(self) -> str:
        """Fingerprint of :data:`TRAINING_CODE`'s source, once per run."""
        return source_fingerprint(*TRAINING_CODE)

    def native_fingerprint(self, name: str) -> str:
        """Content of a native dataset: its rows differ with settings the training pool ignores (outcome
        confounding, score noise), so a job trained on them is keyed by them. Hashed once per dataset."""
        if name not in self._native_keys:
            self._native_keys[name] = dataset_fingerprint(self.training_rows(name))
        return self._native_keys[name]

    def provenance(self) -> dict:
        return {"comparability_key": self.comparability_key(), "model": self.world.base_fingerprint,
                "model_path": self.world.base_model, "model_dtype": self.world.model_dtype,
                "training_source": self.training_source, "dataset": self.world.dataset_fingerprint,
                "evaluation": self.evaluation.key, "data_settings": asdict(self.config.data),
                "judges": {n: j.identity() for n, j in self.world.judges.items()},
                "evaluators": [e.identity() for e in self.evaluation.evaluators],
                "sampling": self.evaluation.params.as_dict(), "train": asdict(self.effective_train),
                "packages": package_versions(), "bench_version": __version__}

    # jobs ------------------------------------------------------------------------------------------
    def job_directory(self, job: Job) -> Path:
        """Where ``job`` lives in the store; a selected job's name says its selector."""
        name = f"{job.method}-{job.selector.name}" if job.selected else job.method
        return job_dir(self.store, name, job.seed, self.job_key(job))

    @cached_property
    def job_directories(self) -> list[tuple[Job, Path]]:
        """Every job with its store directory, keyed once per run: a source file edited while the run goes on
        must not move a job between training it and publishing it (the next run retrains it instead)."""
        return [(job, self.job_directory(job)) for job in self.jobs]

    def run_job(self, job: Job, directory: Path) -> dict:
        """Train ``job`` (or find it trained) and evaluate it; its record. A process other than the main one of a
        launch trains its share and returns an empty record: the main process evaluates and writes."""
        directory.mkdir(parents=True, exist_ok=True)
        if self.main:
            atomic.write_text(directory / "config.yaml", to_yaml(self.config))
        selection = self.selection(job) if job.trains_on_pool else None
        if selection is not None and self.main:
            atomic.write_json(directory / SELECTION_FILE, {**selection.record(), "seed": job.seed,
                                                           "dataset": job.dataset,
                                                           "rows": len(self.training_rows(job.dataset))})
        if self.trained(directory):
            training, resumed = earlier_training(directory)
        else:
            needs = job.objective.needs
            model = prepare_model(self._load_base(), self.config.train, job.seed)
            if needs.online:
                if self.world.reward_function is None:
                    raise ConfigError(f"{job.method} is online and needs a reward function; the run has none")
                prompts, prompt_ids, _ = self.online_prompts
                sampling = SamplingParams(max_new_tokens=self.config.data.max_response_tokens,
                                          temperature=self.config.generate.temperature,
                                          n=needs.samples_per_prompt, seed=job.seed)
                batches = OnlineBatches(prompts, prompt_ids, self.config.train.micro_batch_size, job.seed,
                                        sampling, self.world.reward_function, self.tokenizer)
            else:
                batches = OfflineBatches(self.dataset(job.dataset), self.config.train.micro_batch_size, job.seed,
                                         mismatched=needs.mismatched)
            if self.config.lean_host_memory:
                return_freed_memory()
            result = train(job.objective, model, self.tokenizer, batches, self.reference_source(job, model),
                           self.train_config(job), directory, job.seed, progress=self.config.progress,
                           outcome_inputs=self.outcome_inputs(job))
            training, resumed = result.cost(), result.resumed_from
            if resumed:
                self.say(f"{job.label}: resumed from the snapshot at step {resumed}")
        if not self.main:
            return {}
        metrics, cost = (self.evaluation.evaluate(directory / CHECKPOINT, job.method) if self.evaluates
                         else ({}, {}))
        if self.evaluates:
            self.evaluation.write_outputs(directory, directory / CHECKPOINT, job.method,
                                          generator_name(job.method, {**job.hyperparameters, **job.train}, job.seed))
        cost.update(training)
        details = {"selection": None if selection is None else selection.record(with_rows=False),
                   "data_kind": job.data_kind, "resumed_from": resumed, "truncation": self.truncation(job).as_dict()}
        inputs = self.outcome_inputs(job)
        if inputs is not None:
            details["outcome_inputs"] = inputs.report
        sweep, validation = None, None
        if job.swept:
            select_on = f"{self.config.eval.select_on}_win_rate"
            validation, _ = self.evaluation.evaluate(directory / CHECKPOINT, job.method, split="validation")
            if select_on not in validation:
                raise ConfigError(f"eval.select_on={self.config.eval.select_on!r}: the validation metrics have "
                                  f"no {select_on}; judges: {', '.join(self.world.judges) or 'none'}")
            sweep = Sweep(point=job.point, size=job.grid_size, select_on=select_on)
        info = JobInfo(id=directory.name, method=job.method, seed=job.seed, selector=job.selector.spec,
                       hyperparameters=job.hyperparameters, reduction=job.objective.reduction,
                       family=job.objective.family, steps=self.train_config(job).steps, details=details, sweep=sweep)
        return JobRecord(info, metrics, self.provenance(), cost, validation).payload()

    @staticmethod
    def trained(directory: Path) -> bool:
        """Whether the job in ``directory`` has an intact checkpoint (its manifest verifies)."""
        return checkpoint_problem(directory / CHECKPOINT) is None

    def reusable(self, directory: Path, quiet: bool = False) -> dict | None:
        """The record that lets this run skip the job in ``directory``, or None when the job must run.

        A job is reused only when its checkpoint is intact and its record verifies: a deleted or damaged
        checkpoint is said and the job redone. A job finished under this run's evaluation joins this run's
        table too; a train-only run asks only for a trained checkpoint (rewriting the job's record would
        replace another run's evaluation with an empty one).
        """
        if not ((directory / CHECKPOINT).exists() or (directory / METRICS_FILE).exists()):
            return None  # never finished here
        problem = checkpoint_problem(directory / CHECKPOINT)
        if problem is not None:
            if not quiet:
                notice(f"{problem}; the job {directory.name} is trained again")
            return None
        if record := finished(directory, self.evaluation.key):
            admit_to_benchmark(directory, record, self.comparability_key())
            return record
        return {} if not self.evaluates else None

    @property
    def evaluates(self) -> bool:
        """False for a train-only run (``eval.evaluators=[]``): checkpoints and logs, no samples or tables."""
        return bool(self.evaluation.evaluators)

    def evaluate_reference(self) -> None:
        if not self.evaluates:
            return
        directory = job_dir(self.store, "reference", REFERENCE_ROW_SEED, self.comparability_key())
        if finished(directory, self.evaluation.key):
            return
        with held(directory, "the reference row", self.say):
            if finished(directory, self.evaluation.key):
                return
            metrics, cost = self.evaluation.evaluate(self.world.base_model, "reference-resample",
                                                     REFERENCE_ROW_SEED)
            metrics.update(self.evaluation.judge_quality())
            self.evaluation.write_outputs(directory, self.world.base_model, "reference-resample",
                                          f"reference seed={REFERENCE_ROW_SEED}", REFERENCE_ROW_SEED)
            self.evaluation.write_outputs(self.store / key_directory(self.comparability_key()), self.world.base_model,
                                          "reference", "reference (the baseline every win rate compares against)",
                                          file_name="reference_outputs")
            job = JobInfo(id=directory.name, method="reference", seed=REFERENCE_ROW_SEED, selector=REFERENCE_SELECTOR,
                          reduction="-", family="reference", steps=0)
            write_metrics(directory, JobRecord(job, metrics, self.provenance(), cost).payload())

    def run(self) -> RunResult:
        started = time.perf_counter()
        launched = self.processes.num_processes > 1
        if launched and self.config.executor == "slurm":
            raise ConfigError("executor=slurm submits the jobs from one driver process: run bench run without "
                              "accelerate launch (or executor=local to train each job over the launch's processes)")
        planned = list(enumerate(self.job_directories))
        trained = self.run_jobs(planned, "plan")
        if self.deferred:
            chosen = list(enumerate(self.chosen_point_directories, start=len(self.jobs)))
            trained += self.run_jobs(chosen, "chosen points at the other seeds")
            planned += chosen
        boards = self.publish() if self.main and self.evaluates else []
        return RunResult(jobs=len(planned), trained=trained, reused=len(planned) - trained,
                         seconds=time.perf_counter() - started, leaderboards=boards,
                         comparability_key=self.comparability_key(), reports=self.main)

    def run_jobs(self, todo: list[tuple[int, tuple[Job, Path]]], name: str) -> int:
        """Train and evaluate the unfinished jobs of ``todo`` (plan index, (job, directory)), here, in workers or on
        Slurm, and say each as it finishes; how many were trained (not found finished meanwhile)."""
        pending = [(index, job, directory) for index, (job, directory) in todo if self.reusable(directory) is None]
        launched = self.processes.num_processes > 1
        slurm = self.config.executor == "slurm"
        workers = 1 if launched or slurm else worker_count(self.config.workers, len(pending))
        self.say(f"{name}: {len(todo)} jobs ({len(todo) - len(pending)} already finished)"
                 + (f"; {workers} at a time, each in its own process" if workers > 1 else "")
                 + (f"; each trained by {self.processes.num_processes} processes" if launched else "")
                 + (" with sharded weights (FSDP2)" if launched and self.sharding else "")
                 + (f"; {slurm_plan(self.config)}" if slurm and pending else ""))
        self.reference_pass([job for _, job, _ in pending])
        for _, job, _ in pending:  # selections and k-wise cuts fail here, before anything trains
            if not job.objective.needs.online:
                self.training_rows(job.dataset)
        if self.main:
            self.evaluate_reference()
        if workers > 1 or slurm:
            for _, job, _ in pending:  # made once here and cached, rather than by several workers at once
                self.outcome_inputs(job)
            finished_jobs = (run_on_slurm(Runner, self.config, pending, self.say) if slurm
                             else run_in_workers(Runner, self.config, pending, workers))
        else:
            finished_jobs = self.run_in_process(pending)
        reused_meanwhile = 0
        for number, (job, record, seconds) in enumerate(finished_jobs, start=1):
            if not self.main:  # a process of a launch other than the main one trains its share and says nothing
                continue
            reused_meanwhile += REUSED in record
            self.say(f"[{number}/{len(pending)}] {job.label}: {self.outcome(record)} ({seconds:.1f}s)")
        return len(pending) - reused_meanwhile

    def planned_job(self, index: int) -> Job:
        """Job ``index`` of the run: its :attr:`jobs`, then the chosen points at the other seeds (known once the
        sweeps' points are trained and evaluated), as a worker or a Slurm element is handed them."""
        if index < len(self.jobs):
            return self.jobs[index]
        return self.chosen_point_directories[index - len(self.jobs)][0]

    @cached_property
    def chosen_point_directories(self) -> list[tuple[Job, Path]]:
        """Each sweep's chosen point at the seeds it was not chosen on (:attr:`deferred`), with its directory.

        The choice is the leaderboard's (:func:`bench.leaderboards.table.best_points`), made from the validation
        scores the points' records hold; the main process of a launch makes it and tells the others.
        """
        chosen = self.chosen_points() if self.main else None
        if self.processes.num_processes > 1:
            chosen = broadcast_object_list([chosen], from_process=0)[0]
        jobs = [job for job in self.deferred if chosen[(job.method, job.selector.spec)] == point_label(job.point)]
        return [(job, self.job_directory(job)) for job in jobs]

    def chosen_points(self) -> dict[tuple[str, str], str]:
        """The ``chosen`` label of each swept (method, selector)'s best point, from its finished records."""
        rows = []
        for job, directory in self.job_directories:
            if job.swept:
                record = self.reusable(directory, quiet=True)
                if not record:
                    raise ConfigError(f"{job.label} {point_label(job.point)}: the sweep point has no evaluated "
                                      f"record to choose from; run the same command again")
                score = JobRecord.from_payload(record, directory / METRICS_FILE).selection_score  # the table's reading
                rows.append({"method": job.method, "selector": job.selector.spec, "chosen": point_label(job.point),
                             "seed": job.seed, "selection_score": score})
        return best_points(pd.DataFrame(rows))

    def outcome(self, record: dict) -> str:
        """A finished job in a few words for its progress line: each judge's win rate and the KL that were
        measured, or its training throughput when nothing was evaluated."""
        if REUSED in record:
            return "finished by another bench process meanwhile; reused"
        m, cost = record["metrics"], record["cost"]
        if not self.evaluates:
            return f"trained ({cost.get('train_tokens_per_second') or 0:.0f} tokens/s)"
        parts = [f"{name} WR {m[f'{name}_win_rate']:.1f}" for name in self.world.judges if f"{name}_win_rate" in m]
        parts += [f"KL {m['kl']:.2f}"] if "kl" in m else []
        return " ".join(parts) or "evaluated"

    def run_and_record(self, job: Job, directory: Path) -> tuple[dict, float]:
        """Train and evaluate ``job``, write its metrics.json; its record and wall time (here or in a worker).

        The job runs under its lock: a second bench process on the same store waits, then finds the job
        finished and reuses it (the record it returns is marked :data:`REUSED`) instead of training it again.
        """
        started = time.perf_counter()
        if not self.main:  # the main process holds the lock and says whether the job is still to do
            if self.agree(None):
                return {REUSED: True}, time.perf_counter() - started
            return self.run_job(job, directory), time.perf_counter() - started
        with held(directory, job.label, self.say):
            if self.agree((done := self.reusable(directory, quiet=True)) is not None):
                return {**done, REUSED: True}, time.perf_counter() - started
            record = self.run_job(job, directory)
            failpoints.reached("record")
            write_metrics(directory, record)
            for earlier in supersede_earlier(directory, record):
                self.say(f"{job.label}: replaces the earlier result in {earlier.name} (trained by other code)")
        return record, time.perf_counter() - started

    def agree(self, decision: bool | None) -> bool:
        """The main process's ``decision``, on every process of a launch (the others pass None)."""
        if self.processes.num_processes == 1:
            return bool(decision)
        return bool(broadcast_object_list([decision], from_process=0)[0])

    def run_in_process(self, pending: list[tuple[int, Job, Path]]) -> Iterator[tuple[Job, dict, float]]:
        """Run ``pending`` jobs one after the other; yield (job, record, seconds)."""
        for _, job, directory in pending:
            yield job, *self.run_and_record(job, directory)

    # publishing ------------------------------------------------------------------------------------
    def publish(self) -> list[Path]:
        """The leaderboards, and for the gym the frontier plot; the run's head-to-head matrices beside them."""
        frontier = self.frontier()
        directory = self.store / key_directory(self.comparability_key())
        if frontier is not None:
            save_frontier(frontier, directory / FRONTIER_FILE, self.comparability_key())
        paths = write_leaderboard(self.store, self.store, frontiers=stored_frontiers(self.store, FRONTIER_FILE))
        if frontier is not None:
            rows = load_results(self.store)
            points, reference_reward = method_points(rows[rows["comparability_key"] == self.comparability_key()])
            plot_frontier(frontier, points, directory / PLOT_FILE, reference_reward=reference_reward)
            paths.append(directory / PLOT_FILE)
            self.say(f"frontier: {frontier.note()}; plot {directory / PLOT_FILE}")
        paths.extend(self.head_to_head(directory))
        return paths

    def frontier(self):
        """The gym's optimal frontier when the run can be placed on it (gym reference, KL and gold reward)."""
        names = {evaluator.name for evaluator in self.evaluation.evaluators}
        if self.world.gym is None or self.config.model.path or not {"kl", "score"} <= names:
            return None
        return gym_frontier(self.world.gym, self.config.generate.max_new_tokens, self.config.data.max_prompt_tokens,
                            cache=self.cache, backend=self.config.generate.backend)

    def head_to_head(self, directory: Path) -> list[Path]:
        """Win rates of every method of this run against every other, per judge (first seed, no sweeps)."""
        seed = self.config.seed[0]
        jobs = [(job, path) for job, path in self.job_directories if job.seed == seed and not job.swept]
        if len(jobs) < 2 or not self.world.judges:
            return []
        samples = {(f"{job.method} [{job.selector.name}]" if job.selected else job.method):
                   self.evaluation.samples(path / CHECKPOINT, job.method) for job, path in jobs}
        samples["reference"] = self.evaluation.samples(self.world.base_model, "reference-resample",
                                                       REFERENCE_ROW_SEED)
        paths = []
        for name, judge in self.world.judges.items():
            matrix = head_to_head(self.evaluation.prompts["test"], samples, judge,
                                  n_boot=self.config.eval.bootstrap_samples)
            path = directory / f"head_to_head_{name}.md"
            atomic.write_text(path, f"# Head-to-head win rates, judge `{name}` (seed {seed})\n\n"
                                    f"{head_to_head_markdown(matrix)}\n\nEach cell: how often the row's response "
                                    f"beats the column's on the same test prompt (%, ties half), with its 95% "
                                    f"paired-bootstrap interval over prompts.\n")
            record = directory / f"head_to_head_{name}.json"
            write_record(record, head_to_head_record(matrix, name, seed))
            paths += [path, record]
        return paths


def _silent(line: str) -> None:
    """What a launch's processes other than the main one say: nothing (the main one speaks for the job)."""


def run(config: RunConfig, say: Callable[[str], None] = print) -> RunResult:
    """Run every job of ``config`` (see the module docstring) and write the leaderboard."""
    return Runner(config, say).run()
