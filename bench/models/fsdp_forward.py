"""Running code of bench's own inside a sharded (FSDP2) model's forward hooks.

The packed scorer (:mod:`bench.models.packing`) calls the decoder body and applies the output head's weight itself,
outside the model's ``forward``. FSDP2 gathers a module's parameters only around a registered forward method, so
for a sharded model the root's parameters (embeddings, final norm, head) would still be shards there.
:func:`enable_calls_in_forward` registers a method that runs any function between the root's pre- and post-forward
hooks (``register_fsdp_forward_method``), and :func:`in_forward` goes through it when the model is sharded. The
function must not call the model's own ``forward`` itself: a nested root forward ends the pass and frees the
root's parameters under the outer call.
"""

from __future__ import annotations

import types
import warnings
from collections.abc import Callable
from typing import Any, TypeVar

import torch
from torch.distributed.fsdp import FSDPModule, register_fsdp_forward_method

FORWARD_METHOD = "bench_in_forward"
Result = TypeVar("Result")


def _call(_module: torch.nn.Module, function: Callable[..., Result], *args: Any, **kwargs: Any) -> Result:
    return function(*args, **kwargs)


def enable_calls_in_forward(model: torch.nn.Module) -> None:
    """Give the sharded root ``model`` the forward method :func:`in_forward` uses."""
    setattr(model, FORWARD_METHOD, types.MethodType(_call, model))
    register_fsdp_forward_method(model, FORWARD_METHOD)


def in_forward(model: torch.nn.Module, function: Callable[..., Result], *args: Any, **kwargs: Any) -> Result:
    """``function(*args, **kwargs)``, inside ``model``'s forward hooks when it is sharded (so the root's parameters
    are gathered while it runs and their gradients reduced after the backward); a plain call otherwise."""
    if not isinstance(model, FSDPModule):
        return function(*args, **kwargs)
    with warnings.catch_warnings():
        # FSDP warns when a forward returns a view, which an in-place op could detach from its backward hook; bench
        # only reads what scoring returns (its layouts are built out of place), so the warning would be noise.
        warnings.filterwarnings("ignore", message=".*returned a view tensor", category=UserWarning)
        return getattr(model, FORWARD_METHOD)(function, *args, **kwargs)
