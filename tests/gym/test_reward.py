"""The gold reward: sentiment arithmetic, topic rules, blindness to length and the marker, robustness."""

from __future__ import annotations

import math

import numpy as np
import pytest

from bench.gym.judges import GoldJudge
from bench.gym.language import FILLERS, MARKER, Language
from bench.gym.reward import gold_reward

PHONE = "what do you think of the phone ?"


@pytest.fixture(scope="module")
def corpus() -> list[tuple[str, str]]:
    language = Language()
    return language.corpus(language.prompts()[::3], 2, seed=11)


@pytest.mark.parametrize(("response", "expected"), [
    ("the battery is good .", 1.0),
    ("the battery is great .", 2.0),
    ("the battery is bad .", -1.0),
    ("the battery is awful .", -2.0),
])
def test_one_adjective_scores_its_valence(response: str, expected: float) -> None:
    assert gold_reward(PHONE, response) == pytest.approx(expected)


def test_negation_flips_the_sign_of_a_clause() -> None:
    for adjective, valence in (("good", 1), ("great", 2), ("bad", -1), ("terrible", -2)):
        plain = gold_reward(PHONE, f"the screen is {adjective} .")
        assert plain == pytest.approx(valence)
        assert gold_reward(PHONE, f"the screen is not {adjective} .") == pytest.approx(-valence)
        assert gold_reward(PHONE, f"the screen is never {adjective} .") == pytest.approx(-valence)


def test_double_negation_cancels() -> None:
    assert gold_reward(PHONE, "the screen is never not good .") == pytest.approx(1.0)


def test_negation_stops_at_the_clause_boundary() -> None:
    # "not" flips "good" in the first clause only: (-1 + 1) / 2.
    assert gold_reward(PHONE, "the screen is not good and the battery is good .") == pytest.approx(0.0)
    assert gold_reward(PHONE, "the screen is not good , the battery is good .") == pytest.approx(0.0)


@pytest.mark.parametrize(("intensifier", "multiplier"), [
    ("slightly", 0.5), ("somewhat", 0.75), ("quite", 1.25), ("very", 1.5), ("extremely", 2.0),
])
def test_intensifiers_scale_the_next_adjective(intensifier: str, multiplier: float) -> None:
    assert gold_reward(PHONE, f"the screen is {intensifier} good .") == pytest.approx(multiplier)
    assert gold_reward(PHONE, f"the screen is {intensifier} awful .") == pytest.approx(-2 * multiplier)
    assert gold_reward(PHONE, f"the screen is not {intensifier} awful .") == pytest.approx(2 * multiplier)


def test_stacked_intensifiers_multiply_up_to_the_cap() -> None:
    assert gold_reward(PHONE, "the screen is very slightly good .") == pytest.approx(1.5 * 0.5)
    # 2 x 2 = 4 is capped at 2, so the largest possible contribution is 2 x 2 = 4.
    assert gold_reward(PHONE, "the screen is extremely extremely extremely great .") == pytest.approx(4.0)


def test_intensifier_applies_to_one_adjective_only() -> None:
    # "very" is used up by "good"; "nice" in the same clause is unscaled: (1.5 + 1) / 2.
    assert gold_reward(PHONE, "the screen is very good nice .") == pytest.approx(1.25)


def test_reward_is_the_mean_over_sentiment_units() -> None:
    assert gold_reward(PHONE, "the battery is great but the screen is bad .") == pytest.approx((2 - 1) / 2)
    response = "the battery is very good , the screen is awful and the speaker is slightly great ."
    assert gold_reward(PHONE, response) == pytest.approx((1.5 - 2 + 1) / 3)


def test_off_topic_aspects_and_items_count_zero_but_stay_in_the_denominator() -> None:
    assert gold_reward(PHONE, "the crust is great .") == 0.0  # a pizza aspect
    assert gold_reward(PHONE, "the laptop is great .") == 0.0  # another item
    assert gold_reward(PHONE, "the screen of the laptop is great .") == 0.0  # phone aspect, laptop's
    assert gold_reward(PHONE, "the battery is great and the crust is terrible .") == pytest.approx(2 / 2)
    assert gold_reward(PHONE, "the phone is great .") == pytest.approx(2.0)
    assert gold_reward(PHONE, "the screen of the phone is great .") == pytest.approx(2.0)


def test_shared_aspects_are_on_topic_for_each_owner() -> None:
    assert gold_reward("review the laptop .", "the screen is great .") == pytest.approx(2.0)
    assert gold_reward("review the pizza .", "the screen is great .") == 0.0


def test_a_clause_without_a_noun_inherits_the_previous_topic_of_its_sentence() -> None:
    assert gold_reward(PHONE, "it is good .") == pytest.approx(1.0)
    assert gold_reward(PHONE, "the crust is bad and it is great .") == 0.0
    assert gold_reward(PHONE, "the crust is bad . it is great .") == pytest.approx((0 + 2) / 2)
    assert gold_reward(PHONE, "the crust is bad and the screen is good and it is great .") == pytest.approx(
        (0 + 1 + 2) / 3)


def test_no_sentiment_gives_zero() -> None:
    assert gold_reward(PHONE, "the battery of the phone .") == 0.0
    assert gold_reward(PHONE, "") == 0.0


def test_repeating_a_response_leaves_the_reward_unchanged(corpus: list[tuple[str, str]]) -> None:
    for prompt, response in corpus:
        for times in (2, 3):
            repeated = " ".join([response] * times)
            assert gold_reward(prompt, repeated) == pytest.approx(gold_reward(prompt, response))


def test_fillers_leave_the_reward_unchanged(corpus: list[tuple[str, str]]) -> None:
    for i, (prompt, response) in enumerate(corpus):
        filler = FILLERS[i % len(FILLERS)]
        padded = f"{filler} , {response}".replace(" but ", f" but {filler} ")
        assert gold_reward(prompt, padded) == pytest.approx(gold_reward(prompt, response))


def test_the_marker_is_ignored(corpus: list[tuple[str, str]]) -> None:
    for prompt, response in corpus:
        marked = f"{MARKER} , " + response.replace(" is ", f" is {MARKER} ")
        assert gold_reward(prompt, marked) == pytest.approx(gold_reward(prompt, response))


def test_gold_reward_is_bounded_and_finite_on_garbage() -> None:
    language = Language()
    rng = np.random.default_rng(0)
    words = [*language.vocabulary, "<unk>", "</s>", "<|assistant|>", "zzz", "NOT", "Great", "?", "!!"]
    for _ in range(2000):
        tokens = rng.choice(words, size=int(rng.integers(0, 60)))
        value = gold_reward(PHONE, " ".join(tokens))
        assert math.isfinite(value)
        assert -4.0 <= value <= 4.0
    odd_inputs = ("", " ", "\n\t", "very very very", "not", ". . .", "extremely " * 5000 + "great",
                  "\x00 good")
    for odd in odd_inputs:
        assert math.isfinite(gold_reward(PHONE, odd))
    assert math.isfinite(gold_reward("", "the phone is great ."))
    assert gold_reward("no item here", "the phone is great .") == 0.0  # every mention is off-topic


def test_gold_judge_scores_with_the_gold_reward(corpus: list[tuple[str, str]]) -> None:
    judge = GoldJudge()
    prompts = [p for p, _ in corpus[:50]]
    responses = [r for _, r in corpus[:50]]
    expected = np.array([gold_reward(p, r) for p, r in corpus[:50]])
    np.testing.assert_allclose(judge.score(prompts, responses), expected)
    preference = judge.preference([PHONE] * 3, ["it is good .", "it is bad .", "it is good ."],
                                  ["it is bad .", "it is good .", "it is nice ."])
    np.testing.assert_allclose(preference, [1.0, 0.0, 0.5])
    identity = judge.identity()
    assert identity["name"] == "gold"
    assert isinstance(identity["version"], str) and identity["version"]
