"""The records every data source produces and every consumer reads.

A dataset is a list of :class:`Example`: one prompt with n responses. The data kind fixes what n and
the response fields mean (see :mod:`bench.methods.base`): pairs (n = 2, index 0 chosen), k-wise
(n = k, each with a score), unpaired (n = 1 with a desirability label), outcomes (n = 1 with a numeric
outcome) and demonstrations (n = 1, for supervised fine-tuning). Records are plain frozen dataclasses
so they hash, compare and serialise to JSONL without surprises.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from bench.atomic import write_text
from bench.errors import DataError
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
    """A prompt with n responses of one data kind."""

    id: str
    prompt: str
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
    if not example.prompt.strip():
        raise DataError(f"{where}: empty prompt; remove the row or fill it in")
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
    """The JSONL form of an example (None fields dropped)."""
    row = asdict(example)
    row["responses"] = [{k: v for k, v in r.items() if v is not None} for r in row["responses"]]
    return row


def from_json(row: dict[str, Any], where: str) -> Example:
    """Parse and validate one JSONL row; ``where`` names it in errors (file:line)."""
    try:
        responses = tuple(Response(**r) for r in row["responses"])
        example = Example(id=str(row["id"]), prompt=row["prompt"], responses=responses,
                          kind=row["kind"], meta=row.get("meta", {}))
    except (KeyError, TypeError) as exc:
        raise DataError(f"{where}: malformed row ({exc}); expected keys id, prompt, kind, "
                        f"responses[text, score?, label?, outcome?]") from exc
    return validate(example, where)


def save_jsonl(path: Path, examples: Iterable[Example]) -> None:
    """Write examples as JSONL, atomically."""
    write_text(Path(path), "".join(json.dumps(to_json(e), sort_keys=True) + "\n" for e in examples))


def load_jsonl(path: Path) -> list[Example]:
    """Read and validate a JSONL file written by :func:`save_jsonl` (or by hand in that format)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"data file {path} does not exist; check data.path")
    examples = []
    with open(path) as handle:
        for line_no, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DataError(f"{path}:{line_no}: not valid JSON ({exc.msg}); fix or delete the line") from exc
            examples.append(from_json(row, f"{path}:{line_no}"))
    return examples


def has_scores(examples: Iterable[Example]) -> bool:
    """Whether every response of ``examples`` carries an explicit score (what reward-aware objectives read)."""
    return all(r.score is not None for ex in examples for r in ex.responses)


def dataset_fingerprint(examples: Iterable[Example]) -> str:
    """Content fingerprint of a dataset (order matters: it fixes the reference cache's row index)."""
    return fingerprint([to_json(e) for e in examples])
