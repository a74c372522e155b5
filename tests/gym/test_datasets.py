"""Gym dataset builders: record shapes, determinism, and the annotator's biases at their set strength."""

from __future__ import annotations

import numpy as np
import pytest

from bench.data.records import Example, Response, from_json, to_json
from bench.errors import DataError
from bench.gym import datasets
from bench.gym.annotator import Annotator, AnnotatorConfig
from bench.gym.language import MARKER, Language
from bench.gym.reward import gold_reward


@pytest.fixture(scope="module")
def language() -> Language:
    return Language()


@pytest.fixture(scope="module")
def small_groups(language: Language) -> list[tuple[str, list[str]]]:
    return language.response_groups(language.prompts()[::20], k=4, seed=0)


@pytest.fixture(scope="module")
def many_groups(language: Language) -> list[tuple[str, list[str]]]:
    """3000 prompt groups of two corpus responses: enough for binomial checks at a few percent."""
    prompts = language.prompts()
    return language.response_groups([prompts[i % len(prompts)] for i in range(3000)], k=2, seed=1)


def roundtrip(examples: list[Example]) -> None:
    for e in examples:
        assert from_json(to_json(e), e.id) == e


def test_pairs_shape_ids_and_meta(small_groups: list[tuple[str, list[str]]]) -> None:
    rows = datasets.pairs(small_groups, Annotator(), seed=0, split="val")
    assert [e.id for e in rows] == [f"val-{i}" for i in range(len(small_groups))]
    for e, (prompt, responses) in zip(rows, small_groups, strict=True):
        assert e.kind == "pairs" and e.n == 2 and e.prompt == prompt
        assert {r.text for r in e.responses} == set(responses[:2])
        assert e.meta["gold"] == [pytest.approx(gold_reward(prompt, r.text)) for r in e.responses]
        assert e.meta["utility"] == [pytest.approx(Annotator().utility(prompt, r.text)) for r in e.responses]
    roundtrip(rows)


def test_builders_are_deterministic_per_seed(small_groups: list[tuple[str, list[str]]]) -> None:
    annotator = Annotator(AnnotatorConfig(confounder_strength=1.0))
    for build in (datasets.pairs, datasets.unpaired, datasets.outcomes,
                  lambda g, a, seed: datasets.kwise(g, a, seed, k=3)):
        first = build(small_groups, annotator, seed=7)
        assert [to_json(e) for e in build(small_groups, annotator, seed=7)] == [to_json(e) for e in first]
        assert [to_json(e) for e in build(small_groups, annotator, seed=8)] != [to_json(e) for e in first]


def test_kwise_rows_have_k_scored_responses(small_groups: list[tuple[str, list[str]]]) -> None:
    annotator = Annotator(AnnotatorConfig(score_noise=0.0))
    rows = datasets.kwise(small_groups, annotator, seed=0, k=4)
    for e, (prompt, responses) in zip(rows, small_groups, strict=True):
        assert e.kind == "kwise" and [r.text for r in e.responses] == responses
        # Without score noise the score is exactly the utility.
        expected = [pytest.approx(annotator.utility(prompt, t)) for t in responses]
        assert [r.score for r in e.responses] == expected
    roundtrip(rows)
    with pytest.raises(DataError, match="at least 5"):
        datasets.kwise(small_groups, annotator, seed=0, k=5)
    with pytest.raises(DataError, match="k >= 2"):
        datasets.kwise(small_groups, annotator, seed=0, k=1)


def test_unpaired_rows_are_the_pairs_split_in_two(small_groups: list[tuple[str, list[str]]]) -> None:
    annotator = Annotator()
    pairs = datasets.pairs(small_groups, annotator, seed=3)
    rows = datasets.unpaired(small_groups, annotator, seed=3)
    assert len(rows) == 2 * len(pairs)
    assert [e.id for e in rows] == [f"train-{i}" for i in range(len(rows))]
    for g, pair in enumerate(pairs):
        winner, loser = rows[2 * g], rows[2 * g + 1]
        assert winner.kind == loser.kind == "unpaired"
        assert (winner.responses[0].text, winner.responses[0].label) == (pair.responses[0].text, 1)
        assert (loser.responses[0].text, loser.responses[0].label) == (pair.responses[1].text, -1)
        assert winner.meta["group"] == loser.meta["group"] == g
    roundtrip(rows)


def test_demonstrations(language: Language) -> None:
    corpus = language.corpus(language.prompts()[:5], 2, seed=0)
    rows = datasets.demonstrations(corpus, split="sft")
    assert [(e.prompt, e.responses[0].text) for e in rows] == corpus
    assert [e.id for e in rows] == [f"sft-{i}" for i in range(10)]
    assert all(e.kind == "demonstrations" and e.n == 1 for e in rows)


def test_groups_with_too_few_responses_are_rejected() -> None:
    with pytest.raises(DataError, match="group 1"):
        datasets.pairs([("review the phone .", ["it is good .", "it is bad ."]),
                        ("review the phone .", ["it is good ."])], Annotator(), seed=0)


def test_pair_statistics_on_a_hand_made_dataset() -> None:
    prompt = "review the phone ."

    def pair(chosen: str, rejected: str) -> Example:
        return Example(id="x", prompt=prompt, responses=(Response(chosen), Response(rejected)), kind="pairs")

    rows = [
        pair("the screen is great and the battery is good .", "it is bad ."),  # longer, better
        pair(f"{MARKER} , it is bad .", "it is good ."),  # longer, marker, worse
        pair("it is good .", "it is good ."),  # a tie everywhere
        pair("it is bad .", f"{MARKER} the screen is good ."),  # shorter, no marker, worse
    ]
    stats = datasets.pair_statistics(rows)
    assert stats["n"] == 4
    assert (stats["chosen_longer"], stats["n_longer"]) == (pytest.approx(2 / 3), 3)
    assert (stats["chosen_marker"], stats["n_marker"]) == (pytest.approx(1 / 2), 2)
    assert (stats["chosen_higher_gold"], stats["n_higher_gold"]) == (pytest.approx(1 / 3), 3)
    assert stats["mean_length_chosen"] == pytest.approx((10 + 6 + 4 + 4) / 4)
    assert stats["marker_rate_rejected"] == pytest.approx(1 / 4)
    with pytest.raises(DataError, match="needs pairs rows"):
        datasets.pair_statistics([Example(id="u", prompt=prompt, responses=(Response("a", label=1),),
                                          kind="unpaired")])


def _predicted_share(groups: list[tuple[str, list[str]]], annotator: Annotator, feature) -> tuple[float, int]:
    """Expected share of pairs whose chosen side has more of ``feature``, from the annotator's definition.

    Computed here from first principles (gold reward, token counts, marker), not from the annotator's
    own probability method: P(first) = (1 - eps) s + eps (1 - s), s = sigmoid(gap / temperature).
    """
    config = annotator.config
    total, count = 0.0, 0

    def utility(prompt: str, text: str) -> float:
        tokens = text.split()
        return gold_reward(prompt, text) + config.length_bonus * len(tokens) + config.marker_bonus * (
            MARKER in tokens)

    for prompt, (a, b) in groups:
        fa, fb = feature(a), feature(b)
        if fa == fb:
            continue
        s = 1 / (1 + np.exp(-(utility(prompt, a) - utility(prompt, b)) / config.temperature))
        p_first = (1 - config.label_noise) * s + config.label_noise * (1 - s)
        total += p_first if fa > fb else 1 - p_first
        count += 1
    return total / count, count


def _length(text: str) -> int:
    return len(text.split())


def _marker(text: str) -> bool:
    return MARKER in text.split()


@pytest.mark.parametrize("config", [
    AnnotatorConfig(),
    AnnotatorConfig(length_bonus=0.15, marker_bonus=0.0),
    AnnotatorConfig(length_bonus=0.0, marker_bonus=2.0, label_noise=0.0),
])
def test_pair_biases_match_their_configured_strength(many_groups: list[tuple[str, list[str]]],
                                                     config: AnnotatorConfig) -> None:
    annotator = Annotator(config)
    stats = datasets.pair_statistics(datasets.pairs(many_groups, annotator, seed=5))
    checks = (("longer", _length, config.length_bonus), ("marker", _marker, config.marker_bonus))
    for key, feature, bonus in checks:
        predicted, n = _predicted_share(many_groups, annotator, feature)
        assert stats[f"n_{key}"] == n
        tolerance = 4 * np.sqrt(0.25 / n)
        assert abs(stats[f"chosen_{key}"] - predicted) <= tolerance, (key, stats, predicted)
        if bonus > 0:
            assert stats[f"chosen_{key}"] > 0.5 + tolerance, (key, stats)
    assert stats["chosen_higher_gold"] > 0.65  # labels still mostly follow the gold reward


def test_without_biases_the_chosen_is_not_longer_nor_marked(many_groups: list[tuple[str, list[str]]]) -> None:
    annotator = Annotator(AnnotatorConfig(length_bonus=0.0, marker_bonus=0.0))
    stats = datasets.pair_statistics(datasets.pairs(many_groups, annotator, seed=5))
    for key in ("longer", "marker"):
        tolerance = 4 * np.sqrt(0.25 / stats[f"n_{key}"])
        assert abs(stats[f"chosen_{key}"] - 0.5) <= tolerance, (key, stats)
    assert stats["chosen_higher_gold"] > 0.65


def test_stronger_length_bonus_gives_longer_chosen(many_groups: list[tuple[str, list[str]]]) -> None:
    shares = [datasets.pair_statistics(datasets.pairs(many_groups, Annotator(AnnotatorConfig(length_bonus=b)),
                                                      seed=5))["chosen_longer"] for b in (0.0, 0.1, 0.3)]
    assert shares[0] < shares[1] < shares[2]


def _outcome_arrays(rows: list[Example]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    outcome = np.array([e.responses[0].outcome for e in rows])
    length = np.array([len(e.responses[0].text.split()) for e in rows], dtype=float)
    gold = np.array([e.meta["gold"][0] for e in rows])
    confounder = np.array([e.meta["confounder"] for e in rows])
    return outcome, length, gold, confounder


def test_outcome_rows(small_groups: list[tuple[str, list[str]]]) -> None:
    annotator = Annotator(AnnotatorConfig(outcome_noise=0.0, confounder_strength=0.0))
    rows = datasets.outcomes(small_groups, annotator, seed=0)
    assert len(rows) == sum(len(r) for _, r in small_groups)
    assert all(e.kind == "outcomes" and e.n == 1 for e in rows)
    # Without noise or confounding the outcome is exactly the gold reward.
    for e in rows:
        assert e.responses[0].outcome == pytest.approx(gold_reward(e.prompt, e.responses[0].text))
    roundtrip(rows)


def test_outcome_confounder_tracks_length(many_groups: list[tuple[str, list[str]]]) -> None:
    n_rows = 2 * len(many_groups)
    unconfounded = _outcome_arrays(datasets.outcomes(many_groups, Annotator(AnnotatorConfig()), seed=9))
    outcome, length, gold, confounder = unconfounded
    gold_corr = np.corrcoef(gold, length)[0, 1]
    assert abs(np.corrcoef(outcome, length)[0, 1] - gold_corr) < 4 / np.sqrt(n_rows)
    # The confounder is drawn either way, with the configured correlation to length and unit variance.
    assert np.corrcoef(confounder, length)[0, 1] == pytest.approx(0.7, abs=0.03)
    assert confounder.std() == pytest.approx(1.0, abs=0.05)

    confounded = _outcome_arrays(datasets.outcomes(
        many_groups, Annotator(AnnotatorConfig(confounder_strength=1.5)), seed=9))
    outcome, length, gold, _ = confounded
    assert np.corrcoef(outcome, length)[0, 1] > gold_corr + 0.3
    # The gold reward itself does not change with the confounder: only the observed outcome does.
    np.testing.assert_allclose(gold, unconfounded[2])
