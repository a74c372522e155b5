"""Content fingerprints: the keys of every cache and the identity of every artefact in provenance.

A fingerprint is a short SHA-256 hex digest of a canonical JSON encoding (for values) or of file
bytes (for model directories). Two artefacts with the same fingerprint are interchangeable, which is
what lets runs share gym builds, reference passes, checkpoints and generations.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path
from typing import Any

from bench.integrity import intact

DIGEST_CHARS = 16


def _canonical(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _canonical(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): _canonical(v) for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))}
    if isinstance(value, (list, tuple)):
        return [_canonical(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, float) and value.is_integer():
        return int(value)  # 1.0 and 1 are the same setting
    return value


def fingerprint(value: Any) -> str:
    """Fingerprint of a JSON-able value (dataclasses, dicts, lists, scalars)."""
    blob = json.dumps(_canonical(value), sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:DIGEST_CHARS]


def file_fingerprint(path: Path, chunk: int = 1 << 20) -> str:
    """Fingerprint of one file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()[:DIGEST_CHARS]


STAMP_FILE = "bench_fingerprint"
"""Written by bench beside a model it saved, in the same atomic step as the weights."""


def stamped(directory: Path) -> bool:
    """Whether ``directory`` holds a model bench finished saving (its stamp exists only once the weights do)."""
    return (Path(directory) / STAMP_FILE).is_file()


def directory_fingerprint(path: Path, patterns: tuple[str, ...] = ("*.json", "*.safetensors", "*.gguf",
                                                                    "*.model", "*.txt", "*.jinja")) -> str:
    """Fingerprint of a model directory: the bytes of its weight, config and tokenizer files.

    A ``bench_fingerprint`` file written next to a checkpoint by bench itself is trusted instead of
    re-hashing large weights while the directory's manifest verifies (a copy that was edited, or a file
    truncated since, is hashed afresh); both are written in the same atomic step as the weights.
    """
    path = Path(path)
    stamp = path / STAMP_FILE
    if stamp.is_file() and intact(path):
        return stamp.read_text().strip()
    files = sorted({p for pattern in patterns for p in path.glob(pattern) if p.is_file()})
    return fingerprint({p.name: file_fingerprint(p) for p in files})
