"""Judge verdicts remembered by what was compared, so no comparison is ever paid for twice.

A model judge costs real time per comparison (an LLM judge reads both orders of every pair; an API judge
costs money). The win rate, the length-controlled win rate, the position bias and the head-to-head matrix
all ask the same judge about the same pairs, and a warm re-run asks again. :func:`remembering` wraps such a
judge so that every verdict it gives is stored under (judge identity, prompt, responses) in one SQLite
file of the cache, and every later question with the same key is answered from there: evaluators share
the judging, and a finished run judges nothing again.

SQLite is used for what it is good at here: many small keyed rows, written by several worker processes at
once, each transaction atomic. The file is derived data: a damaged one is said and replaced.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from bench.evaluators.base import Judge, PointwiseJudge
from bench.evaluators.judges.interface import OrderedJudge
from bench.fingerprint import fingerprint
from bench.notices import notice

VERDICTS_FILE = "judgements.sqlite"
SQLITE_TIMEOUT_SECONDS = 600.0
"""How long a process waits for another that is writing the file (worker processes judge at once)."""


class VerdictStore:
    """A persistent map (judge, key) -> JSON value in one SQLite file."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    def _connect(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        connection = sqlite3.connect(self.path, timeout=SQLITE_TIMEOUT_SECONDS)
        connection.execute("CREATE TABLE IF NOT EXISTS verdicts (judge TEXT, key TEXT, value TEXT, "
                           "PRIMARY KEY (judge, key))")
        return connection

    def _healthy(self) -> sqlite3.Connection:
        try:
            return self._connect()
        except sqlite3.DatabaseError as damage:
            notice(f"{self.path}: damaged ({damage}); its remembered verdicts are discarded and judged again")
            self.path.unlink(missing_ok=True)
            return self._connect()

    def get(self, judge: str, keys: Sequence[str]) -> dict[str, Any]:
        """The stored values of ``keys`` that exist."""
        found: dict[str, Any] = {}
        with self._healthy() as connection:
            for start in range(0, len(keys), 500):  # SQLite's limit on bound parameters
                chunk = list(keys[start:start + 500])
                rows = connection.execute(f"SELECT key, value FROM verdicts WHERE judge = ? AND key IN "
                                          f"({','.join('?' * len(chunk))})", [judge, *chunk])
                found.update((key, json.loads(value)) for key, value in rows)
        return found

    def put(self, judge: str, values: dict[str, Any]) -> None:
        """Store ``values`` (key -> JSON-able value) in one transaction."""
        with self._healthy() as connection:
            connection.executemany("INSERT OR REPLACE INTO verdicts VALUES (?, ?, ?)",
                                   [(judge, key, json.dumps(value)) for key, value in values.items()])


def _answer(store: VerdictStore, judge: str, keys: list[str], compute: Callable[[list[int]], list[Any]]
            ) -> list[Any]:
    """The value of every key: stored ones read, the others computed (by position) in one call and stored."""
    known = store.get(judge, keys)
    missing = [i for i, key in enumerate(keys) if key not in known]
    if missing:
        computed = compute(missing)
        fresh = {keys[i]: value for i, value in zip(missing, computed, strict=True)}
        store.put(judge, fresh)
        known.update(fresh)
    return [known[key] for key in keys]


class _Remembering:
    """What the three wrappers share: the wrapped judge, its identity, the store, and attribute pass-through."""

    def __init__(self, judge: Judge, store: VerdictStore) -> None:
        self.judge, self.store = judge, store
        self.name, self.measured = judge.name, judge.measured
        self._id = fingerprint(judge.identity())

    def identity(self) -> dict[str, Any]:
        return self.judge.identity()

    def __getattr__(self, attribute: str) -> Any:  # a judge's own attributes (spurious_markers, ...)
        return getattr(self.judge, attribute)


def _keys(kind: str, *columns: Sequence[Any]) -> list[str]:
    return [fingerprint([kind, *row]) for row in zip(*columns, strict=True)]


class RememberingJudge(_Remembering, Judge):
    """A pairwise judge whose preferences are remembered."""

    def preference(self, prompts: Sequence[Any], a: Sequence[str], b: Sequence[str]) -> np.ndarray:
        keys = _keys("preference", prompts, a, b)
        values = _answer(self.store, self._id, keys, lambda rows: [float(v) for v in self.judge.preference(
            [prompts[i] for i in rows], [a[i] for i in rows], [b[i] for i in rows])])
        return np.asarray(values, dtype=np.float64)


class RememberingOrderedJudge(_Remembering, OrderedJudge):
    """An order-aware judge whose two single-order verdicts are remembered (its preference is their mean)."""

    def order_preferences(self, prompts: Sequence[Any], a: Sequence[str], b: Sequence[str]
                          ) -> tuple[np.ndarray, np.ndarray]:
        def compute(rows: list[int]) -> list[list[float]]:
            first, second = self.judge.order_preferences([prompts[i] for i in rows], [a[i] for i in rows],
                                                         [b[i] for i in rows])
            return [[float(x), float(y)] for x, y in zip(first, second, strict=True)]

        values = np.asarray(_answer(self.store, self._id, _keys("orders", prompts, a, b), compute), dtype=np.float64)
        values = values.reshape(len(values), 2)
        return values[:, 0], values[:, 1]


class RememberingPointwiseJudge(_Remembering, PointwiseJudge):
    """A pointwise judge (a reward model) whose scores are remembered per (prompt, response)."""

    def score(self, prompts: Sequence[Any], responses: Sequence[str]) -> np.ndarray:
        keys = _keys("score", prompts, responses)
        values = _answer(self.store, self._id, keys, lambda rows: [float(v) for v in self.judge.score(
            [prompts[i] for i in rows], [responses[i] for i in rows])])
        return np.asarray(values, dtype=np.float64)


def remembering(judge: Judge, store: VerdictStore) -> Judge:
    """``judge`` with its verdicts remembered in ``store``, of the same kind (pointwise, order-aware, pairwise)."""
    if isinstance(judge, PointwiseJudge):
        return RememberingPointwiseJudge(judge, store)
    if isinstance(judge, OrderedJudge):
        return RememberingOrderedJudge(judge, store)
    return RememberingJudge(judge, store)
