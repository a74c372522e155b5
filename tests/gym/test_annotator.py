"""The annotator: its utility, label noise, score noise, configuration checks and the proxy judge."""

from __future__ import annotations

import numpy as np
import pytest

from bench.errors import ConfigError
from bench.gym.annotator import Annotator, AnnotatorConfig
from bench.gym.judges import AnnotatorJudge
from bench.gym.language import MARKER
from bench.gym.reward import gold_reward

PROMPT = "review the phone ."
GOOD = "the screen is extremely excellent ."  # gold +4, 6 tokens
BAD = "the screen is extremely terrible ."  # gold -4, 6 tokens


def binomial_tolerance(p: float, n: int, sds: float = 4.0) -> float:
    return sds * float(np.sqrt(p * (1 - p) / n))


def test_utility_is_gold_plus_length_and_marker_bonuses() -> None:
    annotator = Annotator(AnnotatorConfig(length_bonus=0.1, marker_bonus=0.75))
    plain = "the battery is good but the screen is bad ."
    marked = f"{MARKER} , {plain}"
    assert annotator.utility(PROMPT, plain) == pytest.approx(gold_reward(PROMPT, plain) + 0.1 * 10)
    assert annotator.utility(PROMPT, marked) == pytest.approx(gold_reward(PROMPT, plain) + 0.1 * 12 + 0.75)
    unbiased = Annotator(AnnotatorConfig(length_bonus=0.0, marker_bonus=0.0))
    assert unbiased.utility(PROMPT, marked) == pytest.approx(gold_reward(PROMPT, plain))


def test_defaults_are_the_documented_ones() -> None:
    config = AnnotatorConfig()
    assert (config.temperature, config.length_bonus, config.marker_bonus, config.label_noise,
            config.score_noise, config.confounder_strength, config.confounder_correlation,
            config.outcome_noise) == (0.5, 0.03, 0.5, 0.05, 0.5, 0.0, 0.7, 0.5)


@pytest.mark.parametrize("label_noise", [0.0, 0.1, 0.25])
def test_label_noise_rate_matches_the_configuration(label_noise: float) -> None:
    # Utilities 8 apart at temperature 0.1: the Bradley–Terry draw is certain, so every wrong label is a flip.
    annotator = Annotator(AnnotatorConfig(temperature=0.1, label_noise=label_noise))
    n = 20000
    prefer = annotator.prefer_first_many([PROMPT] * n, [GOOD] * n, [BAD] * n, np.random.default_rng(0))
    flipped = 1.0 - prefer.mean()
    assert abs(flipped - label_noise) <= binomial_tolerance(max(label_noise, 0.01), n)
    if label_noise == 0.0:
        assert flipped == 0.0


def test_bradley_terry_probability_matches_the_sigmoid_of_the_utility_gap() -> None:
    annotator = Annotator(AnnotatorConfig(temperature=2.0, label_noise=0.0, length_bonus=0.0))
    a, b = "the screen is great .", "the screen is good ."  # gap 1 -> sigmoid(1 / 2)
    expected = 1 / (1 + np.exp(-0.5))
    n = 20000
    prefer = annotator.prefer_first_many([PROMPT] * n, [a] * n, [b] * n, np.random.default_rng(1))
    assert abs(prefer.mean() - expected) <= binomial_tolerance(expected, n)
    assert annotator.preference_probability([PROMPT], [a], [b])[0] == pytest.approx(expected)


def test_prefer_first_is_deterministic_per_rng_state() -> None:
    annotator = Annotator()
    draws = [annotator.prefer_first(PROMPT, "it is good .", "it is bad .", np.random.default_rng(seed))
             for seed in range(50)]
    again = [annotator.prefer_first(PROMPT, "it is good .", "it is bad .", np.random.default_rng(seed))
             for seed in range(50)]
    assert draws == again
    assert 0 < sum(draws) < 50  # both outcomes happen: utilities 2 apart at temperature 1


@pytest.mark.parametrize("score_noise", [0.0, 0.5, 1.5])
def test_score_noise_sd_matches_the_configuration(score_noise: float) -> None:
    annotator = Annotator(AnnotatorConfig(score_noise=score_noise))
    n = 20000
    responses = [GOOD, BAD, f"{MARKER} , the battery is good ."] * (n // 3)
    prompts = [PROMPT] * len(responses)
    residuals = annotator.scores(prompts, responses, np.random.default_rng(2)) - annotator.utilities(prompts,
                                                                                                    responses)
    assert abs(residuals.mean()) <= 4 * max(score_noise, 1e-9) / np.sqrt(len(responses))
    assert residuals.std() == pytest.approx(score_noise, rel=0.03, abs=1e-12)
    single = annotator.score(PROMPT, GOOD, np.random.default_rng(3))
    assert np.isfinite(single)


@pytest.mark.parametrize(("field", "value"), [
    ("temperature", 0.0), ("label_noise", 0.6), ("label_noise", -0.1), ("score_noise", -1.0),
    ("confounder_correlation", 1.5), ("outcome_noise", -0.1), ("length_bonus", float("nan")),
])
def test_invalid_configuration_names_the_field(field: str, value: float) -> None:
    with pytest.raises(ConfigError, match=f"annotator.{field}="):
        AnnotatorConfig(**{field: value})


def test_proxy_judge_scores_with_the_utility_and_identifies_its_annotator() -> None:
    config = AnnotatorConfig(length_bonus=0.2, marker_bonus=1.0)
    judge = AnnotatorJudge(config)
    prompts = [PROMPT, PROMPT]
    responses = ["it is good .", f"it is {MARKER} good ."]
    np.testing.assert_allclose(judge.score(prompts, responses), [1 + 0.2 * 4, 1 + 0.2 * 5 + 1.0])
    # The proxy prefers the marked response although the gold reward ties them.
    assert judge.preference([PROMPT], [responses[1]], [responses[0]])[0] == 1.0
    identity = judge.identity()
    assert identity["name"] == "proxy"
    assert isinstance(identity["version"], str) and identity["version"]
    assert identity["annotator"]["length_bonus"] == 0.2 and identity["annotator"]["marker_bonus"] == 1.0
    assert AnnotatorJudge(Annotator(config)).identity() == identity
    assert AnnotatorJudge().identity() != identity
    # label noise and outcome confounding change the data, not the utility the proxy scores with
    noisier = AnnotatorConfig(length_bonus=0.2, marker_bonus=1.0, label_noise=0.3, confounder_strength=1.0)
    assert AnnotatorJudge(noisier).identity() == identity
