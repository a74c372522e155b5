"""The residual stream after one transformer block, read from any transformers causal LM.

SAEs are trained on "the residual stream after block l" (sae-lens' ``blocks.{l}.hook_resid_post``):
the hidden states one decoder layer hands to the next. transformers names the list of decoder
layers differently per architecture (``model.layers``, ``transformer.h``, ``gpt_neox.layers``...),
so it is found generically: the ``nn.ModuleList`` whose length is ``config.num_hidden_layers``.
A forward hook on block l captures its output during the caller's own forward pass, so the
statistic costs no extra pass and keeps its gradients.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from torch import Tensor, nn

from bench.errors import BenchError


@dataclass(frozen=True)
class PooledFeatures:
    """What to pool over response tokens: ``features`` of the residual stream after block ``layer``.

    ``features`` maps residuals [..., d_model] to features [..., F] token by token (an SAE encoder);
    ``None`` pools the residuals themselves.
    """

    layer: int
    features: Callable[[Tensor], Tensor] | None = None

    def apply(self, residuals: Tensor) -> Tensor:
        return residuals if self.features is None else self.features(residuals)


def decoder_layers(model: nn.Module) -> nn.ModuleList:
    """The model's list of decoder blocks: the ModuleList as long as ``config.num_hidden_layers``."""
    count = getattr(getattr(model, "config", None), "num_hidden_layers", None)
    for module in model.modules():
        if isinstance(module, nn.ModuleList) and len(module) == count:
            return module
    raise BenchError(f"{type(model).__name__}: found no list of {count} decoder layers (config.num_hidden_layers); "
                     "the residual stream after a block cannot be read from this architecture")


@contextmanager
def block_output(model: nn.Module, layer: int) -> Iterator[list[Tensor]]:
    """Capture the hidden states [rows, seq, d_model] that block ``layer`` outputs while the block runs.

    Yields a list that holds the captured tensor after the caller's forward pass (the last one, when
    the block ran more than once).
    """
    layers = decoder_layers(model)
    if not 0 <= layer < len(layers):
        raise BenchError(f"layer {layer} is out of range: {type(model).__name__} has blocks 0..{len(layers) - 1}")
    captured: list[Tensor] = []

    def hook(module: nn.Module, inputs: tuple, output: Tensor | tuple) -> None:
        captured[:] = [output[0] if isinstance(output, tuple) else output]

    handle = layers[layer].register_forward_hook(hook)
    try:
        yield captured
    finally:
        handle.remove()


def masked_mean(values: Tensor, mask: Tensor) -> Tensor:
    """Mean of ``values`` [R, T, F] over the positions where ``mask`` [R, T] is true, [R, F]; 0 for none."""
    weights = mask.to(values.dtype).unsqueeze(-1)
    return (values * weights).sum(1) / weights.sum(1).clamp(min=1.0)


__all__ = ["PooledFeatures", "block_output", "decoder_layers", "masked_mean"]
