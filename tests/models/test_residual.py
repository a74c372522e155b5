"""The residual stream after block l, mean-pooled over response tokens, in the packed and padded paths."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from transformers import GPT2Config, GPT2LMHeadModel, LlamaConfig, LlamaForCausalLM

from bench.data.tokenize import collate
from bench.errors import BenchError
from bench.models.logprobs import response_scores
from bench.models.residual import PooledFeatures, block_output, decoder_layers

LAYERS = 3


def _model() -> LlamaForCausalLM:
    torch.manual_seed(0)
    return LlamaForCausalLM(LlamaConfig(vocab_size=40, hidden_size=16, num_hidden_layers=LAYERS,
                                        num_attention_heads=2, num_key_value_heads=2, intermediate_size=24,
                                        max_position_embeddings=128, pad_token_id=0))


def _batch():
    rng = np.random.default_rng(5)
    prompts = [rng.integers(1, 40, size=int(n)).tolist() for n in (3, 8, 5, 2)]
    lengths = ((2, 20), (4, 3), (15, 6), (1, 2))
    responses = [[rng.integers(1, 40, size=int(n)).tolist() for n in pair] for pair in lengths]
    return collate(prompts, responses, pad_id=0)


def _mean_residual_by_hand(model, batch, layer: int) -> torch.Tensor:
    """Each sequence alone, unpadded: mean over its response tokens of hidden_states[layer + 1]."""
    start = batch.response_start
    rows = []
    with torch.no_grad():
        for row in range(batch.input_ids.shape[0]):
            prompt = int(batch.attention_mask[row, :start].sum())
            response = int(batch.response_mask[row].sum())
            ids = batch.input_ids[row, start - prompt:start + response].unsqueeze(0)
            hidden = model(input_ids=ids, output_hidden_states=True).hidden_states[layer + 1][0]
            total = torch.zeros(hidden.shape[-1])
            for t in range(prompt, prompt + response):
                total += hidden[t]
            rows.append(total / response)
    return torch.stack(rows)


def test_decoder_layers_are_found_whatever_the_architecture_calls_them():
    llama = _model()
    assert decoder_layers(llama) is llama.model.layers
    gpt2 = GPT2LMHeadModel(GPT2Config(vocab_size=40, n_embd=16, n_layer=2, n_head=2, n_positions=32))
    assert decoder_layers(gpt2) is gpt2.transformer.h


def test_block_output_is_the_hidden_state_after_that_block():
    model, ids = _model(), torch.tensor([[3, 7, 1, 9, 4]])
    with torch.no_grad():
        expected = model(input_ids=ids, output_hidden_states=True).hidden_states
        for layer in range(LAYERS - 1):  # the last entry of hidden_states has the final norm applied
            with block_output(model, layer) as captured:
                model(input_ids=ids)
            torch.testing.assert_close(captured[0], expected[layer + 1])


def test_an_out_of_range_layer_is_a_one_line_error():
    model = _model()
    with pytest.raises(BenchError, match=r"layer 3 is out of range: LlamaForCausalLM has blocks 0\.\.2"), \
            block_output(model, 3):
        pass


@pytest.mark.parametrize("layer", [0, 1])
@pytest.mark.parametrize("path", ["packed", "padded", "bucketed"])
def test_pooled_residuals_are_the_mean_over_response_tokens(layer, path):
    model, batch = _model(), _batch()
    overhead = 0 if path == "bucketed" else 10**6
    with torch.no_grad():
        scores = response_scores(model, batch, packing=path == "packed", overhead_tokens=overhead,
                                 pooled=PooledFeatures(layer))
    torch.testing.assert_close(scores.pooled, _mean_residual_by_hand(model, batch, layer), atol=1e-5, rtol=1e-5)


def test_pooled_features_and_their_gradients_agree_between_packed_and_padded():
    batch = _batch()
    weight = torch.randn(16, 6, generator=torch.Generator().manual_seed(1))
    features = PooledFeatures(1, lambda residual: torch.relu(residual @ weight))
    results = []
    for packing in (True, False):
        model = _model()
        scores = response_scores(model, batch, packing=packing, overhead_tokens=10**6, pooled=features)
        (scores.pooled.pow(2).sum() + scores.logps.sum()).backward()
        results.append((scores.pooled.detach(), [p.grad.clone() for p in model.parameters()]))
    (packed, grads_p), (padded, grads_s) = results
    assert packed.shape == (8, 6)
    torch.testing.assert_close(packed, padded, atol=1e-5, rtol=1e-5)
    for a, b in zip(grads_p, grads_s, strict=True):
        torch.testing.assert_close(a, b, atol=1e-4, rtol=1e-4)


def test_without_pooling_nothing_is_captured():
    assert response_scores(_model(), _batch()).pooled is None
