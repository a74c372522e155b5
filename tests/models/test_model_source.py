"""Tests for bench.models.model_source: a model location is checked, in one line, before anything loads."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from bench.errors import ConfigError
from bench.models.model_source import resolve_model


@pytest.fixture
def model_dir(smoke_gym, tmp_path: Path) -> Path:
    """A copy of the smoke gym's reference checkpoint (a real save_pretrained directory)."""
    return Path(shutil.copytree(smoke_gym.reference_dir, tmp_path / "model"))


def test_a_complete_directory_resolves_to_itself(model_dir: Path) -> None:
    assert resolve_model(model_dir) == str(model_dir)


@pytest.mark.parametrize(("break_it", "message"), [
    (lambda d: [p.unlink() for p in d.glob("*.safetensors")], "has no weights"),
    (lambda d: ([p.unlink() for p in d.glob("*.safetensors")], (d / "pytorch_model.bin").write_bytes(b"x")),
     r"has only pickle weights \(pytorch_model\.bin\), which bench refuses"),
    (lambda d: (d / "config.json").unlink(), "has no config.json"),
    (lambda d: [p.unlink() for p in d.glob("tokenizer*")], "has no tokenizer files"),
    (lambda d: (d / "config.json").write_text(json.dumps(
        {**json.loads((d / "config.json").read_text()), "model_type": "custom_x",
         "auto_map": {"AutoModelForCausalLM": "modeling_x.Custom"}})), "model.trust_remote_code=true"),
    (lambda d: (d / "config.json").write_text(json.dumps(
        {**json.loads((d / "config.json").read_text()), "model_type": "custom_x"})), "not known to transformers"),
])
def test_a_directory_bench_cannot_load_safely_is_named_with_the_fix(model_dir: Path, break_it, message) -> None:
    break_it(model_dir)
    with pytest.raises(ConfigError, match=message):
        resolve_model(model_dir)


def test_custom_code_loads_only_when_the_user_trusts_it(model_dir: Path) -> None:
    config = json.loads((model_dir / "config.json").read_text())
    (model_dir / "config.json").write_text(json.dumps({**config, "model_type": "custom_x",
                                                       "auto_map": {"AutoConfig": "x.C"}}))
    assert resolve_model(model_dir, trust_remote_code=True) == str(model_dir)


def test_missing_paths_and_uncached_hub_ids_say_what_they_are(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    with pytest.raises(ConfigError, match="does not exist"):
        resolve_model(tmp_path / "nope")
    with pytest.raises(ConfigError, match="not in the local Hugging Face cache"):
        resolve_model("some-org/some-model")
    (tmp_path / "weights.bin").write_bytes(b"x")
    with pytest.raises(ConfigError, match=r"is a file but not a \.gguf model"):
        resolve_model(tmp_path / "weights.bin")


def test_custom_code_beside_a_known_model_type_is_said_not_silently_ignored(
        model_dir: Path, caplog: pytest.LogCaptureFixture) -> None:
    """transformers loads its own class for a known model_type and ignores auto_map without trust_remote_code:
    the model runs, and the user is told which code ran."""
    config = json.loads((model_dir / "config.json").read_text())
    (model_dir / "config.json").write_text(json.dumps({**config, "auto_map": {"AutoModelForCausalLM": "x.Custom"}}))
    assert resolve_model(model_dir) == str(model_dir)
    assert "ships its own model code" in caplog.text and "transformers' own llama classes are used" in caplog.text
