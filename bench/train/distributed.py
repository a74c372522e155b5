"""One job over several processes (``accelerate launch --num_processes N -m bench run ...``): data parallelism.

Each optimizer step takes ``grad_accum x N`` micro-batches of the job's data order; process r takes micro-batch
``(step * grad_accum + micro) * N + r``, so N processes with ``grad_accum=A`` train on exactly the micro-batches,
and with exactly the update, of one process with ``grad_accum=A*N``: each process divides its losses by A and the
gradients are averaged over processes. Objectives see one micro-batch at a time either way, so batch-level ones
(KTO's z0, BCO's batch statistics) compute what they compute under accumulation.

Gradients are averaged here, once per step with one all-reduce over a flat buffer, rather than by wrapping the
model in DistributedDataParallel: bench's packed scorer calls the model's decoder body and output head directly
(:mod:`bench.models.packing`), which DDP's forward hook would never see, so DDP would skip the reduction. The
price is that communication does not overlap the backward pass, which on CPU processes or one node is small.

Only the main process writes (logs, snapshots, the checkpoint); every process reads a snapshot to resume.

A process of a launch also trains alone at times: the gym's reference model is trained by whichever process takes
the gym's lock while the others wait for it. :class:`Processes` says which processes train together, so that a
lone process neither waits for the others' gradients nor leaves the writing to a main process that is not there.
With a :mod:`bench.train.sharding` launch the parameters are DTensors whose gradients FSDP has already reduced;
:func:`average_gradients` reduces only the rest.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from accelerate import Accelerator
from torch._utils import _flatten_dense_tensors, _unflatten_dense_tensors
from torch.distributed.tensor import DTensor

from bench.methods.base import Objective


@dataclass(frozen=True)
class Processes:
    """The processes that train one job together: every process of the launch, or this one ``alone``."""

    accelerator: Accelerator
    alone: bool = False

    @property
    def count(self) -> int:
        return 1 if self.alone else self.accelerator.num_processes

    @property
    def index(self) -> int:
        return 0 if self.alone else self.accelerator.process_index

    @property
    def writes(self) -> bool:
        """Whether this process writes the job's files (the launch's main process, or a lone one)."""
        return self.alone or self.accelerator.is_main_process

    def reduce(self, tensor: torch.Tensor, reduction: str) -> torch.Tensor:
        """``tensor`` reduced (``sum`` or ``mean``) over the processes; itself for one."""
        if self.count == 1:
            return tensor
        return self.accelerator.reduce(tensor.to(self.accelerator.device), reduction=reduction)

    def wait(self) -> None:
        """Wait until every process got here (no-op for one)."""
        if self.count > 1:
            self.accelerator.wait_for_everyone()


def micro_batch_index(step: int, micro: int, grad_accum: int, processes: Processes) -> int:
    """Which micro-batch of the job's data order this process trains on at (``step``, ``micro``)."""
    return (step * grad_accum + micro) * processes.count + processes.index


def average_gradients(model: torch.nn.Module, processes: Processes) -> None:
    """Replace every trainable, unsharded parameter's gradient by its mean over processes (no-op in one process)."""
    if processes.count == 1:
        return
    # A sharded (DTensor) parameter's gradient was already reduced by FSDP in the backward (bench.train.sharding).
    parameters = [p for p in model.parameters() if p.requires_grad and not isinstance(p, DTensor)]
    for parameter in parameters:
        if parameter.grad is None:  # a parameter this step did not reach still takes part in the reduction
            parameter.grad = torch.zeros_like(parameter)
    grads = [p.grad for p in parameters]
    for dtype in sorted({g.dtype for g in grads}, key=str):
        same = [g for g in grads if g.dtype == dtype]
        averaged = processes.reduce(_flatten_dense_tensors(same), "mean")
        for grad, value in zip(same, _unflatten_dense_tensors(averaged, same), strict=True):
            grad.copy_(value)


def average_objective_state(objective: Objective, processes: Processes) -> None:
    """Average a stateful objective's running statistics over processes after a step, so every process continues
    from the same state (each updated it with its own micro-batches). For one process this is the identity."""
    state = objective.state_dict()
    if processes.count == 1 or not state:
        return
    names = sorted(state)
    values = torch.tensor([float(state[name]) for name in names], dtype=torch.float64)
    averaged = processes.reduce(values, "mean").cpu().tolist()
    objective.load_state_dict(dict(zip(names, averaged, strict=True)))


def all_finite(loss: torch.Tensor, processes: Processes) -> bool:
    """Whether the loss is finite on every process: a process must not stop alone while the others wait for it."""
    finite = torch.isfinite(loss.detach()).float().reshape(1)
    return bool(processes.reduce(finite, "mean").item() == 1)


def total(value: int, processes: Processes) -> int:
    """``value`` summed over processes (token counts for throughput)."""
    return int(processes.reduce(torch.tensor([value], dtype=torch.int64), "sum").item())
