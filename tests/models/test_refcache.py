"""The reference cache: one pass per content key, hits when nothing changed, misses when anything did."""

from __future__ import annotations

from dataclasses import replace

import torch

from bench.data.tokenize import collate_rows
from bench.models.loading import load_causal_lm
from bench.models.logprobs import response_scores
from bench.models.refcache import ReferenceCache


def _cache(root, gym, data, model_id="ref-a"):
    return ReferenceCache(root, model_id, data, lambda: load_causal_lm(gym.reference_dir, dtype="float32"))


def test_values_equal_a_direct_reference_pass(tmp_path, smoke_gym, smoke_pairs):
    _, data = smoke_pairs
    cache = _cache(tmp_path, smoke_gym, data)
    cache.ensure(["responses"])
    rows = torch.tensor([3, 0, 5])
    batch = collate_rows(data, rows)
    with torch.no_grad():
        direct = response_scores(load_causal_lm(smoke_gym.reference_dir, dtype="float32"), batch)
    torch.testing.assert_close(cache.scores(batch).logps, direct.logps, rtol=1e-5, atol=1e-5)


def test_hit_when_equal_and_no_model_load(tmp_path, smoke_gym, smoke_pairs):
    _, data = smoke_pairs
    first = _cache(tmp_path, smoke_gym, data)
    report = first.ensure(["responses", "mismatched"])
    assert sorted(report.computed) == ["mismatched", "responses"] and first.model_loads == 1
    again = _cache(tmp_path, smoke_gym, data)
    report = again.ensure(["responses", "mismatched"])
    assert report.computed == [] and again.model_loads == 0


def test_miss_when_any_part_of_the_key_changes(tmp_path, smoke_gym, smoke_pairs):
    _, data = smoke_pairs
    base = _cache(tmp_path, smoke_gym, data)
    base.ensure(["responses"])
    other_model = _cache(tmp_path, smoke_gym, data, model_id="ref-b")
    other_data = _cache(tmp_path, smoke_gym, replace(data, fingerprint=data.fingerprint + "x"))
    keys = {base.key("responses"), other_model.key("responses"), other_data.key("responses"),
            base.key("mismatched")}
    assert len(keys) == 4
    assert other_model.ensure(["responses"]).computed == ["responses"]
    assert other_data.ensure(["responses"]).computed == ["responses"]


def test_tokenisation_settings_change_the_data_fingerprint(smoke_gym, smoke_pairs):
    from bench.data.tokenize import tokenize_dataset

    tokenizer, data = smoke_pairs
    shorter = tokenize_dataset(smoke_gym.dataset("pairs"), tokenizer, 64, 8, tokenizer_id="smoke")
    other_tokenizer = tokenize_dataset(smoke_gym.dataset("pairs"), tokenizer, 64, 16, tokenizer_id="other")
    assert len({data.fingerprint, shorter.fingerprint, other_tokenizer.fingerprint}) == 3


def test_sae_topk_item_equals_the_top_k_of_the_pooled_codes_and_is_keyed_by_the_sae(tmp_path, smoke_gym,
                                                                                     smoke_pairs):
    from bench.models.refcache import sae_item
    from bench.models.residual import PooledFeatures
    from bench.models.sae import SparseAutoencoder

    _, data = smoke_pairs
    torch.manual_seed(0)
    sae = SparseAutoencoder(32, 12, "standard", layer=0)
    for parameter in sae.parameters():
        parameter.data.normal_()
    sae.fingerprint = "sae-a"
    load = lambda: load_causal_lm(smoke_gym.reference_dir, dtype="float32")  # noqa: E731
    cache = ReferenceCache(tmp_path, "ref-a", data, load, sae=sae)
    item = sae_item(0, 5)
    assert cache.ensure(["responses", item]).computed == sorted(["responses", item])
    rows = torch.tensor([4, 1])
    batch = collate_rows(data, rows)
    with torch.no_grad():
        codes = response_scores(load(), batch, pooled=PooledFeatures(0, sae.encode)).pooled.view(2, 2, 12)
    indices, values = cache.sae_topk(batch, 0, 5)
    assert indices.shape == values.shape == (2, 2, 5)
    torch.testing.assert_close(values, codes.topk(5, dim=-1).values, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(codes.gather(-1, indices), values, rtol=1e-5, atol=1e-5)
    again = ReferenceCache(tmp_path, "ref-a", data, load, sae=sae)
    assert again.ensure([item]).computed == [] and again.model_loads == 0  # read back from disk
    torch.testing.assert_close(again.sae_topk(batch, 0, 5)[1], values)
    other = SparseAutoencoder(32, 12, "standard", layer=0)
    other.fingerprint = "sae-b"
    assert ReferenceCache(tmp_path, "ref-a", data, load, sae=other).key(item) != cache.key(item)
    assert cache.key(sae_item(0, 6)) != cache.key(item) != cache.key(sae_item(1, 5))
