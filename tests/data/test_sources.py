"""Tests for bench.data.sources: every format from JSONL, Parquet, CSV, JSON, save_to_disk folders and cached hub
datasets gives the same records (ids and fingerprint included), errors are one line naming the file, row and fix,
and a third-party source installed with an entry point is used like a built-in one."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from bench.data.conversation import Message, Prompt, as_text, messages
from bench.data.records import Example, Response, dataset_fingerprint, to_json
from bench.data.sources import SourceSpec, load_examples, load_prompts, source_name
from bench.errors import BenchError, ConfigError, DataError

datasets = pytest.importorskip("datasets")


@pytest.fixture(autouse=True)
def private_caches(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Each test gets empty datasets and hub caches: nothing read from, or left in, the user's."""
    from huggingface_hub import constants

    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", tmp_path / "hf-datasets")
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hf-hub"))
    return tmp_path


def one_line_error(error: type[BenchError], call: Callable[..., Any], *args: Any) -> str:
    with pytest.raises(error) as caught:
        call(*args)
    message = str(caught.value)
    assert "\n" not in message, message
    return message


# ---- the 64 examples and their layouts -------------------------------------------------------------------------

SYSTEM = Message("system", "You answer in a few words.")


def _prompt(i: int) -> Prompt:
    """Half plain prompts, a quarter multi-turn conversations, a quarter with a system message too."""
    if i % 4 in (0, 1):
        return f"Question {i}: name a fruit."
    turns = (Message("user", f"Name a colour ({i})."), Message("assistant", f"Red {i}."), Message("user", "Another?"))
    return (SYSTEM, *turns) if i % 4 == 3 else turns


EXAMPLES = [Example(id=f"train-{i}", prompt=_prompt(i), kind="pairs",
                    responses=(Response(f"Apple {i}.\n\nA sweet one."), Response(f"Rock {i}.")))
            for i in range(64)]
SCORES = [(7.0 + i % 3, 5.5, 2.0) for i in range(64)]
MIDDLE = [f"Maybe {i}." for i in range(64)]


def _hh(turns: list[dict[str, str]]) -> str:
    names = {"user": "Human", "assistant": "Assistant"}
    return "".join(f"\n\n{names[t['role']]}: {t['content']}" for t in turns)


def _reply(text: str) -> list[dict[str, str]]:
    return [{"role": "assistant", "content": text}]


def _without_system(prompt: Prompt) -> Prompt:
    if isinstance(prompt, str):
        return prompt
    turns = tuple(m for m in prompt if m.role != "system")
    return turns[0].content if len(turns) == 1 else turns


def _standard() -> tuple[list[dict[str, Any]], list[Example]]:
    """TRL standard: strings only, so a conversation is written (and read back) as its text."""
    rows = [{"prompt": as_text(ex.prompt), "chosen": ex.responses[0].text, "rejected": ex.responses[1].text}
            for ex in EXAMPLES]
    return rows, [Example(ex.id, as_text(ex.prompt), ex.responses, "pairs") for ex in EXAMPLES]


def _conversational() -> tuple[list[dict[str, Any]], list[Example]]:
    rows = [{"prompt": messages(ex.prompt), "chosen": _reply(ex.responses[0].text),
             "rejected": _reply(ex.responses[1].text)} for ex in EXAMPLES]
    return rows, EXAMPLES


def _implicit() -> tuple[list[dict[str, Any]], list[Example]]:
    rows = [{"chosen": messages(ex.prompt) + _reply(ex.responses[0].text),
             "rejected": messages(ex.prompt) + _reply(ex.responses[1].text)} for ex in EXAMPLES]
    return rows, EXAMPLES


def _hh_form() -> tuple[list[dict[str, Any]], list[Example]]:
    """HH-RLHF transcripts have no system turn: they carry the examples without it."""
    rows = [{"chosen": _hh(messages(_without_system(ex.prompt)) + _reply(ex.responses[0].text)),
             "rejected": _hh(messages(_without_system(ex.prompt)) + _reply(ex.responses[1].text))} for ex in EXAMPLES]
    return rows, [Example(ex.id, _without_system(ex.prompt), ex.responses, "pairs") for ex in EXAMPLES]


def _unpaired() -> tuple[list[dict[str, Any]], list[Example]]:
    rows, expected = [], []
    for ex in EXAMPLES:
        for response, label in zip(ex.responses, (True, False), strict=True):
            reply = Response(response.text, label=1 if label else -1)
            expected.append(Example(f"train-{len(rows)}", ex.prompt, (reply,), "unpaired"))
            rows.append({"prompt": messages(ex.prompt), "completion": _reply(response.text), "label": label})
    return rows, expected


def _scored() -> tuple[list[dict[str, Any]], list[Example]]:
    rows, expected = [], []
    for ex, scores, middle in zip(EXAMPLES, SCORES, MIDDLE, strict=True):
        texts = (ex.responses[0].text, middle, ex.responses[1].text)
        rows.append({"prompt": messages(ex.prompt),
                     "completions": [{"text": t, "score": s} for t, s in zip(texts, scores, strict=True)]})
        responses = tuple(Response(t, score=s) for t, s in zip(texts, scores, strict=True))
        expected.append(Example(ex.id, ex.prompt, responses, "kwise"))
    return rows, expected


def _outcomes() -> tuple[list[dict[str, Any]], list[Example]]:
    rows = [{"prompt": messages(ex.prompt), "completion": ex.responses[0].text, "outcome": scores[0] / 10}
            for ex, scores in zip(EXAMPLES, SCORES, strict=True)]
    return rows, [Example(ex.id, ex.prompt, (Response(ex.responses[0].text, outcome=scores[0] / 10),), "outcomes")
                  for ex, scores in zip(EXAMPLES, SCORES, strict=True)]


FORMS: dict[str, Callable[[], tuple[list[dict[str, Any]], list[Example]]]] = {
    "standard": _standard, "conversational": _conversational, "implicit": _implicit, "hh": _hh_form,
    "unpaired": _unpaired, "scored": _scored, "outcomes": _outcomes}


def _write_all(rows: list[dict[str, Any]], folder: Path) -> dict[str, Path]:
    """The same rows as JSONL (written by hand), Parquet and a save_to_disk folder."""
    folder.mkdir(parents=True, exist_ok=True)
    jsonl = folder / "data.jsonl"
    jsonl.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    table = datasets.Dataset.from_list(rows)
    table.to_parquet(str(folder / "data.parquet"))
    table.save_to_disk(str(folder / "saved"))
    return {"jsonl": jsonl, "parquet": folder / "data.parquet", "saved": folder / "saved"}


def _specs(files: dict[str, Path]) -> dict[str, SourceSpec]:
    return {"hf jsonl": SourceSpec(source="hf", path=str(files["jsonl"])),
            "hf parquet": SourceSpec(source="hf", path=str(files["parquet"])),
            "hf save_to_disk": SourceSpec(source="hf", path=str(files["saved"])),
            "jsonl": SourceSpec(source="jsonl", path=str(files["jsonl"]))}


@pytest.mark.parametrize("form", list(FORMS))
def test_every_format_gives_the_same_records_from_every_file_type(form: str, tmp_path: Path) -> None:
    """THE acceptance test: one dataset, one format, three file types (four readers), one set of records,
    one fingerprint (ids and fingerprint key the reference cache)."""
    rows, expected = FORMS[form]()
    loaded = {reader: load_examples(spec, "data") for reader, spec in _specs(_write_all(rows, tmp_path)).items()}
    for reader, examples in loaded.items():
        assert examples == expected, reader
        assert [ex.id for ex in examples] == [ex.id for ex in expected], reader
        assert dataset_fingerprint(examples) == dataset_fingerprint(expected), reader


def test_formats_that_carry_the_same_information_give_the_same_records() -> None:
    """Conversational preference and implicit prompt (messages) must be identical records, whatever the prompt;
    TRL standard must equal them on single-turn prompts (a string is one user message) and can only carry a
    conversation as its text; HH transcripts equal them where there is no system message to lose."""
    conversational, implicit, standard, hh = (FORMS[name]()[1] for name in ("conversational", "implicit", "standard",
                                                                            "hh"))
    assert implicit == conversational and dataset_fingerprint(implicit) == dataset_fingerprint(conversational)
    single = [i for i, ex in enumerate(EXAMPLES) if isinstance(ex.prompt, str)]
    assert [standard[i] for i in single] == [conversational[i] for i in single]
    assert all(standard[i] != conversational[i] for i in range(64) if i not in single)
    no_system = [i for i, ex in enumerate(EXAMPLES) if isinstance(ex.prompt, str) or SYSTEM not in ex.prompt]
    assert [hh[i] for i in no_system] == [conversational[i] for i in no_system]


def test_a_prompt_only_set_gives_the_same_prompts_from_every_file_type(tmp_path: Path) -> None:
    rows = [{"prompt": messages(ex.prompt)} for ex in EXAMPLES] + [{"prompt": messages(EXAMPLES[0].prompt)}]
    expected = [ex.prompt for ex in EXAMPLES]  # distinct, in order
    for reader, spec in _specs(_write_all(rows, tmp_path)).items():
        assert load_prompts(spec, "data.test") == expected, reader
    alpaca = tmp_path / "alpaca_eval.json"  # alpaca_eval's layout: a JSON array with an instruction column
    alpaca.write_text(json.dumps([{"instruction": "Name a fruit.", "output": "Apple.", "generator": "gpt4",
                                   "dataset": "helpful_base"}, {"instruction": "Name a colour.", "output": "Red.",
                                                                "generator": "gpt4", "dataset": "oasst"}]))
    assert load_prompts(SourceSpec(path=str(alpaca)), "data.test") == ["Name a fruit.", "Name a colour."]
    preference = _write_all(FORMS["standard"]()[0], tmp_path / "standard")
    assert load_prompts(SourceSpec(path=str(preference["parquet"])), "data.test") == [as_text(ex.prompt)
                                                                                        for ex in EXAMPLES]


def test_csv_json_and_globs_read_like_jsonl(tmp_path: Path) -> None:
    rows, expected = _standard()
    table = datasets.Dataset.from_list(rows)
    table.to_csv(str(tmp_path / "data.csv"), index=False)
    (tmp_path / "data.json").write_text(json.dumps(rows))
    datasets.Dataset.from_list(rows[:40]).to_parquet(str(tmp_path / "shard-00.parquet"))
    datasets.Dataset.from_list(rows[40:]).to_parquet(str(tmp_path / "shard-01.parquet"))
    for path in ("data.csv", "data.json", "shard-*.parquet"):
        assert load_examples(SourceSpec(path=str(tmp_path / path)), "data") == expected, path


def test_the_source_is_chosen_from_the_path(tmp_path: Path) -> None:
    (tmp_path / "a.jsonl").write_text("")
    assert source_name(SourceSpec(path=str(tmp_path / "a.jsonl"))) == "jsonl"
    assert source_name(SourceSpec(path=str(tmp_path / "a.parquet"))) == "hf"
    assert source_name(SourceSpec(path="org/name")) == "hf"
    assert source_name(SourceSpec(source="hf", path=str(tmp_path / "a.jsonl"))) == "hf"


# ---- settings: format, columns, limit, split ---------------------------------------------------------------------


def test_data_format_overrides_detection(tmp_path: Path) -> None:
    rows = [{"prompt": f"Q{i}", "completion": f"a{i}", "label": i % 2 == 0, "outcome": float(i)} for i in range(4)]
    files = _write_all(rows, tmp_path)
    assert {ex.kind for ex in load_examples(SourceSpec(path=str(files["parquet"])), "data")} == {"outcomes"}
    forced = load_examples(SourceSpec(path=str(files["parquet"]), format="unpaired"), "data")
    assert [ex.responses[0].label for ex in forced] == [1, -1, 1, -1]


def test_columns_are_mapped_to_the_files_names(tmp_path: Path) -> None:
    rows = [{"question": f"Q{i}", "good": f"a{i}", "bad": f"b{i}"} for i in range(3)]
    files = _write_all(rows, tmp_path)
    spec = SourceSpec(path=str(files["saved"]), columns={"prompt": "question", "chosen": "good", "rejected": "bad"})
    assert load_examples(spec, "data")[2] == Example("train-2", "Q2", (Response("a2"), Response("b2")), "pairs")
    spec.columns["prompt"] = "query"
    message = one_line_error(DataError, load_examples, spec, "data.val")
    assert message == (f"data.val.columns.prompt=query: data.val.path={files['saved']} has no column 'query' (its "
                       f"columns: bad, good, question); fix the mapping")


def test_limit_reads_the_first_rows(tmp_path: Path) -> None:
    files = _write_all(_conversational()[0], tmp_path)
    for reader, spec in _specs(files).items():
        spec.limit = 5
        assert load_examples(spec, "data") == EXAMPLES[:5], reader
    message = one_line_error(ConfigError, load_examples, SourceSpec(path=str(files["parquet"]), limit=0), "data")
    assert message == "data.limit=0 must be a whole number of at least 1 (leave it unset for every row)"


def test_a_split_of_a_saved_dataset_dict(tmp_path: Path) -> None:
    rows = _standard()[0]
    splits = datasets.DatasetDict({"train": datasets.Dataset.from_list(rows[:10]),
                                   "test": datasets.Dataset.from_list(rows[10:14])})
    splits.save_to_disk(str(tmp_path / "dict"))
    test = load_examples(SourceSpec(path=str(tmp_path / "dict"), split="test"), "data.val")
    assert [ex.id for ex in test] == ["test-0", "test-1", "test-2", "test-3"]
    assert [ex.prompt for ex in test] == [row["prompt"] for row in rows[10:14]]
    assert len(load_examples(SourceSpec(path=str(tmp_path / "dict")), "data")) == 10  # train by default
    message = one_line_error(DataError, load_examples, SourceSpec(path=str(tmp_path / "dict"), split="tset"),
                             "data.val")
    assert message == (f"data.val.path={tmp_path / 'dict'}: no split 'tset' (data.val.split=tset) (did you mean: "
                       f"test?); its splits are train, test; set data.val.split=NAME")
    datasets.DatasetDict({"test": datasets.Dataset.from_list(rows[:2])}).save_to_disk(str(tmp_path / "only-test"))
    message = one_line_error(DataError, load_examples, SourceSpec(path=str(tmp_path / "only-test")), "data")
    assert "no split 'train' (data.split is unset, so train); its splits are test; set data.split=NAME" in message
    bad = tmp_path / "bad" / "row.parquet"
    bad.parent.mkdir()
    datasets.Dataset.from_list([{"prompt": "Q", "chosen": "a", "rejected": " "}]).to_parquet(str(bad))
    message = one_line_error(DataError, load_examples, SourceSpec(path=str(bad)), "data")
    assert message == f"{bad} row 0: rejected is empty; fill it in or drop the row"
    (tmp_path / "dict-bad").mkdir()
    datasets.DatasetDict({"test": datasets.Dataset.from_list([{"prompt": "Q", "chosen": "", "rejected": "b"}])}) \
        .save_to_disk(str(tmp_path / "dict-bad" / "d"))
    message = one_line_error(DataError, load_examples, SourceSpec(path=str(tmp_path / "dict-bad" / "d"), split="test"),
                             "data")
    assert message == f"{tmp_path / 'dict-bad' / 'd'} [test] row 0: chosen is empty; fill it in or drop the row"


# ---- one-line errors naming the file, the row and the fix ----------------------------------------------------------


def test_a_missing_column(tmp_path: Path) -> None:
    files = _write_all([{"prompt": "Q", "chosen": "a"}], tmp_path)
    message = one_line_error(DataError, load_examples, SourceSpec(path=str(files["parquet"]), format="preference"),
                             "data")
    assert message == (f"data.path={files['parquet']}: no column 'rejected' (columns with values: chosen, prompt); the "
                       f"preference format needs prompt+chosen+rejected; map it with data.columns.rejected=COLUMN or "
                       f"set data.format")


def test_mixed_formats_in_one_file_name_the_row(tmp_path: Path) -> None:
    lines = [{"prompt": "Q", "chosen": "a", "rejected": "b"}, {"prompt": "R", "chosen": "c", "rejected": "d"},
             {"prompt": "S", "completion": "e", "label": True}]
    path = tmp_path / "mixed.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    message = one_line_error(DataError, load_examples, SourceSpec(source="jsonl", path=str(path)), "data")
    assert message == (f"{path}:3: this row is in the unpaired format (prompt+completion+label) but {path}:1 is in the "
                       f"preference format (prompt+chosen+rejected); one format per file (split the file)")
    message = one_line_error(DataError, load_examples, SourceSpec(source="hf", path=str(path)), "data")
    assert message.startswith(f"{path} row 2: this row is in the unpaired format")


def test_empty_chosen_names_the_row(tmp_path: Path) -> None:
    rows = [{"prompt": f"Q{i}", "chosen": "" if i == 3 else f"a{i}", "rejected": f"b{i}"} for i in range(5)]
    files = _write_all(rows, tmp_path)
    expected = {"hf jsonl": f"{files['jsonl']} row 3", "hf parquet": f"{files['parquet']} row 3",
                "hf save_to_disk": f"{files['saved']} row 3", "jsonl": f"{files['jsonl']}:4"}
    for reader, spec in _specs(files).items():
        message = one_line_error(DataError, load_examples, spec, "data")
        assert message == f"{expected[reader]}: chosen is empty; fill it in or drop the row", reader


def test_an_implicit_conversation_without_a_final_assistant_turn(tmp_path: Path) -> None:
    rows = _implicit()[0][:3]
    rows[1] = {"chosen": rows[1]["chosen"][:-1], "rejected": rows[1]["rejected"]}  # drops the reply: ends with user
    files = _write_all(rows, tmp_path)
    message = one_line_error(DataError, load_examples, SourceSpec(path=str(files["saved"])), "data")
    assert message == (f"{files['saved']} row 1: chosen ends with turn 0 from the user; a whole conversation ends with "
                       f"the assistant's reply (drop the trailing turn, or the row)")


def test_an_unknown_format_name(tmp_path: Path) -> None:
    message = one_line_error(ConfigError, load_examples, SourceSpec(path=str(tmp_path / "x.parquet"), format="trl"),
                             "data")
    assert message.startswith("data.format='trl' is not a data format; use auto (detect from the columns) or one of: ")


def test_duplicate_ids_name_both_rows(tmp_path: Path) -> None:
    rows = [{"id": f"r{i % 3 if i < 4 else i}", "prompt": "Q", "chosen": "a", "rejected": "b"} for i in range(5)]
    files = _write_all(rows, tmp_path)
    message = one_line_error(DataError, load_examples, SourceSpec(path=str(files["parquet"])), "data")
    assert message == (f"{files['parquet']} row 3: id 'r0' already used at {files['parquet']} row 0; ids must be "
                       f"unique within a dataset (rename one)")
    message = one_line_error(DataError, load_examples, SourceSpec(path=str(files["jsonl"])), "data")
    assert message.startswith(f"{files['jsonl']}:4: id 'r0' already used at {files['jsonl']}:1")


def test_paths_and_settings_that_cannot_be_read(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("hello\n")
    (tmp_path / "bad.jsonl").write_text('{"prompt": "Q", "chosen": "a", "rejected": "b"}\n{"prompt": \n')
    (tmp_path / "empty.jsonl").write_text("\n")
    cases = [
        (DataError, SourceSpec(path=str(tmp_path / "missing.parquet")),
         f"data.path={tmp_path / 'missing.parquet'} does not exist; check data.path (a hub dataset is named ORG/NAME)"),
        (DataError, SourceSpec(path=str(tmp_path / "notes.txt")),
         f"data.path={tmp_path / 'notes.txt'}: cannot tell how to read a .txt file; give a .json, .jsonl, .parquet, "
         f".csv, .arrow file, a save_to_disk folder or a hub id ORG/NAME"),
        (DataError, SourceSpec(path=str(tmp_path / "*.parquet")),
         f"data.path={tmp_path / '*.parquet'} matches no file; check the pattern"),
        (DataError, SourceSpec(source="jsonl", path=str(tmp_path / "bad.jsonl")),
         f"{tmp_path / 'bad.jsonl'}:2: not valid JSON (Expecting value at column 12); fix or delete the line"),
        (DataError, SourceSpec(source="jsonl", path=str(tmp_path / "empty.jsonl")),
         f"data.path={tmp_path / 'empty.jsonl'} holds no rows; give a non-empty dataset"),
        (ConfigError, SourceSpec(), "data.path is not set; give data.path=FILE (or a folder, or a hub id ORG/NAME)"),
        (ConfigError, SourceSpec(source="parquet", path="x"),
         "data.source='parquet' is not a data source; use one of jsonl, hf"),
        (ConfigError, SourceSpec(path=str(tmp_path / "bad.jsonl"), revision="v1"),
         f"data.revision=v1 does not apply here: {tmp_path / 'bad.jsonl'} is a JSONL file, not a hub dataset; drop it"),
    ]
    for error, spec, expected in cases:
        assert one_line_error(error, load_examples, spec, "data").startswith(expected), expected
    message = one_line_error(DataError, load_examples, SourceSpec(source="hf", path=str(tmp_path / "bad.jsonl")),
                             "data")
    assert message.startswith(f"data.path={tmp_path / 'bad.jsonl'}: datasets could not read it (")
    assert message.endswith("; fix the file or the settings (--debug shows the traceback)")


# ---- hub datasets: the local cache only ----------------------------------------------------------------------------


def test_a_hub_dataset_that_is_not_cached_is_never_downloaded() -> None:
    message = one_line_error(DataError, load_examples, SourceSpec(path="nobody/not-cached"), "data")
    assert message == ("data.path=nobody/not-cached: no such local path, and the hub dataset 'nobody/not-cached' is "
                       "not in the local Hugging Face cache (bench never downloads); fetch it once where there is a "
                       "network "
                       "(`huggingface-cli download --repo-type dataset nobody/not-cached` or "
                       "`datasets.load_dataset('nobody/not-cached')`, with the same HF_HOME), or give a local file or "
                       "save_to_disk folder")
    message = one_line_error(DataError, load_examples, SourceSpec(path="nobody/not-cached", revision="v2"), "data")
    assert "the hub dataset 'nobody/not-cached' at revision v2 is not in the local Hugging Face cache" in message


COMMIT = "0123456789abcdef0123456789abcdef01234567"


def test_a_hub_dataset_from_the_hub_cache(private_caches: Path) -> None:
    """A snapshot fetched with huggingface-cli (the hub cache's layout: refs, snapshots/<commit>/...)."""
    repo = private_caches / "hf-hub" / "datasets--org--prefs"
    snapshot = repo / "snapshots" / COMMIT / "data"
    snapshot.mkdir(parents=True)
    rows = _conversational()[0]
    datasets.Dataset.from_list(rows[:8]).to_parquet(str(snapshot / "train-00000-of-00001.parquet"))
    datasets.Dataset.from_list(rows[8:11]).to_parquet(str(snapshot / "test-00000-of-00001.parquet"))
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(COMMIT)
    assert load_examples(SourceSpec(path="org/prefs"), "data") == EXAMPLES[:8]
    test = load_examples(SourceSpec(path="org/prefs", split="test", revision=COMMIT), "data.val")
    assert [ex.prompt for ex in test] == [ex.prompt for ex in EXAMPLES[8:11]]
    assert [ex.id for ex in test] == ["test-0", "test-1", "test-2"]
    message = one_line_error(DataError, load_examples, SourceSpec(path="org/prefs", split="validation"), "data")
    assert message == ("data.path=org/prefs: no split 'validation' (data.split=validation); its splits are train, "
                       "test; set data.split=NAME")


def test_a_hub_dataset_from_the_datasets_cache(private_caches: Path) -> None:
    """A dataset `datasets.load_dataset` prepared before: datasets' own cache (org___name/config/version/hash)."""
    build = private_caches / "build"
    datasets.load_dataset("parquet", data_files={"train": str(_write_all(_standard()[0], private_caches / "files")
                                                              ["parquet"])}, cache_dir=str(build))
    [prepared] = [p for p in build.glob("parquet/*/*/*") if p.is_dir()]
    cached = private_caches / "hf-datasets" / "org___cached" / "default" / "0.0.0" / prepared.name
    cached.mkdir(parents=True)
    for file in prepared.iterdir():
        (cached / file.name.replace("parquet-", "cached-")).write_bytes(file.read_bytes())
    assert load_examples(SourceSpec(path="org/cached"), "data") == _standard()[1]


# ---- a third-party source installed with an entry point ------------------------------------------------------------

PLUGIN_PYPROJECT = """\
[build-system]
requires = ["setuptools"]
build-backend = "setuptools.build_meta"

[project]
name = "bench-source-fixture"
version = "0.0.1"

[project.entry-points."bench.sources"]
tsv_lines = "tsv_source.sources"

[tool.setuptools]
packages = ["tsv_source"]
"""

PLUGIN_SOURCE = '''\
from bench.data.sources import DataSource, register_source


@register_source("tsv_lines")
class TsvLines(DataSource):
    """Tab-separated prompt, chosen and rejected, one pair a line."""

    def rows(self, spec, key):
        rows = []
        with open(spec.path, encoding="utf-8") as handle:
            for line_no, line in enumerate(handle, start=1):
                prompt, chosen, rejected = line.rstrip("\\n").split("\\t")
                rows.append((f"{spec.path}:{line_no}", {"prompt": prompt, "chosen": chosen, "rejected": rejected}))
        return rows
'''

LOAD = """\
import json, sys
from bench.data.records import to_json
from bench.data.sources import SOURCES, SourceSpec, load_examples
from bench.errors import BenchError
print(json.dumps(SOURCES.names()))
try:
    print(json.dumps([to_json(ex) for ex in load_examples(SourceSpec(source="tsv_lines", path=sys.argv[1]), "data")]))
except BenchError as error:
    print(json.dumps(str(error)))
"""


@pytest.fixture(scope="module")
def plugin_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The distribution ``bench-source-fixture`` installed for real (offline pip, as tests/test_plugins.py does)."""
    if importlib.util.find_spec("pip") is None or importlib.util.find_spec("setuptools") is None:
        pytest.skip("installing a plug-in package needs pip and setuptools in the environment")
    root = tmp_path_factory.mktemp("source-plugin")
    (root / "src" / "tsv_source").mkdir(parents=True)
    (root / "src" / "tsv_source" / "__init__.py").write_text("")
    (root / "src" / "tsv_source" / "sources.py").write_text(PLUGIN_SOURCE)
    (root / "src" / "pyproject.toml").write_text(PLUGIN_PYPROJECT)
    env = {**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1", "PIP_NO_INPUT": "1"}
    done = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--no-build-isolation", "--no-index",
                           "--no-cache-dir", "--quiet", "--target", str(root / "site"), str(root / "src")],
                          capture_output=True, text=True, env=env, timeout=120, check=False)
    assert done.returncode == 0, f"offline pip install failed:\n{done.stdout}\n{done.stderr}"
    return root / "site"


def _load_with_plugin(site: Path, data: Path) -> tuple[list[str], Any]:
    path = os.pathsep.join(p for p in (str(site), os.environ.get("PYTHONPATH", "")) if p)
    done = subprocess.run([sys.executable, "-c", LOAD, str(data)], env={**os.environ, "PYTHONPATH": path},
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    names, result = done.stdout.strip().splitlines()
    return json.loads(names), json.loads(result)


def test_a_third_party_source_registered_by_entry_point(plugin_site: Path, tmp_path: Path) -> None:
    data = tmp_path / "pairs.tsv"
    data.write_text("Name a fruit.\tApple.\tA car.\nName a colour.\tRed.\tSoup.\n", encoding="utf-8")
    names, records = _load_with_plugin(plugin_site, data)
    assert names == ["jsonl", "hf", "tsv_lines"]
    assert records == [to_json(Example("train-0", "Name a fruit.", (Response("Apple."), Response("A car.")), "pairs")),
                       to_json(Example("train-1", "Name a colour.", (Response("Red."), Response("Soup.")), "pairs"))]
    data.write_text("Name a fruit.\tApple.\tA car.\nName a colour.\t \tSoup.\n", encoding="utf-8")
    _, message = _load_with_plugin(plugin_site, data)
    assert message == f"{data}:2: chosen is empty; fill it in or drop the row"  # its rows get the formats' checks
