"""Tests for bench.config: the selector list, selector overrides, and data.kwise_k."""

from __future__ import annotations

import pytest

from bench.config import build_config
from bench.errors import ConfigError


def test_selector_is_a_comma_list_with_per_selector_overrides():
    config = build_config(["selector=all, random,alignment_potential", "selectors.alignment_potential.w=0.5",
                           "selectors.random.ratio=0.2", "data.kwise_k=2"])
    assert config.selector == ["all", "random", "alignment_potential"]
    assert config.selectors == {"alignment_potential": {"w": 0.5}, "random": {"ratio": 0.2}}
    assert config.data.kwise_k == 2
    default = build_config([])
    assert default.selector == ["all"] and default.selectors == {} and default.data.kwise_k is None


def test_the_removed_data_selector_key_says_what_replaced_it():
    with pytest.raises(ConfigError, match=r"^config key 'data.selector' was removed; use selector=NAME\[,NAME\.\.\.\] "
                                          r"and selectors\.NAME\.PARAM=VALUE$"):
        build_config(["data.selector=random"])


def test_bad_selector_settings_fail_with_one_line_naming_the_key():
    with pytest.raises(ConfigError, match=r"^override 'selectors\.random': use selectors\.NAME\.PARAM=VALUE"):
        build_config(["selectors.random=0.5"])
    with pytest.raises(ConfigError, match=r"^selector= is empty"):
        build_config(["selector="])
    for k in ("1", "0", "-3"):
        with pytest.raises(ConfigError, match=rf"^data\.kwise_k={k}: k-wise rows need k >= 2"):
            build_config([f"data.kwise_k={k}"])
    with pytest.raises(ConfigError, match=r"data.kwise_k"):
        build_config(["data.kwise_k=two"])
