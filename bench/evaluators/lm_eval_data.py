"""Pointing lm-eval's own bias tasks at local copies of their data, and fixed subsets of it.

lm-eval's ``crows_pairs_english`` and ``bbq`` tasks read hub datasets (``jannalu/crows_pairs_multilingual``,
``oskarvanderwal/bbq``). An offline machine has the public files instead: the CrowS-Pairs CSV
(``crows_pairs_anonymized.csv``: ``sent_more``, ``sent_less``, ``bias_type`` ...) and the BBQ JSONL files,
one per category, in the upstream row format. Both are already the row format the tasks' own
``process_docs``/``doc_to_choice`` functions read, so no row is rewritten: only the task's
``dataset_path``/``dataset_name``/``dataset_kwargs`` change, to the ``csv``/``json`` builders of
``datasets`` over the local files. The task definitions (prompts, choices, metrics) stay lm-eval's.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from bench.errors import DataError
from bench.fingerprint import file_fingerprint

CROWS_PAIRS_COLUMNS = ("sent_more", "sent_less", "stereo_antistereo", "bias_type")
"""What lm-eval's crows_pairs_english tasks read (``doc_to_choice`` and the per-bias-type filters)."""
BBQ_FIELDS = ("context", "question", "ans0", "ans1", "ans2", "label", "category", "context_condition",
              "question_polarity", "answer_info", "additional_metadata")
"""What lm-eval's bbq tasks read (``process_docs``, ``doc_to_choice``, ``doc_to_targets``)."""

CROWS_PAIRS_TASKS = ("crows_pairs_english", "crows_pairs_english_age", "crows_pairs_english_autre",
                     "crows_pairs_english_disability", "crows_pairs_english_gender",
                     "crows_pairs_english_nationality", "crows_pairs_english_physical_appearance",
                     "crows_pairs_english_race_color", "crows_pairs_english_religion",
                     "crows_pairs_english_sexual_orientation", "crows_pairs_english_socioeconomic")
BBQ_TASKS = ("bbq", "bbq_ambig", "bbq_disambig", "bbq_generate", "bbq_generate_ambig", "bbq_generate_disambig")
"""The bbq tasks lm-eval 0.4.13 defines: all categories in one task (the category is a column), and the
ambiguous / disambiguated halves; ``_generate`` variants parse a generated answer instead of ranking."""
TEST_SPLIT = "test"
"""The split every one of these tasks evaluates (their ``test_split``)."""


def _require_files(files: Sequence[Path], what: str) -> list[Path]:
    paths = [Path(f) for f in files]
    if not paths:
        raise DataError(f"no {what} files given; pass the local copies of the {what} data")
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise DataError(f"{what} file {missing[0]} does not exist; give the path of a local copy")
    return paths


def check_crows_pairs_csv(path: Path) -> None:
    """Refuse a CSV whose header lacks a column the lm-eval task reads (before lm-eval fails obscurely)."""
    with open(path, newline="", encoding="utf-8") as handle:
        header = next(csv.reader(handle), [])
    missing = [c for c in CROWS_PAIRS_COLUMNS if c not in header]
    if missing:
        raise DataError(f"{path}: CrowS-Pairs CSV lacks column {missing[0]!r}; use the upstream "
                        f"crows_pairs_anonymized.csv (columns {', '.join(CROWS_PAIRS_COLUMNS)})")


def check_bbq_jsonl(path: Path) -> None:
    """Refuse a JSONL file whose first row lacks a field the lm-eval task reads."""
    with open(path, encoding="utf-8") as handle:
        line = handle.readline()
    try:
        row = json.loads(line)
    except json.JSONDecodeError as exc:
        raise DataError(f"{path}: first line is not JSON ({exc.msg}); give an upstream BBQ .jsonl file") from exc
    missing = [f for f in BBQ_FIELDS if f not in row]
    if missing:
        raise DataError(f"{path}: BBQ row lacks field {missing[0]!r}; use the upstream BBQ data/*.jsonl rows")


def local_dataset(builder: str, files: Sequence[Path]) -> dict[str, Any]:
    """Task-config overrides that make a task read ``files`` with a ``datasets`` packaged builder."""
    return {"dataset_path": builder, "dataset_name": None,
            "dataset_kwargs": {"data_files": {TEST_SPLIT: [str(Path(f).resolve()) for f in files]}}}


def crows_pairs_override(csv_path: Path) -> dict[str, Any]:
    """Overrides for the ``crows_pairs_english*`` tasks: read the upstream CrowS-Pairs CSV."""
    (path,) = _require_files([csv_path], "CrowS-Pairs")
    check_crows_pairs_csv(path)
    return local_dataset("csv", [path])


def bbq_override(jsonl_paths: Sequence[Path]) -> dict[str, Any]:
    """Overrides for the ``bbq*`` tasks: read upstream BBQ JSONL files (one per category), in the given order."""
    paths = _require_files(jsonl_paths, "BBQ")
    for path in paths:
        check_bbq_jsonl(path)
    return local_dataset("json", paths)


def shared_data_overrides(root: Path, tasks: Sequence[str]) -> dict[str, dict[str, Any]]:
    """Overrides for those of ``tasks`` whose data has a local copy under ``root``.

    ``root`` is laid out as the project's reference-data folder: ``crows_pairs/crows_pairs_anonymized.csv``
    and ``bbq/*.jsonl`` (read in sorted file order, which fixes document indices). Tasks without a
    local copy are left to lm-eval's own dataset location.
    """
    root = Path(root)
    overrides: dict[str, dict[str, Any]] = {}
    for task in tasks:
        if task in CROWS_PAIRS_TASKS:
            overrides[task] = crows_pairs_override(root / "crows_pairs" / "crows_pairs_anonymized.csv")
        elif task in BBQ_TASKS:
            overrides[task] = bbq_override(sorted((root / "bbq").glob("*.jsonl")))
    return overrides


def override_files(override: Mapping[str, Any]) -> list[str]:
    """The local files an override reads, in order."""
    files = override.get("dataset_kwargs", {}).get("data_files", {}).get(TEST_SPLIT, [])
    return [files] if isinstance(files, str) else list(files)


def data_fingerprints(overrides: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, str]]:
    """{task: {file name: content fingerprint}}: which bytes each overridden task read."""
    return {task: {Path(f).name: file_fingerprint(Path(f)) for f in override_files(override)}
            for task, override in overrides.items()}


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """The rows of a JSONL file, one document each (blank lines skipped)."""
    with open(path, encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def per_file_subset(jsonl_paths: Sequence[Path], per_file: int, seed: int = 0,
                    stratify_by: str | None = "context_condition") -> list[int]:
    """Document indices of a fixed subset: ``per_file`` rows drawn per file, without replacement.

    The indices address the concatenation of the files in the given order (how the ``json`` builder
    reads them), so they can be passed to lm-eval as ``samples={task: indices}``. A BBQ file holds one
    category; its bias scores need both ambiguous and disambiguated items (the ambiguous score is
    undefined without ambiguous items), so by default the draw is split evenly over the values of
    ``context_condition`` (the full data is half each). A seeded draw, not the first rows, spreads the
    subset over many question templates. A file or stratum with fewer rows contributes all of them.
    """
    rng = np.random.default_rng(seed)
    indices: list[int] = []
    offset = 0
    for path in jsonl_paths:
        rows = read_jsonl(Path(path))
        strata: dict[Any, list[int]] = {}
        for i, row in enumerate(rows):
            strata.setdefault(row.get(stratify_by) if stratify_by else None, []).append(i)
        keys = sorted(strata, key=str)
        for position, key in enumerate(keys):
            members = np.array(strata[key])
            want = per_file // len(keys) + (1 if position < per_file % len(keys) else 0)
            chosen = members if len(members) <= want else rng.choice(members, size=want, replace=False)
            indices.extend(int(offset + i) for i in chosen)
        offset += len(rows)
    return sorted(indices)
