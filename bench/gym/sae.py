"""The gym's own sparse autoencoder: FPO's feature space when no published SAE fits the gym model.

FPO needs an SAE on the reference's residual stream (the paper uses Gemma Scope); the gym's tiny
Llama has none, so the gym trains one: a TopK SAE (``k`` = 16 active features per token, width 4x
the hidden size: 512 features on the default 128-wide model) on the residual stream after the middle
block (``num_hidden_layers // 2``: block 2 of the default 4), fitted to the reference's residuals at
the response tokens of the training pairs (the reference's own samples, i.e. exactly the positions
FPO pools over). TopK fixes the sparsity directly, so no L1 coefficient needs tuning; 300 Adam steps
of 512 tokens take seconds on CPU.

It is cached beside the reference model, under ``<gym-reference>/sae/<key>``, keyed by the
settings, the layer, the reference's and the data's fingerprints, and saved in the sae-lens layout
(:func:`bench.models.sae.save_sae`) with a ``manifest.json`` holding its reconstruction (fraction of
variance unexplained on held-out tokens) and sparsity (mean L0).
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import Tensor

from bench import atomic
from bench.cached import cached_directory
from bench.data.tokenize import TokenizedDataset, collate_rows
from bench.fingerprint import directory_fingerprint, fingerprint
from bench.gym.settings import SaeSettings
from bench.models.loading import load_causal_lm
from bench.models.residual import block_output
from bench.models.sae import SparseAutoencoder, save_sae

SAE_VERSION = "1"
HELD_OUT_SHARE = 0.1
"""Share of the residual tokens kept out of training to measure reconstruction and sparsity."""
COLLECT_ROWS = 64


@dataclass(frozen=True)
class GymSae:
    """A trained gym SAE: where it is, and its manifest (layer, FVU, mean L0, settings)."""

    directory: Path
    manifest: dict

    def summary(self) -> str:
        m = self.manifest
        return (f"gym SAE at block {m['layer']} ({m['d_sae']} features, TopK k={m['settings']['k']}): "
                f"FVU {m['fvu']:.3f}, mean L0 {m['mean_l0']:.1f} on {m['held_out_tokens']} held-out tokens")


def gym_sae(reference_dir: Path, data: TokenizedDataset, settings: SaeSettings) -> GymSae:
    """Find or train the gym SAE for ``reference_dir`` on ``data``'s response tokens."""
    reference_dir = Path(reference_dir)
    layer = settings.layer
    if layer is None:
        config = json.loads((reference_dir / "config.json").read_text())
        layer = int(config["num_hidden_layers"]) // 2
    key = fingerprint({"version": SAE_VERSION, "settings": asdict(settings), "layer": layer,
                       "reference": directory_fingerprint(reference_dir), "data": data.fingerprint})
    directory = reference_dir.parent / "sae" / key

    def build(tmp: Path) -> None:
        model = load_causal_lm(reference_dir, dtype="float32").eval()
        started = time.perf_counter()
        residuals = response_residuals(model, data, layer)
        sae, report = train_sae(residuals, layer, settings)
        save_sae(sae, tmp, extra={"model_name": str(reference_dir), "trained_by": "bench.gym.sae"})
        atomic.write_json(tmp / "manifest.json", {
            "key": key, "layer": layer, "d_in": sae.d_in, "d_sae": sae.d_sae, "settings": asdict(settings),
            "reference": str(reference_dir), "data": data.fingerprint, **report,
            "seconds": time.perf_counter() - started})

    cached_directory(directory, build, "the gym's sparse autoencoder")
    return GymSae(directory, json.loads((directory / "manifest.json").read_text()))


def response_residuals(model: torch.nn.Module, data: TokenizedDataset, layer: int) -> Tensor:
    """The residual stream after block ``layer`` at every response token of ``data``, [tokens, d_model]."""
    pieces = []
    with torch.inference_mode():
        for start in range(0, len(data), COLLECT_ROWS):
            batch = collate_rows(data, torch.arange(start, min(start + COLLECT_ROWS, len(data))))
            with block_output(model, layer) as captured:
                model(input_ids=batch.input_ids, attention_mask=batch.attention_mask,
                      position_ids=batch.position_ids, use_cache=False)
            width = batch.response_mask.shape[1]
            hidden = captured[0][:, batch.response_start:batch.response_start + width]
            pieces.append(hidden[batch.response_mask].float())
    return torch.cat(pieces)


def train_sae(residuals: Tensor, layer: int, settings: SaeSettings) -> tuple[SparseAutoencoder, dict]:
    """Fit a TopK SAE to ``residuals`` by MSE; returns it frozen, with held-out FVU and mean L0."""
    generator = torch.Generator().manual_seed(settings.seed)
    order = torch.randperm(residuals.shape[0], generator=generator)
    held = max(1, int(HELD_OUT_SHARE * len(order)))
    train, test = residuals[order[held:]], residuals[order[:held]]
    d_in = residuals.shape[1]
    sae = SparseAutoencoder(d_in, settings.width_multiplier * d_in, "topk", k=settings.k, layer=layer)
    with torch.no_grad():  # decoder rows of unit norm, encoder its transpose, decoder bias at the data mean
        directions = torch.randn(sae.d_sae, d_in, generator=generator)
        sae.W_dec.copy_(directions / directions.norm(dim=1, keepdim=True))
        sae.W_enc.copy_(sae.W_dec.T)
        sae.b_dec.copy_(train.mean(0))
    parameters = [sae.W_enc, sae.b_enc, sae.W_dec, sae.b_dec]
    for parameter in parameters:
        parameter.requires_grad_(True)
    optimizer = torch.optim.Adam(parameters, lr=settings.lr)
    for _ in range(settings.steps):
        batch = train[torch.randint(len(train), (settings.batch_tokens,), generator=generator)]
        loss = (sae(batch) - batch).square().sum(-1).mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        with torch.no_grad():
            sae.W_dec.div_(sae.W_dec.norm(dim=1, keepdim=True))
    for parameter in parameters:
        parameter.requires_grad_(False)
    with torch.no_grad():
        codes = sae.encode(test)
        error = (sae.decode(codes) - test).square().sum()
        variance = (test - test.mean(0)).square().sum()
        report = {"fvu": float(error / variance), "mean_l0": float((codes > 0).sum(-1).float().mean()),
                  "train_tokens": len(train), "held_out_tokens": len(test)}
    return sae.eval(), report


__all__ = ["GymSae", "gym_sae", "response_residuals", "train_sae"]
