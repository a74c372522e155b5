"""Finding a judge's model on disk and fingerprinting it, so a verdict names the exact weights behind it.

Judges read local files only: a ``save_pretrained`` directory, a ``.gguf`` file (``pkg:PACKAGE`` for one an
installed package ships), or a hub id that is already in the local Hugging Face cache (resolved without any
network access). A judge whose files
cannot be found cannot be fingerprinted, so that is an error before any model is loaded.
"""

from __future__ import annotations

from pathlib import Path

from bench.fingerprint import directory_fingerprint, file_fingerprint
from bench.models.model_source import resolve_model


def resolve_local_model(name: str | Path, judge: str, trust_remote_code: bool = False) -> Path:
    """The local path of ``name`` (a directory, a ``.gguf`` file, ``pkg:PACKAGE`` or a cached hub id's snapshot),
    checked as a base model is (:func:`bench.models.model_source.resolve_model`), errors naming the judge."""
    return Path(resolve_model(name, trust_remote_code, key=f"judge {judge}: model"))


def model_fingerprint(path: Path) -> str:
    """Fingerprint of a model directory's weight/config/tokenizer files, or of a ``.gguf`` file's bytes."""
    return file_fingerprint(path) if path.is_file() else directory_fingerprint(path)
