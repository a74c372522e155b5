"""Builders that turn sampled responses into gym datasets of every data kind.

Each builder takes groups ``(prompt, [responses])`` (at least two responses per prompt; usually
sampled from the gym's reference model), an :class:`~bench.gym.annotator.Annotator` and a seed, and
returns :class:`~bench.data.records.Example` rows with ids ``f"{split}-{i}"`` (i the row index), so a
seed and the groups fix a dataset byte for byte. The same annotator labels every kind, so pairwise,
k-wise, unpaired and outcome objectives learn from one biased source and differ only in what the data
kind lets them see.

``meta`` carries what an analysis may read but training never does: ``gold`` (the gold reward of
each response, aligned with ``responses``), ``utility`` (the annotator's noiseless utility) and, for
outcome rows, the unobserved ``confounder``. Data selectors that the method card defines on r*
(explicit_margin, alignment_potential) read ``meta["gold"]``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from bench.data.records import Example, Response, validate
from bench.errors import DataError
from bench.gym.annotator import Annotator
from bench.gym.language import MARKER
from bench.gym.reward import gold_reward

Groups = Sequence[tuple[str, Sequence[str]]]


def _check_groups(groups: Groups, minimum: int, builder: str) -> None:
    for i, (prompt, responses) in enumerate(groups):
        if len(responses) < minimum:
            raise DataError(f"gym {builder}: group {i} (prompt {prompt!r}) has {len(responses)} response(s); "
                            f"it needs at least {minimum}; sample more responses per prompt")


def _row(split: str, i: int, prompt: str, responses: Sequence[Response], kind: str, meta: dict) -> Example:
    example = Example(id=f"{split}-{i}", prompt=prompt, responses=tuple(responses), kind=kind, meta=meta)
    return validate(example, f"gym {kind} row {split}-{i}")


def pairs(groups: Groups, annotator: Annotator, seed: int, split: str = "train") -> list[Example]:
    """Preference pairs: the first two responses of each group, the annotator's pick first (chosen).

    One noisy Bradley–Terry label per group (:meth:`Annotator.prefer_first_many`), so the pair carries
    the annotator's length and marker biases and its label noise at the configured strengths.
    """
    _check_groups(groups, 2, "pairs")
    prompts = [p for p, _ in groups]
    first = [r[0] for _, r in groups]
    second = [r[1] for _, r in groups]
    prefer = annotator.prefer_first_many(prompts, first, second, np.random.default_rng(seed))
    rows = []
    for i, (prompt, a, b, a_wins) in enumerate(zip(prompts, first, second, prefer, strict=True)):
        chosen, rejected = (a, b) if a_wins else (b, a)
        meta = {"gold": [gold_reward(prompt, chosen), gold_reward(prompt, rejected)],
                "utility": [annotator.utility(prompt, chosen), annotator.utility(prompt, rejected)]}
        rows.append(_row(split, i, prompt, [Response(chosen), Response(rejected)], "pairs", meta))
    return rows


def kwise(groups: Groups, annotator: Annotator, seed: int, k: int, split: str = "train") -> list[Example]:
    """k-wise rows: the first ``k`` responses of each group, each with a noisy explicit score.

    Scores are utility + N(0, score_noise^2) (:meth:`Annotator.scores`), the input of reward-aware
    objectives (RPO) and of k-wise ranking losses.
    """
    if k < 2:
        raise DataError(f"gym kwise: k={k}; k-wise rows need k >= 2")
    _check_groups(groups, k, "kwise")
    rng = np.random.default_rng(seed)
    rows = []
    for i, (prompt, responses) in enumerate(groups):
        texts = list(responses[:k])
        prompts = [prompt] * k
        noisy = annotator.scores(prompts, texts, rng)
        meta = {"gold": [gold_reward(prompt, t) for t in texts],
                "utility": annotator.utilities(prompts, texts).tolist()}
        scored = [Response(t, score=float(s)) for t, s in zip(texts, noisy, strict=True)]
        rows.append(_row(split, i, prompt, scored, "kwise", meta))
    return rows


def unpaired(groups: Groups, annotator: Annotator, seed: int, split: str = "train") -> list[Example]:
    """Unpaired rows: the first two responses of each group, labelled +1 (winner) and -1 (loser).

    Rule: the label is the annotator's pairwise judgement of the two responses, the same noisy
    Bradley–Terry draw :func:`pairs` makes (same seed, same groups => the same winner), so an
    unpaired dataset is exactly its pairs dataset split in two, and KTO-style objectives see the same
    information as DPO-style ones without the pairing. Rows come as (winner, loser) per group;
    ``meta["group"]`` names the group and ``meta["gold"]``/``meta["utility"]`` hold one value each.
    """
    rows = []
    for group, pair in enumerate(pairs(groups, annotator, seed, split)):
        for j, label in enumerate((1, -1)):
            meta = {"group": group, "gold": [pair.meta["gold"][j]], "utility": [pair.meta["utility"][j]]}
            response = Response(pair.responses[j].text, label=label)
            rows.append(_row(split, len(rows), pair.prompt, [response], "unpaired", meta))
    return rows


def outcomes(groups: Groups, annotator: Annotator, seed: int, split: str = "train") -> list[Example]:
    """Outcome rows (n = 1): every response of every group with a numeric outcome.

    outcome = r* + confounder_strength * U + N(0, outcome_noise^2), where the unobserved confounder
    U = c z + sqrt(1 - c^2) e, z the response length standardised over this dataset, e ~ N(0, 1) and
    c = confounder_correlation; so U ~ N(0, 1) with corr(U, z) = c. A causal objective that corrects
    for the confounding should keep the gold reward; one that does not learns "longer is better".
    U is stored in ``meta["confounder"]`` only, for tests and analyses.
    """
    _check_groups(groups, 1, "outcomes")
    config = annotator.config
    flat = [(prompt, text) for prompt, responses in groups for text in responses]
    lengths = np.array([len(text.split()) for _, text in flat], dtype=float)
    spread = lengths.std()
    z = (lengths - lengths.mean()) / spread if spread > 0 else np.zeros_like(lengths)
    rng = np.random.default_rng(seed)
    c = config.confounder_correlation
    confounder = c * z + np.sqrt(1.0 - c * c) * rng.standard_normal(len(flat))
    noise = rng.normal(0.0, config.outcome_noise, size=len(flat))
    rows = []
    for i, (prompt, text) in enumerate(flat):
        gold = gold_reward(prompt, text)
        outcome = gold + config.confounder_strength * confounder[i] + noise[i]
        meta = {"gold": [gold], "utility": [annotator.utility(prompt, text)],
                "confounder": float(confounder[i])}
        rows.append(_row(split, i, prompt, [Response(text, outcome=float(outcome))], "outcomes", meta))
    return rows


def demonstrations(pairs_of_prompt_response: Sequence[tuple[str, str]],
                   split: str = "train") -> list[Example]:
    """Demonstration rows (n = 1) for supervised fine-tuning, e.g. from :meth:`Language.corpus`."""
    return [_row(split, i, prompt, [Response(text)], "demonstrations", {})
            for i, (prompt, text) in enumerate(pairs_of_prompt_response)]


def pair_statistics(examples: Sequence[Example]) -> dict[str, float]:
    """How a pairs dataset's labels relate to length, the marker and the gold reward.

    Each ``chosen_*`` share is taken over the pairs where the two responses differ in that respect
    (ties carry no signal), so 0.5 means no relation: ``chosen_longer`` (more tokens),
    ``chosen_marker`` (exactly one has the marker, and it is the chosen), ``chosen_higher_gold``
    (gold computed from the texts, so it works on any pairs data). The matching ``n_*`` counts give the
    denominators, for binomial error bars; ``mean_length_*`` and ``marker_rate_*`` describe each side.
    """
    counts = {"longer": [0, 0], "marker": [0, 0], "higher_gold": [0, 0]}
    length_sums = [0, 0]
    marker_sums = [0, 0]
    for e in examples:
        if e.kind != "pairs" or e.n != 2:
            raise DataError(f"pair_statistics: row {e.id} is {e.kind} with {e.n} responses; "
                            f"it needs pairs rows")
        chosen, rejected = e.responses[0].text, e.responses[1].text
        lengths = len(chosen.split()), len(rejected.split())
        markers = MARKER in chosen.split(), MARKER in rejected.split()
        golds = gold_reward(e.prompt, chosen), gold_reward(e.prompt, rejected)
        for key, (c, r) in (("longer", lengths), ("marker", markers), ("higher_gold", golds)):
            if c != r:
                counts[key][0] += c > r
                counts[key][1] += 1
        length_sums = [length_sums[0] + lengths[0], length_sums[1] + lengths[1]]
        marker_sums = [marker_sums[0] + markers[0], marker_sums[1] + markers[1]]
    n = len(examples)
    stats: dict[str, float] = {"n": float(n)}
    for key, (wins, total) in counts.items():
        stats[f"chosen_{key}"] = wins / total if total else float("nan")
        stats[f"n_{key}"] = float(total)
    stats["mean_length_chosen"] = length_sums[0] / n if n else float("nan")
    stats["mean_length_rejected"] = length_sums[1] / n if n else float("nan")
    stats["marker_rate_chosen"] = marker_sums[0] / n if n else float("nan")
    stats["marker_rate_rejected"] = marker_sums[1] / n if n else float("nan")
    return stats
