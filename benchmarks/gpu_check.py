"""One-shot GPU check: bf16 DPO throughput and MFU of bench's trainer vs TRL's, and generation throughput.

Run through ``benchmarks/gpu_check.sh`` (it installs the carried wheels and caps the run at 470 s), or here:
    .venv/bin/python benchmarks/gpu_check.py --tiny [--out DIR]
The model is Qwen2-0.5B's shape (held as a Llama: see build_model) with random weights (seed 0) and a
word-level tokenizer of its 151,936 entries, built here, so nothing is downloaded. The data are synthetic pairs of
real length (prompts of 150-250 words, responses of 200-255), short enough that neither trainer cuts a token: both
see the same ids. Each section is guarded (a failure is one line and the next section runs), prints Markdown
table rows and its elapsed time, and rewrites ``OUT/gpu_check.json`` when it ends, so a run cut short by the time
limit still reports what it did.
``--tiny`` shrinks everything (CPU, fp32 where there is no GPU) to test the script itself in a minute or two.
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import importlib.metadata
import json
import os
import platform
import statistics
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np
import torch
from trainers import TRL_LOSS

PEAK_FLOPS = 989e12
"""H200 (SXM) dense bf16 peak, FLOP/s; MFU = 6 * N * tokens/s / PEAK_FLOPS (no attention-score FLOPs)."""
BUDGET_SECONDS = 420
"""Wall time the whole check should fit in (the .sh kills it at 470 s); optional runs are skipped past it."""
LR, BETA, SEED = 5e-7, 0.1, 0
TRL_MAX_LENGTH = 512
PACKAGES = ("torch", "transformers", "accelerate", "peft", "trl", "datasets", "tokenizers", "huggingface-hub",
            "pyarrow", "fsspec", "dill", "multiprocess", "omegaconf", "vllm", "lm_eval")


@dataclass(frozen=True)
class Plan:
    """Sizes of one check: the full one for the H200, the tiny one to test the script on a CPU."""

    hidden: int = 896
    layers: int = 24
    heads: int = 14
    kv_heads: int = 2
    intermediate: int = 4864
    vocab: int = 151_936
    rows: int = 256
    prompt_words: tuple[int, int] = (150, 250)
    response_words: tuple[int, int] = (200, 255)
    """At most 255 words + EOS = 256 tokens; prompts <= 250 + 3 template tokens: nothing is ever cut."""
    max_prompt_tokens: int = 256
    max_response_tokens: int = 256
    pairs_per_step: int = 8
    warmup_steps: int = 5
    timed_steps: int = 25
    """5 + 25 + 1 steps stay inside one epoch of 256 rows (32 steps); ~0.1 s each on an H200."""
    short_warmup: int = 2
    short_timed: int = 5
    """Steps of the gradient-checkpointing and LoRA runs (their figure of interest is peak memory)."""
    gen_prompts: int = 64
    gen_samples: int = 4
    gen_new_tokens: int = 128


TINY = Plan(hidden=64, layers=2, heads=4, kv_heads=2, intermediate=128, vocab=4096, rows=16, prompt_words=(20, 40),
            response_words=(20, 40), warmup_steps=1, timed_steps=2, short_warmup=1, short_timed=1, gen_prompts=4,
            gen_samples=2, gen_new_tokens=8)


@dataclass
class Context:
    """What every section shares: the plan, device, model directory, texts and bench's tokenised data."""

    plan: Plan
    work: Path
    device: torch.device
    dtype: str
    """The dtype the model is saved and loaded in: bfloat16 on a GPU, float32 on a CPU."""
    model_dir: Path
    tokenizer: Any
    examples: list
    data: Any
    model_facts: dict
    started: float

    @property
    def cuda(self) -> bool:
        return self.device.type == "cuda"

    def seconds_left(self) -> float:
        return BUDGET_SECONDS - (time.perf_counter() - self.started)

    def order(self, steps: int) -> list[list[int]]:
        """Row indices of each step: bench's own epoch order, fed to TRL too, so both train on the same batches."""
        from bench.train.batches import EpochOrder

        epochs = EpochOrder(len(self.examples), self.plan.pairs_per_step, SEED)
        return [[int(i) for i in epochs.indices(step)] for step in range(steps)]


class Report:
    """The check's record: printed as it goes and rewritten to ``gpu_check.json`` after every section."""

    def __init__(self, path: Path, started: float) -> None:
        self.path, self.started = path, started
        self.data: dict[str, Any] = {"sections": {}, "notes": []}

    def note(self, text: str) -> None:
        print(f"note: {text}")
        self.data["notes"].append(text)

    def save(self) -> None:
        self.data["elapsed_s"] = round(time.perf_counter() - self.started, 1)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.data, indent=1, default=str))
        tmp.replace(self.path)

    def section(self, name: str, run: Callable[[], Any]) -> Any:
        """Run one section; an exception becomes one printed line and an ``error`` entry, not the end of the check."""
        started = time.perf_counter()
        try:
            result = run()
        except Exception as exc:  # a broken section must not cost the rest of the one remote run
            line = f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}"
            print(f"| {name} | FAILED: {line} |")
            result = {"error": line, "traceback": traceback.format_exc(limit=6)[-3000:]}
        seconds = time.perf_counter() - started
        if isinstance(result, dict):
            result["section_seconds"] = round(seconds, 1)
        self.data["sections"][name] = result
        self.save()
        print(f"[{name}: {seconds:.1f} s, total {time.perf_counter() - self.started:.1f} s]", flush=True)
        return result


def versions() -> dict[str, str | None]:
    """Installed versions of what the check depends on (the remote machine's differ from the dev venv's)."""
    found = {}
    for name in PACKAGES:
        try:
            found[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            found[name] = None
    return found


def unmet_requirements(names: tuple[str, ...] = ("trl", "datasets")) -> list[str]:
    """Requires-Dist of the carried packages that the machine does not satisfy (installed --no-deps, so unchecked)."""
    from packaging.requirements import Requirement

    unmet = []
    for name in names:
        try:
            requirements = importlib.metadata.requires(name) or []
        except importlib.metadata.PackageNotFoundError:
            unmet.append(f"{name} not installed")
            continue
        for text in requirements:
            requirement = Requirement(text)
            if requirement.marker and not requirement.marker.evaluate({"extra": ""}):
                continue
            try:
                have = importlib.metadata.version(requirement.name)
            except importlib.metadata.PackageNotFoundError:
                unmet.append(f"{name}: {text} (missing)")
                continue
            if not requirement.specifier.contains(have, prereleases=True):
                unmet.append(f"{name}: {text} (have {have})")
    return unmet


def environment(report: Report) -> dict:
    """Machine, versions and unmet requirements."""
    info = {"python": platform.python_version(), "machine": platform.machine(), "versions": versions(),
            "cuda": torch.cuda.is_available(), "unmet_requirements": unmet_requirements()}
    if torch.cuda.is_available():
        props = torch.cuda.get_device_properties(0)
        info.update(gpu=props.name, gpu_memory_gib=round(props.total_memory / 2**30, 1), torch_cuda=torch.version.cuda)
    print("| package | version |\n|---|---|")
    for name, version in info["versions"].items():
        print(f"| {name} | {version or 'not installed'} |")
    print(f"python {info['python']} ({info['machine']}), GPU: {info.get('gpu', 'none')}")
    for line in info["unmet_requirements"]:
        report.note(f"unmet requirement: {line}")
    return info


def build_tokenizer(plan: Plan, directory: Path):
    """The gym's word-level tokenizer and chat template (bench.gym.tokenizer) over ``w0..wN``, filling the vocabulary.

    Word-level keeps token counts exact (a text of n words is n tokens), so the texts can be sized to fit the limits.
    """
    from bench.gym.tokenizer import SPECIAL_TOKENS
    from bench.gym.tokenizer import build_tokenizer as build_gym_tokenizer

    words = [f"w{i}" for i in range(plan.vocab - len(SPECIAL_TOKENS))]
    tokenizer = build_gym_tokenizer(SimpleNamespace(vocabulary=words), directory)
    tokenizer.model_max_length = TRL_MAX_LENGTH
    tokenizer.save_pretrained(str(directory))
    return tokenizer


def build_model(plan: Plan, tokenizer, directory: Path, device: torch.device, dtype: str) -> dict:
    """Qwen2-0.5B's shape with random weights (seed 0), saved once for every section to read.

    The class is Llama's (with biased attention projections, as Qwen2's q/k/v are), not Qwen2's: transformers 5
    loads any ``model_type: qwen2`` directory's tokenizer as ``Qwen2Tokenizer`` whatever its tokenizer_config says
    (``MODELS_WITH_INCORRECT_HUB_TOKENIZER_CLASS``), which re-builds a byte-level BPE over this word-level vocabulary
    and encodes every prompt to no tokens, so ``bench.generate`` (which loads the tokenizer from the directory)
    would sample from empty prompts. The FLOPs per token are Qwen2-0.5B's (o_proj's bias adds 896 per layer).
    Returns the parameter counts MFU is computed from (embeddings are tied, so counted once).
    """
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(vocab_size=plan.vocab, hidden_size=plan.hidden, num_hidden_layers=plan.layers,
                         num_attention_heads=plan.heads, num_key_value_heads=plan.kv_heads,
                         intermediate_size=plan.intermediate, tie_word_embeddings=True, max_position_embeddings=32768,
                         rope_theta=1_000_000.0, rms_norm_eps=1e-6, attention_bias=True,
                         pad_token_id=tokenizer.pad_token_id, bos_token_id=tokenizer.bos_token_id,
                         eos_token_id=tokenizer.eos_token_id)
    torch.manual_seed(SEED)
    with torch.device(device):
        model = LlamaForCausalLM(config)
    total = sum(p.numel() for p in model.parameters())
    embedding = model.get_input_embeddings().weight.numel()
    model.to(getattr(torch, dtype)).save_pretrained(str(directory))
    del model
    free_memory()
    loaded = AutoTokenizer.from_pretrained(str(directory))
    probe = "w1 w2 w3"
    if loaded(probe, add_special_tokens=False)["input_ids"] != tokenizer(probe, add_special_tokens=False)["input_ids"]:
        raise RuntimeError(f"the saved tokenizer loads as {type(loaded).__name__} and encodes differently")
    return {"architecture": "LlamaForCausalLM (Qwen2-0.5B shape)", "params_total": total,
            "params_embedding": embedding, "params_non_embedding": total - embedding,
            "lm_head_params": plan.vocab * plan.hidden}


def synthetic_examples(plan: Plan, tokenizer) -> list:
    """Preference pairs of random vocabulary words (numpy seed 0), sized so no limit cuts them."""
    from bench.data.records import Example, Response

    words = [w for w in tokenizer.get_vocab() if w.startswith("w")]
    rng = np.random.default_rng(SEED)

    def text(bounds: tuple[int, int]) -> str:
        return " ".join(words[i] for i in rng.integers(len(words), size=int(rng.integers(bounds[0], bounds[1] + 1))))

    return [Example(id=f"gpu-{i}", prompt=text(plan.prompt_words),
                    responses=(Response(text(plan.response_words)), Response(text(plan.response_words))), kind="pairs")
            for i in range(plan.rows)]


def prepare(plan: Plan, work: Path, started: float) -> Context:
    """Tokenizer, model and data, built once; bench's tokenised dataset included (nothing may be cut)."""
    from bench.data.tokenize import tokenize_dataset

    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dtype = "bfloat16" if device.type == "cuda" else "float32"
    model_dir = work / "model"
    tokenizer = build_tokenizer(plan, model_dir)
    facts = build_model(plan, tokenizer, model_dir, device, dtype)
    examples = synthetic_examples(plan, tokenizer)
    data = tokenize_dataset(examples, tokenizer, plan.max_prompt_tokens, plan.max_response_tokens,
                            tokenizer_id="gpu-check")
    if data.truncation.prompts_cut or data.truncation.responses_cut:
        raise RuntimeError(f"synthetic data were cut: {data.truncation.message()}")
    facts.update(dtype=dtype, device=str(device), rows=len(examples),
                 mean_tokens_per_pair=round(sum(2 * len(p) + len(r[0]) + len(r[1])
                                                for p, r in zip(data.prompt_ids, data.response_ids, strict=True))
                                            / len(examples), 1))
    print(f"| model | {facts['params_total'] / 1e6:.1f}M params ({facts['params_non_embedding'] / 1e6:.1f}M "
          f"non-embedding), {dtype} on {device} | {len(examples)} pairs, {facts['mean_tokens_per_pair']} tokens/pair |")
    return Context(plan, work, device, dtype, model_dir, tokenizer, examples, data, facts, started)


def free_memory() -> None:
    """Drop the previous run's tensors so the next run's peak is its own."""
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()


def reset_accelerate() -> None:
    """accelerate keeps one process-wide state and refuses a second mixed-precision setting; each run starts anew."""
    from accelerate.state import AcceleratorState, GradientState

    AcceleratorState._reset_state(reset_partial_state=True)
    GradientState._reset_state()


def synchronize() -> None:
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def step_figures(ctx: Context, stamps: list[float], tokens: list[int], warmup: int) -> dict:
    """s/step, tokens/s and MFU over the timed steps (each step: one step start to the next, after a CUDA sync).

    Tokens are real ones, prompt included, of both sequences of each pair (the same count for both trainers).
    """
    durations = np.diff(stamps)[warmup:]
    counted = tokens[warmup:warmup + len(durations)]
    tokens_per_s = sum(counted) / float(durations.sum())
    facts = ctx.model_facts
    mfu = (6 * facts["params_non_embedding"] * tokens_per_s / PEAK_FLOPS) if ctx.cuda else None
    mfu_head = (6 * (facts["params_non_embedding"] + facts["lm_head_params"]) * tokens_per_s / PEAK_FLOPS
                if ctx.cuda else None)
    return {"s_per_step_median": float(np.median(durations)), "s_per_step_all": [round(float(d), 4) for d in durations],
            "tokens_per_step": statistics.mean(counted), "tokens_per_s": tokens_per_s, "mfu": mfu,
            "mfu_incl_lm_head": mfu_head, "timed_steps": len(durations)}


def peak_gib(ctx: Context) -> float | None:
    return torch.cuda.max_memory_allocated() / 2**30 if ctx.cuda else None


def training_row(name: str, r: dict) -> str:
    """One Markdown row of the training table."""
    def pct(x: float | None) -> str:
        return "n/a" if x is None else f"{100 * x:.1f}%"

    mem = "n/a" if r.get("peak_alloc_gib") is None else f"{r['peak_alloc_gib']:.2f}"
    return (f"| {name} | {r['s_per_step_median']:.4f} | {r['tokens_per_s']:,.0f} | {pct(r['mfu'])} | "
            f"{pct(r['mfu_incl_lm_head'])} | {mem} | {r.get('setup_seconds', 0):.1f} | {r.get('notes', '')} |")


TRAINING_HEADER = ("| run | s/step (median) | tokens/s | MFU (6·N_non-emb) | MFU (6·(N_non-emb+lm_head)) | "
                   "peak alloc (GiB) | setup (s) | notes |\n|---|---|---|---|---|---|---|---|")


class TimedBatches:
    """bench's batch source, timestamped: ``train`` asks for batch i when step i starts, so gaps are step times."""

    def __init__(self, inner) -> None:
        self.inner, self.stamps, self.tokens = inner, [], []

    def get(self, number: int, model: torch.nn.Module):
        synchronize()
        self.stamps.append(time.perf_counter())
        batch, twin = self.inner.get(number, model)
        self.tokens.append(int(batch.attention_mask.sum()))
        return batch, twin


def bench_config(ctx: Context, steps: int, gradient_checkpointing: bool, lora_r: int):
    """bench's TrainConfig for one run: bf16 autocast on a GPU, the run's checkpointing and LoRA rank."""
    from bench.train.loop import LoraSettings, TrainConfig

    return TrainConfig(steps=steps, micro_batch_size=ctx.plan.pairs_per_step, lr=LR, warmup_steps=0,
                       snapshot_every=0, precision="bf16" if ctx.cuda else "fp32",
                       gradient_checkpointing=gradient_checkpointing, lora=LoraSettings(r=lora_r))


def prepared_model(ctx: Context, config) -> torch.nn.Module:
    """The policy loaded in the check's dtype and passed through bench's ``prepare_model`` (checkpointing, LoRA)."""
    from bench.models.loading import load_causal_lm
    from bench.train.model_setup import prepare_model

    return prepare_model(load_causal_lm(ctx.model_dir, dtype=ctx.dtype), config, SEED)


def reference_cache(ctx: Context):
    """bench's cached reference, computed once (on the GPU) and shared by every bench run, as ``bench run`` does."""
    from bench.models.loading import load_causal_lm
    from bench.models.refcache import ReferenceCache

    cache = ReferenceCache(ctx.work / "refcache", "gpu-check", ctx.data,
                           lambda: load_causal_lm(ctx.model_dir, dtype=ctx.dtype).to(ctx.device))
    report = cache.ensure(["responses"])
    return cache, report.seconds


def run_bench(ctx: Context, cache, warmup: int, timed: int, gradient_checkpointing: bool = False,
              lora_r: int = 0) -> dict:
    """One bench DPO run: the model loaded in the check's dtype, prepared (checkpointing/LoRA), then ``train``."""
    from bench.methods import build_objective
    from bench.train.batches import OfflineBatches
    from bench.train.loop import train
    from bench.train.stats import CachedReference

    config = bench_config(ctx, warmup + timed + 1, gradient_checkpointing, lora_r)
    reset_accelerate()
    free_memory()
    started = time.perf_counter()
    model = prepared_model(ctx, config)
    batches = TimedBatches(OfflineBatches(ctx.data, ctx.plan.pairs_per_step, SEED, mismatched=False))
    run_dir = ctx.work / f"bench-gc{int(gradient_checkpointing)}-lora{lora_r}"
    setup = time.perf_counter() - started
    result = train(build_objective("dpo", {"beta": BETA}), model, ctx.tokenizer, batches, CachedReference(cache),
                   config, run_dir, SEED, progress=False)
    figures = step_figures(ctx, batches.stamps, batches.tokens, warmup)
    log = [json.loads(line) for line in (run_dir / "train_log.jsonl").read_text().splitlines()]
    figures.update(peak_alloc_gib=peak_gib(ctx), setup_seconds=setup, total_seconds=time.perf_counter() - started,
                   bench_peak_memory_mb=result.cost()["train_peak_memory_mb"],
                   first_losses=[r["loss"] for r in log[:3]])
    if lora_r:
        figures["trainable_params"] = sum(p.numel() for p in model.parameters() if p.requires_grad)
    del model
    return figures


def run_trl(ctx: Context, warmup: int, timed: int) -> dict:
    """One TRL DPOTrainer run on the same rows, row order, dtype, optimiser and schedule (reference precomputed)."""
    from datasets import Dataset
    from trainers import fixed_order_dpo_trainer
    from transformers import TrainerCallback
    from trl import DPOConfig

    from bench.data.tokenize import format_prompt
    from bench.models.loading import load_causal_lm

    steps = warmup + timed + 1
    batches = ctx.order(steps)
    stamps: list[float] = []

    class Clock(TrainerCallback):
        def on_step_begin(self, args, state, control, **kwargs):
            synchronize()
            if not stamps and torch.cuda.is_available():
                torch.cuda.reset_peak_memory_stats()  # the peak of training, not of the reference pre-pass
            stamps.append(time.perf_counter())

    reset_accelerate()
    free_memory()
    started = time.perf_counter()
    model = load_causal_lm(ctx.model_dir, dtype=ctx.dtype)
    dataset = Dataset.from_list([{"prompt": format_prompt(ctx.tokenizer, ex.prompt),
                                  "chosen": " " + ex.responses[0].text, "rejected": " " + ex.responses[1].text}
                                 for ex in ctx.examples])
    args = DPOConfig(output_dir=str(ctx.work / "trl"), per_device_train_batch_size=ctx.plan.pairs_per_step,
                     max_steps=steps, learning_rate=LR, lr_scheduler_type="linear", warmup_steps=0, weight_decay=0.0,
                     max_grad_norm=1.0, optim="adamw_torch", beta=BETA, loss_type=[TRL_LOSS["dpo"]],
                     precompute_ref_log_probs=True, precompute_ref_batch_size=4 * ctx.plan.pairs_per_step,
                     bf16=ctx.cuda, gradient_checkpointing=False, use_cpu=not ctx.cuda, logging_steps=steps,
                     save_strategy="no", report_to=[], seed=SEED, disable_tqdm=True, dataloader_num_workers=0,
                     max_length=TRL_MAX_LENGTH)
    trainer = fixed_order_dpo_trainer([i for batch in batches for i in batch])(
        model=model, args=args, train_dataset=dataset, processing_class=ctx.tokenizer, callbacks=[Clock()])
    prepared = trainer.train_dataset
    prompt_ids, chosen_ids, rejected_ids = prepared["prompt_ids"], prepared["chosen_ids"], prepared["rejected_ids"]
    per_row = [2 * len(p) + len(c) + len(r) for p, c, r in zip(prompt_ids, chosen_ids, rejected_ids, strict=True)]
    same = all(p == bp and [c, r] == list(br)
               for p, c, r, bp, br in zip(prompt_ids, chosen_ids, rejected_ids, ctx.data.prompt_ids,
                                          ctx.data.response_ids, strict=True))
    setup = time.perf_counter() - started
    trainer.train()
    figures = step_figures(ctx, stamps, [sum(per_row[i] for i in batch) for batch in batches], warmup)
    figures.update(peak_alloc_gib=peak_gib(ctx), setup_seconds=setup, total_seconds=time.perf_counter() - started,
                   reference_seconds=trainer.reference_seconds, same_token_ids_as_bench=same,
                   notes=f"reference pre-pass {trainer.reference_seconds:.1f} s"
                   + ("" if same else "; TOKEN IDS DIFFER from bench's"))
    del trainer, model
    return figures


def training(ctx: Context, report: Report) -> None:
    """Section 1: bench vs TRL DPO in bf16, then bench with gradient checkpointing and with LoRA (if time allows)."""
    plan = ctx.plan
    print(f"\n## 1. DPO training, {plan.pairs_per_step} pairs/step, {plan.timed_steps} timed steps after "
          f"{plan.warmup_steps} warm-up; MFU against {PEAK_FLOPS / 1e12:.0f} TFLOP/s (H200 dense bf16 peak), N = "
          f"{ctx.model_facts['params_non_embedding'] / 1e6:.1f}M non-embedding parameters (second MFU column adds the "
          f"tied lm_head's {ctx.model_facts['lm_head_params'] / 1e6:.1f}M, whose matmul does run)\n")
    print("setup: TRL = load, tokenise, reference pre-pass; bench = load and prepare (its reference pass is a row of "
          "its own). Peak alloc: torch.cuda.max_memory_allocated over the steps.\n")
    print(TRAINING_HEADER)
    cached: dict[str, Any] = {}

    def reference() -> dict:
        cached["cache"], seconds = reference_cache(ctx)
        print(f"| bench reference pass ({len(ctx.examples)} pairs) | {seconds:.1f} s |")
        return {"seconds": seconds}

    def row(name: str, run: Callable[[], dict]) -> Callable[[], dict]:
        def go() -> dict:
            result = run()
            print(training_row(name, result))
            return result
        return go

    report.section("bench_reference_pass", reference)
    if "cache" in cached:
        report.section("train_bench_bf16", row("bench", lambda: run_bench(ctx, cached["cache"], plan.warmup_steps,
                                                                           plan.timed_steps)))
    report.section("train_trl_bf16", row("TRL DPOTrainer", lambda: run_trl(ctx, plan.warmup_steps, plan.timed_steps)))
    b, t = report.data["sections"].get("train_bench_bf16", {}), report.data["sections"]["train_trl_bf16"]
    if "tokens_per_s" in b and "tokens_per_s" in t:
        ratio = b["tokens_per_s"] / t["tokens_per_s"]
        report.data["bench_over_trl_tokens_per_s"] = ratio
        print(f"| bench / TRL tokens/s | {ratio:.2f}x |")
    for name, label, kwargs in (("train_bench_gradient_checkpointing", "bench + gradient checkpointing",
                                 {"gradient_checkpointing": True}),
                                ("train_bench_lora_r16", "bench + LoRA r=16 all-linear", {"lora_r": 16})):
        if "cache" not in cached or ctx.seconds_left() < 120:
            report.section(name, lambda: {"skipped": "no reference cache or under 120 s left"})
            continue
        report.section(name, row(label, lambda kw=kwargs: run_bench(ctx, cached["cache"], plan.short_warmup,
                                                                    plan.short_timed, **kw)))


def generation(ctx: Context, report: Report) -> None:
    """Section 2: bench.generate's throughput with transformers, and with vLLM where it imports (same-distribution
    check: the policy's mean log-prob of each backend's samples)."""
    from bench.generate import generate, vllm_available
    from bench.models.sampling import SamplingParams

    plan = ctx.plan
    params = SamplingParams(max_new_tokens=plan.gen_new_tokens, temperature=1.0, top_p=1.0, n=plan.gen_samples,
                            seed=SEED)
    prompts = [ex.prompt for ex in ctx.examples[:plan.gen_prompts]]
    print(f"\n## 2. Generation: {len(prompts)} prompts x {params.n} samples x {params.max_new_tokens} new tokens, "
          f"{ctx.dtype}, bench.generate end to end (model load and fingerprint included)\n")
    print("| backend | seconds | samples | generated tokens | tokens/s | mean policy log-prob |\n"
          "|---|---|---|---|---|---|")
    samples: dict[str, list[list[str]]] = {}

    def run(backend: str) -> dict:
        free_memory()
        out = generate(ctx.model_dir, prompts, params, ctx.work / f"generations-{backend}", plan.max_prompt_tokens,
                       "gpu-check", backend=backend, batch_prompts=plan.gen_prompts, dtype=ctx.dtype)
        samples[backend] = out.samples
        texts = [s for group in out.samples for s in group]
        tokens = sum(len(ids) for ids in ctx.tokenizer(texts, add_special_tokens=False)["input_ids"])
        result = {"seconds": out.seconds, "samples": len(texts), "generated_tokens": tokens,
                  "tokens_per_s": tokens / out.seconds, "peak_alloc_gib": peak_gib(ctx)}
        print(f"| {backend} | {out.seconds:.1f} | {len(texts)} | {tokens} | {result['tokens_per_s']:,.0f} | |")
        return result

    report.section("generate_transformers", lambda: run("transformers"))
    if not vllm_available():
        why = "vLLM not installed: skipped" if not _importable("vllm") else "vLLM installed but no GPU: skipped"
        print(f"| vllm | {why} |")
        report.section("generate_vllm", lambda: {"skipped": why})
        return
    report.section("generate_vllm", lambda: run("vllm"))
    if len(samples) == 2:
        report.section("generate_same_distribution", lambda: same_distribution(ctx, prompts, samples))


def same_distribution(ctx: Context, prompts: list[str], samples: dict[str, list[list[str]]]) -> dict:
    """Mean summed log-prob under the policy of each backend's samples: equal within noise if both sample it."""
    from bench.models.loading import load_causal_lm
    from bench.models.scoring import sequence_logps

    model = load_causal_lm(ctx.model_dir, dtype=ctx.dtype).to(ctx.device)
    result = {}
    for backend, groups in samples.items():
        logps = sequence_logps(model, ctx.tokenizer, prompts, groups, ctx.plan.max_prompt_tokens,
                               ctx.plan.gen_new_tokens + 1)
        result[backend] = {"mean": float(logps.mean()), "stderr": float(logps.std(ddof=1) / np.sqrt(logps.size))}
        print(f"| {backend} (scored) | | | | | {result[backend]['mean']:.2f} ± {result[backend]['stderr']:.2f} |")
    gap = result["vllm"]["mean"] - result["transformers"]["mean"]
    noise = float(np.hypot(result["vllm"]["stderr"], result["transformers"]["stderr"]))
    result.update(difference=gap, difference_in_stderr=gap / noise if noise else None)
    return result


def _importable(name: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(name) is not None


def bias_eval(report: Report) -> None:
    """Section 3: BBQ through lm-eval is not run here; the reason is recorded."""
    why = ("skipped: lm_eval is not installed remotely and brings ~14 missing packages (evaluate, rouge-score/nltk, "
           "pytablewriter and its family, sqlitedict, word2number, ...), and BBQ's data is not in the repository "
           "(the hub is unreachable there); the check's time goes to training and generation")
    if _importable("lm_eval"):
        why = "skipped: lm_eval is installed, but BBQ's data is not in the repository and the hub is unreachable"
    print(f"\n## 3. BBQ through lm-eval\n\n| lm-eval BBQ | {why} |")
    report.section("bbq_lm_eval", lambda: {"skipped": why})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiny", action="store_true", help="shrink everything to test the script on a CPU")
    parser.add_argument("--out", type=Path, help="where gpu_check.json goes (default: $OUT, else a new temp dir)")
    args = parser.parse_args()
    args.out = args.out or Path(os.environ.get("OUT") or tempfile.mkdtemp(prefix="gpu-check-out-"))
    started = time.perf_counter()
    plan = TINY if args.tiny else Plan()
    if not torch.cuda.is_available():
        torch.set_num_threads(min(2, os.cpu_count() or 1))
    args.out.mkdir(parents=True, exist_ok=True)
    report = Report(args.out / "gpu_check.json", started)
    report.data["plan"] = {**dataclasses.asdict(plan), "tiny": args.tiny, "lr": LR, "beta": BETA,
                           "peak_flops": PEAK_FLOPS, "trl_max_length": TRL_MAX_LENGTH}
    print(f"# bench GPU check ({'tiny' if args.tiny else 'full'}), results in {report.path}\n")
    report.section("environment", lambda: environment(report))
    with tempfile.TemporaryDirectory(prefix="gpu-check-") as tmp:
        holder: dict[str, Context] = {}

        def setup() -> dict:
            holder["ctx"] = prepare(plan, Path(tmp), started)
            return holder["ctx"].model_facts

        report.section("setup", setup)
        if "ctx" not in holder:
            print("setup failed: no model, nothing else can run")
        else:
            report.data["model"] = holder["ctx"].model_facts
            training(holder["ctx"], report)
            generation(holder["ctx"], report)
    bias_eval(report)
    report.save()
    print(f"\ndone in {time.perf_counter() - started:.1f} s; JSON: {report.path}")


if __name__ == "__main__":
    main()
