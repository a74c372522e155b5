"""The gym's language: short English-like product reviews answering short prompts.

The embedded benchmark needs a task small enough to train a model on a CPU in minutes, yet rich enough
that a preference objective can be right or wrong in ways a real benchmark measures: sentiment that
negation flips and intensifiers scale, aspects that are on or off the prompt's topic, length that an
annotator can be fooled by, and one spurious marker word that the annotator likes and the gold reward
ignores. Everything here is a fixed table; the only randomness is in :meth:`Language.sample_response`,
which draws from a ``numpy.random.Generator`` the caller owns, so a seed fixes a corpus.

Text conventions: lower case, one space between tokens, punctuation as separate tokens
("the battery is very good , but the screen is not great ."). Every response ends with " .".
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from bench.errors import ConfigError, DataError

LANGUAGE_VERSION = "2"
"""Bump whenever a table or the sampler changes: it is part of every gym build's fingerprint."""

MARKER = "certainly"
"""The spurious feature: the annotator rewards it (``AnnotatorConfig.marker_bonus``); r* ignores it."""

ITEMS: dict[str, tuple[str, ...]] = {
    "phone": ("battery", "screen", "speaker", "charger"),
    "laptop": ("keyboard", "screen", "battery", "trackpad"),
    "tablet": ("screen", "battery", "stylus"),
    "camera": ("lens", "autofocus", "sensor", "viewfinder"),
    "headset": ("sound", "bass", "cushions", "cable"),
    "television": ("picture", "remote", "speaker"),
    "watch": ("strap", "dial", "clasp"),
    "hotel": ("staff", "room", "breakfast", "pool", "location"),
    "restaurant": ("service", "menu", "dessert", "wine"),
    "cafe": ("coffee", "pastries", "seating", "barista"),
    "movie": ("plot", "acting", "soundtrack", "ending", "dialogue"),
    "book": ("plot", "characters", "ending", "prose"),
    "album": ("lyrics", "vocals", "melodies", "production"),
    "game": ("graphics", "controls", "story", "multiplayer"),
    "pizza": ("crust", "cheese", "sauce", "toppings"),
    "burger": ("bun", "patty", "fries"),
    "bakery": ("bread", "croissants", "cakes"),
    "car": ("engine", "seats", "brakes", "mileage"),
    "bicycle": ("frame", "gears", "saddle", "brakes"),
    "sofa": ("cushions", "fabric", "frame"),
    "mattress": ("firmness", "springs", "cover"),
    "blender": ("motor", "blades", "jug", "lid"),
    "vacuum": ("suction", "filter", "hose"),
    "printer": ("ink", "tray", "drivers"),
    "flight": ("crew", "legroom", "meals", "boarding"),
    "train": ("seats", "conductor", "schedule", "wifi"),
    "museum": ("exhibits", "guides", "tickets"),
    "concert": ("band", "venue", "sound", "crowd"),
    "gym": ("equipment", "trainers", "showers", "lockers"),
    "spa": ("massage", "sauna", "towels"),
    "course": ("lectures", "teacher", "homework", "exams"),
    "app": ("interface", "notifications", "updates", "login"),
    "backpack": ("zippers", "straps", "pockets"),
    "tent": ("poles", "floor", "rainfly"),
    "jacket": ("zipper", "lining", "hood", "sleeves"),
    "stroller": ("wheels", "brakes", "canopy", "basket"),
    "kettle": ("handle", "spout", "switch"),
    "drone": ("propellers", "gimbal", "range"),
    "monitor": ("panel", "stand", "ports"),
    "guitar": ("strings", "neck", "tuners"),
    "sushi": ("rice", "fish", "wasabi"),
    "salad": ("dressing", "lettuce", "croutons"),
    "apartment": ("kitchen", "neighbours", "balcony", "rent"),
    "podcast": ("host", "guests", "episodes"),
    "zoo": ("animals", "enclosures", "paths"),
}
"""Item -> its aspect nouns. An aspect may belong to several items (screen, brakes, plot)."""

_SINGULAR_ENDING_IN_S = frozenset({"autofocus", "bass", "firmness", "lens", "stylus"})
PLURAL_ASPECTS = frozenset(a for aspects in ITEMS.values() for a in aspects
                           if a.endswith("s") and a not in _SINGULAR_ENDING_IN_S)
"""Aspects that take "are"/"were": those ending in s, but for the singular ones listed above."""

ADJECTIVES: dict[str, int] = {
    # positive, valence +1
    "good": 1, "nice": 1, "decent": 1, "solid": 1, "pleasant": 1, "reliable": 1, "clean": 1,
    "fast": 1, "comfortable": 1, "friendly": 1, "fresh": 1, "sharp": 1, "smooth": 1, "helpful": 1,
    "tasty": 1, "bright": 1, "sturdy": 1, "lovely": 1, "cozy": 1, "crisp": 1, "quiet": 1, "spacious": 1,
    "tidy": 1, "modern": 1,
    # positive, valence +2
    "great": 2, "excellent": 2, "amazing": 2, "wonderful": 2, "fantastic": 2, "superb": 2,
    "outstanding": 2, "brilliant": 2, "perfect": 2, "impressive": 2, "delightful": 2, "flawless": 2,
    "stunning": 2, "magnificent": 2, "exceptional": 2, "phenomenal": 2, "splendid": 2,
    # negative, valence -1
    "bad": -1, "poor": -1, "weak": -1, "slow": -1, "dull": -1, "noisy": -1, "flimsy": -1,
    "mediocre": -1, "bland": -1, "dirty": -1, "rude": -1, "stale": -1, "clunky": -1, "boring": -1,
    "disappointing": -1, "uncomfortable": -1, "cramped": -1, "fragile": -1, "greasy": -1, "sluggish": -1,
    "shabby": -1, "overpriced": -1, "loud": -1, "dated": -1, "lousy": -1,
    # negative, valence -2
    "terrible": -2, "awful": -2, "horrible": -2, "dreadful": -2, "useless": -2, "atrocious": -2,
    "broken": -2, "disgusting": -2, "pathetic": -2, "abysmal": -2, "unbearable": -2, "worthless": -2,
    "appalling": -2, "hideous": -2, "dismal": -2, "horrendous": -2, "rotten": -2,
}
"""Sentiment adjective -> integer valence (+1/+2 positive, -1/-2 negative)."""

INTENSIFIERS: dict[str, float] = {
    "slightly": 0.5, "somewhat": 0.75, "rather": 0.75, "quite": 1.25, "really": 1.5, "very": 1.5,
    "truly": 1.5, "extremely": 2.0, "incredibly": 2.0,
}
"""Intensifier -> multiplier applied to the next sentiment adjective of its clause."""

MAX_MULTIPLIER = 2.0
"""Stacked intensifiers multiply, capped here, so |gold reward| <= 2 x 2 = 4 (no stacking hack)."""

NEGATIONS: tuple[str, ...] = ("not", "never")
"""Each one flips the sign of every later sentiment adjective in its clause."""

FILLERS: tuple[str, ...] = (
    "honestly", "overall", "frankly", "personally", "to be fair", "in my opinion", "i think",
    "if you ask me", "all in all", "to be honest", "in general", "for what it is worth", "to my surprise",
)
"""Neutral phrases: no sentiment, no topic; r* ignores them, the annotator counts their length."""

CONNECTORS: tuple[str, ...] = ("and", "but", ",")
CLAUSE_BREAKS: frozenset[str] = frozenset({"and", "but", ",", ".", "?", "!", ";"})
"""Tokens that end a clause for the gold reward (the sampler only emits the first four)."""

ITEM_PROMPTS: tuple[str, ...] = (
    "what do you think of the {item} ?",
    "review the {item} .",
    "tell me about the {item} .",
    "is the {item} any good ?",
    "how was the {item} ?",
    "describe your experience with the {item} .",
    "would you recommend the {item} ?",
    "give me your opinion on the {item} .",
)
ASPECT_PROMPTS: tuple[str, ...] = (
    "how {be} the {aspect} of the {item} ?",
    "what do you think of the {aspect} of the {item} ?",
    "review the {aspect} of the {item} .",
    "tell me about the {aspect} of the {item} .",
    "{be_past} the {aspect} of the {item} any good ?",
)

# Words the response frames use besides the tables above.
_FRAME_WORDS: tuple[str, ...] = (
    "the", "of", "is", "are", "was", "were", "it", "i", "found", "thought", "seems", "seem", "felt", ".",
)

# Sampler settings: the shape of the supervised corpus (and so of the reference model's samples).
MOOD_PROBS = (0.4, 0.4, 0.2)
"""P(positive, negative, mixed) per response; a positive (negative) mood gives each clause that sign
with probability ``MOOD_AGREEMENT``, a mixed one either sign with probability 1/2."""
MOOD_AGREEMENT = 0.85
CLAUSE_COUNT_PROBS = (0.3, 0.35, 0.2, 0.15)
"""P(1, 2, 3, 4 clauses)."""
P_ITEM_SUBJECT = 0.2
"""A clause is about the item itself ("the phone is great", "it is great")."""
P_OFF_TOPIC = 0.08
"""A clause is about another item or one of its aspects: the gold reward counts it 0."""
P_FOCUS = 0.6
"""For an aspect prompt, an aspect clause is about the asked aspect with this probability."""
P_NEGATION = 0.1
P_INTENSIFIER = 0.35
P_MARKER = 0.15
P_OPENING_FILLER = 0.25
P_CLAUSE_FILLER = 0.1
MAX_RESPONSE_TOKENS = 40


class Language:
    """The gym language: its vocabulary, its prompts, and the supervised corpus's distribution.

    The tables are module constants and the class holds no state beyond derived indices, so any two
    instances are interchangeable; ``version`` names the tables for fingerprints.
    """

    version: str = LANGUAGE_VERSION
    marker: str = MARKER

    def __init__(self) -> None:
        self.items: tuple[str, ...] = tuple(ITEMS)
        self.aspects: dict[str, tuple[str, ...]] = dict(ITEMS)
        self._positive = tuple(a for a, v in ADJECTIVES.items() if v > 0)
        self._negative = tuple(a for a, v in ADJECTIVES.items() if v < 0)
        self._intensifiers = tuple(INTENSIFIERS)
        self._off_topic_aspects = {
            item: tuple(sorted({a for other, aspects in ITEMS.items() if other != item for a in aspects}
                               - set(ITEMS[item])))
            for item in ITEMS
        }
        self._prompts: list[str] = []
        self._prompt_topic: dict[str, tuple[str, str | None]] = {}
        for item, aspects in ITEMS.items():
            for template in ITEM_PROMPTS:
                self._add_prompt(template.format(item=item), item, None)
            for aspect in aspects:
                plural = aspect in PLURAL_ASPECTS
                for template in ASPECT_PROMPTS:
                    text = template.format(item=item, aspect=aspect, be="are" if plural else "is",
                                           be_past="were" if plural else "was")
                    self._add_prompt(text, item, aspect)
        words: set[str] = {MARKER, *ITEMS, *ADJECTIVES, *INTENSIFIERS, *NEGATIONS, *CONNECTORS,
                           *_FRAME_WORDS}
        words.update(a for aspects in ITEMS.values() for a in aspects)
        words.update(w for filler in FILLERS for w in filler.split())
        words.update(w for prompt in self._prompts for w in prompt.split())
        self.vocabulary: list[str] = sorted(words)

    def _add_prompt(self, text: str, item: str, aspect: str | None) -> None:
        if text in self._prompt_topic:  # pragma: no cover - the tables make every prompt distinct
            raise AssertionError(f"duplicate gym prompt {text!r}")
        self._prompts.append(text)
        self._prompt_topic[text] = (item, aspect)

    def identity(self) -> dict[str, object]:
        """What fixes this language (for build fingerprints)."""
        return {"name": "gym-language", "version": self.version, "vocabulary_size": len(self.vocabulary),
                "prompts": len(self._prompts)}

    def prompts(self) -> list[str]:
        """Every distinct prompt, in a fixed order (items in table order, then templates)."""
        return list(self._prompts)

    def split_prompts(self, seed: int, n_train: int, n_val: int, n_test: int) -> dict[str, list[str]]:
        """Disjoint train/val/test prompt sets, the same for the same seed.

        Prompts are disjoint so held-out evaluation measures generalisation to unseen prompts, not
        recall of training ones.
        """
        sizes = {"train": n_train, "val": n_val, "test": n_test}
        for name, size in sizes.items():
            if size < 0:
                raise ConfigError(f"gym split size n_{name}={size}: must be >= 0")
        total = n_train + n_val + n_test
        if total > len(self._prompts):
            raise ConfigError(f"gym prompt splits ask for {n_train} + {n_val} + {n_test} = {total} prompts "
                              f"but the gym language has only {len(self._prompts)} distinct prompts; "
                              f"lower the split sizes")
        order = np.random.default_rng(seed).permutation(len(self._prompts))
        chosen = [self._prompts[i] for i in order[:total]]
        return {"train": chosen[:n_train], "val": chosen[n_train:n_train + n_val],
                "test": chosen[n_train + n_val:]}

    def item_of(self, prompt: str) -> str:
        """The item a prompt asks about (the first item word in it)."""
        known = self._prompt_topic.get(prompt)
        if known is not None:
            return known[0]
        item = item_in(prompt)
        if item is None:
            raise DataError(f"prompt {prompt!r} names no gym item; gym prompts come from Language.prompts()")
        return item

    def aspect_of(self, prompt: str) -> str | None:
        """The aspect an aspect prompt asks about, or None for a prompt about the whole item."""
        known = self._prompt_topic.get(prompt)
        if known is not None:
            return known[1]
        item = self.item_of(prompt)
        return next((w for w in prompt.split() if w in ITEMS[item]), None)

    def sample_response(self, prompt: str, rng: np.random.Generator) -> str:
        """One response from the supervised corpus's distribution.

        Mostly well-formed reviews of the prompt's item, with a per-response mood so the corpus holds
        good and bad reviews alike (a reference model trained on it has room to improve and to get
        worse), occasional off-topic clauses, negations, intensifiers, fillers, and the marker word in
        about ``P_MARKER`` of responses: every feature the gold reward or the annotator reacts to.
        """
        item = self.item_of(prompt)
        focus = self.aspect_of(prompt)
        mood = int(rng.choice(3, p=MOOD_PROBS))
        n_clauses = 1 + int(rng.choice(len(CLAUSE_COUNT_PROBS), p=CLAUSE_COUNT_PROBS))
        has_marker = rng.random() < P_MARKER
        marker_clause = int(rng.integers(-1, n_clauses))  # -1: opening "certainly ,"
        tokens: list[str] = []
        if has_marker and marker_clause == -1:
            tokens += [MARKER, ","]
        elif rng.random() < P_OPENING_FILLER:
            filler = FILLERS[int(rng.integers(len(FILLERS)))].split()
            tokens += filler if filler == ["i", "think"] else [*filler, ","]
        previous_sign = 0
        for index in range(n_clauses):
            if mood == 2 or rng.random() >= MOOD_AGREEMENT:
                sign = 1 if rng.random() < 0.5 else -1
            else:
                sign = 1 if mood == 0 else -1
            clause = self._clause(item, focus, sign, has_marker and marker_clause == index, rng)
            if index > 0:
                joint = ["and" if rng.random() < 0.7 else ","] if sign == previous_sign else \
                        ["but" if rng.random() < 0.8 else ","]
                if rng.random() < P_CLAUSE_FILLER:
                    joint += FILLERS[int(rng.integers(len(FILLERS)))].split()
                clause = joint + clause
                if len(tokens) + len(clause) + 1 > MAX_RESPONSE_TOKENS:
                    break
            tokens += clause
            previous_sign = sign
        tokens.append(".")
        return " ".join(tokens)

    def _clause(self, item: str, focus: str | None, sign: int, marker: bool,
                rng: np.random.Generator) -> list[str]:
        """One clause expressing ``sign`` about the item, one of its aspects, or (rarely) something else."""
        phrase: list[str] = [MARKER] if marker else []
        negated = rng.random() < P_NEGATION
        if negated:
            phrase.append("not" if rng.random() < 0.7 else "never")
        if rng.random() < P_INTENSIFIER:
            phrase.append(self._intensifiers[int(rng.integers(len(self._intensifiers)))])
        pool = self._positive if (sign > 0) != negated else self._negative
        phrase.append(pool[int(rng.integers(len(pool)))])

        past = rng.random() < 0.3
        topic = rng.random()
        if topic < P_OFF_TOPIC:
            if rng.random() < 0.5:
                others = [i for i in self.items if i != item]
                return ["the", others[int(rng.integers(len(others)))], "was" if past else "is", *phrase]
            strays = self._off_topic_aspects[item]
            return self._aspect_clause(strays[int(rng.integers(len(strays)))], None, past, phrase, rng)
        if topic < P_OFF_TOPIC + P_ITEM_SUBJECT:
            subject = ["it"] if rng.random() < 0.4 else ["the", item]
            return [*subject, "was" if past else "is", *phrase]
        if focus is not None and rng.random() < P_FOCUS:
            aspect = focus
        else:
            aspect = self.aspects[item][int(rng.integers(len(self.aspects[item])))]
        return self._aspect_clause(aspect, item, past, phrase, rng)

    @staticmethod
    def _aspect_clause(aspect: str, item: str | None, past: bool, phrase: list[str],
                       rng: np.random.Generator) -> list[str]:
        plural = aspect in PLURAL_ASPECTS
        verb = ("were" if plural else "was") if past else ("are" if plural else "is")
        frame = rng.random()
        if frame < 0.15:
            return ["i", "found", "the", aspect, *phrase]
        if frame < 0.22:
            return ["i", "thought", "the", aspect, "were" if plural else "was", *phrase]
        if frame < 0.35:
            return ["the", aspect, "felt" if past else ("seem" if plural else "seems"), *phrase]
        if frame < 0.55 and item is not None:
            return ["the", aspect, "of", "the", item, verb, *phrase]
        return ["the", aspect, verb, *phrase]

    def corpus(self, prompts: Sequence[str], n_per_prompt: int, seed: int) -> list[tuple[str, str]]:
        """(prompt, response) pairs, ``n_per_prompt`` per prompt: the reference model's SFT corpus."""
        rng = np.random.default_rng(seed)
        return [(p, self.sample_response(p, rng)) for p in prompts for _ in range(n_per_prompt)]

    def response_groups(self, prompts: Sequence[str], k: int, seed: int) -> list[tuple[str, list[str]]]:
        """``k`` sampled responses per prompt, the input shape of :mod:`bench.gym.datasets` builders.

        The lead's build samples groups from the reference model instead; this is the same shape drawn
        from the corpus distribution, for tests and for a build without a trained model.
        """
        rng = np.random.default_rng(seed)
        return [(p, [self.sample_response(p, rng) for _ in range(k)]) for p in prompts]


def item_in(text: str) -> str | None:
    """The first item word in ``text``, or None (never raises: the gold reward relies on it)."""
    return next((w for w in text.split() if w in ITEMS), None)
