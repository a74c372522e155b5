"""Data selectors: which preference pairs of the pool a run trains on (METHODS.md, "Data selectors").

A selector keeps a share of the pool before anything is tokenised, so every objective can be trained
on every selector's subset and the leaderboard can show the (objective x selector) grid at an equal
data budget. The margin-based selectors need numbers this package cannot compute on its own: the
explicit score r* of each response (the gym's gold reward, or a user file's ``score``) and the
length-normalised log-prob LN(pi, y) of each response under the model about to be trained. They are
handed in as [N, 2] arrays (chosen first), or as callables that produce them, so a selector that does
not need one never pays for it and this module never imports the gym or the models
(``tests/test_layout.py``).

Rules every selector follows, so a selection is reproducible and can be audited:

- ``k = max(1, ceil(ratio * N))`` rows are kept, the product rounded to 9 decimals first so that a
  float such as 0.28 * 25 = 7.000000000000001 keeps 7 rows, not 8;
- rows are ranked by score, higher first; equal scores keep the smaller row id first (string order),
  then the earlier row, so the kept set does not depend on floating-point noise or dict order;
- the kept examples come back in the pool's original order;
- ``random`` is seeded by the ``seed`` passed to :meth:`Selector.select` (the job's seed).

Spec strings name a selector and its parameters: ``all``, ``random:ratio=0.3``,
``alignment_potential:ratio=0.4,w=1``; :attr:`Selector.spec` writes the canonical form (every
parameter, defaults included), which is what the leaderboard's selector column shows.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from bench.data.records import Example
from bench.data.tokenize import encode_responses
from bench.errors import ConfigError, DataError, PlanError, closest
from bench.fingerprint import fingerprint
from bench.registry import Registry

DEFAULT_RATIO = 0.4
DEFAULT_WEIGHT = 1.0
"""METHODS.md's defaults for alignment_potential (ratio 0.4, w 1), used by every ratio selector."""
RATIO_DECIMALS = 9
"""``ratio * N`` is rounded to this many decimals before the ceiling (see the module docstring)."""

PairScores = np.ndarray | Callable[[], np.ndarray]
"""Per-response numbers [N, 2] (chosen, rejected) for the pool's rows, or a callable returning them."""
SequenceScorer = Callable[[list[str], list[list[str]], int, int], np.ndarray]
"""``(prompts, responses[p][j], max_prompt_tokens, max_response_tokens) -> summed log-probs [P, k]``:
the signature of ``functools.partial(bench.models.scoring.sequence_logps, model, tokenizer)``."""


# ---- numbers a selector ranks by --------------------------------------------------------------------

def z_scores(values: np.ndarray) -> np.ndarray:
    """(x - mean) / std over the pool, with the population std (ddof 0), as in the z-score's definition.

    A pool with no spread has every z equal to 0 (no row stands out), rather than a division by zero;
    "no spread" is tested exactly (max == min), since a mean of equal floats need not equal them.
    """
    values = np.asarray(values, dtype=np.float64)
    if values.size == 0 or values.max() == values.min():
        return np.zeros_like(values)
    return (values - values.mean()) / values.std()


def kept_count(ratio: float, pool_size: int) -> int:
    """How many rows a ratio keeps: ``max(1, ceil(ratio * N))`` (``ratio * N`` rounded to 9 decimals).

    The ceiling keeps at least the asked share; the rounding stops a float product that overshoots
    an integer (0.28 * 25 = 7.000000000000001) from keeping one row more than asked.
    """
    return min(pool_size, max(1, math.ceil(round(ratio * pool_size, RATIO_DECIMALS))))


def top_positions(scores: np.ndarray, ids: Sequence[str], k: int) -> np.ndarray:
    """Positions of the ``k`` highest scores, ties broken by smaller id then earlier row; sorted ascending."""
    order = sorted(range(len(ids)), key=lambda i: (-float(scores[i]), ids[i], i))
    return np.sort(np.asarray(order[:k], dtype=np.int64))


# ---- inputs: explicit scores and implicit log-probs -------------------------------------------------

def _require_pairs(pool: Sequence[Example], who: str) -> None:
    for ex in pool:
        if ex.kind != "pairs" or ex.n != 2:
            raise PlanError(f"{who} needs pairs rows (chosen first); row {ex.id} is {ex.kind} with {ex.n} "
                            f"response(s); use selector=all or a pairs dataset")


def explicit_scores_from_responses(pool: Sequence[Example]) -> np.ndarray:
    """r* per response [N, 2] from each response's ``score`` field (user data with scored responses)."""
    _require_pairs(pool, "explicit scores")
    for ex in pool:
        for j, response in enumerate(ex.responses):
            if response.score is None:
                raise DataError(f"row {ex.id}: response {j} has no score; explicit_margin and alignment_potential "
                                f"need a score on every response (or pick selector=random or implicit_margin)")
    return np.array([[r.score for r in ex.responses] for ex in pool], dtype=np.float64)


def explicit_scores_from_meta(pool: Sequence[Example], key: str = "gold") -> np.ndarray:
    """r* per response [N, 2] from ``meta[key]`` (the gym stores each response's gold reward as ``gold``)."""
    _require_pairs(pool, "explicit scores")
    rows = []
    for ex in pool:
        values = ex.meta.get(key)
        if not isinstance(values, (list, tuple)) or len(values) != 2:
            raise DataError(f"row {ex.id}: meta[{key!r}] must hold one number per response (2), got {values!r}")
        rows.append([float(v) for v in values])
    return np.array(rows, dtype=np.float64)


def length_normalised_logps(pool: Sequence[Example], tokenizer, score_sequences: SequenceScorer,
                            max_prompt_tokens: int, max_response_tokens: int) -> np.ndarray:
    """LN(pi, y) = log pi(y|x) / |y| per response [N, 2], in the training layout.

    ``score_sequences`` sums response log-probs under the model (pass
    ``functools.partial(bench.models.scoring.sequence_logps, model, tokenizer)``; this package may not
    import the models). |y| counts the response tokens exactly as training tokenises them (truncated to
    ``max_response_tokens``, its end-of-turn token included when it fits), so the implicit margin is the one
    SimPO's LN would see.
    """
    _require_pairs(pool, "implicit log-probs")
    prompts = [ex.prompt for ex in pool]
    responses = [[r.text for r in ex.responses] for ex in pool]
    sums = np.asarray(score_sequences(prompts, responses, max_prompt_tokens, max_response_tokens), dtype=np.float64)
    encoded = encode_responses(tokenizer, [ex.prompt for ex in pool for _ in ex.responses],
                               [text for group in responses for text in group], max_response_tokens)
    lengths = np.array([len(ids) for ids in encoded], dtype=np.float64).reshape(len(pool), 2)
    if sums.shape != lengths.shape:
        raise DataError(f"the sequence scorer returned shape {sums.shape} for {len(pool)} pairs; expected "
                        f"{lengths.shape}")
    return sums / lengths


def _resolve(source: PairScores | None, pool: Sequence[Example], what: str, where: str) -> np.ndarray:
    if source is None:
        raise PlanError(f"{where} needs {what} per response and the run supplied none")
    values = np.asarray(source() if callable(source) else source, dtype=np.float64)
    if values.shape != (len(pool), 2):
        raise DataError(f"{where}: {what} have shape {values.shape}; expected ({len(pool)}, 2), one per "
                        f"(chosen, rejected) response of each pool row")
    bad = np.flatnonzero(~np.isfinite(values).all(axis=1))
    if bad.size:
        raise DataError(f"{where}: row {pool[bad[0]].id} has non-finite {what} {values[bad[0]].tolist()}; "
                        f"fix or drop the row")
    return values


def _format(value: float) -> str:
    """A parameter as the spec writes it: 1.0 as ``1``, other floats by repr (exact, round-trips)."""
    return str(int(value)) if float(value).is_integer() else repr(float(value))


# ---- selectors --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Selection:
    """The kept examples (pool order) and what provenance records about how they were chosen."""

    examples: list[Example]
    spec: str
    fingerprint: str
    """Identity of the selector: name, parameters and (for ``random``) the seed."""
    pool_size: int
    kept_ids: tuple[str, ...]
    kept_scores: tuple[float, ...] | None
    """The ranking score of each kept row (aligned with ``kept_ids``); None when nothing was ranked."""
    score_name: str | None

    def record(self, with_rows: bool = True) -> dict[str, Any]:
        """JSON-able provenance; ``with_rows`` adds the kept ids and scores (large for a large pool)."""
        record: dict[str, Any] = {"selector": self.spec, "fingerprint": self.fingerprint,
                                  "pool_size": self.pool_size, "kept": len(self.kept_ids),
                                  "kept_rows_fingerprint": fingerprint(list(self.kept_ids)),
                                  "score": self.score_name}
        if with_rows:
            record["ids"] = list(self.kept_ids)
            record["scores"] = None if self.kept_scores is None else list(self.kept_scores)
        return record


@dataclass(frozen=True)
class Selector:
    """One way of choosing pairs from the pool; subclasses declare what they need and how they rank."""

    name: ClassVar[str] = ""
    needs_explicit: ClassVar[bool] = False
    needs_implicit: ClassVar[bool] = False
    uses_seed: ClassVar[bool] = False
    score_name: ClassVar[str | None] = None
    """What the ranking score is, written into the selection record."""

    def parameters(self) -> dict[str, float]:
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}

    @property
    def spec(self) -> str:
        """Canonical spec string, every parameter included: ``alignment_potential:ratio=0.4,w=1``."""
        params = ",".join(f"{key}={_format(value)}" for key, value in self.parameters().items())
        return f"{self.name}:{params}" if params else self.name

    def identity(self) -> dict[str, Any]:
        return {"name": self.name, "parameters": self.parameters()}

    def fingerprint(self, seed: int = 0) -> str:
        """What fixes the selection given the pool and its scores: name, parameters, and the seed if used.

        Equal to :attr:`Selection.fingerprint`, but available without selecting, so a job's content key
        does not have to pay for a model pass (implicit margins) just to be computed.
        """
        return fingerprint({**self.identity(), "seed": seed if self.uses_seed else None})

    def validate(self, where: str) -> None:
        """Raise a ConfigError for an out-of-range parameter; ``where`` names the config key."""

    def keep_count(self, pool_size: int) -> int:
        """How many of the ranked rows are kept."""
        return pool_size

    def scores(self, explicit: np.ndarray | None, implicit: np.ndarray | None, size: int,
               seed: int) -> np.ndarray | None:
        """Ranking score per row (higher is kept first), or None to keep every row."""
        raise NotImplementedError

    def select(self, pool: Sequence[Example], explicit: PairScores | None = None,
               implicit: PairScores | None = None, seed: int = 0) -> Selection:
        """Keep a subset of ``pool``; ``explicit`` is r* [N, 2], ``implicit`` LN(pi, y) [N, 2] (or callables).

        Only the inputs the selector declares (``needs_explicit``, ``needs_implicit``) are read, and a
        callable is called only then, so ``all`` and ``random`` never cost a model pass.
        """
        where = f"selector={self.spec}"
        if not pool:
            raise DataError(f"{where}: the training pool is empty; check data.path or the gym's splits")
        if self.needs_explicit or self.needs_implicit:
            _require_pairs(pool, where)
        ex = _resolve(explicit, pool, "explicit scores r*", where) if self.needs_explicit else None
        im = _resolve(implicit, pool, "implicit LN log-probs", where) if self.needs_implicit else None
        ranking = self.scores(ex, im, len(pool), seed)
        if ranking is None:
            positions = np.arange(len(pool))
            kept_scores = None
        else:
            positions = top_positions(ranking, [e.id for e in pool], self.keep_count(len(pool)))
            kept_scores = tuple(float(ranking[i]) for i in positions)
        return Selection(examples=[pool[i] for i in positions], spec=self.spec, fingerprint=self.fingerprint(seed),
                         pool_size=len(pool), kept_ids=tuple(pool[i].id for i in positions),
                         kept_scores=kept_scores, score_name=self.score_name if ranking is not None else None)


SELECTORS: Registry[type[Selector]] = Registry("selector")


def register_selector(name: str) -> Callable[[type[Selector]], type[Selector]]:
    """Class decorator: make ``cls`` a frozen dataclass and register it as ``name``."""

    def decorate(cls: type[Selector]) -> type[Selector]:
        cls = dataclass(frozen=True)(cls)
        cls.name = name
        return SELECTORS.register(name)(cls)

    return decorate


@register_selector("all")
class AllSelector(Selector):
    """Every row: the baseline every other selector's budget is a share of."""

    def scores(self, explicit, implicit, size, seed):
        return None


@dataclass(frozen=True)
class RatioSelector(Selector):
    """A selector that keeps the top ``ratio`` of the pool by its own score."""

    ratio: float = DEFAULT_RATIO

    def keep_count(self, pool_size: int) -> int:
        return kept_count(self.ratio, pool_size)

    def validate(self, where: str) -> None:
        if not 0 < self.ratio <= 1:
            raise ConfigError(f"{where}: ratio={self.ratio} must be in (0, 1] (the share of the pool kept)")


@register_selector("random")
class RandomSelector(RatioSelector):
    """A uniformly random share of the pool, seeded: the control every margin selector must beat."""

    uses_seed: ClassVar[bool] = True
    score_name: ClassVar[str | None] = "uniform random key"

    def scores(self, explicit, implicit, size, seed):
        return np.random.default_rng(seed).random(size)


@register_selector("explicit_margin")
class ExplicitMarginSelector(RatioSelector):
    """The pairs whose responses r* separates most: largest |r*(y_w) - r*(y_l)|."""

    needs_explicit: ClassVar[bool] = True
    score_name: ClassVar[str | None] = "|r*(y_w) - r*(y_l)|"

    def scores(self, explicit, implicit, size, seed):
        return np.abs(explicit[:, 0] - explicit[:, 1])


@register_selector("implicit_margin")
class ImplicitMarginSelector(RatioSelector):
    """The pairs the model cannot yet tell apart: smallest |LN(pi, y_w) - LN(pi, y_l)|."""

    needs_implicit: ClassVar[bool] = True
    score_name: ClassVar[str | None] = "-|LN(pi,y_w) - LN(pi,y_l)|"

    def scores(self, explicit, implicit, size, seed):
        return -np.abs(implicit[:, 0] - implicit[:, 1])


@register_selector("alignment_potential")
class AlignmentPotentialSelector(RatioSelector):
    """Huang et al. 2025 (arXiv 2503.01864): pairs r* separates well that the model does not yet separate.

    score = z(m_ex) - w z(|m_im|), m_ex = r*(y_w) - r*(y_l) (signed: a mislabelled pair scores low),
    m_im = LN(pi, y_w) - LN(pi, y_l), z-scores over the pool (:func:`z_scores`).
    """

    w: float = DEFAULT_WEIGHT
    needs_explicit: ClassVar[bool] = True
    needs_implicit: ClassVar[bool] = True
    score_name: ClassVar[str | None] = "z(m_ex) - w z(|m_im|)"

    def validate(self, where: str) -> None:
        super().validate(where)
        if not (self.w >= 0 and math.isfinite(self.w)):
            raise ConfigError(f"{where}: w={self.w} must be finite and >= 0 (the weight of the implicit margin)")

    def scores(self, explicit, implicit, size, seed):
        explicit_margin = explicit[:, 0] - explicit[:, 1]
        implicit_margin = np.abs(implicit[:, 0] - implicit[:, 1])
        return z_scores(explicit_margin) - self.w * z_scores(implicit_margin)


# ---- building from a spec or from config ------------------------------------------------------------

def _number(value: Any, key: str, where: str) -> float:
    if isinstance(value, bool):
        raise ConfigError(f"{where}: {key}={value!r} is not a number")
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{where}: {key}={value!r} is not a number") from None


def build_selector(name: str, parameters: Mapping[str, Any] | None = None, where: str | None = None) -> Selector:
    """Instantiate the selector ``name`` with ``parameters`` (numbers or numeric strings) and validate it.

    ``where`` names the configuration key in errors (default ``selectors.NAME``).
    """
    where = where or f"selectors.{name}"
    if name not in SELECTORS:
        raise ConfigError(f"{where}: unknown selector {name!r}{closest(name, SELECTORS.names())}; "
                          f"valid: {', '.join(SELECTORS.names())}")
    cls = SELECTORS.get(name)
    fields = [f.name for f in dataclasses.fields(cls)]
    values = {}
    for key, value in (parameters or {}).items():
        if key not in fields:
            valid = f"valid: {', '.join(fields)}" if fields else f"{name} takes none"
            raise ConfigError(f"{where}: {key!r} is not a parameter of {name}{closest(key, fields)}; {valid}")
        values[key] = _number(value, key, where)
    selector = cls(**values)
    selector.validate(where)
    return selector


def parse_selector(spec: str) -> Selector:
    """Parse ``NAME`` or ``NAME:KEY=VALUE[,KEY=VALUE...]`` (e.g. ``random:ratio=0.3``) into a Selector."""
    where = f"selector={spec}"
    name, _, rest = spec.strip().partition(":")
    parameters: dict[str, str] = {}
    for item in filter(None, (part.strip() for part in rest.split(","))):
        key, equals, value = (part.strip() for part in item.partition("="))
        if not equals or not key or not value:
            raise ConfigError(f"{where}: {item!r} is not KEY=VALUE; write e.g. random:ratio=0.4 or "
                              f"alignment_potential:ratio=0.4,w=1")
        if key in parameters:
            raise ConfigError(f"{where}: {key} is given twice; give it once")
        parameters[key] = value
    if not name.strip():
        raise ConfigError(f"{where}: no selector name; valid: {', '.join(SELECTORS.names())}")
    return build_selector(name.strip(), parameters, where=where)


__all__ = [
    "DEFAULT_RATIO", "DEFAULT_WEIGHT", "SELECTORS", "AlignmentPotentialSelector", "AllSelector",
    "ExplicitMarginSelector", "ImplicitMarginSelector", "PairScores", "RandomSelector", "RatioSelector",
    "Selection", "Selector", "SequenceScorer", "build_selector", "explicit_scores_from_meta",
    "explicit_scores_from_responses", "kept_count", "length_normalised_logps", "parse_selector",
    "register_selector", "top_positions", "z_scores",
]
