"""Tests for bench.generate.outputs: every job's outputs are files alpaca_eval reads as they are."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.data.conversation import Message
from bench.errors import DataError
from bench.generate.outputs import generator_name, write_model_outputs
from bench.runner.evaluate import reference_outputs_for

PROMPTS = ["What is 2+2?", (Message("system", "Be brief."), Message("user", "Name a colour."))]
SAMPLES = [["4", "four"], ["Red.", "Blue."]]


def test_k_samples_make_k_files_of_one_output_per_instruction(tmp_path: Path) -> None:
    paths = write_model_outputs(tmp_path, PROMPTS, SAMPLES, generator_name("dpo", {"beta": 0.1, "reduction": "sum"},
                                                                               seed=2))
    assert [p.name for p in paths] == ["model_outputs.json", "model_outputs.1.json"]
    first = json.loads(paths[0].read_text())
    assert first == [{"generator": "dpo beta=0.1 seed=2", "instruction": "What is 2+2?", "output": "4"},
                     {"generator": "dpo beta=0.1 seed=2", "instruction": "System: Be brief.\n\nUser: Name a colour.",
                      "output": "Red."}]
    assert [row["output"] for row in json.loads(paths[1].read_text())] == ["four", "Blue."]


def test_alpaca_eval_loads_the_written_outputs_with_its_own_reader(tmp_path: Path) -> None:
    utils = pytest.importorskip("alpaca_eval.utils")
    (path, *_) = write_model_outputs(tmp_path, PROMPTS, SAMPLES, "dpo seed=0")
    frame = utils.load_or_convert_to_dataframe(str(path))
    assert list(frame["output"]) == ["4", "Red."] and set(frame["generator"]) == {"dpo seed=0"}


def test_reference_outputs_are_matched_to_the_prompts_by_instruction(tmp_path: Path) -> None:
    path = tmp_path / "reference.json"
    path.write_text(json.dumps([{"instruction": "System: Be brief.\n\nUser: Name a colour.", "output": "Green."},
                                {"instruction": "What is 2+2?", "output": "Four."},
                                {"instruction": "unused", "output": "x"}]))
    assert reference_outputs_for(path, PROMPTS) == [["Four."], ["Green."]]
    with pytest.raises(DataError, match=r"has no output for 1 of 2 test prompts \(e\.g\. 'Another\?'\)"):
        reference_outputs_for(path, ["What is 2+2?", "Another?"])
