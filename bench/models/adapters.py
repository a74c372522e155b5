"""Recognising a peft (LoRA) policy and reaching the transformers model inside it."""

from __future__ import annotations

import torch


def has_adapters(model: torch.nn.Module) -> bool:
    """Whether ``model`` is a peft model (its trainable weights are adapters on a frozen base)."""
    return hasattr(model, "disable_adapter") and hasattr(model, "get_base_model")


def unwrapped_causal_lm(model: torch.nn.Module) -> torch.nn.Module:
    """The transformers causal LM inside ``model``: a peft model's base, whose layers carry its adapters in place
    (so its decoder body and head still apply them, and ``disable_adapter`` still turns them off)."""
    return model.get_base_model() if has_adapters(model) else model
