"""Tests for bench.data.formats: each table layout is detected from its columns and becomes records of one
kind; a bad row, a missing column or a mix of layouts is one DataError naming the row and the fix."""

from __future__ import annotations

from typing import Any

import pytest

from bench.data.conversation import Message
from bench.data.formats import FORMATS, detect_format, to_examples, to_prompts
from bench.data.records import Example, Response
from bench.errors import BenchError, ConfigError, DataError

SYSTEM = {"role": "system", "content": "You are terse."}


def user(text: str) -> dict[str, str]:
    return {"role": "user", "content": text}


def assistant(text: str) -> dict[str, str]:
    return {"role": "assistant", "content": text}


def rows(*items: dict[str, Any], name: str = "t.parquet") -> list[tuple[str, dict[str, Any]]]:
    return [(f"{name} row {i}", item) for i, item in enumerate(items)]


def pair(row_id: str, prompt: Any, chosen: str, rejected: str, scores: tuple[float, float] | None = None) -> Example:
    responses = (Response(chosen), Response(rejected)) if scores is None else \
        (Response(chosen, score=scores[0]), Response(rejected, score=scores[1]))
    return Example(id=row_id, prompt=prompt, kind="pairs", responses=responses)


def one_line_error(error: type[BenchError], call: Any, *args: Any, **kwargs: Any) -> str:
    with pytest.raises(error) as caught:
        call(*args, **kwargs)
    message = str(caught.value)
    assert "\n" not in message, message
    return message


DETECTED = [
    ({"id", "prompt", "kind", "responses", "meta"}, "bench"),
    ({"prompt", "chosen", "rejected"}, "preference"),
    ({"prompt", "prompt_id", "chosen", "rejected", "messages", "score_chosen", "score_rejected"}, "preference"),
    ({"chosen", "rejected"}, "implicit"),
    ({"prompt", "completion", "label"}, "unpaired"),
    ({"source", "instruction", "models", "completions", "correct_answers"}, "scored"),  # UltraFeedback raw
    ({"prompt", "responses", "scores"}, "scored"),
    ({"prompt", "responses", "ratings"}, "scored"),
    ({"prompt", "completion", "outcome"}, "outcomes"),
    ({"prompt"}, "prompts"),
    ({"instruction", "output", "generator", "dataset"}, "prompts"),  # alpaca_eval's evaluation set
]


@pytest.mark.parametrize(("columns", "expected"), DETECTED, ids=[e for _, e in DETECTED])
def test_the_format_is_detected_from_the_columns(columns: set[str], expected: str) -> None:
    assert detect_format(columns) == expected


def test_detection_order_is_the_formats_order() -> None:
    assert list(FORMATS) == ["bench", "scored", "outcomes", "unpaired", "preference", "implicit", "prompts"]
    # a row with the columns of two formats is the earlier one
    assert detect_format({"prompt", "completion", "label", "outcome"}) == "outcomes"


def test_undetectable_columns_list_the_columns_and_every_format() -> None:
    message = one_line_error(DataError, detect_format, ["question", "answer"], "t.parquet", "data.val")
    assert message.startswith("t.parquet: cannot tell the data format from the columns answer, question; the formats "
                              "need: bench (id+prompt+kind+responses); scored (prompt+completions or ")
    assert "preference (prompt+chosen+rejected); implicit (chosen+rejected); prompts (prompt or instruction)" in message
    assert message.endswith("rename columns with data.val.columns.NAME=COLUMN or set data.val.format=NAME")


def test_standard_preference_rows_are_pairs_chosen_first() -> None:
    examples = to_examples(rows({"prompt": "Name a fruit.", "chosen": "Apple.", "rejected": "A car."}))
    assert examples == [pair("train-0", "Name a fruit.", "Apple.", "A car.")]


def test_conversational_preference_rows_keep_the_conversation() -> None:
    conversation = [SYSTEM, user("Name a fruit."), assistant("Apple."), user("Another?")]
    examples = to_examples(rows({"prompt": conversation, "chosen": [assistant("Pear.")],
                                 "rejected": [assistant("No.")]}))
    expected_prompt = (Message("system", "You are terse."), Message("user", "Name a fruit."),
                       Message("assistant", "Apple."), Message("user", "Another?"))
    assert examples == [pair("train-0", expected_prompt, "Pear.", "No.")]


def test_single_turn_conversational_and_standard_rows_are_the_same_record() -> None:
    """One user message and the plain string are one chat-template rendering, so one record (and cache key)."""
    standard = to_examples(rows({"prompt": "Name a fruit.", "chosen": "Apple.", "rejected": "A car."}))
    conversational = to_examples(rows({"prompt": [user("Name a fruit.")], "chosen": [assistant("Apple.")],
                                       "rejected": [assistant("A car.")]}))
    assert conversational == standard


def test_chosen_that_repeat_the_prompt_lose_the_copy() -> None:
    prompt = [SYSTEM, user("Name a fruit.")]
    examples = to_examples(rows({"prompt": prompt, "chosen": [*prompt, assistant("Apple.")],
                                 "rejected": [*prompt, assistant("A car.")]}))
    assert examples[0].responses == (Response("Apple."), Response("A car."))


def test_ultrafeedback_binarized_rows_extract_the_prompt_and_keep_the_scores() -> None:
    """A string prompt beside whole conversations (HuggingFaceH4/ultrafeedback_binarized), as TRL reads it."""
    row = {"prompt": "Name a fruit.", "prompt_id": "abc", "messages": [user("Name a fruit."), assistant("Apple.")],
           "chosen": [user("Name a fruit."), assistant("Apple.")],
           "rejected": [user("Name a fruit."), assistant("Car.")],
           "score_chosen": 9.0, "score_rejected": 2}
    assert to_examples(rows(row)) == [pair("train-0", "Name a fruit.", "Apple.", "Car.", scores=(9.0, 2.0))]


def test_implicit_prompt_rows_split_at_the_shared_prefix_as_preference_rows_would() -> None:
    prompt = [SYSTEM, user("Name a fruit."), assistant("Apple."), user("Another?")]
    implicit = to_examples(rows({"chosen": [*prompt, assistant("Pear.")], "rejected": [*prompt, assistant("No.")]}))
    preference = to_examples(rows({"prompt": prompt, "chosen": [assistant("Pear.")], "rejected": [assistant("No.")]}))
    assert implicit == preference


def test_hh_transcripts_are_parsed_into_turns() -> None:
    chosen = "\n\nHuman: Name a fruit.\n\nAssistant: Apple.\n\nHuman: Another?\n\nAssistant: Pear.\n\nOr a plum."
    rejected = "\n\nHuman: Name a fruit.\n\nAssistant: Apple.\n\nHuman: Another?\n\nAssistant: No."
    [example] = to_examples(rows({"chosen": chosen, "rejected": rejected}))
    assert example.prompt == (Message("user", "Name a fruit."), Message("assistant", "Apple."),
                              Message("user", "Another?"))
    assert example.responses == (Response("Pear.\n\nOr a plum."), Response("No."))
    single = to_examples(rows({"chosen": "\n\nHuman: Hi\n\nAssistant: Hello.",
                               "rejected": "Human: Hi\n\nAssistant: Go."}))
    assert single == [pair("train-0", "Hi", "Hello.", "Go.")]


@pytest.mark.parametrize(("label", "expected"), [(True, 1), (False, -1), (1, 1), (0, -1), (-1, -1), (1.0, 1)])
def test_unpaired_labels_become_plus_or_minus_one(label: Any, expected: int) -> None:
    [example] = to_examples(rows({"prompt": "Name a fruit.", "completion": "Apple.", "label": label}))
    assert example.kind == "unpaired" and example.responses == (Response("Apple.", label=expected),)


def test_conversational_unpaired_rows_take_the_assistant_message() -> None:
    [example] = to_examples(rows({"prompt": [user("Name a fruit.")], "completion": [assistant("Apple.")],
                                  "label": False}))
    assert example == Example("train-0", "Name a fruit.", (Response("Apple.", label=-1),), "unpaired")


def test_ultrafeedback_raw_rows_are_kwise_with_overall_scores() -> None:
    completions = [{"model": "a", "response": "Apple.", "overall_score": 8.5, "annotations": {"honesty": 5}},
                   {"model": "b", "response": "Car.", "overall_score": 2}]
    [example] = to_examples(rows({"source": "x", "instruction": "Name a fruit.", "models": ["a", "b"],
                                  "completions": completions}))
    assert example == Example("train-0", "Name a fruit.", (Response("Apple.", score=8.5), Response("Car.", score=2.0)),
                              "kwise")


@pytest.mark.parametrize("row", [
    {"prompt": "Q", "responses": ["a", "b", "c"], "scores": [1, 0.5, 0]},
    {"prompt": "Q", "responses": ["a", "b", "c"], "ratings": [1, 0.5, 0]},
    {"prompt": "Q", "completions": ["a", "b", "c"], "scores": [1, 0.5, 0]},
    {"prompt": "Q", "completions": [{"text": "a", "score": 1}, {"content": "b", "rating": 0.5},
                                    {"response": "c", "overall_score": 0}]},
], ids=["responses+scores", "responses+ratings", "completions+scores", "completion-objects"])
def test_scored_layouts_give_the_same_kwise_record(row: dict[str, Any]) -> None:
    assert to_examples(rows(row)) == [Example("train-0", "Q", (Response("a", score=1.0), Response("b", score=0.5),
                                                               Response("c", score=0.0)), "kwise")]


def test_outcome_rows() -> None:
    [example] = to_examples(rows({"prompt": "2+2?", "completion": "4", "outcome": 1}))
    assert example == Example("train-0", "2+2?", (Response("4", outcome=1.0),), "outcomes")


def test_bench_rows_are_records_and_table_nulls_mean_absent() -> None:
    row = {"id": 7, "prompt": "Q", "kind": "pairs", "meta": {"g": 1, "h": None},
           "responses": [{"text": "a", "score": None}, {"text": "b", "score": None}]}
    [example] = to_examples(rows(row, {**row, "id": "8", "meta": None}))[:1]
    assert example == pair("7", "Q", "a", "b") and example.meta == {"g": 1}


def test_prompt_only_sets_give_their_distinct_prompts_in_order() -> None:
    assert to_prompts(rows({"instruction": "B"}, {"instruction": "A"}, {"instruction": "B"})) == ["B", "A"]
    conversation = [SYSTEM, user("Hi")]
    assert to_prompts(rows({"prompt": conversation}, {"prompt": [user("Yo")]})) == [
        (Message("system", "You are terse."), Message("user", "Hi")), "Yo"]
    # any other format's prompts serve too
    assert to_prompts(rows({"prompt": "Q", "chosen": "a", "rejected": "b"},
                           {"prompt": "Q", "chosen": "c", "rejected": "d"})) == ["Q"]


def test_a_prompt_only_set_is_no_training_data() -> None:
    message = one_line_error(DataError, to_examples, rows({"instruction": "Q"}), origin="data.path=p.json")
    assert message.startswith("data.path=p.json: holds prompts only (the prompts format: prompt or instruction); data "
                              "needs responses")


def test_data_format_overrides_detection() -> None:
    row = {"prompt": "Q", "completion": "a", "label": True, "outcome": 0.5}
    assert to_examples(rows(row))[0].kind == "outcomes"
    assert to_examples(rows(row), "unpaired")[0].responses == (Response("a", label=1),)
    assert to_prompts(rows({"prompt": "Q", "chosen": "a", "rejected": "b"}), "prompts") == ["Q"]


def test_an_unknown_format_name_is_a_config_error() -> None:
    message = one_line_error(ConfigError, to_examples, rows({"prompt": "Q"}), "preferences", key="data.val")
    assert message.startswith("data.val.format='preferences' is not a data format (did you mean: preference?); use "
                              "auto (detect from the columns) or one of: bench (id+prompt+kind+responses); ")


def test_columns_map_bench_names_to_the_file_and_errors_use_the_file_names() -> None:
    mapping = {"prompt": "question", "chosen": "good", "rejected": "bad"}
    examples = to_examples(rows({"question": "Q", "good": "a", "bad": "b", "prompt": "ignored"}), columns=mapping)
    assert examples == [pair("train-0", "Q", "a", "b")]
    message = one_line_error(DataError, to_examples, rows({"question": "Q", "good": " ", "bad": "b"}),
                             columns=mapping)
    assert message == "t.parquet row 0: good is empty; fill it in or drop the row"


def test_a_mapped_column_that_is_missing_names_it() -> None:
    message = one_line_error(DataError, to_examples, rows({"question": "Q", "chosen": "a", "rejected": "b"}),
                             columns={"prompt": "questoin"}, origin="data.path=t.parquet")
    assert message == ("data.columns.prompt=questoin: data.path=t.parquet has no column 'questoin' (its columns: "
                       "chosen, question, rejected) (did you mean: question?); fix the mapping")


def test_a_mapping_of_a_name_bench_does_not_read_is_a_config_error() -> None:
    message = one_line_error(ConfigError, to_examples, rows({"prompt": "Q"}), columns={"promt": "question"})
    assert message.startswith("data.columns.promt: bench reads no column 'promt' (did you mean: prompt?); map one "
                              "of id,")


def test_a_missing_column_names_it_and_the_fix() -> None:
    message = one_line_error(DataError, to_examples, rows({"prompt": "Q", "chosen": "a"}), "preference",
                             origin="data.path=t.parquet")
    assert message == ("data.path=t.parquet: no column 'rejected' (columns with values: chosen, prompt); the "
                       "preference format needs prompt+chosen+rejected; map it with data.columns.rejected=COLUMN or "
                       "set data.format")


def test_a_null_in_one_row_names_the_row() -> None:
    message = one_line_error(DataError, to_examples, rows({"prompt": "Q", "chosen": "a", "rejected": "b"},
                                                          {"prompt": "Q2", "chosen": "a", "rejected": None}))
    assert message == ("t.parquet row 1: rejected is missing or null; the preference format needs "
                       "prompt+chosen+rejected; fill it in or drop the row")


def test_rows_of_two_formats_in_one_file_are_refused_at_the_first_odd_row() -> None:
    table = rows({"prompt": "Q", "chosen": "a", "rejected": "b", "completion": None, "label": None},
                 {"prompt": "Q", "chosen": "a", "rejected": "b", "completion": None, "label": None},
                 {"prompt": "Q", "chosen": None, "rejected": None, "completion": "a", "label": True},
                 name="mixed.jsonl")
    message = one_line_error(DataError, to_examples, table)
    assert message == ("mixed.jsonl row 2: this row is in the unpaired format (prompt+completion+label) but "
                       "mixed.jsonl row 0 is in the preference format (prompt+chosen+rejected); one format per file "
                       "(split the file)")


def test_bench_rows_of_two_kinds_are_refused() -> None:
    first = {"id": "a", "prompt": "Q", "kind": "pairs", "responses": [{"text": "a"}, {"text": "b"}]}
    second = {"id": "b", "prompt": "Q", "kind": "unpaired", "responses": [{"text": "a", "label": 1}]}
    message = one_line_error(DataError, to_examples, rows(first, second))
    assert message == ("t.parquet row 1: kind 'unpaired', but t.parquet row 0 is 'pairs'; one data kind per dataset "
                       "(split the file)")


BAD_ROWS: list[tuple[dict[str, Any], str]] = [
    ({"prompt": "Q", "chosen": "", "rejected": "b"}, "chosen is empty; fill it in or drop the row"),
    ({"prompt": "Q", "chosen": [assistant("")], "rejected": [assistant("b")]},
     "chosen turn 0 (assistant) is empty; fill it in or drop the turn"),
    ({"prompt": [user("Q")], "chosen": [user("a")], "rejected": [assistant("b")]},
     "chosen has 1 message(s) (user); a response is the assistant's reply, one assistant message"),
    ({"prompt": [user("Q")], "chosen": [assistant("a"), assistant("c")], "rejected": [assistant("b")]},
     "chosen has 2 message(s) (assistant, assistant); a response is the assistant's reply"),
    ({"prompt": "Q", "chosen": 3, "rejected": "b"}, "chosen is an integer 3, expected a string or a list with one"),
    ({"prompt": " ", "chosen": "a", "rejected": "b"}, "empty prompt; remove the row or fill it in"),
    ({"prompt": "Q", "chosen": "a", "rejected": "b", "score_chosen": 1.0},
     "score_chosen is set but score_rejected is not; give both scores or neither"),
    ({"prompt": "Q", "chosen": "a", "rejected": "b", "score_chosen": "high", "score_rejected": 1},
     'score_chosen is a string "high", expected a finite number; fix the row'),
    ({"chosen": [user("Q"), assistant("a"), user("more")], "rejected": [user("Q"), assistant("b")]},
     "chosen ends with turn 2 from the user; a whole conversation ends with the assistant's reply (drop the trailing "
     "turn, or the row)"),
    ({"chosen": [user("Q"), assistant("a"), user("R"), assistant("c")], "rejected": [user("Q"), assistant("b")]},
     "chosen and rejected share no prompt ending in a user turn (they first differ at turn 1); they must be the same "
     "conversation up to one final assistant reply each"),
    ({"chosen": [user("Q"), assistant("a")], "rejected": [user("P"), assistant("a")]},
     "chosen and rejected share no prompt ending in a user turn (they first differ at turn 0)"),
    ({"chosen": [user("Q"), assistant("a")], "rejected": [user("Q"), assistant("a")]},
     "chosen and rejected are the same conversation; a pair needs two different replies (drop the row)"),
    ({"chosen": "Q: hi A: a", "rejected": "Q: hi A: b"}, "chosen is not an HH-style transcript"),
    ({"chosen": "\n\nHuman: hi\n\nAssistant: a", "rejected": [user("hi"), assistant("b")]},
     'chosen is a string "\\n\\nHuman: hi\\n\\nAssistant: a" but rejected is a list'),
    ({"chosen": "\n\nHuman: hi\n\nAssistant:", "rejected": "\n\nHuman: hi\n\nAssistant: b"},
     "chosen turn 1 (assistant) is empty; fill it in or drop the turn"),
    ({"prompt": "Q", "completion": "a", "label": 2}, "label is an integer 2, expected true/false, 1/0 or +1/-1"),
    ({"prompt": "Q", "completion": "a", "label": "yes"}, 'label is a string "yes", expected true/false, 1/0 or +1/-1'),
    ({"prompt": "Q", "completion": "a", "outcome": float("nan")}, "outcome is a number NaN, expected a finite number"),
    ({"prompt": "Q", "completions": [{"response": "a"}, {"response": "b"}]},
     "completions[0] has no score (score, rating, overall_score) and the row no scores list"),
    ({"prompt": "Q", "completions": [{"model": "m", "overall_score": 1}, {"response": "b", "overall_score": 2}]},
     "completions[0] has no text (response, text, content); fix the row"),
    ({"prompt": "Q", "responses": ["a", "b"], "scores": [1]},
     "scores is a list [1], expected a list of 2 numbers, one per item of responses"),
    ({"prompt": "Q", "responses": ["a"], "scores": [1]}, "kwise rows need at least 2 responses, got 1"),
    ({"prompt": "Q", "chosen": "a", "rejected": "b", "id": ["x"]}, 'id is a list ["x"], expected a string or a number'),
]


@pytest.mark.parametrize(("row", "message"), BAD_ROWS, ids=[m[:40] for _, m in BAD_ROWS])
def test_a_bad_row_is_one_line_naming_the_row(row: dict[str, Any], message: str) -> None:
    good = {key: value for key, value in row.items() if key not in ("id",)}
    table = rows(good, row) if "id" in row else rows(row)
    where = "t.parquet row 1" if "id" in row else "t.parquet row 0"
    error = one_line_error(DataError, to_examples, table)
    assert error.startswith(f"{where}: {message}"), error


def test_a_row_that_is_not_an_object_is_refused() -> None:
    message = one_line_error(DataError, to_examples, [("d.jsonl:3", ["Q", "a", "b"])])
    assert message == 'd.jsonl:3: the row is a list ["Q", "a", "b"], expected an object with named columns; fix the row'


def test_ids_come_from_the_id_column_or_the_row_position() -> None:
    table = rows({"id": 7, "prompt": "Q", "chosen": "a", "rejected": "b"},
                 {"id": 8.0, "prompt": "Q", "chosen": "a", "rejected": "b"},
                 {"id": None, "prompt": "Q", "chosen": "a", "rejected": "b"})
    assert [ex.id for ex in to_examples(table, split="test")] == ["7", "8", "test-2"]


def test_duplicate_ids_name_both_rows() -> None:
    table = rows({"id": "a", "prompt": "Q", "chosen": "a", "rejected": "b"},
                 {"id": "b", "prompt": "Q", "chosen": "a", "rejected": "b"},
                 {"id": "a", "prompt": "Q", "chosen": "a", "rejected": "b"})
    message = one_line_error(DataError, to_examples, table)
    assert message == ("t.parquet row 2: id 'a' already used at t.parquet row 0; ids must be unique within a dataset "
                       "(rename one)")
