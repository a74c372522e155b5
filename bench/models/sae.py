"""Sparse autoencoders (SAEs) over a transformer's residual stream, in the sae-lens / Gemma Scope layout.

FPO (METHODS.md) constrains the policy in the feature space of a pretrained SAE instead of over the
full vocabulary, so bench must read the SAEs people actually publish: a directory holding
``cfg.json`` (``d_in``, ``d_sae``, ``architecture``, ``hook_name`` such as
``blocks.12.hook_resid_post``, ``k`` for TopK, ``apply_b_dec_to_input``, ``dtype``) and
``sae_weights.safetensors`` with ``W_enc`` [d_in, d_sae], ``b_enc`` [d_sae], ``W_dec`` [d_sae, d_in],
``b_dec`` [d_in] and, for JumpReLU, ``threshold`` [d_sae]. The hook name sits at the top of
``cfg.json`` in sae-lens before 6.0 (``hook_name`` or ``hook_point``) and under ``metadata`` from 6.0.

Encoders, on the pre-activation z = (x - b_dec * apply_b_dec_to_input) @ W_enc + b_enc:
- ``standard``: ReLU(z);
- ``jumprelu``: ReLU(z) * (z > threshold) (Gemma Scope; equal to z * (z > threshold) for the
  non-negative thresholds such SAEs have);
- ``topk``: ReLU of the k largest entries of z, 0 elsewhere.
Activation normalisation other than ``none`` is refused: its scale factor is not in the files.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open
from safetensors.torch import save_file
from torch import Tensor, nn

from bench import atomic
from bench.errors import BenchError, ConfigError
from bench.fingerprint import file_fingerprint, fingerprint

CONFIG_FILE = "cfg.json"
WEIGHTS_FILE = "sae_weights.safetensors"
ARCHITECTURES = ("standard", "jumprelu", "topk")
DTYPES = {"float32": torch.float32, "float64": torch.float64, "float16": torch.float16,
          "bfloat16": torch.bfloat16}
_HOOK = re.compile(r"blocks\.(\d+)\.hook_resid_post$")


class SparseAutoencoder(nn.Module):
    """An SAE with frozen weights: ``encode`` gives sparse codes [..., d_sae], ``decode`` reconstructs.

    ``layer`` is the block whose output (the residual stream after it) the SAE was trained on, read
    from ``cfg.json``'s hook name; ``None`` when the file does not say.
    """

    def __init__(self, d_in: int, d_sae: int, architecture: str = "standard", k: int | None = None,
                 layer: int | None = None, apply_b_dec_to_input: bool = True,
                 dtype: torch.dtype = torch.float32) -> None:
        super().__init__()
        if architecture not in ARCHITECTURES:
            raise ConfigError(f"SAE architecture {architecture!r}: use one of {', '.join(ARCHITECTURES)}")
        if architecture == "topk" and not (isinstance(k, int) and 0 < k <= d_sae):
            raise ConfigError(f"a topk SAE needs k in [1, d_sae={d_sae}], got k={k!r}")
        self.d_in, self.d_sae, self.architecture = d_in, d_sae, architecture
        self.k, self.layer, self.apply_b_dec_to_input = k, layer, apply_b_dec_to_input
        self.W_enc = nn.Parameter(torch.zeros(d_in, d_sae, dtype=dtype), requires_grad=False)
        self.b_enc = nn.Parameter(torch.zeros(d_sae, dtype=dtype), requires_grad=False)
        self.W_dec = nn.Parameter(torch.zeros(d_sae, d_in, dtype=dtype), requires_grad=False)
        self.b_dec = nn.Parameter(torch.zeros(d_in, dtype=dtype), requires_grad=False)
        self.threshold = nn.Parameter(torch.zeros(d_sae, dtype=dtype), requires_grad=False)
        self.fingerprint = ""
        """Content fingerprint of the files it was loaded from (set by :func:`load_sae`)."""

    def pre_activations(self, x: Tensor) -> Tensor:
        """z = (x - b_dec) @ W_enc + b_enc in the SAE's dtype (b_dec only when the config applies it)."""
        x = x.to(self.W_enc.dtype)
        if self.apply_b_dec_to_input:
            x = x - self.b_dec
        return x @ self.W_enc + self.b_enc

    def encode(self, x: Tensor) -> Tensor:
        """Sparse codes [..., d_sae] of inputs [..., d_in]; gradients flow to ``x``."""
        z = self.pre_activations(x)
        if self.architecture == "jumprelu":
            return torch.relu(z) * (z > self.threshold)
        if self.architecture == "topk":
            top = z.topk(self.k, dim=-1)
            return torch.zeros_like(z).scatter(-1, top.indices, torch.relu(top.values))
        return torch.relu(z)

    def decode(self, codes: Tensor) -> Tensor:
        """Reconstruction [..., d_in] of codes [..., d_sae]."""
        return codes @ self.W_dec + self.b_dec

    def forward(self, x: Tensor) -> Tensor:
        return self.decode(self.encode(x))

    def config(self) -> dict[str, Any]:
        """``cfg.json`` in the sae-lens layout (hook name both at the top and under ``metadata``)."""
        dtype = next(name for name, value in DTYPES.items() if value == self.W_enc.dtype)
        hook = {"hook_name": f"blocks.{self.layer}.hook_resid_post"} if self.layer is not None else {}
        return {"d_in": self.d_in, "d_sae": self.d_sae, "architecture": self.architecture, "dtype": dtype,
                "apply_b_dec_to_input": self.apply_b_dec_to_input, "normalize_activations": "none",
                **({"k": self.k} if self.architecture == "topk" else {}), **hook,
                **({"hook_layer": self.layer, "metadata": dict(hook)} if hook else {})}

    def resolve_layer(self, requested: int | None, key: str) -> int:
        """``requested`` when given, else the SAE's own layer; an error naming ``key`` when neither exists."""
        if requested is not None:
            return requested
        if self.layer is None:
            raise ConfigError(f"the SAE's cfg.json names no blocks.<l>.hook_resid_post hook; set {key}")
        return self.layer


def layer_of_hook(hook_name: str | None) -> int | None:
    """l of ``blocks.{l}.hook_resid_post``; None for another hook or none."""
    match = _HOOK.search(hook_name or "")
    return int(match.group(1)) if match else None


def _hook_name(cfg: dict[str, Any]) -> str | None:
    metadata = cfg.get("metadata") or cfg.get("meta") or {}
    return cfg.get("hook_name") or cfg.get("hook_point") or metadata.get("hook_name")


def _topk_k(cfg: dict[str, Any]) -> int | None:
    k = cfg.get("k", (cfg.get("activation_fn_kwargs") or {}).get("k"))
    return int(k) if k is not None else None


def load_sae(directory: str | Path) -> SparseAutoencoder:
    """Load an SAE saved by sae-lens (or :func:`save_sae`) from ``directory``: safetensors only."""
    directory = Path(directory)
    for name in (CONFIG_FILE, WEIGHTS_FILE):
        if not (directory / name).is_file():
            raise BenchError(f"SAE directory {directory} has no {name}; give a directory in the sae-lens layout "
                             f"({CONFIG_FILE} + {WEIGHTS_FILE})")
    try:
        cfg = json.loads((directory / CONFIG_FILE).read_text())
        d_in, d_sae = int(cfg["d_in"]), int(cfg["d_sae"])
    except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        raise BenchError(f"{directory / CONFIG_FILE}: not an SAE config with integer d_in and d_sae ({exc})") from exc
    if cfg.get("normalize_activations", "none") not in ("none", None, False):
        raise BenchError(f"{directory / CONFIG_FILE}: normalize_activations={cfg['normalize_activations']!r} is "
                         "not supported; fold the scaling factor into the weights first")
    architecture = cfg.get("architecture", "standard")
    dtype = DTYPES.get(str(cfg.get("dtype", "float32")).removeprefix("torch."), torch.float32)
    sae = SparseAutoencoder(d_in, d_sae, architecture, _topk_k(cfg), layer_of_hook(_hook_name(cfg)),
                            bool(cfg.get("apply_b_dec_to_input", True)), dtype)
    required = ["W_enc", "b_enc", "W_dec", "b_dec"] + (["threshold"] if architecture == "jumprelu" else [])
    with safe_open(str(directory / WEIGHTS_FILE), framework="pt") as weights:
        present = set(weights.keys())
        for name in required:
            if name not in present:
                raise BenchError(f"{directory / WEIGHTS_FILE} has no tensor {name!r} (it has "
                                 f"{', '.join(sorted(present))}); a {architecture} SAE needs {', '.join(required)}")
            value = weights.get_tensor(name)
            expected = tuple(getattr(sae, name).shape)
            if tuple(value.shape) != expected:
                raise BenchError(f"{directory / WEIGHTS_FILE}: {name} has shape {tuple(value.shape)}, but cfg.json's "
                                 f"d_in={d_in}, d_sae={d_sae} need {expected}")
            getattr(sae, name).data.copy_(value.to(dtype))
    sae.fingerprint = sae_fingerprint(directory)
    return sae.eval()


def save_sae(sae: SparseAutoencoder, directory: str | Path, extra: dict[str, Any] | None = None) -> None:
    """Write ``sae`` to ``directory`` in the layout :func:`load_sae` (and sae-lens) reads.

    ``extra`` keys are added to ``cfg.json`` (provenance such as how the SAE was trained).
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    names = ["W_enc", "b_enc", "W_dec", "b_dec"] + (["threshold"] if sae.architecture == "jumprelu" else [])
    save_file({name: getattr(sae, name).detach().contiguous().cpu() for name in names}, directory / WEIGHTS_FILE)
    atomic.write_json(directory / CONFIG_FILE, {**sae.config(), **(extra or {})})


def sae_fingerprint(directory: str | Path) -> str:
    """Fingerprint of an SAE's config and weights (what its codes depend on)."""
    directory = Path(directory)
    return fingerprint({name: file_fingerprint(directory / name) for name in (CONFIG_FILE, WEIGHTS_FILE)})


__all__ = ["ARCHITECTURES", "CONFIG_FILE", "WEIGHTS_FILE", "SparseAutoencoder", "layer_of_hook", "load_sae",
           "sae_fingerprint", "save_sae"]
