"""One training run of TRL's DPOTrainer or of bench's trainer on the benchmark setting, in this process.

Run as a worker by the benchmark drivers (each run in a fresh process, so peak RSS is the run's own):
    python benchmarks/trainers.py trl|bench SETTING_DIR METHOD[,METHOD...] OUT_JSON
Prints nothing; writes timings, losses per 10-step window, tokens and peak RSS to OUT_JSON. TRL runs
with precomputed reference log-probs, fp32, no gradient checkpointing, AdamW (torch), the setting's
linear schedule and the fixed row order; bench runs its ``train`` with a cached reference (one pass
for all of its methods, which is how ``bench run`` shares it).
"""

from __future__ import annotations

import json
import resource
import sys
import tempfile
import time
from pathlib import Path

from torch.utils.data import Sampler
from transformers import TrainerCallback

sys.path.insert(0, str(Path(__file__).resolve().parent))

import setting as S

TRL_LOSS = {"dpo": "sigmoid", "ipo": "ipo", "hinge": "hinge", "robust_dpo": "robust", "apo_zero": "apo_zero"}
"""bench's objective -> TRL's loss_type for the sweep (same formulas; hinge in TRL is relu(1 - beta*h))."""


def peak_rss_mb() -> float:
    """This process's peak resident set (MB): the kernel's high-water mark ``VmHWM`` where /proc has it.

    Not ``ru_maxrss`` on Linux, for two reasons: a process that ``subprocess`` starts (vfork/posix_spawn)
    inherits its parent's peak in ``ru_maxrss``, so a worker would report at least its driver's peak; and
    bench's training loop restarts ``VmHWM`` (:class:`bench.train.memory.PeakMemory`), which ``ru_maxrss``
    follows, so a reading after ``train`` misses what came before it. ``VmHWM`` belongs to the process
    alone; callers around such a restart take the larger of the readings before and after it.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class FixedOrder(Sampler):
    """The rows of every step in a fixed order, so TRL sees the batches bench's EpochOrder gives."""

    def __init__(self, order: list[int]) -> None:
        self.order = order

    def __iter__(self):
        return iter(self.order)

    def __len__(self) -> int:
        return len(self.order)


class Clock(TrainerCallback):
    """When TRL's first step began, when each step ended and when training ended (``time.perf_counter``)."""

    def __init__(self) -> None:
        self.first: float | None = None
        self.last: float | None = None
        self.step_ends: list[float] = []

    def on_step_begin(self, args, state, control, **kwargs):
        if self.first is None:
            self.first = time.perf_counter()

    def on_step_end(self, args, state, control, **kwargs):
        self.step_ends.append(time.perf_counter())

    def on_train_end(self, args, state, control, **kwargs):
        self.last = time.perf_counter()


def fixed_order_dpo_trainer(order: list[int]) -> type:
    """TRL's DPOTrainer reading rows in ``order`` and timing its reference pass (``reference_seconds``).

    TRL is imported here, not at the top, so bench's workers do not load it (it would count in their RSS).
    """
    from trl import DPOTrainer

    class FixedOrderDPOTrainer(DPOTrainer):
        reference_seconds = 0.0

        def _get_train_sampler(self, *args, **kwargs):
            return FixedOrder(order)

        def _precompute_ref_logps(self, *args, **kwargs):
            started = time.perf_counter()
            try:
                return super()._precompute_ref_logps(*args, **kwargs)
            finally:
                self.reference_seconds += time.perf_counter() - started

    return FixedOrderDPOTrainer


def _windows(losses: list[float], every: int = 10) -> list[float]:
    return [sum(losses[i:i + every]) / every for i in range(0, len(losses), every)]


def run_trl(setting: S.Setting, method: str, work: Path) -> dict:
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import DPOConfig

    from bench.data.records import load_jsonl
    from bench.data.tokenize import format_prompt

    started = time.perf_counter()
    tokenizer = AutoTokenizer.from_pretrained(setting.model_dir)
    model = AutoModelForCausalLM.from_pretrained(setting.model_dir, dtype="float32")
    rows = load_jsonl(setting.pairs_path)
    dataset = Dataset.from_list([{"prompt": format_prompt(tokenizer, ex.prompt),
                                  "chosen": " " + ex.responses[0].text, "rejected": " " + ex.responses[1].text}
                                 for ex in rows])
    order = setting.order()
    clock = Clock()
    args = DPOConfig(output_dir=str(work), per_device_train_batch_size=S.PAIRS_PER_STEP, max_steps=S.STEPS,
                     learning_rate=S.LR, lr_scheduler_type="linear", warmup_steps=S.WARMUP, weight_decay=0.0,
                     max_grad_norm=1.0, optim="adamw_torch", beta=S.BETA, loss_type=[TRL_LOSS[method]],
                     precompute_ref_log_probs=True, bf16=False, gradient_checkpointing=False, use_cpu=True,
                     logging_steps=10, save_strategy="no", report_to=[], seed=S.SEED, disable_tqdm=True,
                     dataloader_num_workers=0, max_length=None)
    trainer = fixed_order_dpo_trainer(order)(model=model, args=args, train_dataset=dataset,
                                             processing_class=tokenizer, callbacks=[clock])
    prepared = trainer.train_dataset
    tokens_per_row = [2 * len(p) + len(c) + len(r) for p, c, r in
                      zip(prepared["prompt_ids"], prepared["chosen_ids"], prepared["rejected_ids"], strict=True)]
    trainer.train()
    losses = [entry["loss"] for entry in trainer.state.log_history if "loss" in entry]
    return {"trainer": "trl", "method": method, "train_seconds": clock.last - clock.first,
            "total_seconds": time.perf_counter() - started, "tokens": sum(tokens_per_row[i] for i in order),
            "loss_windows": losses, "peak_rss_mb": peak_rss_mb(),
            "token_ids": [prepared[i]["prompt_ids"] + prepared[i]["chosen_ids"] for i in range(3)]}


def run_bench(setting: S.Setting, methods: list[str], work: Path) -> list[dict]:

    from bench.data.records import load_jsonl
    from bench.data.tokenize import encode_prompts, encode_responses, tokenize_dataset
    from bench.methods import build_objective
    from bench.models.loading import load_causal_lm, load_tokenizer
    from bench.models.refcache import ReferenceCache
    from bench.train.batches import OfflineBatches
    from bench.train.loop import TrainConfig, train
    from bench.train.stats import CachedReference

    started = time.perf_counter()
    tokenizer = load_tokenizer(setting.model_dir)
    data = tokenize_dataset(load_jsonl(setting.pairs_path), tokenizer, S.MAX_PROMPT_TOKENS, S.MAX_RESPONSE_TOKENS,
                            tokenizer_id="benchmark")
    cache = ReferenceCache(work / "refcache", "benchmark", data,
                           lambda: load_causal_lm(setting.model_dir, dtype="float32"))
    report = cache.ensure(["responses"])
    config = TrainConfig(steps=S.STEPS, micro_batch_size=S.PAIRS_PER_STEP, lr=S.LR, warmup_steps=S.WARMUP,
                         snapshot_every=0)
    results, peak = [], 0.0
    for method in methods:
        model = load_causal_lm(setting.model_dir, dtype="float32")
        objective = build_objective(method, {"beta": S.BETA})
        peak = max(peak, peak_rss_mb())  # train() restarts the high-water mark: keep what came before
        result = train(objective, model, tokenizer, OfflineBatches(data, S.PAIRS_PER_STEP, S.SEED, mismatched=False),
                       CachedReference(cache), config, work / method, S.SEED, progress=False)
        log = [json.loads(line) for line in (work / method / "train_log.jsonl").read_text().splitlines()]
        results.append({"trainer": "bench", "method": method, "train_seconds": result.step_seconds,
                        "tokens": result.tokens, "loss_windows": _windows([r["loss"] for r in log]),
                        "reference_passes": cache.model_loads, "reference_seconds": report.seconds})
    total = time.perf_counter() - started
    peak = max(peak, peak_rss_mb())
    for r in results:
        r.update(total_seconds=total, peak_rss_mb=peak)
    first = load_jsonl(setting.pairs_path)[:3]
    prompts = encode_prompts(tokenizer, [ex.prompt for ex in first], S.MAX_PROMPT_TOKENS)
    chosen = encode_responses(tokenizer, [ex.prompt for ex in first], [ex.responses[0].text for ex in first],
                              S.MAX_RESPONSE_TOKENS)
    results[0]["token_ids"] = [p + c for p, c in zip(prompts, chosen, strict=True)]
    return results


def main() -> None:
    trainer, directory, methods, out = sys.argv[1], Path(sys.argv[2]), sys.argv[3].split(","), Path(sys.argv[4])
    S.limit_threads()
    setting = S.Setting(directory)
    with tempfile.TemporaryDirectory(prefix=f"bench-{trainer}-") as work:
        if trainer == "trl":
            if len(methods) != 1:
                sys.exit("a TRL worker trains one method")
            results = [run_trl(setting, methods[0], Path(work))]
        else:
            results = run_bench(setting, methods, Path(work))
    out.write_text(json.dumps(results))


if __name__ == "__main__":
    main()
