"""bench's trainer against TRL's DPOTrainer, side by side on the issue-6 setting (CPU, fp32, 2 threads).

Run by hand (TRL is the `bench` extra: `pip install -e ".[bench]"`):
    .venv/bin/python benchmarks/vs_trl.py throughput [--rounds 3]   # dpo: s/step, tokens/s, RSS, arithmetic
    .venv/bin/python benchmarks/vs_trl.py sweep                     # 5 objectives: 5 TRL runs vs 1 `bench run`

Every run is a fresh process (so peak RSS is its own); throughput runs alternate TRL and bench so drift
in the machine's speed hits both. Both trainers read the same model directory, rows and row order
(benchmarks/setting.py); the identical-arithmetic check compares bench's per-step dpo losses, averaged
over each 10 steps, with the losses TRL logs every 10 steps. Prints a Markdown table and a JSON record.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import setting as S

HERE = Path(__file__).resolve().parent
SWEEP = ("dpo", "ipo", "hinge", "robust_dpo", "apo_zero")
TOLERANCE = 1e-4


def run_worker(command: list[str], out: Path, label: str) -> tuple[Any, float]:
    """Run one benchmark worker in a fresh process (so its peak RSS is its own) with the setting's threads:
    the JSON it wrote to ``out`` and the process's wall time. Exits with the worker's error if it failed."""
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, check=False,
                          env={**os.environ, "OMP_NUM_THREADS": str(S.THREADS)})
    if done.returncode != 0:
        sys.exit(f"{label} worker failed:\n{done.stderr[-3000:]}")
    return json.loads(out.read_text()), time.perf_counter() - started


def worker(trainer: str, setting: S.Setting, methods: list[str], out: Path) -> list[dict]:
    command = [sys.executable, str(HERE / "trainers.py"), trainer, str(setting.directory), ",".join(methods), str(out)]
    results, seconds = run_worker(command, out, trainer)
    for r in results:
        r["process_seconds"] = seconds
    return results


def throughput(setting: S.Setting, rounds: int, work: Path) -> dict:
    runs: dict[str, list[dict]] = {"trl": [], "bench": []}
    for number in range(rounds):
        for trainer in ("trl", "bench"):
            runs[trainer].append(worker(trainer, setting, ["dpo"], work / f"{trainer}-{number}.json")[0])
            print(f"round {number + 1}/{rounds} {trainer}: {runs[trainer][-1]['train_seconds']:.1f}s", file=sys.stderr)
    summary = {}
    for trainer, results in runs.items():
        seconds = statistics.median(r["train_seconds"] for r in results)
        tokens = results[0]["tokens"]
        summary[trainer] = {"s_per_step": seconds / S.STEPS, "tokens_per_s": tokens / seconds,
                            "tokens_per_step": tokens / S.STEPS,
                            "peak_rss_mb": statistics.median(r["peak_rss_mb"] for r in results),
                            "runs_seconds": [round(r["train_seconds"], 2) for r in results]}
    differences = [abs(a - b) for t, b_run in zip(runs["trl"], runs["bench"], strict=True)
                   for a, b in zip(t["loss_windows"], b_run["loss_windows"], strict=True)]
    same_tokens = all(t["token_ids"] == b["token_ids"] for t, b in zip(runs["trl"], runs["bench"], strict=True))
    return {"summary": summary,
            "speedup_tokens_per_s": summary["bench"]["tokens_per_s"] / summary["trl"]["tokens_per_s"],
            "rss_ratio": summary["bench"]["peak_rss_mb"] / summary["trl"]["peak_rss_mb"],
            "arithmetic": {"max_abs_loss_difference": max(differences), "tolerance": TOLERANCE,
                           "windows": len(runs["trl"][0]["loss_windows"]), "same_token_ids": same_tokens,
                           "passed": max(differences) <= TOLERANCE and same_tokens,
                           "trl_losses": runs["trl"][0]["loss_windows"],
                           "bench_losses": runs["bench"][0]["loss_windows"]}}


def sweep(setting: S.Setting, work: Path) -> dict:
    trl = {}
    for method in SWEEP:
        result = worker("trl", setting, [method], work / f"trl-{method}.json")[0]
        trl[method] = {"process_seconds": result["process_seconds"], "peak_rss_mb": result["peak_rss_mb"]}
        print(f"trl {method}: {result['process_seconds']:.1f}s", file=sys.stderr)
    command = [str(Path(sys.executable).with_name("bench")), "run", f"method={','.join(SWEEP)}", "data.source=jsonl",
               f"data.path={setting.pairs_path}", f"model.path={setting.model_dir}", "model.dtype=float32",
               "eval.evaluators=[]", f"train.steps={S.STEPS}", f"train.micro_batch_size={S.PAIRS_PER_STEP}",
               f"train.lr={S.LR}", f"train.warmup_steps={S.WARMUP}", "train.snapshot_every=0", "progress=false",
               f"store={work / 'runs'}", f"cache={work / 'cache'}"]
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, check=False,
                          env={**os.environ, "OMP_NUM_THREADS": str(S.THREADS)})
    bench_seconds = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(f"bench run failed:\n{done.stderr[-3000:]}")
    log = (done.stdout + done.stderr).splitlines()
    passes = [line for line in log if re.search(r"reference pass .*computed", line)]
    trl_total = sum(r["process_seconds"] for r in trl.values())
    return {"trl": trl, "trl_total_seconds": trl_total, "bench_seconds": bench_seconds,
            "ratio": bench_seconds / trl_total, "bench_reference_passes": len(passes), "bench_log": log}


def _markdown_throughput(result: dict) -> str:
    s = result["summary"]
    lines = ["| trainer | s/step (median) | tokens/s | peak RSS (MB) | runs (s) |", "|---|---|---|---|---|"]
    for trainer in ("trl", "bench"):
        r = s[trainer]
        lines.append(f"| {trainer} | {r['s_per_step']:.4f} | {r['tokens_per_s']:.0f} | {r['peak_rss_mb']:.0f} | "
                     f"{r['runs_seconds']} |")
    a = result["arithmetic"]
    lines.append(f"\nbench/TRL tokens/s: {result['speedup_tokens_per_s']:.2f}x; peak RSS ratio "
                 f"{result['rss_ratio']:.2f}; {s['bench']['tokens_per_step']:.0f} tokens/step. Identical arithmetic: "
                 f"max |loss difference| {a['max_abs_loss_difference']:.2e} over {a['windows']} logged windows "
                 f"(tolerance {a['tolerance']:g}), same token ids: {a['same_token_ids']} -> "
                 f"{'PASS' if a['passed'] else 'FAIL'}")
    return "\n".join(lines)


def _markdown_sweep(result: dict) -> str:
    lines = ["| run | wall (s) |", "|---|---|"]
    lines += [f"| TRL {m} | {r['process_seconds']:.1f} |" for m, r in result["trl"].items()]
    lines.append(f"| TRL total | {result['trl_total_seconds']:.1f} |")
    lines.append(f"| bench run (5 objectives) | {result['bench_seconds']:.1f} |")
    lines.append(f"\nbench/TRL: {result['ratio']:.2f}x; reference passes in bench's run log: "
                 f"{result['bench_reference_passes']}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=("throughput", "sweep"))
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--setting", type=Path, help="reuse a built setting directory")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-vs-trl-") as tmp:
        work = Path(tmp)
        setting = S.build_setting(args.setting or work / "setting")
        if args.what == "throughput":
            result = throughput(setting, args.rounds, work)
            print(_markdown_throughput(result))
        else:
            result = sweep(setting, work)
            print(_markdown_sweep(result))
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
