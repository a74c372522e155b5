"""One training loop for every objective, on accelerate.

The loop knows an objective only through its contract: it asks the batch source for a micro-batch,
asks :func:`gather_stats` for what ``objective.needs`` declares, and minimises ``objective.loss``.
Gradient accumulation, clipping, warm-up, seeding, JSONL logging, resumable snapshots and the final
checkpoint are the same for all of them, which is what makes their numbers comparable.
"""

from __future__ import annotations

import json
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import torch
from accelerate import Accelerator
from accelerate.state import AcceleratorState
from accelerate.utils import set_seed
from tqdm.auto import tqdm
from transformers import get_scheduler

from bench import atomic, failpoints
from bench.data.tokenize import Batch
from bench.errors import BenchError, ConfigError
from bench.methods.base import Objective
from bench.train.checkpoint import CHECKPOINT, checkpoint_fingerprint, load_snapshot, save_checkpoint, save_snapshot
from bench.train.distributed import (
    Processes,
    all_finite,
    average_gradients,
    average_objective_state,
    micro_batch_index,
    total,
)
from bench.train.memory import PeakMemory
from bench.train.metrics import MetricAccumulator
from bench.train.outcome_inputs import OutcomeInputs
from bench.train.sharding import launch_sharding, shard
from bench.train.stats import ReferenceSource, gather_stats, moving_reference

PRECISIONS = {"fp32": "no", "bf16": "bf16", "fp16": "fp16"}
"""``train.precision`` -> accelerate's mixed precision: the forward and backward run under autocast in that dtype
while the weights and AdamW keep the dtype they were loaded in (``model.dtype``)."""


@dataclass(frozen=True)
class LoraSettings:
    """LoRA adapters through peft (``train.lora.r > 0``); the reference is the same base with adapters off."""

    r: int = 0
    """Adapter rank; 0 trains every weight (no adapters)."""
    alpha: int = 16
    dropout: float = 0.0
    target_modules: tuple[str, ...] = ("all-linear",)
    """Module names (or peft's ``all-linear``: every linear layer except the output head) that get adapters."""

    @property
    def enabled(self) -> bool:
        return self.r > 0


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation settings shared by every objective of a run (part of every job's key)."""

    steps: int = 100
    online_steps: int | None = 50
    """At most this many steps for on-policy objectives, whose steps also sample k responses per prompt
    (about 4x dearer on the gym); None trains them for ``steps``. The leaderboard's steps column shows it."""
    micro_batch_size: int = 16
    """Prompts per micro-batch (x n responses each); batch-level objectives depend on it."""
    grad_accum: int = 1
    lr: float = 1e-3
    """Tuned on the gym (tiny model, 100 steps); real models want 5e-7 to 1e-6."""
    scheduler: str = "linear"
    warmup_ratio: float = 0.1
    """Share of the run's steps spent warming the learning rate up (TRL's ``warmup_ratio``), rounded to the
    nearest step, halves up, so the warm-up scales with the run (100 steps: 10; 4 steps: 0); in [0, 1)."""
    warmup_steps: int | None = None
    """Warm-up steps, overriding ``warmup_ratio`` when set; between 0 and ``steps``."""
    weight_decay: float = 0.0
    max_grad_norm: float = 1.0
    adam_betas: tuple[float, float] = (0.9, 0.999)
    snapshot_every: int = 50
    """Steps between resumable snapshots (0 disables them)."""
    precision: str = "fp32"
    """``fp32``, ``bf16`` or ``fp16`` autocast through accelerate (:data:`PRECISIONS`); fp16 needs a GPU."""
    gradient_checkpointing: bool = False
    """Recompute each block's activations in the backward pass instead of keeping them (less memory, ~30% slower)."""
    compile: bool = False
    """``torch.compile`` the decoder body (dynamic shapes); pays off only for long runs (README, Benchmarks)."""
    lora: LoraSettings = field(default_factory=LoraSettings)

    def warmup(self) -> int:
        """The warm-up steps this run takes: ``warmup_steps`` when set, else ``warmup_ratio`` of ``steps``."""
        if self.warmup_steps is not None:
            return self.warmup_steps
        return math.floor(self.warmup_ratio * self.steps + 0.5)


class BatchSource(Protocol):
    def get(self, number: int, model: torch.nn.Module) -> tuple[Batch, Batch | None]: ...


@dataclass
class TrainResult:
    checkpoint: Path
    fingerprint: str
    steps: int
    seconds: float
    """Wall time of the whole call: set-up, steps and the final checkpoint."""
    step_seconds: float
    """Wall time of the optimisation steps alone (what throughput figures divide by)."""
    tokens: int
    resumed_from: int
    peak_memory_bytes: int | None = None
    """Peak memory of this call (see :mod:`bench.train.memory`); None where it cannot be measured."""
    memory_kind: str | None = None
    """What ``peak_memory_bytes`` counts: ``cuda_allocated``, ``process_rss`` or ``process_rss_sampled``."""

    @property
    def seconds_per_step(self) -> float | None:
        """Wall time per optimisation step run in this call (None when it resumed at the end)."""
        steps_run = self.steps - self.resumed_from
        return self.step_seconds / steps_run if steps_run > 0 else None

    def cost(self) -> dict[str, Any]:
        """The training entries of a job's cost record (all named ``train_*``)."""
        return {"train_seconds": self.seconds, "train_tokens": self.tokens,
                "train_tokens_per_second": self.tokens / self.step_seconds if self.step_seconds else None,
                "train_seconds_per_step": self.seconds_per_step,
                "train_peak_memory_mb": None if self.peak_memory_bytes is None else self.peak_memory_bytes / 2**20,
                "train_memory_kind": self.memory_kind}


def train(objective: Objective, model: torch.nn.Module, tokenizer, batches: BatchSource,
          reference: ReferenceSource | None, config: TrainConfig, run_dir: Path, seed: int,
          progress: bool = True, outcome_inputs: OutcomeInputs | None = None, alone: bool = False) -> TrainResult:
    """Train ``model`` with ``objective`` and write ``run_dir/checkpoint``; resumes from a snapshot.

    ``outcome_inputs`` carries the reference samples and outcome predictions of outcome objectives. Launched in
    several processes, each trains on its share of every step (:mod:`bench.train.distributed`) and only the main
    process writes; ``alone`` says that only this process of a launch called it (it trains the whole job).
    """
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    set_seed(seed)
    sharding = launch_sharding()
    accelerator = _accelerator(config.precision)
    processes = Processes(accelerator, alone=alone)
    writes = processes.writes
    moving = moving_reference(objective.needs, reference)
    # The model is placed, not wrapped: gradients are averaged by bench.train.distributed (its docstring says why)
    # or reduced by FSDP (bench.train.sharding), and autocast is entered explicitly around scoring, which covers
    # the packed path too.
    model = model.to(accelerator.device)
    if sharding is not None and not alone:
        if moving is not None:
            raise ConfigError(f"{objective.name} moves its reference toward the policy, which an FSDP launch does not "
                              f"support yet; launch without the FSDP config (plain data parallelism)")
        shard(model, sharding)
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=config.lr,
                                  betas=config.adam_betas, weight_decay=config.weight_decay)
    scheduler = get_scheduler(config.scheduler, optimizer, num_warmup_steps=config.warmup(),
                              num_training_steps=config.steps)
    reference_weights = moving.model if moving is not None else None  # saved and restored with every snapshot
    start_step, objective_state = load_snapshot(run_dir, model, optimizer, scheduler, reference_weights)
    objective.load_state_dict(objective_state)
    optimizer = accelerator.prepare(optimizer)
    model.train()
    needs = objective.needs
    log_path = run_dir / "train_log.jsonl"
    if writes:
        _truncate_log(log_path, start_step)
    started, tokens = time.perf_counter(), 0
    bar = tqdm(total=config.steps, initial=start_step, desc=objective.name,
               disable=None if progress and writes else True, leave=False, dynamic_ncols=True)
    with open(log_path if writes else os.devnull, "a") as log, PeakMemory(accelerator.device) as memory:
        steps_started = time.perf_counter()
        for step in range(start_step, config.steps):
            accumulator = MetricAccumulator()
            for micro in range(config.grad_accum):
                batch, mismatched = batches.get(micro_batch_index(step, micro, config.grad_accum, processes), model)
                batch = batch.to(accelerator.device)
                mismatched = mismatched.to(accelerator.device) if mismatched is not None else None
                with accelerator.autocast():
                    stats = gather_stats(model, batch, needs, reference, mismatched, outcome_inputs,
                                         progress=step / config.steps)
                    output = objective.loss(stats)
                if not all_finite(output.loss, processes):
                    raise BenchError(f"{objective.name}: non-finite loss {output.loss.item()} at step {step + 1}; "
                                     f"lower train.lr or check methods.{objective.name}.* "
                                     f"(snapshot at step {start_step} kept)")
                accelerator.backward(output.loss / config.grad_accum)
                accumulator.add(output, batch.size)
                tokens += int(batch.attention_mask.sum())
            average_gradients(model, processes)
            grad_norm = accelerator.clip_grad_norm_(model.parameters(), config.max_grad_norm)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            if moving is not None:
                moving.after_step(model, step + 1)
            average_objective_state(objective, processes)
            record = {"step": step + 1, "lr": scheduler.get_last_lr()[0], "grad_norm": float(grad_norm),
                      **accumulator.result(processes)}
            log.write(json.dumps(record) + "\n")
            log.flush()
            failpoints.reached("training-step")
            bar.update(1)
            bar.set_postfix(loss=f"{record['loss']:.4f}")
            if config.snapshot_every and (step + 1) % config.snapshot_every == 0 and step + 1 < config.steps:
                save_snapshot(run_dir, step + 1, model, optimizer, scheduler, objective.state_dict(),
                              reference_weights, write=writes)
        step_seconds = time.perf_counter() - steps_started
        peak_memory = memory.peak_bytes()  # before saving: the figure is the training's, not serialisation's
    bar.close()
    tokens = total(tokens, processes)
    save_checkpoint(run_dir / CHECKPOINT, model, tokenizer, write=writes)
    processes.wait()  # every process returns once the checkpoint exists
    fingerprint = checkpoint_fingerprint(run_dir / CHECKPOINT)
    seconds = time.perf_counter() - started
    return TrainResult(run_dir / CHECKPOINT, fingerprint, config.steps, seconds, step_seconds, tokens, start_step,
                       peak_memory_bytes=peak_memory, memory_kind=memory.kind)


def _accelerator(precision: str) -> Accelerator:
    """accelerate on this machine's device with ``train.precision``'s autocast (fp16 only where CUDA is)."""
    on_gpu = torch.cuda.is_available()
    if precision == "fp16" and not on_gpu:
        raise BenchError("train.precision=fp16 needs a GPU (fp16 autocast with loss scaling); use bf16 on a CPU")
    # accelerate keeps one precision per process; a process that trains jobs of several runs (tests, a notebook)
    # sets each call's afresh. The process-group part of the state (PartialState) is kept.
    AcceleratorState._reset_state(reset_partial_state=False)
    return Accelerator(cpu=not on_gpu, mixed_precision=PRECISIONS[precision])


def _truncate_log(path: Path, step: int) -> None:
    """Drop log lines past the snapshot being resumed (they will be written again), and a last line that a
    kill or a full disk cut short."""
    if not path.exists():
        return
    kept = [line for line in path.read_text(errors="replace").splitlines() if _logged_step(line) <= step]
    atomic.write_text(path, "".join(line + "\n" for line in kept))


def _logged_step(line: str) -> float:
    """The step a log line records; infinity for a line that is not a whole record (so it is dropped)."""
    try:
        return float(json.loads(line)["step"])
    except (ValueError, KeyError, TypeError):
        return math.inf

