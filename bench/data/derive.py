"""Conversions between data kinds, so one preference dataset feeds every objective.

KTO consumes unpaired examples derived from pairs; SFT consumes the chosen responses as
demonstrations; pairwise objectives consume k-wise data as (best, worst) pairs. Each conversion is a
documented, deterministic function; anything else is a PlanError before training.
"""

from __future__ import annotations

from dataclasses import replace

from bench.data.records import Example, Response
from bench.errors import PlanError


def _pairs_to_unpaired(examples: list[Example]) -> list[Example]:
    """Each pair becomes two rows: the chosen labelled +1, the rejected -1 (KTO's recipe)."""
    rows = []
    for ex in examples:
        for suffix, response, label in (("w", ex.responses[0], 1), ("l", ex.responses[1], -1)):
            rows.append(Example(id=f"{ex.id}-{suffix}", prompt=ex.prompt, kind="unpaired",
                                responses=(replace(response, label=label),), meta=ex.meta))
    return rows


def _pairs_to_demonstrations(examples: list[Example]) -> list[Example]:
    """The chosen response of each pair, for SFT on preferred data."""
    return [Example(id=ex.id, prompt=ex.prompt, kind="demonstrations",
                    responses=(Response(text=ex.responses[0].text),), meta=ex.meta) for ex in examples]


def _kwise_to_pairs(examples: list[Example]) -> list[Example]:
    """Highest-scored response as chosen, lowest as rejected (ties keep the earlier one first)."""
    rows = []
    for ex in examples:
        order = sorted(range(ex.n), key=lambda i: -(ex.responses[i].score or 0.0))
        rows.append(Example(id=ex.id, prompt=ex.prompt, kind="pairs", meta=ex.meta,
                            responses=(ex.responses[order[0]], ex.responses[order[-1]])))
    return rows


def _pairs_to_kwise(examples: list[Example]) -> list[Example]:
    """Scored pairs are k-wise data with k = 2 (every response must carry a score)."""
    return [replace(ex, kind="kwise") for ex in examples]


_CONVERSIONS = {
    ("pairs", "unpaired"): _pairs_to_unpaired,
    ("pairs", "demonstrations"): _pairs_to_demonstrations,
    ("pairs", "kwise"): _pairs_to_kwise,
    ("kwise", "pairs"): _kwise_to_pairs,
}


def can_derive(source_kind: str, target_kind: str) -> bool:
    """Whether data of ``source_kind`` can feed an objective that needs ``target_kind``."""
    return source_kind == target_kind or (source_kind, target_kind) in _CONVERSIONS


def derive(examples: list[Example], target_kind: str) -> list[Example]:
    """Convert ``examples`` (all of one kind) to ``target_kind``, or raise a PlanError."""
    if not examples:
        return []
    source_kind = examples[0].kind
    if source_kind == target_kind:
        return examples
    if (source_kind, target_kind) not in _CONVERSIONS:
        raise PlanError(f"an objective needs {target_kind!r} data but the dataset holds {source_kind!r} rows "
                        f"and bench cannot derive one from the other; choose a dataset of that kind")
    return _CONVERSIONS[(source_kind, target_kind)](examples)
