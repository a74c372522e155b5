"""The gym's biased annotator: the source of every gym preference label, score and outcome.

Real preference data comes from annotators (people or LLM judges) who agree with the truth only on
average: they prefer longer answers, reward superficial features, are noisy, and their outcomes can be
confounded. The gym's annotator has each of those flaws at a known, configurable strength, so a
benchmark can measure how much of a bias an objective learns (against the gold reward, which has none).

Its deterministic view of a response is the utility

    u(x, y) = r*(x, y) + length_bonus * |y| + marker_bonus * [the marker word is in y]

with |y| the number of whitespace-separated tokens (words and punctuation; the gym tokenizer is
word-level, so this is the length the trainer sees). Labels and scores are noisy draws around it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from bench.errors import ConfigError, DataError
from bench.gym.language import MARKER
from bench.gym.reward import REWARD_VERSION, gold_reward

ANNOTATOR_VERSION = "1"


@dataclass(frozen=True)
class AnnotatorConfig:
    """The annotator's biases and noise. Defaults give a clearly biased but still informative annotator.

    With the defaults a 10-token length difference is worth 0.3 utility and the marker 0.5, against
    gold rewards spread over about [-3, 3] (sd about 1.2 on reference samples): biases strong enough
    that objectives visibly absorb them (length and marker uptake), weak enough that preference
    training still improves the gold reward. Measured on the gym (1 seed, 100 DPO steps at lr 1e-3):
    with temperature 1.0, length_bonus 0.05, marker_bonus 0.75 and label_noise 0.1 the biases and
    noise swamped the gold signal (DPO gold win rate 53% at KL 8); with these defaults it is about 59%.
    """

    temperature: float = 0.5
    """Bradley–Terry scale: P(a preferred) = sigmoid((u_a - u_b) / temperature)."""
    length_bonus: float = 0.03
    """Utility per response token (length bias)."""
    marker_bonus: float = 0.5
    """Utility for containing the marker word (spurious-feature bias)."""
    label_noise: float = 0.05
    """Probability that a pairwise label is flipped after the Bradley–Terry draw."""
    score_noise: float = 0.5
    """Standard deviation of the Gaussian noise on explicit scores."""
    confounder_strength: float = 0.0
    """Weight of the unobserved confounder U in outcomes (0 = no confounding)."""
    confounder_correlation: float = 0.7
    """Correlation of U with the standardised response length."""
    outcome_noise: float = 0.5
    """Standard deviation of the Gaussian noise on outcomes."""

    def __post_init__(self) -> None:
        checks = {
            "temperature": self.temperature > 0,
            "length_bonus": math.isfinite(self.length_bonus),
            "marker_bonus": math.isfinite(self.marker_bonus),
            "label_noise": 0 <= self.label_noise <= 0.5,
            "score_noise": self.score_noise >= 0,
            "confounder_strength": math.isfinite(self.confounder_strength),
            "confounder_correlation": -1 <= self.confounder_correlation <= 1,
            "outcome_noise": self.outcome_noise >= 0,
        }
        rules = {"temperature": "> 0", "label_noise": "in [0, 0.5]", "confounder_correlation": "in [-1, 1]",
                 "score_noise": ">= 0", "outcome_noise": ">= 0"}
        for key, ok in checks.items():
            if not ok:
                raise ConfigError(f"annotator.{key}={getattr(self, key)}: must be {rules.get(key, 'finite')}")


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * x))


class Annotator:
    """Labels, scores and utilities from one :class:`AnnotatorConfig`.

    Randomness comes only from the caller's ``numpy`` generator, so a dataset builder's seed fixes every
    label it draws.
    """

    def __init__(self, config: AnnotatorConfig | None = None) -> None:
        self.config = config or AnnotatorConfig()

    def identity(self) -> dict[str, Any]:
        """What fixes this annotator's verdicts (for judges' and datasets' provenance)."""
        return {"name": "gym-annotator", "version": ANNOTATOR_VERSION, "reward_version": REWARD_VERSION,
                **asdict(self.config)}

    def utility_identity(self) -> dict[str, Any]:
        """What fixes :meth:`utility` alone: the biases, not the label or outcome noise and confounding.

        The proxy judge scores by the utility, so a run that changes only how labels or outcomes are
        drawn keeps its evaluation, and a job trained on unchanged data is reused rather than re-judged.
        """
        return {"name": "gym-annotator-utility", "version": ANNOTATOR_VERSION, "reward_version": REWARD_VERSION,
                "length_bonus": self.config.length_bonus, "marker_bonus": self.config.marker_bonus}

    def utility(self, prompt: str, response: str) -> float:
        """The annotator's deterministic (biased) value of a response; see the module docstring."""
        tokens = str(response).lower().split()
        return (gold_reward(prompt, response) + self.config.length_bonus * len(tokens)
                + self.config.marker_bonus * (MARKER in tokens))

    def utilities(self, prompts: Sequence[str], responses: Sequence[str]) -> np.ndarray:
        """:meth:`utility` over aligned lists."""
        _same_length(prompts, responses)
        return np.array([self.utility(p, r) for p, r in zip(prompts, responses, strict=True)], dtype=float)

    def prefer_first(self, prompt: str, a: str, b: str, rng: np.random.Generator) -> bool:
        """One noisy pairwise label: True when the annotator prefers ``a`` over ``b``."""
        return bool(self.prefer_first_many([prompt], [a], [b], rng)[0])

    def prefer_first_many(self, prompts: Sequence[str], a: Sequence[str], b: Sequence[str],
                          rng: np.random.Generator) -> np.ndarray:
        """Vectorised :meth:`prefer_first`: a Bradley–Terry draw per row, then a flip with ``label_noise``.

        Two uniform draws per row, taken as one [2, n] block, so a seed fixes every label regardless of
        how rows are batched.
        """
        _same_length(prompts, a, b)
        margin = self.utilities(prompts, a) - self.utilities(prompts, b)
        draws = rng.random((2, len(margin)))
        preferred = draws[0] < _sigmoid(margin / self.config.temperature)
        flipped = draws[1] < self.config.label_noise
        return preferred ^ flipped

    def preference_probability(self, prompts: Sequence[str], a: Sequence[str],
                               b: Sequence[str]) -> np.ndarray:
        """P(label says a is preferred) per row, label noise included (for analyses and tests)."""
        _same_length(prompts, a, b)
        p = _sigmoid((self.utilities(prompts, a) - self.utilities(prompts, b)) / self.config.temperature)
        eps = self.config.label_noise
        return (1 - eps) * p + eps * (1 - p)

    def score(self, prompt: str, response: str, rng: np.random.Generator) -> float:
        """One explicit noisy score: utility + N(0, score_noise^2)."""
        return float(self.scores([prompt], [response], rng)[0])

    def scores(self, prompts: Sequence[str], responses: Sequence[str],
               rng: np.random.Generator) -> np.ndarray:
        """Vectorised :meth:`score`."""
        utilities = self.utilities(prompts, responses)
        return utilities + rng.normal(0.0, self.config.score_noise, size=len(utilities))


def _same_length(*columns: Sequence[str]) -> None:
    lengths = {len(c) for c in columns}
    if len(lengths) > 1:
        raise DataError(f"annotator got columns of different lengths {sorted(lengths)}; pass aligned lists")
