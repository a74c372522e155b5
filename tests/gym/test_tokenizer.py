"""The gym tokenizer: a loadable HF tokenizer, exact round trips, and the chat template's shape."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from transformers import AutoTokenizer

from bench.gym.language import Language
from bench.gym.tokenizer import ROLE_MARKERS, SPECIAL_TOKENS, build_tokenizer


@pytest.fixture(scope="module")
def language() -> Language:
    return Language()


@pytest.fixture(scope="module")
def saved(language: Language, tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("gym-tokenizer")
    build_tokenizer(language, directory)
    return directory


@pytest.fixture(scope="module")
def tokenizer(saved: Path):
    return AutoTokenizer.from_pretrained(str(saved))


@pytest.fixture(scope="module")
def texts(language: Language) -> list[str]:
    rng = np.random.default_rng(0)
    prompts = language.prompts()
    responses = [language.sample_response(prompts[i], rng) for i in rng.integers(len(prompts), size=500)]
    return prompts[::5] + responses


def test_auto_tokenizer_loads_the_saved_directory(tokenizer, language: Language) -> None:
    assert len(tokenizer) == len(language.vocabulary) + len(SPECIAL_TOKENS)
    assert tokenizer.pad_token == "<pad>" and tokenizer.pad_token_id == 0
    assert (tokenizer.bos_token, tokenizer.eos_token, tokenizer.unk_token) == ("<s>", "</s>", "<unk>")
    assert tokenizer.padding_side == "right"
    assert tokenizer.chat_template


def test_one_token_per_word_and_no_unknowns(tokenizer, texts: list[str]) -> None:
    for text in texts:
        ids = tokenizer(text, add_special_tokens=True)["input_ids"]
        assert len(ids) == len(text.split())
        assert tokenizer.unk_token_id not in ids


def test_decode_inverts_encode(tokenizer, texts: list[str]) -> None:
    for text in texts:
        assert tokenizer.decode(tokenizer(text)["input_ids"]) == text


def test_unknown_words_map_to_unk(tokenizer) -> None:
    ids = tokenizer("the phone is zorblatt .")["input_ids"]
    assert ids[3] == tokenizer.unk_token_id


def test_chat_template_ends_the_prompt_with_the_assistant_marker(tokenizer) -> None:
    prompt = "review the phone ."
    rendered = tokenizer.apply_chat_template([{"role": "user", "content": prompt}], tokenize=False,
                                             add_generation_prompt=True)
    assert rendered == "<s> <|user|> review the phone . <|assistant|>"
    ids = tokenizer(rendered, add_special_tokens=False)["input_ids"]
    assert ids[0] == tokenizer.bos_token_id
    assert ids[-1] == tokenizer.convert_tokens_to_ids("<|assistant|>")
    assert tokenizer.unk_token_id not in ids


def test_chat_template_closes_the_assistant_turn_with_eos(tokenizer) -> None:
    messages = [{"role": "user", "content": "review the phone ."},
                {"role": "assistant", "content": "the screen is good ."}]
    rendered = tokenizer.apply_chat_template(messages, tokenize=False)
    assert rendered == "<s> <|user|> review the phone . <|assistant|> the screen is good . </s>"
    decoded = tokenizer.decode(tokenizer(rendered)["input_ids"], skip_special_tokens=True)
    assert decoded == "review the phone . the screen is good ."


def test_role_markers_are_single_special_tokens(tokenizer) -> None:
    for marker in ROLE_MARKERS:
        ids = tokenizer(marker, add_special_tokens=False)["input_ids"]
        assert len(ids) == 1 and ids[0] != tokenizer.unk_token_id


def test_ids_are_the_same_on_every_build(language: Language, tmp_path: Path, tokenizer) -> None:
    again = build_tokenizer(language, tmp_path / "again")
    assert again.get_vocab() == tokenizer.get_vocab()
