"""Tests for bench.data.records: every malformed JSONL row is one DataError naming file, line and field; a prompt
is a string or a conversation, and string-prompt datasets keep the fingerprint they always had."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from bench.data.conversation import Message
from bench.data.records import (
    Example,
    Response,
    check_unique_ids,
    dataset_fingerprint,
    from_json,
    load_jsonl,
    save_jsonl,
    to_json,
)
from bench.errors import DataError


def _pair(row_id: str = "p1", **changes: Any) -> dict[str, Any]:
    row = {"id": row_id, "prompt": "review the phone .", "kind": "pairs",
           "responses": [{"text": "the screen is good ."}, {"text": "bad ."}]}
    return {**row, **changes}


def _kwise(**changes: Any) -> dict[str, Any]:
    return _pair(**{"kind": "kwise", "responses": [{"text": "a", "score": 1.0}, {"text": "b", "score": 0.5}],
                    **changes})


def _write(path: Path, lines: list[str]) -> Path:
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


MALFORMED: list[tuple[dict[str, Any] | list[int], str]] = [
    (_pair(prompt=5), "prompt is an integer 5, expected a string"),
    (_pair(prompt=["a"]), 'prompt turn 0 is a string "a", expected an object like {"role": "user", "content": ...}'),
    (_pair(prompt=[]), "prompt is an empty conversation; give at least one user message"),
    (_pair(prompt=[{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]),
     "prompt ends with turn 1 from the assistant; a prompt's last turn is the user's"),
    (_pair(prompt=[{"role": "user", "content": "hi"}, {"role": "system", "content": "be brief"},
                   {"role": "user", "content": "hi"}]),
     "prompt turn 1 is a system message; only the first turn may be the system's"),
    (_pair(prompt=[{"role": "human", "content": "hi"}]), 'prompt turn 0 has role a string "human"; use one of'),
    (_pair(prompt=[{"role": "user", "content": " "}]), "prompt turn 0 (user) is empty; fill it in or drop the turn"),
    (_pair(responses=[{"text": "a"}, {"text": None}]), "responses[1].text is null, expected a string"),
    (_pair(responses=[{"text": 3.5}, {"text": "b"}]), "responses[0].text is a number 3.5, expected a string"),
    (_pair(responses=[{"text": "a"}, {"score": 1.0}]), "responses[1] has no 'text'; every response needs its text"),
    (_kwise(responses=[{"text": "a", "score": "high"}, {"text": "b", "score": 0.5}]),
     'responses[0].score is a string "high", expected a number'),
    (_kwise(responses=[{"text": "a", "score": 1.0}, {"text": "b", "score": True}]),
     "responses[1].score is a boolean true, expected a number"),
    (_pair(kind="outcomes", responses=[{"text": "a", "outcome": "1"}]),
     'responses[0].outcome is a string "1", expected a number'),
    (_pair(kind="outcomes", responses=[{"text": "a", "outcome": False}]),
     "responses[0].outcome is a boolean false, expected a number"),
    (_pair(kind="unpaired", responses=[{"text": "a", "label": 1.0}]),
     "responses[0].label is a number 1.0, expected an integer"),
    (_pair(kind="unpaired", responses=[{"text": "a", "label": "+1"}]),
     'responses[0].label is a string "+1", expected an integer'),
    (_pair(kind="unpaired", responses=[{"text": "a", "label": True}]),
     "responses[0].label is a boolean true, expected an integer"),
    (_pair(responses={"text": "a"}), 'responses is an object {"text": "a"}, expected a list of response objects'),
    (_pair(responses=["a", "b"]), 'responses[0] is a string "a", expected an object like {"text": ...}'),
    (_kwise(responses=[{"text": "a", "scroe": 1.0}, {"text": "b", "score": 0.5}]),
     "responses[0] has unknown key 'scroe' (did you mean: score?); a response has only text, score, label, outcome"),
    (_pair(meta=[]), "meta is a list [], expected an object"),
    (_pair(meta=None), "meta is null, expected an object"),
    ({k: v for k, v in _pair().items() if k != "id"}, "missing key 'id'; every row needs id, prompt, kind, responses"),
    ({k: v for k, v in _pair().items() if k != "responses"}, "missing key 'responses'"),
    (_pair(row_id=None), "id is null, expected a string"),
    (_pair(row_id=1.5), "id is a number 1.5, expected a string"),
    (_pair(row_id=" "), "id is empty; give every row a unique id"),
    (_pair(kind=2), "kind is an integer 2, expected a string"),
    ([1, 2], "the row is a list [1, 2], expected an object with keys id, prompt, kind, responses"),
    (_pair(prompt="  "), "empty prompt; remove the row or fill it in"),
    (_pair(responses=[{"text": "a"}, {"text": " "}]), "response 1 is empty; remove the row or fill it in"),
]


@pytest.mark.parametrize(("row", "message"), MALFORMED, ids=[m.split(";")[0][:40] for _, m in MALFORMED])
def test_a_malformed_row_names_file_line_and_field(tmp_path: Path, row: dict[str, Any] | list[int],
                                                    message: str) -> None:
    path = _write(tmp_path / "data.jsonl", [json.dumps(_pair("ok")), json.dumps(row)])
    with pytest.raises(DataError) as caught:
        load_jsonl(path)
    assert str(caught.value).startswith(f"{path}:2: {message}")
    assert "\n" not in str(caught.value)


def test_from_json_refuses_a_row_that_is_not_an_object_in_memory_too() -> None:
    with pytest.raises(DataError, match=r'^rows\[4\]: the row is a string "x", expected an object'):
        from_json("x", "rows[4]")


def test_invalid_json_names_the_line_and_column(tmp_path: Path) -> None:
    path = _write(tmp_path / "data.jsonl", [json.dumps(_pair("a")), '{"id": "b",'])
    with pytest.raises(DataError) as caught:
        load_jsonl(path)
    assert str(caught.value) == (f"{path}:2: not valid JSON (Expecting property name enclosed in double quotes "
                                 f"at column 12); fix or delete the line")


def test_valid_rows_keep_their_values_int_scores_and_ids_included(tmp_path: Path) -> None:
    rows = [_kwise(responses=[{"text": "a", "score": 2}, {"text": "b", "score": 0.5, "label": None}], meta={"g": 1}),
            _pair(row_id=7, kind="unpaired", responses=[{"text": "c", "label": -1, "outcome": None}])]
    path = _write(tmp_path / "data.jsonl", [json.dumps(row) for row in rows])
    kwise, unpaired = load_jsonl(path)
    assert kwise.responses == (Response("a", score=2), Response("b", score=0.5)) and kwise.meta == {"g": 1}
    assert unpaired.id == "7" and unpaired.responses == (Response("c", label=-1),) and unpaired.meta == {}


def test_save_then_load_gives_the_same_examples(tmp_path: Path) -> None:
    examples = [Example(id="x", prompt="p", kind="outcomes", responses=(Response("r", outcome=0.25),), meta={"m": [1]}),
                Example(id="y", prompt="q", kind="pairs", responses=(Response("a"), Response("b")))]
    save_jsonl(tmp_path / "out.jsonl", examples)
    assert load_jsonl(tmp_path / "out.jsonl") == examples


def test_bytes_that_are_not_utf8_are_reported_with_their_line_and_column(tmp_path: Path) -> None:
    bad = json.dumps(_pair("c")).encode().replace(b"phone", b"caf\xe9")
    path = tmp_path / "latin1.jsonl"
    path.write_bytes(json.dumps(_pair("a")).encode() + b"\n" + json.dumps(_pair("b")).encode() + b"\n" + bad + b"\n")
    with pytest.raises(DataError) as caught:
        load_jsonl(path)
    column = bad.index(b"\xe9") + 1
    assert str(caught.value) == f"{path}:3: not UTF-8 (byte 0xe9 at column {column}); re-save the file as UTF-8"


def test_a_duplicate_id_names_both_lines(tmp_path: Path) -> None:
    path = _write(tmp_path / "data.jsonl", [json.dumps(_pair("abc")), "", json.dumps(_pair("x")),
                                            json.dumps(_pair("abc"))])
    with pytest.raises(DataError) as caught:
        load_jsonl(path)
    assert str(caught.value) == (f"{path}:4: id 'abc' already used on line 1; ids must be unique within a file "
                                 f"(rename one)")


def test_an_integer_id_and_its_string_are_the_same_id(tmp_path: Path) -> None:
    path = _write(tmp_path / "data.jsonl", [json.dumps(_pair(1)), json.dumps(_pair("1"))])
    with pytest.raises(DataError, match=r":2: id '1' already used on line 1"):
        load_jsonl(path)


def test_check_unique_ids_names_both_rows_of_an_in_memory_dataset() -> None:
    check_unique_ids(["a", "b", "c"], "gym pairs")
    with pytest.raises(DataError) as caught:
        check_unique_ids(["a", "b", "c", "b"], "gym pairs")
    assert str(caught.value) == ("gym pairs: duplicate id 'b' at rows 1 and 3 (counting from 0); ids must be unique "
                                 "within a dataset (rename one)")


CONVERSATION = (Message("system", "You are terse."), Message("user", "Name a fruit."), Message("assistant", "Apple."),
                Message("user", "Another?"))


def test_a_conversation_prompt_round_trips_through_jsonl(tmp_path: Path) -> None:
    examples = [Example(id="c", prompt=CONVERSATION, kind="pairs", responses=(Response("Pear."), Response("No."))),
                Example(id="s", prompt="plain", kind="pairs", responses=(Response("a"), Response("b")))]
    save_jsonl(tmp_path / "out.jsonl", examples)
    first = json.loads((tmp_path / "out.jsonl").read_text().splitlines()[0])
    assert first["prompt"] == [{"role": "system", "content": "You are terse."},
                               {"role": "user", "content": "Name a fruit."},
                               {"role": "assistant", "content": "Apple."}, {"role": "user", "content": "Another?"}]
    assert load_jsonl(tmp_path / "out.jsonl") == examples


def test_a_one_user_message_conversation_is_read_as_its_string() -> None:
    row = _pair(prompt=[{"role": "user", "content": "review the phone ."}])
    assert from_json(row, "x:1") == from_json(_pair(), "x:1")
    assert to_json(from_json(row, "x:1"))["prompt"] == "review the phone ."


def test_the_fingerprint_of_string_prompt_data_is_unchanged() -> None:
    """Pinned to the value before prompts could be conversations: reference caches are keyed by it."""
    examples = [Example(id="x", prompt="review the phone .", kind="pairs",
                        responses=(Response("good ."), Response("bad ."))),
                Example(id="y", prompt="q", kind="kwise",
                        responses=(Response("a", score=1.0), Response("b", score=0.5)), meta={"g": 1})]
    assert dataset_fingerprint(examples) == "de657a8ad5aad16a"
    as_conversation = Example(id="x", prompt=(Message("system", "s"), Message("user", "review the phone .")),
                              kind="pairs", responses=examples[0].responses)
    assert dataset_fingerprint([as_conversation, examples[1]]) != dataset_fingerprint(examples)
