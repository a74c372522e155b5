"""Generation throughput of the gym's evaluation: samples/s and response tokens/s of ``bench.generate``.

Run by hand:  .venv/bin/python benchmarks/generation.py [--cache DIR] [--repeats 2] [--backend auto]
The workload is exactly one checkpoint's evaluation on the embedded default: the 256 test prompts,
4 samples each, up to 48 new tokens at temperature 1, from the gym's reference model (built into
``--cache`` when missing, about a minute). Each repeat writes to a fresh output cache, so nothing is
a cache hit. The backend is whatever ``generate.backend`` would choose (vLLM only with a GPU).
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import tempfile
import time
from pathlib import Path

from bench.config import build_config
from bench.generate import choose_backend, generate
from bench.gym.build import build_gym
from bench.models.loading import load_tokenizer
from bench.models.sampling import SamplingParams


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "bench-generation-cache")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--backend", default="auto")
    args = parser.parse_args()
    config = build_config([f"cache={args.cache}", "progress=false"])
    gym = build_gym(config.gym, config.data.max_prompt_tokens, config.data.max_response_tokens, args.cache,
                    progress=False)
    g = config.generate
    params = SamplingParams(max_new_tokens=g.max_new_tokens, temperature=g.temperature, top_p=g.top_p,
                            n=g.samples_per_prompt, seed=0)
    tokenizer = load_tokenizer(gym.reference_dir)
    runs = []
    for repeat in range(args.repeats):
        with tempfile.TemporaryDirectory() as fresh:
            started = time.perf_counter()
            out = generate(gym.reference_dir, gym.test_prompts, params, Path(fresh), config.data.max_prompt_tokens,
                           generator_name="benchmark", backend=args.backend, batch_prompts=g.batch_prompts)
            seconds = time.perf_counter() - started
        samples = [s for group in out.samples for s in group]
        tokens = sum(len(ids) for ids in tokenizer(samples, add_special_tokens=False)["input_ids"])
        runs.append({"seconds": seconds, "samples": len(samples), "response_tokens": tokens})
        print(f"repeat {repeat + 1}: {seconds:.1f}s", flush=True)
    seconds = statistics.median(r["seconds"] for r in runs)
    print(json.dumps({"backend": choose_backend(args.backend), "prompts": len(gym.test_prompts),
                      "samples_per_prompt": params.n, "max_new_tokens": params.max_new_tokens,
                      "batch_prompts": g.batch_prompts, "median_seconds": round(seconds, 2),
                      "samples_per_s": round(runs[0]["samples"] / seconds, 1),
                      "response_tokens_per_s": round(runs[0]["response_tokens"] / seconds),
                      "runs": runs, "machine": platform.machine()}, indent=1))


if __name__ == "__main__":
    main()
