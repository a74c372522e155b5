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
"""

from __future__ import annotations

import torch
from accelerate import Accelerator
from torch._utils import _flatten_dense_tensors, _unflatten_dense_tensors

from bench.methods.base import Objective


def micro_batch_index(step: int, micro: int, grad_accum: int, accelerator: Accelerator) -> int:
    """Which micro-batch of the job's data order this process trains on at (``step``, ``micro``)."""
    return (step * grad_accum + micro) * accelerator.num_processes + accelerator.process_index


def average_gradients(model: torch.nn.Module, accelerator: Accelerator) -> None:
    """Replace every trainable parameter's gradient by its mean over processes (no-op in one process)."""
    if accelerator.num_processes == 1:
        return
    parameters = [p for p in model.parameters() if p.requires_grad]
    for parameter in parameters:
        if parameter.grad is None:  # a parameter this step did not reach still takes part in the reduction
            parameter.grad = torch.zeros_like(parameter)
    grads = [p.grad for p in parameters]
    for dtype in sorted({g.dtype for g in grads}, key=str):
        same = [g for g in grads if g.dtype == dtype]
        averaged = accelerator.reduce(_flatten_dense_tensors(same), reduction="mean")
        for grad, value in zip(same, _unflatten_dense_tensors(averaged, same), strict=True):
            grad.copy_(value)


def average_objective_state(objective: Objective, accelerator: Accelerator) -> None:
    """Average a stateful objective's running statistics over processes after a step, so every process continues
    from the same state (each updated it with its own micro-batches). For one process this is the identity."""
    state = objective.state_dict()
    if accelerator.num_processes == 1 or not state:
        return
    names = sorted(state)
    values = torch.tensor([float(state[name]) for name in names], dtype=torch.float64, device=accelerator.device)
    averaged = accelerator.reduce(values, reduction="mean").cpu().tolist()
    objective.load_state_dict(dict(zip(names, averaged, strict=True)))


def all_finite(loss: torch.Tensor, accelerator: Accelerator) -> bool:
    """Whether the loss is finite on every process: a process must not stop alone while the others wait for it."""
    finite = torch.isfinite(loss.detach()).float().reshape(1)
    if accelerator.num_processes > 1:
        finite = accelerator.reduce(finite.to(accelerator.device), reduction="mean")
    return bool(finite.item() == 1)


def total(value: int, accelerator: Accelerator) -> int:
    """``value`` summed over processes (token counts for throughput)."""
    if accelerator.num_processes == 1:
        return value
    return int(accelerator.reduce(torch.tensor([value], dtype=torch.int64, device=accelerator.device),
                                  reduction="sum").item())
