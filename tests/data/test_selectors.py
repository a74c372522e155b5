"""Tests for bench.data.selectors: each selector keeps exactly the rows worked out by hand.

The pool is ten hand-made pairs ``p0`` .. ``p9`` whose explicit scores and LN log-probs are chosen so
that margins are exact binary fractions (no rounding in differences) and so that ties fall on the
cut-off, where the tie rule (smaller id first) decides.
"""

from __future__ import annotations

import math
from functools import partial

import numpy as np
import pytest
import torch
from tokenizers import Tokenizer, models, pre_tokenizers
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

from bench.data.records import Example, Response
from bench.data.selectors import (
    SELECTORS,
    build_selector,
    explicit_scores_from_meta,
    explicit_scores_from_responses,
    kept_count,
    length_normalised_logps,
    parse_selector,
    z_scores,
)
from bench.data.tokenize import encode_prompts, encode_responses
from bench.errors import ConfigError, DataError, PlanError
from bench.models.scoring import sequence_logps

# r*(y_w), r*(y_l): m_ex = [1, -2, 3, 0, 0.5, 4, -1, 2, -1.5, 2]; |m_ex| ties at 2 (p1, p7, p9)
EXPLICIT = np.array([[1.0, 0.0], [0.5, 2.5], [3.0, 0.0], [0.0, 0.0], [2.0, 1.5],
                     [4.0, 0.0], [1.0, 2.0], [2.5, 0.5], [0.0, 1.5], [1.0, -1.0]])
# LN(pi, y_w), LN(pi, y_l): m_im = [0.125, -0.5, 0.75, 0, -1.25, 0.5, 0.25, -0.125, 0.625, 1]; |m_im| ties at 0.125
IMPLICIT = np.array([[-2.0, -2.125], [-3.0, -2.5], [-1.0, -1.75], [-2.25, -2.25], [-4.0, -2.75],
                     [-1.5, -2.0], [-2.5, -2.75], [-3.0, -2.875], [-1.0, -1.625], [-2.0, -3.0]])
IDS = [f"p{i}" for i in range(10)]


def _pool() -> list[Example]:
    return [Example(id=i, prompt=f"prompt {i}", kind="pairs",
                    responses=(Response(f"chosen {i}", score=float(win)), Response(f"rejected {i}", score=float(lose))),
                    meta={"gold": [float(win) + 10, float(lose) + 10]})
            for i, (win, lose) in zip(IDS, EXPLICIT, strict=True)]


def _never() -> np.ndarray:
    raise AssertionError("a selector read an input it does not need")


def _kept(spec: str, seed: int = 0) -> list[str]:
    return list(parse_selector(spec).select(_pool(), EXPLICIT, IMPLICIT, seed=seed).kept_ids)


# ---- each selector keeps the rows computed by hand ---------------------------------------------------

def test_all_keeps_every_row_in_order_and_reads_no_scores() -> None:
    selection = parse_selector("all").select(_pool(), explicit=_never, implicit=_never)
    assert [ex.id for ex in selection.examples] == IDS
    assert selection.kept_scores is None and selection.score_name is None


def test_explicit_margin_keeps_largest_absolute_gold_gap_with_ties_by_id() -> None:
    # |m_ex| sorted: p5 4, p2 3, then p1 = p7 = p9 = 2 for the last two places: p1, p7 by id
    selection = parse_selector("explicit_margin").select(_pool(), explicit=EXPLICIT, implicit=_never)
    assert list(selection.kept_ids) == ["p1", "p2", "p5", "p7"]
    assert selection.kept_scores == (2.0, 3.0, 4.0, 2.0)


def test_implicit_margin_keeps_smallest_absolute_ln_gap() -> None:
    # |m_im| sorted: p3 0, p0 = p7 = 0.125, p6 0.25, ...
    assert _kept("implicit_margin") == ["p0", "p3", "p6", "p7"]
    assert _kept("implicit_margin:ratio=0.2") == ["p0", "p3"]  # the p0/p7 tie at the cut goes to the smaller id
    selection = parse_selector("implicit_margin").select(_pool(), explicit=_never, implicit=IMPLICIT)
    assert selection.kept_scores == (-0.125, -0.0, -0.25, -0.125)


def test_alignment_potential_keeps_the_top_by_a_hand_computed_score() -> None:
    m_ex = [win - lose for win, lose in EXPLICIT.tolist()]
    m_im = [abs(win - lose) for win, lose in IMPLICIT.tolist()]

    def z(values: list[float]) -> list[float]:
        mean = sum(values) / len(values)
        std = math.sqrt(sum((v - mean) ** 2 for v in values) / len(values))
        return [(v - mean) / std for v in values]

    for w, expected in [(1.0, ["p0", "p3", "p5", "p7"]), (0.5, ["p0", "p2", "p5", "p7"]),
                        (0.0, ["p2", "p5", "p7", "p9"])]:  # w = 0: signed m_ex alone; mislabelled p1 is out
        by_hand = [a - w * b for a, b in zip(z(m_ex), z(m_im), strict=True)]
        top = sorted(sorted(range(10), key=lambda i: -by_hand[i])[:4])
        assert [IDS[i] for i in top] == expected
        selection = parse_selector(f"alignment_potential:w={w}").select(_pool(), EXPLICIT, IMPLICIT)
        assert list(selection.kept_ids) == expected
        assert selection.kept_scores == pytest.approx([by_hand[i] for i in top], abs=1e-12)


def test_z_scores_match_the_definition_and_are_zero_without_spread() -> None:
    values = np.array([1.0, -2.0, 3.0, 0.0, 0.5, 4.0, -1.0, 2.0, -1.5, 2.0])
    # mean 0.8; population variance = sum((x - 0.8)^2) / 10 = 35.1 / 10
    assert sum((v - 0.8) ** 2 for v in values) == pytest.approx(35.1)
    np.testing.assert_allclose(z_scores(values), (values - 0.8) / math.sqrt(3.51), rtol=1e-12)
    np.testing.assert_array_equal(z_scores(np.full(5, 0.1)), np.zeros(5))


@pytest.mark.parametrize("spec", ["explicit_margin", "explicit_margin:ratio=0.25", "implicit_margin:ratio=0.2",
                                  "alignment_potential:w=0"])
def test_ties_go_by_row_id_so_reordering_the_pool_keeps_the_same_rows(spec: str) -> None:
    order = [9, 3, 7, 0, 5, 1, 8, 2, 6, 4]
    shuffled = [_pool()[i] for i in order]
    kept = parse_selector(spec).select(shuffled, EXPLICIT[order], IMPLICIT[order]).kept_ids
    assert sorted(kept) == _kept(spec)
    assert list(kept) == [IDS[i] for i in order if IDS[i] in kept]  # in the (new) pool order


def test_kept_examples_are_the_pool_objects_in_pool_order() -> None:
    pool = _pool()
    selection = parse_selector("explicit_margin").select(pool, EXPLICIT)
    assert selection.examples == [pool[1], pool[2], pool[5], pool[7]]
    assert selection.examples[0] is pool[1]


# ---- ratio rounding ---------------------------------------------------------------------------------

@pytest.mark.parametrize(("ratio", "size", "kept"), [
    (0.4, 10, 4), (0.25, 10, 3), (0.05, 10, 1), (0.001, 10, 1), (1.0, 10, 10), (0.5, 1, 1),
    (0.28, 25, 7),  # 0.28 * 25 = 7.000000000000001 in floats: still 7, not 8
    (0.4, 768, 308),  # the default gym's pool: ceil(307.2)
])
def test_kept_count_is_the_ceiling_of_ratio_times_pool_at_least_one(ratio: float, size: int, kept: int) -> None:
    assert kept_count(ratio, size) == kept


def test_a_ratio_keeps_its_count_through_select() -> None:
    assert _kept("explicit_margin:ratio=0.25") == ["p1", "p2", "p5"]  # ceil(2.5) = 3: the p1/p7/p9 tie gives p1
    assert _kept("explicit_margin:ratio=0.01") == ["p5"]
    assert _kept("explicit_margin:ratio=1") == IDS


# ---- random ------------------------------------------------------------------------------------------

def test_random_is_reproducible_per_seed_and_differs_across_seeds() -> None:
    first = [_kept("random", seed) for seed in range(6)]
    assert first == [_kept("random", seed) for seed in range(6)]
    assert len({tuple(k) for k in first}) > 1
    for kept in first:
        assert len(kept) == 4 and kept == sorted(kept)


def test_random_keeps_each_row_about_ratio_of_the_time() -> None:
    selector = parse_selector("random:ratio=0.3")
    counts = dict.fromkeys(IDS, 0)
    for seed in range(2000):
        for row in selector.select(_pool(), explicit=_never, implicit=_never, seed=seed).kept_ids:
            counts[row] += 1
    shares = np.array(list(counts.values())) / 2000
    assert np.all(np.abs(shares - 0.3) < 0.04), shares  # binomial sd ~ 0.01


def test_random_works_on_any_data_kind() -> None:
    rows = [Example(id=f"u{i}", prompt="x", kind="unpaired", responses=(Response("y", label=1),)) for i in range(5)]
    assert len(parse_selector("random:ratio=0.4").select(rows, seed=1).examples) == 2


# ---- identity and provenance -------------------------------------------------------------------------

def test_spec_is_canonical_and_the_fingerprint_is_the_selectors_identity() -> None:
    assert parse_selector("random").spec == "random:ratio=0.4"
    assert parse_selector(" alignment_potential : w = 1 ").spec == "alignment_potential:ratio=0.4,w=1"
    assert parse_selector("all").spec == "all"
    pool = _pool()
    same = parse_selector("random").select(pool, seed=3), parse_selector("random:ratio=0.4").select(pool, seed=3)
    assert same[0].fingerprint == same[1].fingerprint
    assert parse_selector("random").select(pool, seed=4).fingerprint != same[0].fingerprint
    margin = [parse_selector("explicit_margin").select(pool, EXPLICIT, seed=s).fingerprint for s in (0, 1)]
    assert margin[0] == margin[1]  # a deterministic selector's identity does not include the seed
    assert margin[0] != parse_selector("explicit_margin:ratio=0.5").select(pool, EXPLICIT).fingerprint
    assert parse_selector("random").fingerprint(seed=3) == same[0].fingerprint  # known before selecting


def test_record_names_what_was_kept_and_why() -> None:
    record = parse_selector("explicit_margin").select(_pool(), EXPLICIT).record()
    assert record["selector"] == "explicit_margin:ratio=0.4"
    assert (record["pool_size"], record["kept"]) == (10, 4)
    assert record["ids"] == ["p1", "p2", "p5", "p7"] and record["scores"] == [2.0, 3.0, 4.0, 2.0]
    assert record["score"] == "|r*(y_w) - r*(y_l)|"
    assert "ids" not in parse_selector("all").select(_pool()).record(with_rows=False)


# ---- configuration errors ----------------------------------------------------------------------------

@pytest.mark.parametrize(("spec", "message"), [
    ("alignment_potentail", "unknown selector 'alignment_potentail' (did you mean: alignment_potential?)"),
    ("random:ratio=0", "ratio=0.0 must be in (0, 1]"),
    ("random:ratio=1.5", "ratio=1.5 must be in (0, 1]"),
    ("random:ratio=nan", "ratio=nan must be in (0, 1]"),
    ("alignment_potential:w=-0.5", "w=-0.5 must be finite and >= 0"),
    ("random:w=1", "'w' is not a parameter of random; valid: ratio"),
    ("all:ratio=0.5", "'ratio' is not a parameter of all; all takes none"),
    ("random:ratio", "'ratio' is not KEY=VALUE"),
    ("random:ratio=lots", "ratio='lots' is not a number"),
    ("random:ratio=0.1,ratio=0.2", "ratio is given twice"),
    (":ratio=0.2", "no selector name"),
])
def test_bad_specs_fail_with_one_line_naming_the_key(spec: str, message: str) -> None:
    with pytest.raises(ConfigError) as error:
        parse_selector(spec)
    text = str(error.value)
    assert text.startswith(f"selector={spec}: ") and message in text and "\n" not in text


def test_build_selector_takes_config_values_and_names_its_key() -> None:
    assert build_selector("alignment_potential", {"ratio": 0.25, "w": "2"}).spec == "alignment_potential:ratio=0.25,w=2"
    with pytest.raises(ConfigError, match=r"^selectors\.random: ratio=2\.0 must be in \(0, 1\]"):
        build_selector("random", {"ratio": 2})
    with pytest.raises(ConfigError, match="ratio=True is not a number"):
        build_selector("random", {"ratio": True})
    assert SELECTORS.names()[:5] == ["all", "random", "explicit_margin", "implicit_margin", "alignment_potential"]


# ---- data errors -------------------------------------------------------------------------------------

def test_a_missing_input_is_a_plan_error_naming_the_selector() -> None:
    with pytest.raises(PlanError, match=r"selector=alignment_potential:ratio=0.4,w=1 needs implicit"):
        parse_selector("alignment_potential").select(_pool(), explicit=EXPLICIT)


def test_bad_input_arrays_name_the_row() -> None:
    broken = IMPLICIT.copy()
    broken[6, 1] = np.nan
    with pytest.raises(DataError, match=r"row p6 has non-finite implicit LN log-probs"):
        parse_selector("implicit_margin").select(_pool(), implicit=broken)
    with pytest.raises(DataError, match=r"shape \(9, 2\); expected \(10, 2\)"):
        parse_selector("explicit_margin").select(_pool(), explicit=EXPLICIT[:9])


def test_margin_selectors_need_pairs() -> None:
    rows = [Example(id="k0", prompt="x", kind="kwise", responses=(Response("a", score=1.0),) * 3)]
    with pytest.raises(PlanError, match=r"needs pairs rows .* row k0 is kwise with 3"):
        parse_selector("explicit_margin").select(rows, explicit=np.zeros((1, 2)))


def test_explicit_scores_come_from_response_scores_or_meta() -> None:
    np.testing.assert_array_equal(explicit_scores_from_responses(_pool()), EXPLICIT)
    np.testing.assert_array_equal(explicit_scores_from_meta(_pool(), "gold"), EXPLICIT + 10)
    unscored = [Example(id="q", prompt="x", kind="pairs", responses=(Response("a", score=1.0), Response("b")))]
    with pytest.raises(DataError, match="row q: response 1 has no score"):
        explicit_scores_from_responses(unscored)
    with pytest.raises(DataError, match=r"row q: meta\['gold'\] must hold one number per response"):
        explicit_scores_from_meta(unscored)


# ---- LN log-probs under a real (tiny) model ----------------------------------------------------------

WORDS = ["<pad>", "</s>", "tell", "me", "a", "story", "once", "upon", "time", "the", "end", "no"]


def _tokenizer() -> PreTrainedTokenizerFast:
    core = Tokenizer(models.WordLevel(vocab={w: i for i, w in enumerate(WORDS)}, unk_token="<pad>"))
    core.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    return PreTrainedTokenizerFast(tokenizer_object=core, pad_token="<pad>", eos_token="</s>")


def _model() -> LlamaForCausalLM:
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=len(WORDS), hidden_size=16, intermediate_size=32, num_hidden_layers=2,
                         num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=64,
                         tie_word_embeddings=False)
    return LlamaForCausalLM(config).float().eval()


def test_length_normalised_logps_equal_a_direct_forward_pass() -> None:
    """Batched (ragged prompts and responses, one response truncated), each LN is the mean log-prob of an
    unpadded pass over that prompt and response alone, EOS included, prompt tokens excluded."""
    pool = [Example(id="a", prompt="tell me a story", kind="pairs",
                    responses=(Response("once upon a time the end"), Response("no"))),
            Example(id="b", prompt="tell me", kind="pairs",
                    responses=(Response("the end"), Response("once upon a time once upon a time the end")))]
    model, tokenizer, max_prompt, max_response = _model(), _tokenizer(), 16, 6
    ln = length_normalised_logps(pool, tokenizer, partial(sequence_logps, model, tokenizer), max_prompt,
                                 max_response)
    assert ln.shape == (2, 2)
    for p, ex in enumerate(pool):
        prompt_ids = encode_prompts(tokenizer, [ex.prompt], max_prompt)[0]
        for j, response in enumerate(ex.responses):
            response_ids = encode_responses(tokenizer, [ex.prompt], [response.text], max_response)[0]
            with torch.no_grad():
                logits = model(input_ids=torch.tensor([prompt_ids + response_ids])).logits[0].double()
            predicting = logits[len(prompt_ids) - 1:len(prompt_ids) - 1 + len(response_ids)].log_softmax(-1)
            token_logps = predicting[torch.arange(len(response_ids)), torch.tensor(response_ids)]
            assert ln[p, j] == pytest.approx(float(token_logps.mean()), rel=1e-5)
    assert len(encode_responses(tokenizer, [pool[1].prompt], [pool[1].responses[1].text], max_response)[0]) == 6


def test_a_uniform_model_has_ln_minus_log_vocabulary_whatever_the_length() -> None:
    model = _model()
    with torch.no_grad():
        model.lm_head.weight.zero_()
    pool = [Example(id="a", prompt="tell me", kind="pairs", responses=(Response("the end"), Response("no")))]
    ln = length_normalised_logps(pool, _tokenizer(), partial(sequence_logps, model, _tokenizer()), 16, 16)
    np.testing.assert_allclose(ln, -math.log(len(WORDS)), rtol=1e-6)
    selection = parse_selector("implicit_margin").select(pool, implicit=ln)
    assert selection.kept_scores == pytest.approx([0.0], abs=1e-6)


# ---- the gym's pool, end to end ----------------------------------------------------------------------

def test_selectors_on_the_smoke_gym_pool_use_its_gold_reward_and_reference_model(smoke_gym, smoke_config) -> None:
    """The runner's wiring on real generated pairs: r* from ``meta['gold']`` (the gym's gold reward of each
    response), LN under the gym's reference model; alignment potential keeps ceil(0.4 N) pairs whose gold
    margin beats the pool's and whose implicit gap is below it."""
    from bench.gym.reward import gold_reward
    from bench.models.loading import load_causal_lm, load_tokenizer

    pool = smoke_gym.dataset("pairs")
    explicit = explicit_scores_from_meta(pool)
    assert explicit[:5].tolist() == [[gold_reward(ex.prompt, r.text) for r in ex.responses] for ex in pool[:5]]
    model, tokenizer = load_causal_lm(smoke_gym.reference_dir), load_tokenizer(smoke_gym.reference_dir)
    data = smoke_config.data
    implicit = length_normalised_logps(pool, tokenizer, partial(sequence_logps, model, tokenizer),
                                       data.max_prompt_tokens, data.max_response_tokens)
    assert implicit.shape == (len(pool), 2) and np.all(implicit < 0)
    selection = parse_selector("alignment_potential").select(pool, explicit, implicit)
    kept = np.array([ex.id in set(selection.kept_ids) for ex in pool])
    assert kept.sum() == math.ceil(0.4 * len(pool))
    explicit_margin, implicit_gap = explicit[:, 0] - explicit[:, 1], np.abs(implicit[:, 0] - implicit[:, 1])
    assert explicit_margin[kept].mean() > explicit_margin.mean()
    assert implicit_gap[kept].mean() < implicit_gap.mean()
