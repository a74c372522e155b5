"""The records every data source produces and every consumer reads.

A dataset is a list of :class:`Example`: one prompt (a string or a conversation, see
:mod:`bench.data.conversation`) with n responses. The data kind fixes what n and
the response fields mean (see :mod:`bench.methods.base`): pairs (n = 2, index 0 chosen), k-wise
(n = k, each with a score), unpaired (n = 1 with a desirability label), outcomes (n = 1 with a numeric
outcome) and demonstrations (n = 1, for supervised fine-tuning). Records are plain frozen dataclasses
so they hash, compare and serialise to JSONL without surprises.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from bench.atomic import write_text
from bench.data.conversation import Prompt, check_prompt, describe, prompt_from_json, prompt_to_json
from bench.errors import DataError, closest
from bench.fingerprint import fingerprint


@dataclass(frozen=True)
class Response:
    """One response to a prompt, with what the data kind attaches to it."""

    text: str
    score: float | None = None
    label: int | None = None
    """+1 desirable, -1 undesirable (unpaired data)."""
    outcome: float | None = None


@dataclass(frozen=True)
class Example:
    """A prompt (a string or a conversation ending in a user turn) with n responses of one data kind."""

    id: str
    prompt: Prompt
    responses: tuple[Response, ...]
    kind: str
    meta: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    @property
    def n(self) -> int:
        return len(self.responses)


DATA_KINDS: tuple[str, ...] = ("pairs", "kwise", "unpaired", "outcomes", "demonstrations")
"""Every data kind a record can have (the contract's ``Needs.data`` values)."""
_SHAPE = {"pairs": 2, "unpaired": 1, "outcomes": 1, "demonstrations": 1}


def validate(example: Example, where: str) -> Example:
    """Check one example against its kind's shape; raise a DataError naming ``where`` otherwise."""
    expected = _SHAPE.get(example.kind)
    if example.kind not in DATA_KINDS:
        raise DataError(f"{where}: unknown data kind {example.kind!r}")
    check_prompt(example.prompt, where)
    if expected is not None and example.n != expected:
        raise DataError(f"{where}: {example.kind} rows need {expected} response(s), got {example.n}")
    if example.kind == "kwise" and example.n < 2:
        raise DataError(f"{where}: kwise rows need at least 2 responses, got {example.n}")
    for i, response in enumerate(example.responses):
        if not response.text.strip():
            raise DataError(f"{where}: response {i} is empty; remove the row or fill it in")
        for name in ("score", "outcome"):
            value = getattr(response, name)
            if value is not None and not math.isfinite(value):
                raise DataError(f"{where}: response {i} has non-finite {name} {value}; fix or drop the row")
    if example.kind == "kwise" and any(r.score is None for r in example.responses):
        raise DataError(f"{where}: kwise rows need a score on every response")
    if example.kind == "unpaired" and example.responses[0].label not in (1, -1):
        raise DataError(f"{where}: unpaired rows need label +1 or -1, got {example.responses[0].label!r}")
    if example.kind == "outcomes" and example.responses[0].outcome is None:
        raise DataError(f"{where}: outcome rows need a numeric outcome")
    return example


def to_json(example: Example) -> dict[str, Any]:
    """The JSONL form of an example (None fields dropped; a conversation prompt as its list of messages, a string
    prompt as the string, so a string-prompt dataset's fingerprint is what it always was)."""
    row = asdict(example)
    row["prompt"] = prompt_to_json(example.prompt)
    row["responses"] = [{k: v for k, v in r.items() if v is not None} for r in row["responses"]]
    return row


_STRING = ((str,), "a string")
_NUMBER = ((int, float), "a number")
_INTEGER = ((int,), "an integer")
_RESPONSE_FIELDS = {"text": _STRING, "score": _NUMBER, "label": _INTEGER, "outcome": _NUMBER}
"""Each response key and the JSON type it needs; every key but ``text`` may also be null (absent)."""
_ROW_KEYS = ("id", "prompt", "kind", "responses")


def _typed(value: Any, name: str, spec: tuple[tuple[type, ...], str], where: str) -> Any:
    """``value`` if it has one of ``spec``'s types (a bool is never a number); else a DataError naming ``name``."""
    types, expected = spec
    if isinstance(value, bool) or not isinstance(value, types):
        raise DataError(f"{where}: {name} is {describe(value)}, expected {expected}; fix the row")
    return value


def _response(item: Any, name: str, where: str) -> Response:
    """Parse the response object ``name`` (``responses[i]``) of a JSONL row, field by field."""
    _typed(item, name, ((dict,), 'an object like {"text": ...}'), where)
    unknown = sorted(set(item) - set(_RESPONSE_FIELDS))
    if unknown:
        raise DataError(f"{where}: {name} has unknown key {unknown[0]!r}{closest(unknown[0], _RESPONSE_FIELDS)}; "
                        f"a response has only {', '.join(_RESPONSE_FIELDS)}")
    if "text" not in item:
        raise DataError(f"{where}: {name} has no 'text'; every response needs its text")
    values = {key: _typed(value, f"{name}.{key}", _RESPONSE_FIELDS[key], where)
              for key, value in item.items() if key == "text" or value is not None}
    return Response(**values)


def from_json(row: Any, where: str) -> Example:
    """Parse and validate one JSONL row; ``where`` names it in errors (file:line).

    Every field's JSON type is checked before use, so a malformed row is one DataError naming the row
    and the field, never a Python error from deep inside the harness. ``prompt`` is a string or a list of
    ``{"role", "content"}`` messages (:func:`bench.data.conversation.check_prompt`).
    """
    _typed(row, "the row", ((dict,), f"an object with keys {', '.join(_ROW_KEYS)}"), where)
    missing = [key for key in _ROW_KEYS if key not in row]
    if missing:
        raise DataError(f"{where}: missing key {missing[0]!r}; every row needs {', '.join(_ROW_KEYS)}")
    row_id = str(_typed(row["id"], "id", ((str, int), "a string"), where))
    if not row_id.strip():
        raise DataError(f"{where}: id is empty; give every row a unique id")
    prompt = prompt_from_json(row["prompt"], where)
    kind = _typed(row["kind"], "kind", _STRING, where)
    items = _typed(row["responses"], "responses", ((list,), "a list of response objects"), where)
    meta = _typed(row.get("meta", {}), "meta", ((dict,), "an object"), where)
    responses = tuple(_response(item, f"responses[{i}]", where) for i, item in enumerate(items))
    return validate(Example(id=row_id, prompt=prompt, responses=responses, kind=kind, meta=meta), where)


def first_repeat(ids: Iterable[str]) -> tuple[str, int, int] | None:
    """The first id that occurs twice, with the positions of both occurrences; None when all are unique."""
    seen: dict[str, int] = {}
    for position, row_id in enumerate(ids):
        if row_id in seen:
            return row_id, seen[row_id], position
        seen[row_id] = position
    return None


def check_unique_ids(ids: Iterable[str], where: str) -> None:
    """Refuse a dataset whose row ids repeat (``where`` names it); rows are matched by id, so a repeat
    would silently give one row another's statistics (e.g. a selected subset's reference log-probs)."""
    repeat = first_repeat(ids)
    if repeat is not None:
        row_id, first, second = repeat
        raise DataError(f"{where}: duplicate id {row_id!r} at rows {first} and {second} (counting from 0); "
                        f"ids must be unique within a dataset (rename one)")


def save_jsonl(path: Path, examples: Iterable[Example]) -> None:
    """Write examples as JSONL, atomically."""
    write_text(Path(path), "".join(json.dumps(to_json(e), sort_keys=True) + "\n" for e in examples))


def _decode(raw: bytes, where: str) -> str:
    """One line of a JSONL file as text, without its line ending; bytes that are not UTF-8 are named by
    value and column."""
    try:
        return raw.decode("utf-8").rstrip("\r\n")
    except UnicodeDecodeError as exc:
        raise DataError(f"{where}: not UTF-8 (byte 0x{raw[exc.start]:02x} at column {exc.start + 1}); "
                        f"re-save the file as UTF-8") from exc


def read_jsonl(path: Path, key: str = "data.path") -> Iterator[tuple[int, Any]]:
    """The JSON value of each non-blank line of a JSONL file, with its line number, read lazily.

    The file is read as bytes so a line that is not UTF-8 or not JSON is one DataError naming file, line
    and column (``key``: the setting that named the file), whatever the rows hold: bench records here,
    any table format for :mod:`bench.data.sources`.
    """
    path = Path(path)
    if path.is_dir():
        raise DataError(f"{key}={path} is a directory; give the JSONL file itself")
    if not path.is_file():
        raise DataError(f"{key}={path} does not exist; check {key}")
    with open(path, "rb") as handle:
        for line_no, raw in enumerate(handle, start=1):
            where = f"{path}:{line_no}"
            line = _decode(raw, where)
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DataError(f"{where}: not valid JSON ({exc.msg} at column {exc.pos + 1}); "
                                f"fix or delete the line") from exc
            yield line_no, row


def load_jsonl(path: Path, key: str = "data.path") -> list[Example]:
    """Read and validate a JSONL file written by :func:`save_jsonl` (or by hand in that format).

    Every error names the file and line (``key``: the setting that named the file). Ids must be unique within
    the file: datasets are subset and matched to cached statistics by id.
    """
    path = Path(path)
    examples, line_numbers = [], []
    for line_no, row in read_jsonl(path, key):
        examples.append(from_json(row, f"{path}:{line_no}"))
        line_numbers.append(line_no)
    repeat = first_repeat(ex.id for ex in examples)
    if repeat is not None:
        row_id, first, second = repeat
        raise DataError(f"{path}:{line_numbers[second]}: id {row_id!r} already used on line {line_numbers[first]}; "
                        f"ids must be unique within a file (rename one)")
    return examples


def has_scores(examples: Iterable[Example]) -> bool:
    """Whether every response of ``examples`` carries an explicit score (what reward-aware objectives read)."""
    return all(r.score is not None for ex in examples for r in ex.responses)


def dataset_fingerprint(examples: Iterable[Example]) -> str:
    """Content fingerprint of a dataset (order matters: it fixes the reference cache's row index)."""
    return fingerprint([to_json(e) for e in examples])
