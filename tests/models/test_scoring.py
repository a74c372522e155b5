"""Tests for bench.models.scoring: predictive entropy of a model along given samples."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from tokenizers import Tokenizer, models, pre_tokenizers
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

from bench.data.tokenize import encode_prompts, encode_responses
from bench.models.scoring import logps_and_token_entropies, mean_token_entropy, sequence_logps

WORDS = ["<pad>", "</s>", "say", "hello", "world", "again", "and", "more"]
PROMPTS = ["say hello", "say world and more"]
SAMPLES = [["hello", "hello world again and more"], ["world world", "again"]]  # ragged: padding in batches


def _tokenizer() -> PreTrainedTokenizerFast:
    core = Tokenizer(models.WordLevel(vocab={w: i for i, w in enumerate(WORDS)}, unk_token="<pad>"))
    core.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    return PreTrainedTokenizerFast(tokenizer_object=core, pad_token="<pad>", eos_token="</s>")


def _model(vocab: int, zero_head: bool) -> LlamaForCausalLM:
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=vocab, hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                         num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=64,
                         tie_word_embeddings=False)
    model = LlamaForCausalLM(config).float()
    if zero_head:
        with torch.no_grad():
            model.lm_head.weight.zero_()  # every logit 0: the uniform distribution at every position
    return model


def test_a_uniform_model_has_entropy_log_vocabulary_on_every_sample() -> None:
    vocab = 23  # larger than the tokenizer's ids: the distribution is over the model's output vocabulary
    _, entropy = logps_and_token_entropies(_model(vocab, zero_head=True), _tokenizer(), PROMPTS, SAMPLES, 16, 16)
    assert entropy.shape == (2, 2)
    np.testing.assert_allclose(entropy, math.log(vocab), rtol=1e-6)


def test_entropy_equals_a_direct_unpadded_pass_per_sample() -> None:
    """Batched with left and right padding, each sample's mean entropy is that of scoring it alone."""
    model, tokenizer = _model(len(WORDS), zero_head=False), _tokenizer()
    logps, entropy = logps_and_token_entropies(model, tokenizer, PROMPTS, SAMPLES, 16, 16)
    # the log-probs read off the same pass are those of the log-prob-only scorer
    np.testing.assert_allclose(logps, sequence_logps(model, tokenizer, PROMPTS, SAMPLES, 16, 16), rtol=1e-5)
    for p, prompt in enumerate(PROMPTS):
        prompt_ids = encode_prompts(tokenizer, [prompt], 16)[0]
        for j, sample in enumerate(SAMPLES[p]):
            response_ids = encode_responses(tokenizer, [prompt], [sample], 16)[0]  # the reply's ending is predicted
            ids = torch.tensor([prompt_ids + response_ids])
            with torch.no_grad():
                logits = model(input_ids=ids).logits[0].double()
            # positions len(prompt)-1 .. end-1 predict the response tokens
            predicting = logits[len(prompt_ids) - 1:len(prompt_ids) - 1 + len(response_ids)]
            probabilities = predicting.softmax(-1)
            expected = float(-(probabilities * probabilities.log()).sum(-1).mean())
            assert entropy[p, j] == pytest.approx(expected, rel=1e-4)


def test_mean_token_entropy_excludes_padding() -> None:
    # two positions: uniform over 4 (entropy log 4) and certain (entropy 0); a third padded position is uniform
    uniform, certain = [0.25] * 4, [1.0, 0.0, 0.0, 0.0]
    log_dist = torch.tensor([[uniform, certain, uniform]]).log()
    mask = torch.tensor([[True, True, False]])
    assert float(mean_token_entropy(log_dist, mask)[0]) == pytest.approx(math.log(4) / 2)
    assert float(mean_token_entropy(log_dist, torch.zeros_like(mask))[0]) == 0.0  # no token: 0, not NaN


def test_sequence_logps_of_a_uniform_model_is_length_times_log_uniform() -> None:
    vocab = 11
    logps = sequence_logps(_model(vocab, zero_head=True), _tokenizer(), PROMPTS, SAMPLES, 16, 16)
    lengths = np.array([[len(s.split()) + 1 for s in group] for group in SAMPLES])  # + EOS
    np.testing.assert_allclose(logps, -lengths * math.log(vocab), rtol=1e-5)
