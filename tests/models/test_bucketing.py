"""Length buckets: the plan is the true optimum, and bucketed scoring equals unbucketed scoring."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from transformers import LlamaConfig, LlamaForCausalLM

from bench.data.tokenize import collate
from bench.models.bucketing import plan_buckets
from bench.models.logprobs import response_scores


def _cost(groups, prompts, responses, overhead):
    return sum(len(g) * (max(prompts[i] for i in g) + max(responses[i] for i in g)) + overhead for g in groups)


def _best_by_brute_force(prompts, responses, overhead, max_buckets):
    order = sorted(range(len(prompts)), key=lambda i: (responses[i], prompts[i]))
    best = float("inf")
    for k in range(1, max_buckets + 1):
        for cuts in itertools.combinations(range(1, len(order)), k - 1):
            bounds = [0, *cuts, len(order)]
            groups = [order[a:b] for a, b in itertools.pairwise(bounds)]
            best = min(best, _cost(groups, prompts, responses, overhead))
    return best


@pytest.mark.parametrize("seed", range(6))
def test_plan_is_the_optimum_over_contiguous_sorted_groups(seed: int) -> None:
    rng = np.random.default_rng(seed)
    prompts = rng.integers(3, 15, size=9).tolist()
    responses = rng.integers(1, 40, size=9).tolist()
    overhead = int(rng.integers(0, 60))
    groups = plan_buckets(prompts, responses, overhead_tokens=overhead, max_buckets=3)
    assert sorted(np.concatenate(groups).tolist()) == list(range(9))
    assert _cost([g.tolist() for g in groups], prompts, responses, overhead) == \
        _best_by_brute_force(prompts, responses, overhead, 3)


def test_uniform_lengths_or_a_large_overhead_keep_one_group_in_order() -> None:
    assert [g.tolist() for g in plan_buckets([5] * 6, [7] * 6)] == [list(range(6))]
    assert [g.tolist() for g in plan_buckets([5, 9, 4], [1, 40, 2], overhead_tokens=10_000)] == [[0, 1, 2]]


def test_one_long_response_gets_its_own_group() -> None:
    groups = plan_buckets([6] * 8, [4, 5, 4, 40, 5, 4, 6, 5], overhead_tokens=10)
    assert [g.tolist() for g in groups][-1] == [3]


def _model() -> LlamaForCausalLM:
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=40, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                         num_key_value_heads=2, intermediate_size=48, max_position_embeddings=128, pad_token_id=0)
    return LlamaForCausalLM(config)


def _batch():
    rng = np.random.default_rng(1)
    prompts = [rng.integers(1, 40, size=int(n)).tolist() for n in (3, 9, 5, 4)]
    responses = [[rng.integers(1, 40, size=int(n)).tolist() for n in pair] for pair in ((2, 30), (4, 3), (25, 6),
                                                                                        (1, 2))]
    return collate(prompts, responses, pad_id=0)


@pytest.mark.parametrize("full_distribution", [False, True])
def test_bucketed_scores_and_gradients_equal_one_padded_pass(full_distribution: bool) -> None:
    batch = _batch()
    assert len(plan_buckets(batch.attention_mask[:, :batch.response_start].sum(1).tolist(),
                            batch.response_mask.sum(1).tolist(), overhead_tokens=0)) > 1
    results = []
    for overhead in (0, 10_000):
        model = _model()
        scores = response_scores(model, batch, full_distribution=full_distribution, overhead_tokens=overhead,
                                 packing=False)
        loss = scores.logps.pow(2).sum()
        if full_distribution:
            loss = loss + (scores.log_distributions * scores.mask[..., None]).sum()
        loss.backward()
        results.append((scores, [p.grad.clone() for p in model.parameters()]))
    (bucketed, grads_b), (single, grads_s) = results
    torch.testing.assert_close(bucketed.token_logps, single.token_logps, atol=1e-5, rtol=1e-5)
    assert torch.equal(bucketed.token_logps[~batch.response_mask], torch.zeros_like(single.token_logps[
        ~batch.response_mask]))
    if full_distribution:
        mask = batch.response_mask[..., None]
        torch.testing.assert_close(bucketed.log_distributions * mask, single.log_distributions * mask,
                                   atol=1e-5, rtol=1e-5)
    for a, b in zip(grads_b, grads_s, strict=True):
        torch.testing.assert_close(a, b, atol=1e-4, rtol=1e-4)
