"""Table rows in the layouts preference data already comes in, turned into bench records.

Researchers hold their data as TRL-style preference tables, HH-RLHF transcripts, UltraFeedback's scored
completions, alpaca_eval prompt sets, or bench's own records. Each layout is a *format*, recognised from
its column names and converted row by row into :class:`~bench.data.records.Example` of one data kind, so a
dataset enters bench without a conversion script and the same rows give the same records (ids included)
whatever file type held them. Reading files is the sources' job (:mod:`bench.data.sources`); this module
only sees rows: ``(where, row)`` pairs, ``where`` naming the row in errors (``data.jsonl:18``,
``train.parquet row 17``).

Detection (:func:`detect_format`) takes the first format, in :data:`FORMATS` order, whose columns a row
has (columns whose value is null do not count, as a table fills absent keys with null): the format with
the most specific columns first, the prompt-only set last since every format has a prompt. Every row of a
file must be in one format; ``data.format=NAME`` skips detection.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from bench.data.conversation import Message, Prompt, check_prompt, describe, parse_messages
from bench.data.records import Example, Response, first_repeat, from_json, validate
from bench.errors import ConfigError, DataError, closest

FORMATS: dict[str, tuple[tuple[str, ...], ...]] = {
    "bench": (("id", "prompt", "kind", "responses"),),
    "scored": (("prompt", "completions"), ("instruction", "completions"), ("prompt", "responses", "scores"),
               ("prompt", "responses", "ratings")),
    "outcomes": (("prompt", "completion", "outcome"),),
    "unpaired": (("prompt", "completion", "label"),),
    "preference": (("prompt", "chosen", "rejected"),),
    "implicit": (("chosen", "rejected"),),
    "prompts": (("prompt",), ("instruction",)),
}
"""Each format with the column sets that identify it (any one set), in detection order:

- ``bench``: bench's own records (``id``, ``prompt``, ``kind``, ``responses``, optional ``meta``).
- ``scored``: k scored responses per prompt -> ``kwise``. ``completions`` items are strings or objects with
  the text under ``response``/``text``/``content`` and the score under ``score``/``rating``/``overall_score``
  (UltraFeedback's raw layout, whose prompt column is ``instruction``); or ``responses`` with a ``scores``
  (or ``ratings``) list beside it.
- ``outcomes``: ``prompt``, ``completion``, a numeric ``outcome`` -> ``outcomes``.
- ``unpaired``: ``prompt``, ``completion``, ``label`` (true/false, 1/0 or +1/-1) -> ``unpaired`` (TRL's
  unpaired preference, standard or conversational).
- ``preference``: TRL's standard and conversational preference -> ``pairs`` (chosen first), with
  ``score_chosen``/``score_rejected`` as the responses' scores when present (UltraFeedback-binarized).
- ``implicit``: ``chosen`` and ``rejected`` whole conversations (lists of messages, or HH-RLHF's
  ``"\\n\\nHuman: ...\\n\\nAssistant: ..."`` strings) sharing the prompt -> ``pairs``.
- ``prompts``: a prompt-only set (``prompt``, or alpaca_eval's ``instruction``), for evaluation prompts.
"""

KINDS: dict[str, str | None] = {"bench": None, "scored": "kwise", "outcomes": "outcomes", "unpaired": "unpaired",
                                "preference": "pairs", "implicit": "pairs", "prompts": None}
"""The data kind each format's records have (``bench``: each row's ``kind``; ``prompts``: no records)."""

COLUMNS: tuple[str, ...] = ("id", "prompt", "instruction", "kind", "responses", "meta", "chosen", "rejected",
                            "score_chosen", "score_rejected", "completion", "label", "outcome", "completions",
                            "scores", "ratings")
"""The column names bench reads (``data.columns.NAME=COLUMN`` maps one of them to a file's column)."""

AUTO = "auto"
_TEXT_KEYS = ("response", "text", "content")
_SCORE_KEYS = ("score", "rating", "overall_score")
"""Where a scored completion object keeps its text and its score, first present wins (UltraFeedback: response,
overall_score)."""
_HH_TURN = re.compile(r"\n\n(Human|Assistant): ?")
_HH_ROLES = {"Human": "user", "Assistant": "assistant"}


def _needs(name: str) -> str:
    """A format's column sets as a reader would write them: ``prompt+chosen+rejected`` (``or`` between sets)."""
    return " or ".join("+".join(columns) for columns in FORMATS[name])


def _all_needs() -> str:
    return "; ".join(f"{name} ({_needs(name)})" for name in FORMATS)


RESPONSE_COLUMNS = frozenset({"responses", "chosen", "rejected", "completion", "completions"})
"""Columns that carry responses: rows with any of them are not a prompt-only set, even when no format fits
(``id, prompt, responses`` without ``kind`` is an incomplete bench record, not a list of prompts)."""


def _match(columns: Iterable[str]) -> str | None:
    """The first format (detection order) whose columns are all among ``columns``; None when none is."""
    present = set(columns)
    for name, alternatives in FORMATS.items():
        if name == "prompts" and present & RESPONSE_COLUMNS:
            continue
        if any(set(needed) <= present for needed in alternatives):
            return name
    return None


def detect_format(columns: Iterable[str], where: str = "the rows", key: str = "data") -> str:
    """The format of rows with these (non-null) columns: the first of :data:`FORMATS`, in its order, whose
    columns are all present. None fitting is a DataError listing the columns and what each format needs."""
    columns = list(columns)
    found = _match(columns)
    if found is None:
        listed = ", ".join(sorted(columns)) or "(none)"
        raise DataError(f"{where}: cannot tell the data format from the columns {listed}; the formats need: "
                        f"{_all_needs()}; rename columns with {key}.columns.NAME=COLUMN or set {key}.format=NAME")
    return found


def check_format(name: str, key: str = "data") -> str:
    """``name`` if it is ``auto`` or a known format, else a ConfigError naming ``{key}.format`` and the formats."""
    if name != AUTO and name not in FORMATS:
        raise ConfigError(f"{key}.format={name!r} is not a data format{closest(name, FORMATS)}; use auto (detect "
                          f"from the columns) or one of: {_all_needs()}")
    return name


def check_columns(columns: Mapping[str, str], key: str = "data") -> None:
    """Refuse a column mapping that maps a name bench does not read, or to a non-string column name."""
    for name, column in columns.items():
        if name not in COLUMNS:
            raise ConfigError(f"{key}.columns.{name}: bench reads no column {name!r}{closest(name, COLUMNS)}; "
                              f"map one of {', '.join(COLUMNS)}")
        if not isinstance(column, str) or not column:
            raise ConfigError(f"{key}.columns.{name}={column!r}: give the file's column name")


class _Table:
    """Rows renamed to bench's column names, with what errors need: each name's column in the file."""

    def __init__(self, rows: Sequence[tuple[str, Any]], columns: Mapping[str, str], origin: str, key: str) -> None:
        check_columns(columns, key)
        for where, row in rows:
            if not isinstance(row, dict):
                raise DataError(f"{where}: the row is {describe(row)}, expected an object with named columns; "
                                f"fix the row")
        found = {name for _, row in rows for name in row}
        for name, column in columns.items():
            if rows and column not in found:
                raise DataError(f"{key}.columns.{name}={column}: {origin} has no column {column!r} (its columns: "
                                f"{', '.join(sorted(found))}){closest(column, found)}; fix the mapping")
        sources = set(columns.values())
        self.names = {name: columns.get(name, name) for name in COLUMNS}
        self.rows = [(where, {**{k: v for k, v in row.items() if k not in sources},
                              **{name: row.get(column) for name, column in columns.items()}})
                     for where, row in rows]
        self.origin, self.key = origin, key
        self.present = {name for _, row in self.rows for name, value in row.items() if value is not None}
        """Columns with a value (not null) in at least one row."""

    def format(self, name: str) -> str:
        """The rows' format: ``name`` when forced, else detected; rows of two formats are refused here."""
        check_format(name, self.key)
        if name == AUTO:
            name = self._detect()
        needed = min(FORMATS[name], key=lambda cols: len(set(cols) - self.present))
        absent = [column for column in needed if column not in self.present]
        if absent:
            column, listed = self.names[absent[0]], ", ".join(sorted(self.present)) or "(none)"
            raise DataError(f"{self.origin}: no column {column!r} (columns with values: {listed}); the {name} "
                            f"format needs {_needs(name)}; "
                            f"map it with {self.key}.columns.{absent[0]}=COLUMN or set {self.key}.format")
        for where, row in self.rows:
            own = {column for column, value in row.items() if value is not None}
            if not any(set(cols) <= own for cols in FORMATS[name]):
                missing = next(column for column in needed if column not in own)
                raise DataError(f"{where}: {self.names[missing]} is missing or null; the {name} format needs "
                                f"{_needs(name)}; fill it in or drop the row")
        return name

    def _detect(self) -> str:
        """The one format of the rows, from each row's non-null columns; a row that only lacks values of
        another row's format (a null) is not a second format."""
        firsts: dict[str, str] = {}
        for where, row in self.rows:
            found = _match(column for column, value in row.items() if value is not None)
            if found is not None and found not in firsts:
                firsts[found] = where
        kept = [name for name in firsts if not any(
            other != name and any(set(cols) <= {c for alt in FORMATS[other] for c in alt} for cols in FORMATS[name])
            for other in firsts)]
        if len(kept) > 1:
            first, second = kept[:2]
            raise DataError(f"{firsts[second]}: this row is in the {second} format ({_needs(second)}) but "
                            f"{firsts[first]} is in the {first} format ({_needs(first)}); one format per file "
                            f"(split the file)")
        if kept:
            return kept[0]
        return detect_format(sorted(self.present), self.origin, self.key)


def _number(value: Any, column: str, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise DataError(f"{where}: {column} is {describe(value)}, expected a finite number; fix the row")
    return float(value)


def _reply(value: Any, column: str, where: str) -> str:
    """A response column's text: a string, or TRL's conversational form, one assistant message."""
    if isinstance(value, str):
        if not value.strip():
            raise DataError(f"{where}: {column} is empty; fill it in or drop the row")
        return value
    if not isinstance(value, (list, tuple)):
        raise DataError(f"{where}: {column} is {describe(value)}, expected a string or a list with one assistant "
                        f"message; fix the row")
    turns = parse_messages(value, column, where)
    if len(turns) != 1 or turns[0].role != "assistant":
        roles = ", ".join(turn.role for turn in turns)
        raise DataError(f"{where}: {column} has {len(turns)} message(s) ({roles}); a response is the assistant's "
                        f"reply, one assistant message (earlier turns belong in the prompt)")
    return turns[0].content


def _hh_turns(text: str, column: str, where: str) -> tuple[Message, ...]:
    """An HH-RLHF transcript (``"\\n\\nHuman: ...\\n\\nAssistant: ..."``) as messages."""
    parts = _HH_TURN.split(text if text.startswith("\n\n") else "\n\n" + text)
    if parts[0].strip() or len(parts) < 3:
        raise DataError(f"{where}: {column} is not an HH-style transcript (\"\\n\\nHuman: ...\\n\\nAssistant: "
                        f"...\"); give a list of messages instead, or fix the row")
    turns = [{"role": _HH_ROLES[speaker], "content": content} for speaker, content in zip(parts[1::2], parts[2::2],
                                                                                           strict=True)]
    return parse_messages(turns, column, where)


def _conversation(value: Any, column: str, where: str) -> tuple[Message, ...]:
    return _hh_turns(value, column, where) if isinstance(value, str) else parse_messages(value, column, where)


def _split_prompt(chosen: tuple[Message, ...], rejected: tuple[Message, ...], names: Mapping[str, str],
                  where: str) -> tuple[Prompt, str, str]:
    """Prompt and the two replies of two whole conversations: the shared prefix, then one assistant turn each
    (what TRL's ``extract_prompt`` does, by turns)."""
    for column, turns in ((names["chosen"], chosen), (names["rejected"], rejected)):
        if turns[-1].role != "assistant":
            raise DataError(f"{where}: {column} ends with turn {len(turns) - 1} from the {turns[-1].role}; a whole "
                            f"conversation ends with the assistant's reply (drop the trailing turn, or the row)")
    if chosen == rejected:
        raise DataError(f"{where}: {names['chosen']} and {names['rejected']} are the same conversation; a pair "
                        f"needs two different replies (drop the row)")
    pairs = enumerate(zip(chosen, rejected, strict=False))
    split = next((i for i, (a, b) in pairs if a != b), min(len(chosen), len(rejected)))
    shared = chosen[:split]
    if not shared or shared[-1].role != "user" or len(chosen) != split + 1 or len(rejected) != split + 1:
        raise DataError(f"{where}: {names['chosen']} and {names['rejected']} share no prompt ending in a user turn "
                        f"(they first differ at turn {split}); they must be the same conversation up to one final "
                        f"assistant reply each")
    return check_prompt(list(shared), where, names["prompt"]), chosen[-1].content, rejected[-1].content


def _starting_with(turns: tuple[Message, ...], prompt: Prompt) -> tuple[Message, ...]:
    """``turns`` without a leading copy of the prompt (some datasets repeat it in chosen and rejected)."""
    opening = (Message("user", prompt),) if isinstance(prompt, str) else prompt
    return turns[len(opening):] if turns[:len(opening)] == opening and len(turns) > len(opening) else turns


def _preference(row: dict[str, Any], names: Mapping[str, str], where: str) -> tuple[Prompt, list[Response]]:
    chosen, rejected = row["chosen"], row["rejected"]
    whole = (isinstance(chosen, (list, tuple)) and isinstance(rejected, (list, tuple)) and chosen and rejected
             and isinstance(chosen[0], dict) and chosen[0].get("role") != "assistant")
    if whole and isinstance(row["prompt"], str):
        # TRL's maybe_extract_prompt: a string prompt beside whole conversations is implicit in them
        prompt, good, bad = _split_prompt(_conversation(chosen, names["chosen"], where),
                                          _conversation(rejected, names["rejected"], where), names, where)
    else:
        prompt = check_prompt(row["prompt"], where, names["prompt"])
        replies = []
        for name in ("chosen", "rejected"):
            value = row[name]
            if isinstance(value, (list, tuple)):
                value = list(_starting_with(parse_messages(value, names[name], where), prompt))
            replies.append(_reply(value, names[name], where))
        good, bad = replies
    scores = [row.get("score_chosen"), row.get("score_rejected")]
    if (scores[0] is None) != (scores[1] is None):
        given, other = ("score_chosen", "score_rejected") if scores[0] is not None else ("score_rejected",
                                                                                         "score_chosen")
        raise DataError(f"{where}: {names[given]} is set but {names[other]} is not; give both scores or neither")
    if scores[0] is None:
        return prompt, [Response(good), Response(bad)]
    return prompt, [Response(good, score=_number(scores[0], names["score_chosen"], where)),
                    Response(bad, score=_number(scores[1], names["score_rejected"], where))]


def _implicit(row: dict[str, Any], names: Mapping[str, str], where: str) -> tuple[Prompt, list[Response]]:
    chosen, rejected = row["chosen"], row["rejected"]
    if isinstance(chosen, str) != isinstance(rejected, str):
        raise DataError(f"{where}: {names['chosen']} is {describe(chosen)} but {names['rejected']} is "
                        f"{describe(rejected)}; give both as lists of messages or both as HH-style transcripts")
    prompt, good, bad = _split_prompt(_conversation(chosen, names["chosen"], where),
                                      _conversation(rejected, names["rejected"], where), names, where)
    return prompt, [Response(good), Response(bad)]


def _label(value: Any, column: str, where: str) -> int:
    """A desirability label as bench's +1 / -1 (TRL's true/false, or 1/0, or +1/-1)."""
    if isinstance(value, bool) or (isinstance(value, (int, float)) and value in (1, 0, -1)):
        return 1 if value == 1 else -1
    raise DataError(f"{where}: {column} is {describe(value)}, expected true/false, 1/0 or +1/-1; fix the row")


def _unpaired(row: dict[str, Any], names: Mapping[str, str], where: str) -> tuple[Prompt, list[Response]]:
    prompt = check_prompt(row["prompt"], where, names["prompt"])
    text = _reply(row["completion"], names["completion"], where)
    return prompt, [Response(text, label=_label(row["label"], names["label"], where))]


def _outcomes(row: dict[str, Any], names: Mapping[str, str], where: str) -> tuple[Prompt, list[Response]]:
    prompt = check_prompt(row["prompt"], where, names["prompt"])
    text = _reply(row["completion"], names["completion"], where)
    return prompt, [Response(text, outcome=_number(row["outcome"], names["outcome"], where))]


def _first(item: dict[str, Any], keys: tuple[str, ...]) -> Any:
    return next((item[key] for key in keys if item.get(key) is not None), None)


def _scored(row: dict[str, Any], names: Mapping[str, str], where: str) -> tuple[Prompt, list[Response]]:
    name = "prompt" if row.get("prompt") is not None else "instruction"
    prompt = check_prompt(row[name], where, names[name])
    name = "completions" if row.get("completions") is not None else "responses"
    items, column = row[name], names[name]
    if not isinstance(items, (list, tuple)):
        raise DataError(f"{where}: {column} is {describe(items)}, expected a list of responses; fix the row")
    score_name = next((key for key in ("scores", "ratings") if row.get(key) is not None), None)
    scores = row[score_name] if score_name else None
    if scores is not None and (not isinstance(scores, (list, tuple)) or len(scores) != len(items)):
        raise DataError(f"{where}: {names[score_name]} is {describe(scores)}, expected a list of {len(items)} "
                        f"numbers, one per item of {column}; fix the row")
    responses = []
    for i, item in enumerate(items):
        if isinstance(item, str):
            text, score = item, None
        elif isinstance(item, dict):
            text, score = _first(item, _TEXT_KEYS), _first(item, _SCORE_KEYS)
            if text is None:
                raise DataError(f"{where}: {column}[{i}] has no text ({', '.join(_TEXT_KEYS)}); fix the row")
        else:
            raise DataError(f"{where}: {column}[{i}] is {describe(item)}, expected a string or an object with the "
                            f"text ({', '.join(_TEXT_KEYS)}) and a score ({', '.join(_SCORE_KEYS)}); fix the row")
        if score_name is not None:
            score, label = scores[i], f"{names[score_name]}[{i}]"
        else:
            label = f"{column}[{i}].score"
        if score is None:
            raise DataError(f"{where}: {column}[{i}] has no score ({', '.join(_SCORE_KEYS)}) and the row no scores "
                            f"list; every response of a scored row needs a score")
        responses.append(Response(_reply(text, f"{column}[{i}]", where), score=_number(score, label, where)))
    return prompt, responses


_CONVERTERS: dict[str, Callable[[dict[str, Any], Mapping[str, str], str], tuple[Prompt, list[Response]]]] = {
    "scored": _scored, "outcomes": _outcomes, "unpaired": _unpaired, "preference": _preference,
    "implicit": _implicit}


def _row_id(row: dict[str, Any], names: Mapping[str, str], where: str, index: int, split: str) -> str:
    """The row's ``id`` column as a string, or ``{split}-{index}`` from its position when it has none."""
    value = row.get("id")
    if value is None:
        return f"{split}-{index}"
    if isinstance(value, bool) or not isinstance(value, (str, int, float)) or (
            isinstance(value, float) and not math.isfinite(value)):
        raise DataError(f"{where}: {names['id']} is {describe(value)}, expected a string or a number; fix the row")
    text = str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)
    if not text.strip():
        raise DataError(f"{where}: {names['id']} is empty; give every row a unique id or drop the id column")
    return text


def _bench_row(row: dict[str, Any], where: str) -> Example:
    """A bench record read from a table: a table fills the keys a row lacks with null, so nulls (top level and in
    ``meta``) mean absent, as they do in a response."""
    row = {key: value for key, value in row.items() if value is not None}
    if isinstance(row.get("meta"), dict):
        row["meta"] = {key: value for key, value in row["meta"].items() if value is not None}
    return from_json(row, where)


def _check_one_kind(examples: Sequence[Example], wheres: Sequence[str]) -> None:
    for example, where in zip(examples, wheres, strict=True):
        if example.kind != examples[0].kind:
            raise DataError(f"{where}: kind {example.kind!r}, but {wheres[0]} is {examples[0].kind!r}; one data kind "
                            f"per dataset (split the file)")


def _check_unique(examples: Sequence[Example], wheres: Sequence[str]) -> None:
    repeat = first_repeat(example.id for example in examples)
    if repeat is not None:
        row_id, first, second = repeat
        raise DataError(f"{wheres[second]}: id {row_id!r} already used at {wheres[first]}; ids must be unique within "
                        f"a dataset (rename one)")


def _examples(table: _Table, name: str, split: str) -> list[Example]:
    examples, wheres = [], []
    for index, (where, row) in enumerate(table.rows):
        if name == "bench":
            example = _bench_row(row, where)
        else:
            prompt, responses = _CONVERTERS[name](row, table.names, where)
            example = validate(Example(id=_row_id(row, table.names, where, index, split), prompt=prompt,
                                       responses=tuple(responses), kind=str(KINDS[name])), where)
        examples.append(example)
        wheres.append(where)
    _check_one_kind(examples, wheres)
    _check_unique(examples, wheres)
    return examples


def to_examples(rows: Sequence[tuple[str, Any]], format: str = AUTO, columns: Mapping[str, str] | None = None, *,
                split: str = "train", origin: str = "the rows", key: str = "data") -> list[Example]:
    """Convert table rows (``(where, row)`` pairs, one dict a row) into validated records of one data kind.

    ``format`` is a name of :data:`FORMATS` or ``auto`` (detect); ``columns`` maps bench's column names to the
    file's; ``split`` names the rows' ids when they have no ``id`` column (``train-17``: the row's position,
    so the same rows give the same ids from any file type); ``origin`` names the file and ``key`` the config
    prefix (``data``, ``data.val``) in errors. A prompt-only set has no records: read it with :func:`to_prompts`.
    """
    check_format(format, key)
    table = _Table(rows, columns or {}, origin, key)
    if not table.rows:
        return []
    name = table.format(format)
    if name == "prompts":
        raise DataError(f"{origin}: holds prompts only (the prompts format: {_needs('prompts')}); {key} needs "
                        f"responses, in one of the formats {', '.join(n for n in FORMATS if n != 'prompts')} "
                        f"(a prompt-only set serves as evaluation prompts)")
    return _examples(table, name, split)


def to_prompts(rows: Sequence[tuple[str, Any]], format: str = AUTO, columns: Mapping[str, str] | None = None, *,
               split: str = "train", origin: str = "the rows", key: str = "data") -> list[Prompt]:
    """The distinct prompts of table rows, in order: a prompt-only set's (``prompt`` or alpaca_eval's
    ``instruction``), or the prompts of any other format's records (see :func:`to_examples`)."""
    check_format(format, key)
    table = _Table(rows, columns or {}, origin, key)
    if not table.rows:
        return []
    name = table.format(format)
    if name != "prompts":
        return list(dict.fromkeys(example.prompt for example in _examples(table, name, split)))
    prompts = []
    for where, row in table.rows:
        column = "prompt" if row.get("prompt") is not None else "instruction"
        prompts.append(check_prompt(row[column], where, table.names[column]))
    return list(dict.fromkeys(prompts))
