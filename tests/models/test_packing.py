"""Packed (padding-free) scoring equals padded scoring, and models it cannot reproduce fall back."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from transformers import LlamaConfig, LlamaForCausalLM

from bench.data.tokenize import collate
from bench.models import head_logps, logprobs
from bench.models.logprobs import response_scores
from bench.models.packing import pack, packing_reproduces_padding


def _config() -> LlamaConfig:
    return LlamaConfig(vocab_size=40, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                       num_key_value_heads=2, intermediate_size=48, max_position_embeddings=128, pad_token_id=0)


def _model(cls=LlamaForCausalLM) -> LlamaForCausalLM:
    torch.manual_seed(0)
    return cls(_config())


def _batch():
    rng = np.random.default_rng(3)
    prompts = [rng.integers(1, 40, size=int(n)).tolist() for n in (3, 9, 5, 4, 2)]
    lengths = ((2, 30), (4, 3), (25, 6), (1, 2), (7, 7))
    responses = [[rng.integers(1, 40, size=int(n)).tolist() for n in pair] for pair in lengths]
    return collate(prompts, responses, pad_id=0)


def test_every_response_token_is_predicted_from_its_own_sequence_once() -> None:
    batch = _batch()
    packed = pack(batch)
    capacity = packed.input_ids.shape[1]
    assert capacity == int((batch.attention_mask.sum(1)).max())
    assert packed.targets.numel() == int(batch.response_mask.sum())
    rows, cols = packed.layout
    torch.testing.assert_close(packed.targets, batch.response_ids[rows, cols])
    flat = packed.input_ids.reshape(-1)
    # the token after each predicting position is the response token it predicts
    torch.testing.assert_close(flat[packed.source + 1], packed.targets)
    assert packed.input_ids.shape[0] < batch.input_ids.shape[0]  # fewer rows than sequences: real packing


@pytest.mark.parametrize("full_distribution", [False, True])
def test_packed_scores_and_gradients_equal_padded_ones(full_distribution: bool) -> None:
    batch = _batch()
    results = []
    for packing in (True, False):
        model = _model()
        scores = response_scores(model, batch, full_distribution=full_distribution, packing=packing,
                                 overhead_tokens=10**6)
        loss = scores.logps.pow(2).sum()
        if full_distribution:
            loss = loss + (scores.log_distributions * scores.mask[..., None]).sum()
        loss.backward()
        results.append((scores, [p.grad.clone() for p in model.parameters()], model))
    (packed, grads_p, packed_model), (padded, grads_s, _) = results
    assert packing_reproduces_padding(packed_model, batch, None)  # the verdict was cached as True
    torch.testing.assert_close(packed.token_logps, padded.token_logps, atol=1e-5, rtol=1e-5)
    if full_distribution:
        mask = batch.response_mask[..., None]
        torch.testing.assert_close(packed.log_distributions * mask, padded.log_distributions * mask,
                                   atol=1e-5, rtol=1e-5)
    for a, b in zip(grads_p, grads_s, strict=True):
        torch.testing.assert_close(a, b, atol=1e-4, rtol=1e-4)


class _ScaledLogits(LlamaForCausalLM):
    """Logits that are not the output head of the final hidden state (like soft-capped models)."""

    def forward(self, *args, **kwargs):
        out = super().forward(*args, **kwargs)
        out.logits = 2.0 * out.logits
        return out


def test_a_model_whose_logits_packing_cannot_reproduce_is_scored_padded() -> None:
    batch = _batch()
    model = _model(_ScaledLogits)
    scores = response_scores(model, batch)
    assert not packing_reproduces_padding(model, batch, None)
    expected = response_scores(model, batch, packing=False)
    torch.testing.assert_close(scores.token_logps, expected.token_logps)


def test_the_probe_runs_once_per_architecture_not_once_per_checkpoint(monkeypatch) -> None:
    batch = _batch()
    assert packing_reproduces_padding(_model(), batch, None)
    probes = []
    monkeypatch.setattr("bench.models.packing.packed_scores", lambda *a, **k: probes.append(1))
    torch.manual_seed(1)
    retrained = LlamaForCausalLM(_config())  # other weights, same architecture: the verdict carries over
    assert packing_reproduces_padding(retrained, batch, None) and probes == []
    wider = LlamaForCausalLM(LlamaConfig(**{**_config().to_dict(), "intermediate_size": 64}))
    # another config is probed again (the stub returns nothing to compare, so its verdict is "no")
    assert not packing_reproduces_padding(wider, batch, None) and probes == [1]


@pytest.mark.parametrize("overhead_tokens", [10**6, 1])  # one padded call; length buckets
def test_padded_scores_through_the_chunked_head_equal_the_models_own_logits(overhead_tokens, monkeypatch) -> None:
    """The GPU's path: padded rows, the head applied to response positions only, a few positions per chunk."""
    monkeypatch.setitem(head_logps.CHUNK_LOGITS, "cpu", 3 * 40)  # 3 positions per chunk of the 40-token vocabulary
    batch = _batch()
    results = []
    for through_head in (True, False):
        model = _model()
        if through_head:
            scores = response_scores(model, batch, packing=False, overhead_tokens=overhead_tokens).token_logps
        else:
            scores = logprobs._score_rows(model, batch, None, False)[0]  # the model's own forward and logits
        scores.pow(2).sum().backward()
        results.append((scores, [p.grad.clone() for p in model.parameters()]))
    (chunked, grads_c), (own, grads_o) = results
    torch.testing.assert_close(chunked, own, atol=1e-5, rtol=1e-5)
    for a, b in zip(grads_c, grads_o, strict=True):
        torch.testing.assert_close(a, b, atol=1e-4, rtol=1e-4)


def test_in_bf16_the_probe_accepts_rounding_and_still_rejects_logits_that_are_not_the_head() -> None:
    """bf16 rounds long sequences' log-probs apart by a few hundredths; a scaled head moves them by their size."""
    batch = _batch()
    assert packing_reproduces_padding(_model().to(torch.bfloat16), batch, logprobs._padded_token_logps)
    assert not packing_reproduces_padding(_model(_ScaledLogits).to(torch.bfloat16), batch,
                                          logprobs._padded_token_logps)
