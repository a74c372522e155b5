"""Sparse autoencoders: the three encoders, and the sae-lens / Gemma Scope directory layout."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from bench.errors import BenchError, ConfigError
from bench.models.sae import SparseAutoencoder, layer_of_hook, load_sae, save_sae

D_IN, D_SAE = 3, 5
W_ENC = [[0.5, -1.0, 0.25, 2.0, 0.0], [1.0, 0.5, -0.5, 0.0, 1.5], [-0.25, 0.0, 1.0, 0.5, -1.0]]
B_ENC = [0.1, 0.2, -0.3, 0.0, 0.05]
B_DEC = [0.5, -0.5, 0.25]
THRESHOLD = [0.6, 0.0, 0.5, 1.0, 0.1]
X = [[1.0, 2.0, -1.0], [0.0, -1.0, 3.0]]


def pre_activations_by_hand(x: list[float], apply_b_dec: bool) -> list[float]:
    shifted = [v - (b if apply_b_dec else 0.0) for v, b in zip(x, B_DEC, strict=True)]
    return [sum(shifted[i] * W_ENC[i][j] for i in range(D_IN)) + B_ENC[j] for j in range(D_SAE)]


def write_sae_lens_directory(directory: Path, architecture: str, cfg_extra: dict, weights: dict | None = None) -> Path:
    """An SAE directory as sae-lens writes it (cfg.json + sae_weights.safetensors), by hand."""
    directory.mkdir(parents=True, exist_ok=True)
    tensors = {"W_enc": torch.tensor(W_ENC), "b_enc": torch.tensor(B_ENC),
               "W_dec": torch.tensor(W_ENC).T.contiguous(), "b_dec": torch.tensor(B_DEC),
               "threshold": torch.tensor(THRESHOLD)}
    save_file(weights if weights is not None else tensors, directory / "sae_weights.safetensors")
    cfg = {"d_in": D_IN, "d_sae": D_SAE, "architecture": architecture, "dtype": "float32", "device": "cpu",
           "normalize_activations": "none", **cfg_extra}
    (directory / "cfg.json").write_text(json.dumps(cfg))
    return directory


@pytest.mark.parametrize("apply_b_dec", [True, False])
def test_jumprelu_from_a_gemma_scope_style_directory(tmp_path, apply_b_dec):
    # sae-lens >= 6 keeps the hook name under "metadata"
    directory = write_sae_lens_directory(tmp_path / "sae", "jumprelu", {
        "apply_b_dec_to_input": apply_b_dec, "metadata": {"hook_name": "blocks.12.hook_resid_post",
                                                          "sae_lens_version": "6.5.0"}})
    sae = load_sae(directory)
    assert (sae.d_in, sae.d_sae, sae.architecture, sae.layer) == (D_IN, D_SAE, "jumprelu", 12)
    codes = sae.encode(torch.tensor(X))
    for row, x in enumerate(X):
        z = pre_activations_by_hand(x, apply_b_dec)
        expected = [zj if zj > t else 0.0 for zj, t in zip(z, THRESHOLD, strict=True)]
        assert codes[row].tolist() == pytest.approx(expected, abs=1e-6)


def test_standard_and_topk_encoders(tmp_path):
    standard = load_sae(write_sae_lens_directory(tmp_path / "a", "standard", {"hook_name": "blocks.3.hook_resid_post"}))
    topk = load_sae(write_sae_lens_directory(tmp_path / "b", "topk", {"hook_point": "blocks.4.hook_resid_post",
                                                                      "activation_fn_kwargs": {"k": 2}}))
    assert (standard.layer, topk.layer, topk.k) == (3, 4, 2)
    for row, x in enumerate(X):
        z = pre_activations_by_hand(x, True)
        assert standard.encode(torch.tensor(X))[row].tolist() == pytest.approx([max(v, 0.0) for v in z], abs=1e-6)
        kept = sorted(range(D_SAE), key=lambda j: -z[j])[:2]
        expected = [max(z[j], 0.0) if j in kept else 0.0 for j in range(D_SAE)]
        assert topk.encode(torch.tensor(X))[row].tolist() == pytest.approx(expected, abs=1e-6)


def test_decode_and_gradients_reach_the_input(tmp_path):
    sae = load_sae(write_sae_lens_directory(tmp_path / "sae", "standard", {}))
    assert sae.layer is None
    codes = torch.tensor([[1.0, 0.0, 2.0, 0.0, 0.5]])
    expected = [sum(codes[0, j].item() * W_ENC[i][j] for j in range(D_SAE)) + B_DEC[i] for i in range(D_IN)]
    assert sae.decode(codes)[0].tolist() == pytest.approx(expected, abs=1e-6)
    x = torch.tensor(X, requires_grad=True)
    sae.encode(x).sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    assert not any(p.requires_grad for p in sae.parameters())  # the SAE itself is frozen


@pytest.mark.parametrize("architecture", ["standard", "jumprelu", "topk"])
def test_save_then_load_round_trips(tmp_path, architecture):
    torch.manual_seed(0)
    sae = SparseAutoencoder(4, 8, architecture, k=3 if architecture == "topk" else None, layer=2)
    for parameter in sae.parameters():
        parameter.data.normal_()
    save_sae(sae, tmp_path / "sae", extra={"trained_by": "test"})
    loaded = load_sae(tmp_path / "sae")
    for name, value in sae.state_dict().items():
        if name != "threshold" or architecture == "jumprelu":
            torch.testing.assert_close(loaded.state_dict()[name], value)
    cfg = json.loads((tmp_path / "sae" / "cfg.json").read_text())
    assert cfg["hook_name"] == "blocks.2.hook_resid_post" and cfg["trained_by"] == "test"
    x = torch.randn(5, 4)
    torch.testing.assert_close(loaded.encode(x), sae.encode(x))
    assert loaded.fingerprint and loaded.layer == 2


def test_fingerprint_follows_the_weights(tmp_path):
    first = load_sae(write_sae_lens_directory(tmp_path / "a", "standard", {}))
    same = load_sae(write_sae_lens_directory(tmp_path / "b", "standard", {}))
    weights = {"W_enc": torch.zeros(D_IN, D_SAE), "b_enc": torch.zeros(D_SAE), "W_dec": torch.zeros(D_SAE, D_IN),
               "b_dec": torch.zeros(D_IN)}
    other = load_sae(write_sae_lens_directory(tmp_path / "c", "standard", {}, weights))
    assert first.fingerprint == same.fingerprint != other.fingerprint


def test_missing_files_keys_and_shapes_are_one_line_errors(tmp_path):
    with pytest.raises(BenchError, match=r"has no sae_weights\.safetensors"):
        (tmp_path / "empty").mkdir()
        (tmp_path / "empty" / "cfg.json").write_text("{}")
        load_sae(tmp_path / "empty")
    no_threshold = {"W_enc": torch.tensor(W_ENC), "b_enc": torch.tensor(B_ENC),
                    "W_dec": torch.tensor(W_ENC).T.contiguous(), "b_dec": torch.tensor(B_DEC)}
    with pytest.raises(BenchError, match=r"no tensor 'threshold'.*jumprelu SAE needs"):
        load_sae(write_sae_lens_directory(tmp_path / "jump", "jumprelu", {}, no_threshold))
    wrong = {**no_threshold, "b_enc": torch.zeros(D_SAE + 1)}
    with pytest.raises(BenchError, match=r"b_enc has shape \(6,\), but cfg\.json's d_in=3, d_sae=5 need \(5,\)"):
        load_sae(write_sae_lens_directory(tmp_path / "shape", "standard", {}, wrong))
    with pytest.raises(BenchError, match="normalize_activations"):
        load_sae(write_sae_lens_directory(tmp_path / "norm", "standard", {"normalize_activations": "layer_norm"}))
    with pytest.raises(ConfigError, match="architecture 'gated'"):
        load_sae(write_sae_lens_directory(tmp_path / "gated", "gated", {}))


def test_layer_of_hook():
    assert layer_of_hook("blocks.25.hook_resid_post") == 25
    assert layer_of_hook("blocks.25.hook_mlp_out") is None and layer_of_hook(None) is None


def test_layer_resolution_prefers_the_request_and_names_the_key():
    sae = SparseAutoencoder(2, 4)
    assert sae.resolve_layer(3, "methods.fpo.layer") == 3
    with pytest.raises(ConfigError, match=r"set methods\.fpo\.layer"):
        sae.resolve_layer(None, "methods.fpo.layer")
