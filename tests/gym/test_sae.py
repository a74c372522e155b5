"""The gym's own SAE: it reconstructs the residual stream sparsely and is cached beside the reference."""

from __future__ import annotations

import json
from dataclasses import replace

import torch

from bench.gym.sae import gym_sae, train_sae
from bench.gym.settings import SaeSettings
from bench.models.sae import load_sae


def test_train_sae_reconstructs_sparse_data_with_k_active_features():
    generator = torch.Generator().manual_seed(0)
    dictionary = torch.randn(24, 8, generator=generator)
    active = (torch.rand(2000, 24, generator=generator) < 0.1).float() * torch.rand(2000, 24, generator=generator)
    residuals = active @ dictionary + 0.01 * torch.randn(2000, 8, generator=generator)
    sae, report = train_sae(residuals, layer=1, settings=SaeSettings(k=4, steps=300))
    assert sae.d_sae == 32 and sae.layer == 1 and sae.architecture == "topk"
    assert report["fvu"] < 0.2 and report["mean_l0"] <= 4
    assert report["held_out_tokens"] == 200 and report["train_tokens"] == 1800


def test_gym_sae_is_cached_beside_the_reference_with_its_quality(smoke_gym, smoke_pairs):
    _, data = smoke_pairs
    settings = SaeSettings(steps=50)
    built = gym_sae(smoke_gym.reference_dir, data, settings)
    assert built.directory.parent == smoke_gym.reference_dir.parent / "sae"
    manifest = json.loads((built.directory / "manifest.json").read_text())
    assert manifest["layer"] == 0  # the smoke reference has one block: its middle block is block 0
    assert 0 <= manifest["fvu"] < 1 and 0 < manifest["mean_l0"] <= settings.k
    assert "FVU" in built.summary() and "mean L0" in built.summary()
    stamp = (built.directory / "sae_weights.safetensors").stat().st_mtime_ns
    assert gym_sae(smoke_gym.reference_dir, data, settings).directory == built.directory
    assert (built.directory / "sae_weights.safetensors").stat().st_mtime_ns == stamp  # found, not retrained
    sae = load_sae(built.directory)
    assert (sae.layer, sae.d_in, sae.d_sae, sae.k) == (0, 32, 128, 16)
    assert gym_sae(smoke_gym.reference_dir, data, replace(settings, k=8)).directory != built.directory
