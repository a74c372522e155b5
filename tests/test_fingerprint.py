"""Tests for bench.fingerprint: a checkpoint's stamp stands for its bytes only while its manifest verifies."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from bench.fingerprint import STAMP_FILE, directory_fingerprint


def test_an_intact_checkpoint_is_identified_by_its_stamp(smoke_gym) -> None:
    stamp = (smoke_gym.reference_dir / STAMP_FILE).read_text().strip()
    assert directory_fingerprint(smoke_gym.reference_dir) == stamp


def test_an_edited_copy_of_a_checkpoint_is_hashed_afresh_not_taken_for_the_original(smoke_gym, tmp_path) -> None:
    copy = Path(shutil.copytree(smoke_gym.reference_dir, tmp_path / "copy"))
    assert directory_fingerprint(copy) == directory_fingerprint(smoke_gym.reference_dir)  # same bytes, same model
    config = json.loads((copy / "config.json").read_text())
    (copy / "config.json").write_text(json.dumps({**config, "rms_norm_eps": 1e-3}))
    assert directory_fingerprint(copy) != directory_fingerprint(smoke_gym.reference_dir)
