"""Tests for bench.models.reference_margins: LN log-probs from the cache equal a direct model pass."""

from __future__ import annotations

from functools import partial

import numpy as np

from bench.data.selectors import length_normalised_logps
from bench.models.loading import load_causal_lm
from bench.models.refcache import ReferenceCache
from bench.models.reference_margins import length_normalised_reference_logps
from bench.models.scoring import sequence_logps


def test_cached_ln_logps_equal_a_direct_computation_on_the_same_rows(tmp_path, smoke_gym, smoke_pairs,
                                                                      smoke_config) -> None:
    tokenizer, data = smoke_pairs
    cache = ReferenceCache(tmp_path, "ref", data, lambda: load_causal_lm(smoke_gym.reference_dir, dtype="float32"))
    cached = length_normalised_reference_logps(cache, data)
    assert cached.shape == (len(data), 2) and np.isfinite(cached).all()

    rows = smoke_gym.dataset("pairs")[:6]
    model = load_causal_lm(smoke_gym.reference_dir, dtype="float32")
    direct = length_normalised_logps(rows, tokenizer, partial(sequence_logps, model, tokenizer),
                                     smoke_config.data.max_prompt_tokens, smoke_config.data.max_response_tokens)
    np.testing.assert_allclose(cached[:6], direct, rtol=1e-5, atol=1e-5)
