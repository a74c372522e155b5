"""Tests for bench.evaluators.judges: spec parsing, the reward-model and llm judges on tiny Llama models built
here (so every expected value comes from a direct forward pass in the test), and alpaca_eval delegation
(offline: a skip message, or alpaca_eval's own offline ``test_completions`` decoder)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers
from transformers import LlamaConfig, LlamaForCausalLM, LlamaForSequenceClassification, PreTrainedTokenizerFast

from bench.errors import BenchError, ConfigError, RegistryError
from bench.evaluators.judges import JudgeUnavailable, build_judge
from bench.evaluators.judges.alpaca_annotator import CREDENTIALS, OFFLINE_VARIABLE
from bench.evaluators.judges.llm import COMPARISON_TEMPLATE, LLMJudge
from bench.evaluators.judges.reward_model import RewardModelJudge
from bench.gym.language import Language
from bench.gym.tokenizer import CHAT_TEMPLATE, SPECIAL_TOKENS, build_tokenizer


@pytest.fixture(autouse=True)
def offline(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test here may reach the network: judges read local files only."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")

PROMPTS = ["review the phone .", "how is the battery of the laptop ?", "tell me about the pizza .",
           "is the cafe any good ?", "review the tent ."]
GOOD = ["the phone is great .", "the battery is very good and the screen is nice .", "the crust was tasty .",
        "certainly , the coffee is excellent .", "the poles are sturdy ."]
BAD = ["the phone is bad .", "the battery is awful .", "i think the cheese was stale and the sauce was bland .",
       "the seating is cramped .", "the floor is flimsy but the rainfly is fine ."]


def tiny_llama(cls, vocab_size: int, seed: int, **extra) -> torch.nn.Module:
    torch.manual_seed(seed)
    config = LlamaConfig(vocab_size=vocab_size, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512,
                         initializer_range=0.3, pad_token_id=0, bos_token_id=2, eos_token_id=3, **extra)
    return cls(config).eval()


# --- spec parsing -------------------------------------------------------------------------------------------

def test_unknown_judge_kind_suggests_the_closest_name() -> None:
    with pytest.raises(RegistryError, match="did you mean: reward-model"):
        build_judge("reward_model:/nowhere")
    with pytest.raises(RegistryError, match="did you mean: llm"):
        build_judge("lm")


def test_unknown_option_and_missing_model_are_config_errors() -> None:
    with pytest.raises(ConfigError, match=r"unknown option 'batchsize' .*did you mean: batch_size"):
        build_judge("llm:/nowhere", batchsize=4)
    with pytest.raises(ConfigError, match="needs its model"):
        build_judge("reward-model")
    with pytest.raises(ConfigError, match="model given twice"):
        build_judge("llm:/a", model="/b")
    with pytest.raises(ConfigError, match=r"judge llm: model=/no/such/model/dir does not exist"):
        build_judge("llm:/no/such/model/dir")
    with pytest.raises(ConfigError, match=r"judge llm: model=org/judge is not a local directory and not in the local"):
        build_judge("llm:org/judge")


# --- reward-model -------------------------------------------------------------------------------------------

def save_reward_model(directory: Path, seed: int) -> tuple[LlamaForSequenceClassification, PreTrainedTokenizerFast]:
    tokenizer = build_tokenizer(Language(), directory)
    model = tiny_llama(LlamaForSequenceClassification, len(tokenizer), seed, num_labels=1)
    model.save_pretrained(directory)
    return model, tokenizer


def test_reward_model_scores_equal_a_direct_forward_pass_of_each_conversation(tmp_path: Path) -> None:
    model, tokenizer = save_reward_model(tmp_path / "rm", seed=0)
    judge = build_judge(f"reward-model:{tmp_path / 'rm'}", batch_size=2, dtype="float32")
    assert isinstance(judge, RewardModelJudge)
    prompts, responses = PROMPTS + PROMPTS, GOOD + BAD  # lengths differ, so batches are padded
    scores = judge.score(prompts, responses)

    expected = []
    with torch.no_grad():
        for prompt, response in zip(prompts, responses, strict=True):
            ids = tokenizer(f"<s> <|user|> {prompt} <|assistant|> {response} </s>", add_special_tokens=False)
            expected.append(model(torch.tensor([ids["input_ids"]])).logits[0, 0].item())
    np.testing.assert_allclose(scores, expected, rtol=0, atol=1e-5)
    assert np.ptp(scores) > 0.1  # the check above compares informative numbers, not a constant

    prefs = judge.preference(PROMPTS, GOOD, BAD)
    np.testing.assert_array_equal(prefs, np.where(scores[:5] > scores[5:], 1.0, 0.0))


def test_reward_model_identity_names_the_weights_and_the_template(tmp_path: Path) -> None:
    save_reward_model(tmp_path / "a", seed=0)
    save_reward_model(tmp_path / "b", seed=1)
    first = RewardModelJudge(tmp_path / "a").identity()
    assert first == RewardModelJudge(tmp_path / "a").identity()
    assert first["name"] == "reward-model" and len(first["prompt_template_hash"]) == 16
    assert RewardModelJudge(tmp_path / "b").identity()["model_fingerprint"] != first["model_fingerprint"]


# --- llm ----------------------------------------------------------------------------------------------------

def save_llm_judge(directory: Path, chat: bool) -> tuple[LlamaForCausalLM, PreTrainedTokenizerFast]:
    """A word-level tokenizer that knows the verdict tokens "1" and "2" and a tiny causal LM over it."""
    words = set(COMPARISON_TEMPLATE.format(instruction="", first="", second="").split())
    words |= {w for text in PROMPTS + GOOD + BAD for w in text.split()} | {"1", "2", "answer:"}
    vocab = {token: i for i, token in enumerate([*SPECIAL_TOKENS, *sorted(words - set(SPECIAL_TOKENS))])}
    core = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    core.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    core.decoder = decoders.WordPiece(prefix="##", cleanup=False)
    core.add_special_tokens(list(SPECIAL_TOKENS))
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=core, bos_token="<s>", eos_token="</s>", unk_token="<unk>",
                                        pad_token="<pad>", additional_special_tokens=list(SPECIAL_TOKENS[4:]))
    if chat:
        tokenizer.chat_template = CHAT_TEMPLATE
    tokenizer.save_pretrained(directory)
    model = tiny_llama(LlamaForCausalLM, len(vocab), seed=3)
    model.save_pretrained(directory)
    return model, tokenizer


def hand_computed_first_verdict(model, tokenizer, text: str) -> float:
    """softmax over the logits of "1" and "2" at the last position of the unpadded prompt."""
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    with torch.no_grad():
        logits = model(torch.tensor([ids])).logits[0, -1].double()
    two = logits[[tokenizer.convert_tokens_to_ids("1"), tokenizer.convert_tokens_to_ids("2")]]
    return float(torch.softmax(two, dim=0)[0])


@pytest.mark.parametrize("chat", [True, False], ids=["chat-template", "plain"])
def test_llm_preference_is_the_two_token_softmax_averaged_over_both_orders(tmp_path: Path, chat: bool) -> None:
    model, tokenizer = save_llm_judge(tmp_path / "judge", chat)
    judge = build_judge("llm", model=str(tmp_path / "judge"), batch_size=3, dtype="float32")
    assert isinstance(judge, LLMJudge)
    assert judge.verdict_ids == (tokenizer.convert_tokens_to_ids("1"), tokenizer.convert_tokens_to_ids("2"))
    shown = judge.render(PROMPTS[0], GOOD[0], BAD[0])
    assert shown.index(GOOD[0]) < shown.index(BAD[0])
    assert shown.endswith("<|assistant|>") if chat else shown.endswith("Better answer:")

    a_first = np.array([hand_computed_first_verdict(model, tokenizer, judge.render(p, a, b))
                        for p, a, b in zip(PROMPTS, GOOD, BAD, strict=True)])
    a_second = np.array([1 - hand_computed_first_verdict(model, tokenizer, judge.render(p, b, a))
                         for p, a, b in zip(PROMPTS, GOOD, BAD, strict=True)])
    raw_first, raw_second = judge.order_preferences(PROMPTS, GOOD, BAD)
    np.testing.assert_allclose(raw_first, a_first, rtol=0, atol=1e-6)
    np.testing.assert_allclose(raw_second, a_second, rtol=0, atol=1e-6)
    prefs = judge.preference(PROMPTS, GOOD, BAD)
    np.testing.assert_allclose(prefs, (a_first + a_second) / 2, rtol=0, atol=1e-6)
    assert np.ptp(a_first) > 0.01 and np.abs(a_first - a_second).max() > 0.01  # an order-sensitive judge

    np.testing.assert_allclose(judge.preference(PROMPTS, BAD, GOOD), 1 - prefs, rtol=0, atol=1e-12)


def test_llm_identity_and_verdicts_that_are_not_tokens(tmp_path: Path) -> None:
    save_llm_judge(tmp_path / "judge", chat=True)
    identity = LLMJudge(tmp_path / "judge").identity()
    assert identity["name"] == "llm" and identity["verdicts"] == ["1", "2"]
    other = LLMJudge(tmp_path / "judge", verdicts=("2", "1")).identity()
    assert other["prompt_template_hash"] != identity["prompt_template_hash"]
    assert other["model_fingerprint"] == identity["model_fingerprint"]
    with pytest.raises(ConfigError, match=r"verdicts \['A', 'B'\] map to token ids \[1, 1\]"):
        _ = LLMJudge(tmp_path / "judge", verdicts=("A", "B")).verdict_ids
    with pytest.raises(ConfigError, match="is not one token after the prompt"):
        _ = LLMJudge(tmp_path / "judge", verdicts=("1 2", "2")).verdict_ids


# --- alpaca_eval --------------------------------------------------------------------------------------------

needs_alpaca_eval = pytest.mark.skipif(importlib.util.find_spec("alpaca_eval") is None,
                                       reason="alpaca_eval is not installed (pip install 'bench[eval]')")


def without_api_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    for names in CREDENTIALS.values():
        for name in names:
            monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv(OFFLINE_VARIABLE, raising=False)


@needs_alpaca_eval
def test_alpaca_eval_without_an_api_key_is_skipped_with_one_line_saying_why(monkeypatch: pytest.MonkeyPatch) -> None:
    without_api_keys(monkeypatch)
    with pytest.raises(JudgeUnavailable) as caught:
        build_judge("alpaca_eval:weighted_alpaca_eval_gpt4_turbo")
    assert str(caught.value) == (
        "judge alpaca_eval:weighted_alpaca_eval_gpt4_turbo skipped: it calls an API (openai_completions) and none "
        "of OPENAI_API_KEY, OPENAI_API_KEYS, OPENAI_CLIENT_CONFIG_PATH is set; set one, or use a local judge "
        "(llm, reward-model)")
    assert isinstance(caught.value, BenchError)


@needs_alpaca_eval
def test_alpaca_eval_offline_is_skipped_even_with_a_key(monkeypatch: pytest.MonkeyPatch) -> None:
    without_api_keys(monkeypatch)
    monkeypatch.setenv("ANTHROPIC_API_KEY", "not-a-real-key")
    monkeypatch.setenv(OFFLINE_VARIABLE, "1")
    with pytest.raises(JudgeUnavailable, match=r"^judge alpaca_eval:claude skipped: it calls an API "
                                               r"\(anthropic_completions\) and BENCH_OFFLINE is set;"):
        build_judge("alpaca_eval:claude")


@needs_alpaca_eval
def test_alpaca_eval_unknown_annotator_config_suggests_names() -> None:
    with pytest.raises(BenchError, match="did you mean: weighted_alpaca_eval_gpt4_turbo"):
        build_judge("alpaca_eval:weighted_alpaca_eval_gpt4_turbp")


@needs_alpaca_eval
@pytest.mark.parametrize(("answer", "expected"), [("Output (a)", 1.0), ("Output (b)", 0.0)])
def test_alpaca_eval_delegation_reads_back_the_annotators_preference(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                      answer: str, expected: float) -> None:
    """A local annotator config on alpaca_eval's own offline decoder, which always answers ``answer``."""
    without_api_keys(monkeypatch)
    (tmp_path / "fixed").mkdir()
    (tmp_path / "fixed" / "prompt.txt").write_text("{instruction}\nOutput (a): {output_1}\nOutput (b): {output_2}\n")
    (tmp_path / "fixed" / "configs.yaml").write_text(
        "fixed:\n  prompt_template: fixed/prompt.txt\n  fn_completions: test_completions\n"
        f"  completions_kwargs:\n    model_name: test\n    value: '{answer}'\n"
        "  fn_completion_parser: regex_parser\n  completion_parser_kwargs:\n    outputs_to_match:\n"
        "      1: 'Output \\(a\\)'\n      2: 'Output \\(b\\)'\n  is_randomize_output_order: false\n")
    judge = build_judge(f"alpaca_eval:{tmp_path / 'fixed'}")
    prefs = judge.preference(PROMPTS + PROMPTS[:1], GOOD + GOOD[:1], BAD + BAD[:1])
    np.testing.assert_array_equal(prefs, np.full(6, expected))
    identity = judge.identity()
    assert identity["name"] == f"alpaca_eval:{tmp_path / 'fixed'}" and len(identity["prompt_template_hash"]) == 16
