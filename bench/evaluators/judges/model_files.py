"""Finding a judge's model on disk and fingerprinting it, so a verdict names the exact weights behind it.

Judges read local files only: a ``save_pretrained`` directory, a ``.gguf`` file, or a hub id that is
already in the local Hugging Face cache (resolved without any network access). A judge whose files
cannot be found cannot be fingerprinted, so that is an error before any model is loaded.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

from bench.errors import ConfigError
from bench.fingerprint import directory_fingerprint, file_fingerprint


def resolve_local_model(name: str | Path, judge: str) -> Path:
    """The local path of ``name``: a directory, a ``.gguf`` file, or a cached hub id's snapshot."""
    path = Path(name).expanduser()
    if path.is_dir() and not (path / "config.json").is_file():
        raise ConfigError(f"judge {judge}: directory {path} has no config.json; pass the save_pretrained directory "
                          f"of the model itself")
    if path.is_dir() or (path.is_file() and path.suffix == ".gguf"):
        return path
    if path.suffix != ".gguf" and str(name).count("/") == 1 and not path.exists():
        from huggingface_hub import snapshot_download  # part of transformers' own dependencies

        with contextlib.suppress(Exception):  # any failure means "not in the cache": reported below
            return Path(snapshot_download(str(name), local_files_only=True))
    raise ConfigError(f"judge {judge}: model {str(name)!r} is not a local directory, a .gguf file or a hub id in "
                      f"the local Hugging Face cache; download it first and pass its path")


def model_fingerprint(path: Path) -> str:
    """Fingerprint of a model directory's weight/config/tokenizer files, or of a ``.gguf`` file's bytes."""
    return file_fingerprint(path) if path.is_file() else directory_fingerprint(path)
