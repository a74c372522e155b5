"""The gym language: vocabulary, prompts and splits, and the shape of the supervised corpus."""

from __future__ import annotations

import numpy as np
import pytest

from bench.errors import ConfigError, DataError
from bench.gym.language import (
    ADJECTIVES,
    CONNECTORS,
    FILLERS,
    INTENSIFIERS,
    ITEMS,
    MARKER,
    NEGATIONS,
    Language,
)
from bench.gym.reward import gold_reward


@pytest.fixture(scope="module")
def language() -> Language:
    return Language()


@pytest.fixture(scope="module")
def samples(language: Language) -> list[tuple[str, str]]:
    rng = np.random.default_rng(123)
    prompts = language.prompts()
    return [(prompts[i], language.sample_response(prompts[i], rng))
            for i in rng.integers(len(prompts), size=5000)]


def test_vocabulary_is_sorted_unique_and_of_the_intended_size(language: Language) -> None:
    vocabulary = language.vocabulary
    assert vocabulary == sorted(set(vocabulary))
    assert 300 <= len(vocabulary) <= 450
    assert all(word and " " not in word for word in vocabulary)


def test_word_classes_do_not_overlap() -> None:
    aspects = {a for aspects in ITEMS.values() for a in aspects}
    filler_words = {w for f in FILLERS for w in f.split()}
    classes = {"items": set(ITEMS), "aspects": aspects, "adjectives": set(ADJECTIVES),
               "intensifiers": set(INTENSIFIERS), "negations": set(NEGATIONS), "marker": {MARKER},
               "connectors": set(CONNECTORS), "fillers": filler_words}
    names = list(classes)
    for i, first in enumerate(names):
        for second in names[i + 1:]:
            assert not classes[first] & classes[second], (first, second, classes[first] & classes[second])


def test_every_item_has_three_to_five_aspects_and_both_valences_are_balanced() -> None:
    assert 30 <= len(ITEMS) <= 50
    assert all(3 <= len(aspects) <= 5 for aspects in ITEMS.values())
    valences = list(ADJECTIVES.values())
    assert set(valences) == {-2, -1, 1, 2}
    assert sum(v > 0 for v in valences) >= 30 and sum(v < 0 for v in valences) >= 30


def test_vocabulary_covers_every_token_the_generators_emit(language: Language,
                                                          samples: list[tuple[str, str]]) -> None:
    vocabulary = set(language.vocabulary)
    emitted = {w for _, response in samples for w in response.split()}
    emitted |= {w for prompt in language.prompts() for w in prompt.split()}
    assert emitted <= vocabulary, sorted(emitted - vocabulary)


def test_prompts_are_distinct_and_plentiful(language: Language) -> None:
    prompts = language.prompts()
    assert len(prompts) == len(set(prompts))
    assert len(prompts) >= 600
    assert prompts == language.prompts()  # a fixed order


def test_item_and_aspect_of_every_prompt(language: Language) -> None:
    for prompt in language.prompts():
        item = language.item_of(prompt)
        assert item in prompt.split()
        aspect = language.aspect_of(prompt)
        assert aspect is None or (aspect in ITEMS[item] and aspect in prompt.split())
    assert language.item_of("how is the crust of the pizza today ?") == "pizza"  # not a listed prompt
    with pytest.raises(DataError, match="names no gym item"):
        language.item_of("what is the weather ?")


def test_prompt_splits_are_disjoint_and_deterministic(language: Language) -> None:
    splits = language.split_prompts(seed=3, n_train=400, n_val=100, n_test=200)
    assert [len(splits[k]) for k in ("train", "val", "test")] == [400, 100, 200]
    train, val, test = (set(splits[k]) for k in ("train", "val", "test"))
    assert not (train & val or train & test or val & test)
    assert (train | val | test) <= set(language.prompts())
    assert language.split_prompts(seed=3, n_train=400, n_val=100, n_test=200) == splits
    assert language.split_prompts(seed=4, n_train=400, n_val=100, n_test=200)["test"] != splits["test"]


def test_asking_for_too_many_prompts_is_a_clear_error(language: Language) -> None:
    total = len(language.prompts())
    with pytest.raises(ConfigError, match=f"only {total} distinct prompts"):
        language.split_prompts(seed=0, n_train=total, n_val=1, n_test=0)
    with pytest.raises(ConfigError, match="n_val"):
        language.split_prompts(seed=0, n_train=1, n_val=-1, n_test=0)


def test_responses_are_well_formed(samples: list[tuple[str, str]]) -> None:
    for _, response in samples:
        tokens = response.split(" ")
        assert "" not in tokens, response  # single spaces, no leading or trailing space
        assert response.endswith(" .")
        assert 4 <= len(tokens) <= 40, response


def test_responses_are_mostly_about_the_prompts_item(language: Language,
                                                     samples: list[tuple[str, str]]) -> None:
    on_topic = 0
    for prompt, response in samples:
        item = language.item_of(prompt)
        words = set(response.split())
        on_topic += item in words or bool(words & set(ITEMS[item])) or "it" in words
    assert on_topic / len(samples) > 0.9


def test_responses_have_mixed_sentiment(samples: list[tuple[str, str]]) -> None:
    rewards = np.array([gold_reward(p, r) for p, r in samples])
    assert 0.3 < np.mean(rewards > 0) < 0.7
    assert 0.3 < np.mean(rewards < 0) < 0.7
    assert abs(rewards.mean()) < 0.2
    # Some responses mix both signs inside them ("good ... but ... bad").
    mixed = sum(any(ADJECTIVES.get(w, 0) > 0 for w in r.split()) and any(ADJECTIVES.get(w, 0) < 0
                for w in r.split()) for _, r in samples)
    assert mixed / len(samples) > 0.1


def test_feature_rates_in_the_corpus(samples: list[tuple[str, str]]) -> None:
    def rate(words: set[str]) -> float:
        return float(np.mean([bool(words & set(r.split())) for _, r in samples]))

    assert 0.10 <= rate({MARKER}) <= 0.20
    assert 0.1 <= rate(set(NEGATIONS)) <= 0.6
    assert 0.2 <= rate(set(INTENSIFIERS)) <= 0.8
    with_filler = np.mean([any(f" {f} " in f" {r} " for f in FILLERS) for _, r in samples])
    assert 0.1 <= with_filler <= 0.6
    clause_counts = [1 + sum(w in ("and", "but", ",") for w in r.split()) for _, r in samples]
    assert min(clause_counts) == 1 and max(clause_counts) >= 4


def test_corpus_is_deterministic_per_seed(language: Language) -> None:
    prompts = language.prompts()[:20]
    first = language.corpus(prompts, 3, seed=5)
    assert len(first) == 60
    assert [p for p, _ in first] == [p for p in prompts for _ in range(3)]
    assert language.corpus(prompts, 3, seed=5) == first
    assert language.corpus(prompts, 3, seed=6) != first


def test_response_groups_have_k_responses(language: Language) -> None:
    groups = language.response_groups(language.prompts()[:10], k=4, seed=0)
    assert [p for p, _ in groups] == language.prompts()[:10]
    assert all(len(responses) == 4 for _, responses in groups)
