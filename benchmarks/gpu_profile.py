"""Where a bench DPO step spends its GPU time and memory: torch.profiler over a few steps of the GPU check's setting.

Run on the GPU machine after the check's wheels are installed (``benchmarks/gpu_check.sh`` does that), e.g.
    python3 benchmarks/gpu_profile.py [--tiny] [--gradient-checkpointing]
Prints the operators with the most GPU time, those that allocate the most, and the host-device synchronisations;
it reuses gpu_check.py's model, data and bench configuration so the numbers explain that table's rows.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import torch
from torch.profiler import ProfilerActivity, profile, schedule

sys.path.insert(0, str(Path(__file__).resolve().parent))

import gpu_check as G

WAIT, WARMUP, ACTIVE = 2, 2, 3


class ProfiledBatches:
    """bench's batch source that advances the profiler's schedule at every step (one micro-batch per step)."""

    def __init__(self, inner, profiler) -> None:
        self.inner, self.profiler = inner, profiler

    def get(self, number: int, model: torch.nn.Module):
        if number:
            self.profiler.step()
        return self.inner.get(number, model)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiny", action="store_true")
    parser.add_argument("--gradient-checkpointing", action="store_true")
    args = parser.parse_args()
    from bench.methods import build_objective
    from bench.train.batches import OfflineBatches
    from bench.train.loop import train
    from bench.train.stats import CachedReference

    with tempfile.TemporaryDirectory(prefix="gpu-profile-") as tmp:
        ctx = G.prepare(G.TINY if args.tiny else G.Plan(), Path(tmp), time.perf_counter())
        cache, _ = G.reference_cache(ctx)
        steps = WAIT + WARMUP + ACTIVE + 1
        config = G.bench_config(ctx, steps, args.gradient_checkpointing, 0)
        model = G.prepared_model(ctx, config)
        activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if ctx.cuda else [])
        with profile(activities=activities, schedule=schedule(wait=WAIT, warmup=WARMUP, active=ACTIVE),
                     profile_memory=True, record_shapes=False) as profiler:
            batches = ProfiledBatches(OfflineBatches(ctx.data, ctx.plan.pairs_per_step, G.SEED, mismatched=False),
                                      profiler)
            train(build_objective("dpo", {"beta": G.BETA}), model, ctx.tokenizer, batches, CachedReference(cache),
                  config, Path(tmp) / "run", G.SEED, progress=False)
        device = "cuda" if ctx.cuda else "cpu"
        averages = profiler.key_averages()
        print(f"## bench DPO, {ACTIVE} profiled steps (gradient checkpointing: {args.gradient_checkpointing})\n")
        print(averages.table(sort_by=f"self_{device}_time_total", row_limit=25, max_name_column_width=60))
        print(averages.table(sort_by=f"self_{device}_memory_usage", row_limit=12, max_name_column_width=60))
        syncs = [e for e in averages if "Synchronize" in e.key or "Memcpy" in e.key or e.key == "aten::item"]
        for event in syncs:
            print(f"{event.key}: {event.count} calls, {event.cpu_time_total / 1e3:.1f} ms host")


if __name__ == "__main__":
    main()
