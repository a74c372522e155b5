"""Generated outputs as alpaca_eval reads them, in every job's directory, so they can be judged anywhere.

alpaca_eval judges a ``model_outputs.json``: a JSON list of ``{"instruction", "output", "generator"}``, one
output per instruction. bench draws k samples per prompt, so a job's directory holds k such files:
``model_outputs.json`` (the first sample of every prompt) and ``model_outputs.<j>.json`` for the others,
each one ``alpaca_eval --model_outputs <file>`` accepts unchanged. The generator name says what made the
outputs (method, hyper-parameters, seed), as a leaderboard row would. Annotations made elsewhere come back
in through the ``annotations`` judge.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from bench import atomic
from bench.data.conversation import Prompt, as_text


def outputs_file(directory: Path, sample: int, name: str = "model_outputs") -> Path:
    """Where the ``sample``-th output of every prompt goes: ``model_outputs.json``, then ``model_outputs.<j>.json``."""
    return Path(directory) / (f"{name}.json" if sample == 0 else f"{name}.{sample}.json")


def generator_name(method: str, hyperparameters: Mapping[str, Any], seed: int) -> str:
    """A readable name for the outputs of one job: ``dpo beta=0.1 seed=0``."""
    settings = " ".join(f"{key}={value}" for key, value in sorted(hyperparameters.items()) if key != "reduction")
    return " ".join(part for part in (method, settings, f"seed={seed}") if part)


def write_model_outputs(directory: Path, prompts: Sequence[Prompt], samples: Sequence[Sequence[str]],
                        generator: str, name: str = "model_outputs") -> list[Path]:
    """Write the samples ``[prompt][j]`` as k alpaca_eval ``model_outputs`` files (``name`` their stem, e.g.
    ``reference_outputs`` for a baseline's); returns their paths."""
    k = min(len(group) for group in samples)
    instructions = [as_text(prompt) for prompt in prompts]
    paths = []
    for j in range(k):
        path = outputs_file(directory, j, name)
        atomic.write_json(path, [{"instruction": instruction, "output": group[j], "generator": generator}
                                 for instruction, group in zip(instructions, samples, strict=True)])
        paths.append(path)
    return paths
