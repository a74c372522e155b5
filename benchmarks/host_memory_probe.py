"""Where a CPU step's memory goes: activations autograd keeps against the resident set glibc's heap holds.

For the full fine-tune and LoRA (r=16, all linear layers) of SmolLM2-135M-Instruct on 8 AlpacaEval pairs a step
(the setting of ``smollm2_vs_trl.py``), each in a fresh process, with glibc's default allocator and with
``bench.host_memory.return_freed_memory`` (``lean_host_memory=true``): the bytes of the tensors autograd saves
in the first step's forward (counted once per storage), the resident set that forward adds, the step times of
4 steps (scoring, backward, AdamW) and the process's peak RSS. Prints a Markdown table.

Run by hand (needs the converted model and pairs that ``smollm2_vs_trl.py`` prepares under ``runs/``):
    .venv/bin/python benchmarks/host_memory_probe.py
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from contextlib import nullcontext
from pathlib import Path

HERE = Path(__file__).resolve().parent
STEPS = 4


def _status_mb(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field):
            return int(line.split()[1]) / 1024
    return float("nan")


def probe(mode: str, lean: bool) -> dict:
    """One process's measurements (run through ``--worker``)."""
    sys.path.insert(0, str(HERE))
    import setting as tiny
    import smollm2_vs_trl as S
    import torch

    from bench.host_memory import return_freed_memory
    from bench.models.loading import load_causal_lm, load_tokenizer
    from bench.models.logprobs import response_scores
    from bench.train.batches import OfflineBatches
    from bench.train.loop import LoraSettings, TrainConfig
    from bench.train.model_setup import prepare_model

    tiny.limit_threads()
    if lean:
        return_freed_memory()
    setting = S.prepare(S.REPO / "runs" / "smollm2-vs-trl", S.ALPACA_EVAL, S.PAIRS, STEPS)
    data = S.tokenized(setting, load_tokenizer(setting.model_dir))
    lora = LoraSettings(**S.LORA) if mode == "lora" else LoraSettings()
    model = prepare_model(load_causal_lm(setting.model_dir, dtype="float32"),
                          TrainConfig(steps=STEPS, micro_batch_size=S.PAIRS_PER_STEP, lora=lora), S.SEED)
    model.train()
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=S.LR)
    batches = OfflineBatches(data, S.PAIRS_PER_STEP, S.SEED, mismatched=False)
    saved: dict[int, int] = {}

    def keep(tensor):
        storage = tensor.untyped_storage()
        saved.setdefault(storage.data_ptr(), storage.nbytes())
        return tensor

    seconds, forward_growth = [], 0.0
    for step in range(STEPS):
        batch, _ = batches.get(step, model)
        started, before = time.perf_counter(), _status_mb("VmRSS")
        with torch.autograd.graph.saved_tensors_hooks(keep, lambda tensor: tensor) if step == 0 else nullcontext():
            loss = -response_scores(model, batch).logps.mean()
        if step == 0:
            forward_growth = _status_mb("VmRSS") - before
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        seconds.append(time.perf_counter() - started)
    return {"mode": mode, "lean": lean, "saved_mb": sum(saved.values()) / 2**20, "forward_rss_mb": forward_growth,
            "step_seconds": seconds, "peak_rss_mb": _status_mb("VmHWM")}


def main() -> None:
    if len(sys.argv) == 4 and sys.argv[1] == "--worker":
        print(json.dumps(probe(sys.argv[2], sys.argv[3] == "lean")))
        return
    rows = []
    for mode in ("full", "lora"):
        for allocator in ("default", "lean"):
            out = subprocess.run([sys.executable, __file__, "--worker", mode, allocator], check=True,
                                 capture_output=True, text=True).stdout
            rows.append(json.loads(out.strip().splitlines()[-1]))
            print(f"{mode} {allocator}: done", file=sys.stderr)
    print("| mode | allocator | saved by autograd, step 1 (MB) | RSS added by its forward (MB) | "
          "s/step (steps 2-4) | peak RSS (MB) |")
    print("|---|---|--:|--:|--:|--:|")
    for row in rows:
        later = row["step_seconds"][1:]
        print(f"| {row['mode']} | {'lean' if row['lean'] else 'glibc default'} | {row['saved_mb']:,.0f} | "
              f"{row['forward_rss_mb']:,.0f} | {sum(later) / len(later):.2f} | {row['peak_rss_mb']:,.0f} |")


if __name__ == "__main__":
    main()
