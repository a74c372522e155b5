"""The outcome model g(X) of doubly-robust and direct-method objectives: ridge regression on word n-grams.

DR-CPO needs a prediction of the outcome of any text, the training texts and the reference samples
alike. A deliberately simple, deterministic model does: the response's word uni- and bigram
frequencies (counts over its length: a mean-per-unit reward like the gym's is linear in them; raw
counts fitted worse, held-out R^2 0.29 against 0.35 on the default gym, and adding the prompt's words
lowered it), and the response length and its square, fitted by ridge regression with
the penalty chosen by efficient leave-one-out cross-validation (scikit-learn's ``RidgeCV``). It is fitted
once per (training data, texts to predict, settings) and its predictions are cached as safetensors
beside a JSON manifest; no fitted estimator is stored (nothing to unpickle).

How good g is matters for the reading of DR-CPO's results, so the manifest and the run log report its
held-out R^2: the model is fitted on the rows of a seeded 80% of the prompts (all responses of a
prompt on one side) and scored on the rest; the predictions used for training then come from a refit
on every row, with the penalty chosen again by cross-validation on all of them.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import scipy.sparse as sp
from safetensors.numpy import load_file, save_file
from sklearn.feature_extraction.text import CountVectorizer
from sklearn.linear_model import RidgeCV
from sklearn.metrics import r2_score

from bench import atomic
from bench.cached import cached_directory
from bench.errors import DataError
from bench.fingerprint import fingerprint

OUTCOME_MODEL_VERSION = "1"
"""Bump when the features or the fitting change: it is part of the cache key."""
LENGTH_SCALE = 10.0
"""Response lengths enter as |y| / 10 and its square, so their coefficients are on the n-grams' scale."""

Texts = Sequence[tuple[str, str]]
"""(prompt, response) pairs."""


@dataclass(frozen=True)
class OutcomeModelSettings:
    """Features and fitting of the outcome model; part of its cache key."""

    ngram_max: int = 2
    """Longest response word n-gram."""
    min_count: int = 2
    """Response n-grams in fewer training texts than this are dropped (fewer, better-estimated features)."""
    alphas: tuple[float, ...] = (0.01, 0.1, 1.0, 10.0, 100.0, 1000.0)
    """Ridge penalties that cross-validation chooses from."""
    heldout_share: float = 0.2
    """Share of prompts held out to report R^2."""
    seed: int = 0


@dataclass
class OutcomeModelFit:
    """Predictions of a fitted outcome model and how well it fits."""

    train_predictions: np.ndarray
    """g(X) of every training text, from the refit on all of them."""
    predictions: np.ndarray
    """g(X) of the texts the caller asked about (the reference samples)."""
    summary: dict = field(default_factory=dict)
    """alpha, heldout_r2, train_r2, features, rows, seconds, key: what the manifest and the run log show."""
    cached: bool = False


def _features(responses: Sequence[str], settings: OutcomeModelSettings, vocabulary: CountVectorizer | None = None):
    """Sparse design matrix; fits the n-gram vocabulary on these texts unless ``vocabulary`` is given."""
    if vocabulary is None:
        vocabulary = CountVectorizer(token_pattern=r"\S+", ngram_range=(1, settings.ngram_max),
                                     min_df=settings.min_count, lowercase=True)
        counts = vocabulary.fit_transform(responses)
    else:
        counts = vocabulary.transform(responses)
    words = np.array([len(r.split()) for r in responses], dtype=float)
    frequencies = sp.diags(1.0 / np.maximum(words, 1.0)) @ counts
    length = words[:, None] / LENGTH_SCALE
    return sp.hstack([frequencies, sp.csr_matrix(np.hstack([length, length ** 2]))]).tocsr(), vocabulary


def _fit(responses: Sequence[str], outcomes: np.ndarray, settings: OutcomeModelSettings):
    design, vocabulary = _features(responses, settings)
    return RidgeCV(alphas=settings.alphas).fit(design, outcomes), vocabulary


def _predict(model, vocabulary: CountVectorizer, responses: Sequence[str], settings) -> np.ndarray:
    design, _ = _features(responses, settings, vocabulary)
    return np.asarray(model.predict(design), dtype=np.float64)


def heldout_split(prompts: Sequence[str], share: float, seed: int) -> np.ndarray:
    """Boolean mask of the rows whose prompt is among a seeded ``share`` of the distinct prompts."""
    distinct = list(dict.fromkeys(prompts))
    order = np.random.default_rng(seed).permutation(len(distinct))
    held = {distinct[i] for i in order[:max(1, round(share * len(distinct)))]}
    return np.array([p in held for p in prompts])


def fit_outcome_model(train: Texts, outcomes: Sequence[float], predict: Texts,
                      settings: OutcomeModelSettings = OutcomeModelSettings()) -> OutcomeModelFit:
    """Fit g on (``train``, ``outcomes``), report its held-out R^2, and predict ``train`` and ``predict``."""
    y = np.asarray(outcomes, dtype=np.float64)
    if len(train) != len(y) or len(train) < 2:
        raise DataError(f"outcome model: {len(train)} training texts and {len(y)} outcomes; it needs at least two "
                        "texts, each with one outcome")
    if not np.isfinite(y).all():
        raise DataError("outcome model: the training outcomes contain a non-finite value; fix or drop those rows")
    started = time.perf_counter()
    prompts, responses = [p for p, _ in train], [r for _, r in train]
    held = heldout_split(prompts, settings.heldout_share, settings.seed)
    if held.all() or not held.any():
        raise DataError(f"outcome model: {len(set(prompts))} distinct prompt(s) cannot be split into fitting and "
                        "held-out prompts; it needs at least two")
    fitting = ~held
    model, vocabulary = _fit([responses[i] for i in np.flatnonzero(fitting)], y[fitting], settings)
    heldout = _predict(model, vocabulary, [responses[i] for i in np.flatnonzero(held)], settings)
    heldout_r2 = float(r2_score(y[held], heldout))
    model, vocabulary = _fit(responses, y, settings)
    train_predictions = _predict(model, vocabulary, responses, settings)
    predictions = _predict(model, vocabulary, [r for _, r in predict], settings) if len(predict) else np.zeros(0)
    summary = {"alpha": float(model.alpha_), "heldout_r2": heldout_r2,
               "train_r2": float(r2_score(y, train_predictions)), "features": int(model.coef_.shape[0]),
               "rows": len(y), "heldout_rows": int(held.sum()), "predicted": len(predict),
               "seconds": round(time.perf_counter() - started, 3)}
    return OutcomeModelFit(train_predictions, predictions, summary)


def cached_outcome_model(cache: Path, train: Texts, outcomes: Sequence[float], predict: Texts,
                         settings: OutcomeModelSettings = OutcomeModelSettings()) -> OutcomeModelFit:
    """:func:`fit_outcome_model`, cached under ``cache/outcome-model/<key>`` by content and settings."""
    key = fingerprint({"version": OUTCOME_MODEL_VERSION, "settings": asdict(settings), "train": list(train),
                       "outcomes": [float(y) for y in outcomes], "predict": list(predict)})
    path = Path(cache) / "outcome-model" / key
    fitted: list[OutcomeModelFit] = []

    def build(tmp: Path) -> None:
        fit = fit_outcome_model(train, outcomes, predict, settings)
        fit.summary["key"] = key
        save_file({"train": fit.train_predictions, "predict": fit.predictions}, tmp / "predictions.safetensors")
        atomic.write_json(tmp / "manifest.json", {"key": key, "version": OUTCOME_MODEL_VERSION,
                                                  "settings": asdict(settings), "summary": fit.summary})
        fitted.append(fit)

    if cached_directory(path, build, "the outcome model"):
        return fitted[0]
    arrays = load_file(path / "predictions.safetensors")
    summary = json.loads((path / "manifest.json").read_text())["summary"]
    return OutcomeModelFit(arrays["train"], arrays["predict"], summary, cached=True)
