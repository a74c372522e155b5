"""Tests for bench.data.conversation: a prompt is a string or a conversation, rendered for chat templates,
judges and files, and a malformed conversation is one DataError naming the row and the turn."""

from __future__ import annotations

from typing import Any

import pytest

from bench.data.conversation import (
    Message,
    as_text,
    check_prompt,
    instruction,
    messages,
    parse_messages,
    prompt_from_json,
    prompt_to_json,
)
from bench.data.records import Example, Response, from_json, to_json
from bench.errors import DataError

CONVERSATION = (Message("system", "You are terse."), Message("user", "Name a fruit."), Message("assistant", "Apple."),
                Message("user", "Another one?"))
AS_JSON = [{"role": "system", "content": "You are terse."}, {"role": "user", "content": "Name a fruit."},
           {"role": "assistant", "content": "Apple."}, {"role": "user", "content": "Another one?"}]


def test_messages_are_what_a_chat_template_takes() -> None:
    assert messages("Name a fruit.") == [{"role": "user", "content": "Name a fruit."}]
    assert messages(CONVERSATION) == AS_JSON


def test_the_instruction_is_the_final_user_turn() -> None:
    assert instruction("Name a fruit.") == "Name a fruit."
    assert instruction(CONVERSATION) == "Another one?"


def test_as_text_renders_every_turn_and_keeps_a_string_unchanged() -> None:
    assert as_text("  Name a fruit.\n") == "  Name a fruit.\n"
    assert as_text(CONVERSATION) == ("System: You are terse.\n\nUser: Name a fruit.\n\nAssistant: Apple.\n\n"
                                     "User: Another one?")


def test_check_prompt_returns_the_canonical_form() -> None:
    assert check_prompt("Name a fruit.", "row 1") == "Name a fruit."
    assert check_prompt(AS_JSON, "row 1") == CONVERSATION
    assert check_prompt(list(CONVERSATION), "row 1") == CONVERSATION  # Message objects are accepted too
    # one user message is the plain string: the same chat-template rendering, so the same record
    assert check_prompt([{"role": "user", "content": "Name a fruit."}], "row 1") == "Name a fruit."
    # a table fills absent keys with null: a null extra key is no key
    assert check_prompt([{"role": "user", "content": "Hi", "name": None}], "row 1") == "Hi"


BAD_PROMPTS: list[tuple[Any, str]] = [
    (5, "prompt is an integer 5, expected a string or a list of messages"),
    ({"role": "user"}, 'prompt is an object {"role": "user"}, expected a string or a list of messages'),
    ("  ", "empty prompt; remove the row or fill it in"),
    ([], "prompt is an empty conversation; give at least one user message"),
    (["hi"], 'prompt turn 0 is a string "hi", expected an object like {"role": "user", "content": ...}; fix the row'),
    ([{"content": "hi"}], "prompt turn 0 has no 'role'; every message needs role and content"),
    ([{"role": "user", "content": None}], "prompt turn 0 has no 'content'; every message needs role and content"),
    ([{"role": "user", "content": "hi", "tool_calls": []}],
     "prompt turn 0 has key 'tool_calls'; a message has only role and content (drop the key)"),
    ([{"role": "users", "content": "hi"}],
     'prompt turn 0 has role a string "users" (did you mean: user?); use one of system, user, assistant'),
    ([{"role": "user", "content": 3}], "prompt turn 0 content is an integer 3, expected a string; fix the row"),
    ([{"role": "system", "content": "Be brief."}, {"role": "user", "content": "\n"}],
     "prompt turn 1 (user) is empty; fill it in or drop the turn"),
    ([{"role": "user", "content": "a"}, {"role": "system", "content": "b"}, {"role": "user", "content": "c"}],
     "prompt turn 1 is a system message; only the first turn may be the system's (merge it into turn 0 or drop it)"),
    ([{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}],
     "prompt ends with turn 1 from the assistant; a prompt's last turn is the user's and the reply to it is the "
     "response (move that turn out of the prompt)"),
    ([{"role": "system", "content": "Be brief."}],
     "prompt ends with turn 0 from the system; a prompt's last turn is the user's"),
]


@pytest.mark.parametrize(("value", "message"), BAD_PROMPTS, ids=[m[:40] for _, m in BAD_PROMPTS])
def test_a_malformed_prompt_is_one_line_naming_the_row_and_turn(value: Any, message: str) -> None:
    with pytest.raises(DataError) as caught:
        check_prompt(value, "data.jsonl:7")
    assert str(caught.value).startswith(f"data.jsonl:7: {message}")
    assert "\n" not in str(caught.value)


def test_parse_messages_names_its_column() -> None:
    with pytest.raises(DataError, match=r"^t row 2: chosen is a string \"x\", expected a list of messages"):
        parse_messages("x", "chosen", "t row 2")
    with pytest.raises(DataError, match=r"^t row 2: chosen turn 1 \(assistant\) is empty"):
        parse_messages([{"role": "user", "content": "a"}, {"role": "assistant", "content": ""}], "chosen", "t row 2")


def test_json_helpers_round_trip() -> None:
    assert prompt_to_json("Name a fruit.") == "Name a fruit."
    assert prompt_to_json(CONVERSATION) == AS_JSON
    assert prompt_from_json(prompt_to_json(CONVERSATION), "row 0") == CONVERSATION
    assert prompt_from_json(prompt_to_json("Name a fruit."), "row 0") == "Name a fruit."


def test_a_conversation_round_trips_through_a_record() -> None:
    example = Example(id="c1", prompt=CONVERSATION, kind="pairs", responses=(Response("Pear."), Response("No.")))
    row = to_json(example)
    assert row["prompt"] == AS_JSON
    assert from_json(row, "row 0") == example
    assert hash(example) == hash(from_json(row, "row 0"))  # records stay hashable with conversations in them
