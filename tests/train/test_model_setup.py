"""Real-model training options on CPU: bf16 autocast, gradient checkpointing, LoRA adapters, compilation."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest
import torch
from safetensors.torch import load_file
from transformers import AutoModelForCausalLM

from bench.config import build_config
from bench.errors import BenchError, ConfigError
from bench.methods import build_objective
from bench.models.loading import load_causal_lm
from bench.models.logprobs import response_scores
from bench.models.refcache import ReferenceCache
from bench.train.batches import OfflineBatches
from bench.train.loop import LoraSettings, TrainConfig, train
from bench.train.model_setup import AdapterReference, prepare_model
from bench.train.stats import CachedReference

peft = pytest.importorskip("peft", reason="LoRA needs peft (pip install 'bench[scale]')")


class _SameBatch:
    """Every step trains on the first micro-batch, so a working optimiser must lower its loss step after step."""

    def __init__(self, inner):
        self.inner = inner

    def get(self, number, model):
        return self.inner.get(0, model)


def _train(tmp_path, gym, pairs, name, config, batches=None, method="dpo"):
    tokenizer, data = pairs
    cache = ReferenceCache(tmp_path / "refcache", "ref", data,
                           lambda: load_causal_lm(gym.reference_dir, dtype="float32"))
    cache.ensure(["responses"])
    model = prepare_model(load_causal_lm(gym.reference_dir, dtype="float32"), config, seed=0)
    batches = batches or _SameBatch(OfflineBatches(data, config.micro_batch_size, seed=0, mismatched=False))
    result = train(build_objective(method), model, tokenizer, batches, CachedReference(cache), config,
                   tmp_path / name, seed=0, progress=False)
    return result, model


def _losses(result) -> list[float]:
    lines = (result.checkpoint.parent / "train_log.jsonl").read_text().splitlines()
    return [json.loads(line)["loss"] for line in lines]


def _config(**changes) -> TrainConfig:
    return TrainConfig(**{"steps": 5, "micro_batch_size": 8, "lr": 1e-2, "warmup_steps": 0, "snapshot_every": 0,
                          **changes})


def test_bf16_autocast_trains_with_bf16_matmuls_and_a_falling_loss(tmp_path, smoke_gym, smoke_pairs):
    seen: set[torch.dtype] = set()
    original = torch.nn.Linear.forward

    def recording(self, x):
        out = original(self, x)
        seen.add(out.dtype)
        return out

    torch.nn.Linear.forward = recording
    try:
        result, _ = _train(tmp_path, smoke_gym, smoke_pairs, "bf16", _config(precision="bf16"))
    finally:
        torch.nn.Linear.forward = original
    losses = _losses(result)
    assert torch.bfloat16 in seen
    assert all(torch.isfinite(torch.tensor(losses))) and losses[-1] < losses[0] - 0.05, losses


def test_gradient_checkpointing_recomputes_exactly(tmp_path, smoke_gym, smoke_pairs):
    plain, _ = _train(tmp_path, smoke_gym, smoke_pairs, "plain", _config())
    checkpointed, model = _train(tmp_path, smoke_gym, smoke_pairs, "checkpointed",
                                 _config(gradient_checkpointing=True))
    assert getattr(model, "is_activation_checkpointing", None) or model.is_gradient_checkpointing
    assert _losses(checkpointed)[-1] < _losses(plain)[0] - 0.05
    assert _losses(checkpointed) == pytest.approx(_losses(plain), abs=1e-5)


def test_fp16_on_a_cpu_is_refused_with_what_to_use(tmp_path, smoke_gym, smoke_pairs):
    if torch.cuda.is_available():
        pytest.skip("fp16 is allowed where CUDA is")
    with pytest.raises(BenchError, match=r"fp16 needs a GPU.*bf16"):
        _train(tmp_path, smoke_gym, smoke_pairs, "fp16", _config(precision="fp16"))


@pytest.mark.parametrize(("override", "message"), [
    ("train.precision=fp8", "train.precision='fp8'"),
    ("train.lora.r=-1", "train.lora"),
    ("train.lora.dropout=1.5", "train.lora"),
    ("model.attn_implementation=fast", "model.attn_implementation='fast'"),
])
def test_bad_scale_settings_fail_at_parse_time(override: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        build_config([override])


LORA = _config(lora=LoraSettings(r=4, alpha=8))


def test_lora_trains_adapters_only_and_its_reference_is_the_base(tmp_path, smoke_gym, smoke_pairs):
    result, _ = _train(tmp_path, smoke_gym, smoke_pairs, "lora", LORA)
    losses = _losses(result)
    assert losses[-1] < losses[0] - 0.05, losses
    base = load_causal_lm(smoke_gym.reference_dir, dtype="float32")
    # The merged checkpoint differs from the base (the adapters learned), the adapters-off policy does not.
    merged = AutoModelForCausalLM.from_pretrained(result.checkpoint)
    changed = [name for name, weight in merged.state_dict().items()
               if not torch.equal(weight, base.state_dict()[name])]
    assert changed and all("proj" in name for name in changed), changed
    # The adapter loads with peft on the base and computes what the merged checkpoint computes.
    adapter = peft.PeftModel.from_pretrained(load_causal_lm(smoke_gym.reference_dir, dtype="float32"),
                                             result.checkpoint / "adapter")
    _, data = smoke_pairs
    batch, _ = OfflineBatches(data, 8, seed=0, mismatched=False).get(0, merged)
    with torch.no_grad():
        torch.testing.assert_close(response_scores(adapter.eval(), batch).token_logps,
                                   response_scores(merged.eval(), batch).token_logps, rtol=1e-4, atol=1e-4)
        assert not torch.allclose(response_scores(merged, batch).logps, response_scores(base, batch).logps)
        # With its adapters disabled a LoRA policy is the reference: the same numbers as the base model's.
        torch.testing.assert_close(AdapterReference(adapter).scores(batch).token_logps,
                                   response_scores(base.eval(), batch).token_logps, rtol=0, atol=1e-6)


def test_a_killed_lora_run_resumes_from_an_adapter_only_snapshot(tmp_path, smoke_gym, smoke_pairs):
    config = TrainConfig(steps=4, micro_batch_size=8, lr=1e-2, warmup_steps=0, snapshot_every=2,
                         lora=LoraSettings(r=4, alpha=8))
    _, data = smoke_pairs
    clean, _ = _train(tmp_path, smoke_gym, smoke_pairs, "clean", config,
                      batches=OfflineBatches(data, 8, seed=0, mismatched=False))

    class Killed(RuntimeError):
        pass

    class KillAtThree:
        def get(self, number, model):
            if number == 3:
                raise Killed
            return OfflineBatches(data, 8, seed=0, mismatched=False).get(number, model)

    with pytest.raises(Killed):
        _train(tmp_path, smoke_gym, smoke_pairs, "killed", config, batches=KillAtThree())
    snapshot = load_file(tmp_path / "killed" / "snapshot" / "model.safetensors")
    assert snapshot and all("lora_" in name for name in snapshot)  # no copy of the frozen base
    resumed, _ = _train(tmp_path, smoke_gym, smoke_pairs, "killed", config,
                        batches=OfflineBatches(data, 8, seed=0, mismatched=False))
    assert resumed.resumed_from == 2
    assert _losses(resumed) == pytest.approx(_losses(clean), rel=1e-5)
    final_clean = load_file(clean.checkpoint / "adapter" / "adapter_model.safetensors")
    final_resumed = load_file(resumed.checkpoint / "adapter" / "adapter_model.safetensors")
    for name, weight in final_clean.items():
        torch.testing.assert_close(final_resumed[name], weight, rtol=1e-5, atol=1e-6)


def test_lora_runs_end_to_end_with_an_online_objective_on_the_policy_as_reference(tmp_path, smoke_run):
    run = smoke_run(tmp_path / "store", "method=dpo,rloo", "train.lora.r=4", "train.lora.alpha=8",
                    "eval.evaluators=[]")
    assert any("rloo" in line and "adapters disabled" in line for line in run.lines), run.lines
    adapters = sorted(run.store.rglob("checkpoint/adapter/adapter_config.json"))
    assert len(adapters) == 2


COMPILED_VS_EAGER = """
import sys, torch
from transformers import LlamaConfig, LlamaForCausalLM
from bench.data.tokenize import collate
from bench.models.logprobs import response_scores
from bench.train.loop import TrainConfig
from bench.train.model_setup import prepare_model

def model():
    torch.manual_seed(0)
    return LlamaForCausalLM(LlamaConfig(vocab_size=40, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                                        num_key_value_heads=2, intermediate_size=48, pad_token_id=0))

generator = torch.Generator().manual_seed(3)
tokens = lambda n: torch.randint(1, 40, (n,), generator=generator).tolist()
batch = collate([tokens(5), tokens(3)], [[tokens(4), tokens(6)], [tokens(2), tokens(7)]], pad_id=0)
compiled = prepare_model(model(), TrainConfig(compile=True), seed=0)
assert compiled.base_model._compiled_call_impl is not None
results = []
for m in (model(), compiled):
    logps = response_scores(m, batch).logps
    logps.sum().backward()
    results.append((logps.detach(), [p.grad for p in m.parameters()]))
(eager_logps, eager_grads), (compiled_logps, compiled_grads) = results
torch.testing.assert_close(compiled_logps, eager_logps, rtol=1e-4, atol=1e-4)
for a, b in zip(compiled_grads, eager_grads, strict=True):
    torch.testing.assert_close(a, b, rtol=1e-3, atol=1e-4)
print("compiled == eager")
"""


@pytest.mark.skipif(shutil.which("gcc") is None and shutil.which("cc") is None,
                    reason="torch.compile's CPU backend needs a C compiler")
def test_compiled_scoring_matches_eager_in_values_and_gradients(tmp_path):
    """In a fresh interpreter: inductor's build step is sensitive to which distutils the test session imported."""
    env = {**os.environ, "TORCHINDUCTOR_CACHE_DIR": str(tmp_path / "inductor"), "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-c", COMPILED_VS_EAGER], capture_output=True, text=True, env=env,
                          timeout=600, check=False)
    assert done.returncode == 0 and "compiled == eager" in done.stdout, done.stderr[-3000:]
