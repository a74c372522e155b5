"""A record's prompt: a plain string (one user message, the gym's case) or a conversation.

Real preference data is chat data: a system message, earlier user and assistant turns, then the user turn
the responses answer. bench keeps that structure so the model's chat template renders it exactly as the
model was trained to read it, and only the final assistant turn (the response) is scored. A conversation
of one user message is stored as the plain string, so the two spellings of one question are one record
(same fingerprint, same reference cache), as they are one chat-template rendering.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, TypeAlias

from bench.errors import DataError, closest

ROLES: tuple[str, ...] = ("system", "user", "assistant")
"""The roles a prompt's message may have (tool calls and other roles are not supported)."""
_MESSAGE_KEYS = ("role", "content")
_MESSAGE_SHAPE = 'an object like {"role": "user", "content": ...}'
_TEXT_LABELS = {"system": "System", "user": "User", "assistant": "Assistant"}
"""How :func:`as_text` names each role."""


@dataclass(frozen=True)
class Message:
    """One turn of a conversation: who speaks (``system``, ``user`` or ``assistant``) and what they say."""

    role: str
    content: str


Prompt: TypeAlias = str | tuple[Message, ...]
"""A prompt: a plain string (one user message) or a conversation that ends with a user message."""


_JSON_TYPES = {type(None): "null", bool: "a boolean", int: "an integer", float: "a number", str: "a string",
               list: "a list", tuple: "a list", dict: "an object"}


def describe(value: Any) -> str:
    """A value as a JSON reader would name it (type, then the value shortened), for the one-line errors of the
    row parsers (prompts here, records and table formats beside it)."""
    text = json.dumps(value, default=repr)
    text = text if len(text) <= 40 else text[:37] + "..."
    kind = _JSON_TYPES.get(type(value), type(value).__name__)
    return kind if value is None else f"{kind} {text}"


def messages(prompt: Prompt) -> list[dict[str, str]]:
    """The prompt as the ``[{"role", "content"}, ...]`` list a tokenizer's ``apply_chat_template`` takes; a
    plain string is one user message, which is what the gym's prompts have always been."""
    if isinstance(prompt, str):
        return [{"role": "user", "content": prompt}]
    return [{"role": m.role, "content": m.content} for m in prompt]


def instruction(prompt: Prompt) -> str:
    """The final user turn's text: what alpaca_eval calls the instruction, and what a judge is asked about."""
    if isinstance(prompt, str):
        return prompt
    return prompt[-1].content


def as_text(prompt: Prompt) -> str:
    """The whole conversation as one string, for judges and files that take a single text: each turn as
    ``Role: content``, separated by a blank line. A plain string prompt is returned unchanged."""
    if isinstance(prompt, str):
        return prompt
    return "\n\n".join(f"{_TEXT_LABELS[m.role]}: {m.content}" for m in prompt)


def _message(item: Any, name: str, i: int, where: str) -> Message:
    """Parse turn ``i`` of the conversation ``name`` (a Message, or a JSON object with role and content)."""
    if isinstance(item, Message):
        item = {"role": item.role, "content": item.content}
    if not isinstance(item, dict):
        raise DataError(f"{where}: {name} turn {i} is {describe(item)}, expected {_MESSAGE_SHAPE}; fix the row")
    extra = sorted(key for key, value in item.items() if key not in _MESSAGE_KEYS and value is not None)
    if extra:
        raise DataError(f"{where}: {name} turn {i} has key {extra[0]!r}; a message has only role and content "
                        f"(drop the key)")
    for key in _MESSAGE_KEYS:
        if item.get(key) is None:
            raise DataError(f"{where}: {name} turn {i} has no {key!r}; every message needs role and content")
    role, content = item["role"], item["content"]
    if not isinstance(role, str) or role not in ROLES:
        raise DataError(f"{where}: {name} turn {i} has role {describe(role)}{closest(str(role), ROLES)}; "
                        f"use one of {', '.join(ROLES)}")
    if not isinstance(content, str):
        raise DataError(f"{where}: {name} turn {i} content is {describe(content)}, expected a string; fix the row")
    if not content.strip():
        raise DataError(f"{where}: {name} turn {i} ({role}) is empty; fill it in or drop the turn")
    return Message(role=role, content=content)


def parse_messages(value: Any, name: str, where: str) -> tuple[Message, ...]:
    """A non-empty list of messages read from a row (the value of column ``name``), each with a known role and
    a non-empty content; errors name ``where``, ``name`` and the turn. Where each role may stand is the
    caller's rule (a prompt's is :func:`check_prompt`'s)."""
    if not isinstance(value, (list, tuple)):
        raise DataError(f"{where}: {name} is {describe(value)}, expected a list of messages "
                        f'(objects like {{"role": "user", "content": ...}}); fix the row')
    if not value:
        raise DataError(f"{where}: {name} is an empty conversation; give at least one message")
    return tuple(_message(item, name, i, where) for i, item in enumerate(value))


def check_prompt(value: Any, where: str, name: str = "prompt") -> Prompt:
    """Validate a prompt read from a row and return it in canonical form; ``where`` names the row in errors
    (``name``: the column it came from).

    A conversation's turns must have known roles and non-empty contents, a system message may only come
    first, and the last turn is the user's (the response answers it). A conversation of a single user
    message is returned as its plain string (see the module docstring); any other is a tuple of
    :class:`Message`.
    """
    if isinstance(value, str):
        if not value.strip():
            raise DataError(f"{where}: empty prompt; remove the row or fill it in")
        return value
    if not isinstance(value, (list, tuple)):
        raise DataError(f"{where}: {name} is {describe(value)}, expected a string or a list of messages "
                        f'(objects like {{"role": "user", "content": ...}}); fix the row')
    if not value:
        raise DataError(f"{where}: {name} is an empty conversation; give at least one user message")
    turns = parse_messages(value, name, where)
    for i, turn in enumerate(turns):
        if turn.role == "system" and i > 0:
            raise DataError(f"{where}: {name} turn {i} is a system message; only the first turn may be the "
                            f"system's (merge it into turn 0 or drop it)")
    last = turns[-1]
    if last.role != "user":
        raise DataError(f"{where}: {name} ends with turn {len(turns) - 1} from the {last.role}; a prompt's last "
                        f"turn is the user's and the reply to it is the response (move that turn out of the prompt)")
    if len(turns) == 1:
        return last.content
    return turns


def prompt_to_json(prompt: Prompt) -> str | list[dict[str, str]]:
    """The JSON form of a prompt: a string stays a string, a conversation becomes its list of messages."""
    return prompt if isinstance(prompt, str) else messages(prompt)


def prompt_from_json(value: Any, where: str) -> Prompt:
    """The inverse of :func:`prompt_to_json`, validated (see :func:`check_prompt`); ``where`` names the row."""
    return check_prompt(value, where)
