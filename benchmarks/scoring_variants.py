"""Forward + backward time per training batch of bench's scoring variants, on the issue-6 setting.

Run by hand:  .venv/bin/python benchmarks/scoring_variants.py [--compile]
Scores the first 30 training batches (16 pairs each, the setting's row order) and back-propagates the
summed log-probs, as a training step does, with: packed scoring (the default), length buckets without
packing (the padded fallback), and one padded call. With ``--compile`` it adds packed scoring through a
``torch.compile``-d decoder (dynamic shapes) and reports its first-step (compile) time separately.
Prints the median milliseconds per batch of each variant over three passes.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

import setting as S

from bench.data.records import load_jsonl
from bench.data.tokenize import collate_rows, tokenize_dataset
from bench.models.loading import load_causal_lm, load_tokenizer
from bench.models.logprobs import response_scores

BATCHES = 30
VARIANTS = {"packed": {}, "length buckets": {"packing": False}, "one padded call": {"packing": False,
                                                                                    "overhead_tokens": 10**9}}


def _seconds_per_batch(model, batches, options) -> float:
    started = time.perf_counter()
    for batch in batches:
        response_scores(model, batch, **options).logps.sum().backward()
    return (time.perf_counter() - started) / len(batches)


def _report(name: str, runs: list[float]) -> None:
    print(f"{name:>16}: {1000 * statistics.median(runs):6.1f} ms/batch (runs {[round(1000 * r, 1) for r in runs]})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--compile", action="store_true", help="also time packed scoring with torch.compile")
    args = parser.parse_args()
    S.limit_threads()
    with tempfile.TemporaryDirectory() as work:
        setting = S.build_setting(Path(work))
        tokenizer = load_tokenizer(setting.model_dir)
        data = tokenize_dataset(load_jsonl(setting.pairs_path), tokenizer, S.MAX_PROMPT_TOKENS,
                                S.MAX_RESPONSE_TOKENS, tokenizer_id="benchmark")
        model = load_causal_lm(setting.model_dir, dtype="float32")
        order = setting.order()
        batches = [collate_rows(data, torch.tensor(order[i * S.PAIRS_PER_STEP:(i + 1) * S.PAIRS_PER_STEP]))
                   for i in range(BATCHES)]
        for name, options in VARIANTS.items():
            _report(name, [_seconds_per_batch(model, batches, options) for _ in range(3)])
        if args.compile:
            model.base_model.compile(dynamic=True)
            started = time.perf_counter()
            response_scores(model, batches[0]).logps.sum().backward()
            print(f"{'compiled packed':>16}: first batch (compiling) {time.perf_counter() - started:.1f} s")
            _report("compiled packed", [_seconds_per_batch(model, batches, {}) for _ in range(3)])


if __name__ == "__main__":
    main()
