"""Preference pairs in TRL's format from real judgements: AlpacaEval 2 annotations, split by instruction.

AlpacaEval's published results hold, per model, a judge's verdict on each of the 805 instructions between
the model's output and the baseline's (GPT-4 Turbo). Each confident verdict is a real preference pair:
the winning output is ``chosen``, the losing one ``rejected``. This script turns the annotation files it
is given into the three files bench's real-model run reads, with disjoint instructions:

- ``train.jsonl``: pairs to train on (TRL standard format: ``prompt``, ``chosen``, ``rejected``);
- ``val.jsonl``: held-out pairs in the same format (the judge's held-out accuracy, sweep selection);
- ``test.jsonl``: held-out instructions only (alpaca_eval's ``instruction`` column), to generate and judge;
- ``test_reference_outputs.json``: the baseline's outputs on the test instructions, alpaca_eval's format.

Run by hand (it reads only the paths it is given):

    .venv/bin/python benchmarks/alpaca_pairs.py ../shared/data/alpaca_eval runs/alpaca-pairs \\
        --train 64 --val 64 --test 32
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

from bench.evaluators.alpaca_metrics import load_annotations

CONFIDENT = 0.25
"""Verdicts within this distance of a draw (preference 1.5) are left out: they are not preferences."""


def pairs_from(folder: Path) -> list[dict]:
    """Every confident verdict of the ``annotations.json`` files under ``folder`` as a chosen/rejected pair."""
    pairs = []
    for path in sorted(folder.glob("*/annotations.json")):
        frame = load_annotations(path)
        for row in frame.itertuples():
            preference = float(row.preference)
            if preference != preference or abs(preference - 1.5) < CONFIDENT or preference == 0:
                continue  # failed, or close to a draw
            first_wins = preference < 1.5
            chosen, rejected = (row.output_1, row.output_2) if first_wins else (row.output_2, row.output_1)
            if chosen.strip() and rejected.strip() and chosen != rejected:
                pairs.append({"prompt": row.instruction, "chosen": chosen, "rejected": rejected,
                              "baseline_output": row.output_1})
    return pairs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("annotations", type=Path, help="folder of alpaca_eval results: <model>/annotations.json")
    parser.add_argument("out", type=Path, help="where to write train.jsonl, val.jsonl and test.jsonl")
    parser.add_argument("--train", type=int, default=64, help="training pairs")
    parser.add_argument("--val", type=int, default=64, help="held-out pairs")
    parser.add_argument("--test", type=int, default=32, help="held-out instructions to evaluate on")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    pairs = pairs_from(args.annotations)
    if not pairs:
        raise SystemExit(f"no annotations.json with confident verdicts under {args.annotations}")
    instructions = sorted({pair["prompt"] for pair in pairs})
    random.Random(args.seed).shuffle(instructions)
    test = instructions[:args.test]
    val_instructions = set(instructions[args.test:args.test + args.val])
    train_instructions = set(instructions[args.test + args.val:])
    by_instruction: dict[str, dict] = {}
    for pair in pairs:  # one pair per instruction (the first model's), so no instruction weighs more
        by_instruction.setdefault(pair["prompt"], pair)
    train = [by_instruction[i] for i in sorted(train_instructions)][:args.train]
    val = [by_instruction[i] for i in sorted(val_instructions)][:args.val]
    args.out.mkdir(parents=True, exist_ok=True)
    for name, rows in (("train", train), ("val", val)):
        with open(args.out / f"{name}.jsonl", "w", encoding="utf-8") as handle:
            for row in rows:
                handle.write(json.dumps({key: row[key] for key in ("prompt", "chosen", "rejected")}) + "\n")
    with open(args.out / "test.jsonl", "w", encoding="utf-8") as handle:
        for instruction in test:
            handle.write(json.dumps({"instruction": instruction}) + "\n")
    baseline = {pair["prompt"]: pair["baseline_output"] for pair in pairs}
    (args.out / "test_reference_outputs.json").write_text(json.dumps(
        [{"instruction": i, "output": baseline[i], "generator": "gpt4_1106_preview"} for i in test], indent=1))
    print(f"{len(train)} training pairs, {len(val)} held-out pairs, {len(test)} test instructions -> {args.out}")


if __name__ == "__main__":
    main()
