"""The gym's gold reward r*(x, y): the ground truth every gym result is measured against.

Definition (tokens are the response split on whitespace, lower-cased):

1. Clauses. The response is cut into clauses at the tokens ``and``, ``but``, ``,``, ``.``, ``?``,
   ``!`` and ``;``.
2. Sentiment units. Inside a clause, every sentiment adjective (``ADJECTIVES`` in
   :mod:`bench.gym.language`, valence +1/+2 or -1/-2) is one unit, contributing
   ``valence x m x s``: ``m`` is the product of the intensifier multipliers (slightly 0.5,
   somewhat/rather 0.75, quite 1.25, really/very/truly 1.5, extremely/incredibly 2) read since the
   previous adjective of the clause, capped at 2; ``s`` is -1 when an odd number of negations
   (``not``, ``never``) precede the adjective in its clause, else +1. So |contribution| <= 4.
3. Topic. A clause that mentions an item other than the prompt's item, or an aspect noun that does not
   belong to the prompt's item, is off-topic; a clause that mentions no item or aspect ("it is great")
   has the topic of the clause before it in the same sentence, and is on-topic when it opens a sentence
   (sentences end at ``.``, ``?`` and ``!``). Units of off-topic clauses contribute 0 but still count
   in the denominator. The prompt's item is the first item word in the prompt; a prompt that names
   none makes every mention off-topic.
4. r* = the MEAN contribution over all units of the response, and 0 when it has none.

Consequences the tests check: r* does not reward length (repeating the response as further
sentences, or adding fillers, leaves it unchanged), ignores the marker word ``certainly`` and every
unknown token, and is defined (finite, no exception) for any string, including a model's garbage or
truncated output.
"""

from __future__ import annotations

from bench.gym.language import (
    ADJECTIVES,
    CLAUSE_BREAKS,
    INTENSIFIERS,
    ITEMS,
    MAX_MULTIPLIER,
    NEGATIONS,
    item_in,
)

REWARD_VERSION = "1"
"""Bump when the definition above changes: it is part of the gold judge's identity."""

_OWNERS: dict[str, frozenset[str]] = {}
for _item, _aspects in ITEMS.items():
    for _aspect in _aspects:
        _OWNERS[_aspect] = _OWNERS.get(_aspect, frozenset()) | {_item}
_NEGATIONS = frozenset(NEGATIONS)
_SENTENCE_ENDS = frozenset({".", "?", "!"})


def gold_reward(prompt: str, response: str) -> float:
    """r*(prompt, response) as defined in the module docstring: mean on-topic sentiment per unit.

    A mean rather than a sum so that the gold reward is blind to the length bias the annotator has;
    a policy that learns "longer is better" from biased data gains nothing under r*.
    """
    item = item_in(str(prompt).lower())
    contributions: list[float] = []
    on_topic = True
    pending: list[float] = []  # this clause's raw contributions, scaled 0/1 at the clause's end
    mentions_foreign = mentions_any = False
    negations = 0
    multiplier = 1.0
    for token in [*str(response).lower().split(), "."]:
        if token in CLAUSE_BREAKS:
            if mentions_any:
                on_topic = not mentions_foreign
            contributions.extend(pending if on_topic else [0.0] * len(pending))
            if token in _SENTENCE_ENDS:
                on_topic = True
            pending = []
            mentions_foreign = mentions_any = False
            negations = 0
            multiplier = 1.0
        elif token in ADJECTIVES:
            sign = -1.0 if negations % 2 else 1.0
            pending.append(ADJECTIVES[token] * min(multiplier, MAX_MULTIPLIER) * sign)
            multiplier = 1.0
        elif token in INTENSIFIERS:
            multiplier *= INTENSIFIERS[token]
        elif token in _NEGATIONS:
            negations += 1
        elif token in ITEMS:
            mentions_any = True
            mentions_foreign |= token != item
        elif token in _OWNERS:
            mentions_any = True
            mentions_foreign |= item not in _OWNERS[token]
    if not contributions:
        return 0.0
    return float(sum(contributions) / len(contributions))
