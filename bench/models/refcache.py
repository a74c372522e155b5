"""The reference cache: reference statistics computed once per content key and shared by every job.

TRL and HALOs-style trainers run the reference model once per training run; a sweep of 25 objectives
x 3 seeds pays it 75 times. Here the reference pass runs once per (reference model, tokenised data,
what is cached) and is stored as safetensors beside a JSON manifest; every objective of a run, and
every later run with the same key, reads it. Reference-free objectives never touch it, and the
reference model itself is loaded only when something is missing (``load_model`` is lazy).

Cached items, each [N, n, ...] over the dataset's rows and responses:
- ``responses``: per-token reference log-probs [N, n, T_max] (sequence log-probs are their sums);
- ``mismatched``: the same for each prompt paired with the next row's responses (KTO's z0);
- ``distributions``: log-softmax over the vocabulary [N, n, T_max, V] (TDPO), only for small vocabularies;
- ``sae_topk:layer=L:k=K`` (:func:`sae_item`): the reference's K largest SAE codes per response, mean-pooled
  over response tokens at block L, as ``indices`` and ``values`` [N, n, K] (FPO); keyed also by the SAE.
"""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from torch import Tensor

from bench import atomic, failpoints
from bench.data.tokenize import Batch, TokenizedDataset, collate_rows
from bench.errors import PlanError
from bench.fingerprint import fingerprint
from bench.integrity import Damaged, verify_manifest, write_manifest
from bench.locks import held
from bench.models.logprobs import ResponseScores, response_scores
from bench.models.residual import PooledFeatures
from bench.models.sae import SparseAutoencoder
from bench.notices import notice
from bench.progress import progress
from bench.source_fingerprint import source_fingerprint

CACHE_FORMAT = "1"
ITEMS = ("responses", "mismatched", "distributions")
SAE_ITEM = "sae_topk"
PASS_BATCH_ROWS = 64
"""Rows per forward pass of the reference; inference only, so larger than a training micro-batch."""


@dataclass
class PassReport:
    """What one :meth:`ReferenceCache.ensure` call did, for the run log."""

    hits: list[str]
    computed: list[str]
    seconds: float


def sae_item(layer: int, k: int) -> str:
    """The cache item holding the reference's top-``k`` SAE codes at block ``layer``."""
    return f"{SAE_ITEM}:layer={layer}:k={k}"


def _sae_item_settings(item: str) -> tuple[int, int] | None:
    """(layer, k) of an SAE item, None for another item."""
    name, *settings = item.split(":")
    if name != SAE_ITEM:
        return None
    values = dict(setting.split("=") for setting in settings)
    return int(values["layer"]), int(values["k"])


class ReferenceCache:
    """Content-addressed reference statistics for one (reference model, tokenised dataset).

    ``sae`` is the run's sparse autoencoder, needed only for SAE items.
    """

    def __init__(self, root: Path, model_id: str, data: TokenizedDataset,
                 load_model: Callable[[], torch.nn.Module], sae: SparseAutoencoder | None = None) -> None:
        self.root = Path(root)
        self.model_id = model_id
        self.data = data
        self.sae = sae
        self._load_model = load_model
        self._tensors: dict[str, dict[str, Tensor]] = {}
        self.model_loads = 0

    def key(self, item: str) -> str:
        """The content key of one cached item (changes when any of its inputs changes, its code included)."""
        sae = {"sae": self._sae().fingerprint} if _sae_item_settings(item) else {}
        return fingerprint({"format": CACHE_FORMAT, "model": self.model_id, "data": self.data.fingerprint,
                            "item": item, "code": _code_fingerprint(), **sae})

    def _sae(self) -> SparseAutoencoder:
        if self.sae is None:
            raise PlanError("SAE codes were requested from a reference cache built without an SAE")
        return self.sae

    def _path(self, item: str) -> Path:
        return self.root / f"{item}-{self.key(item)}"

    def ensure(self, items: Iterable[str]) -> PassReport:
        """Make ``items`` available, computing the missing ones in ONE pass over the data.

        A stored item is read only when its manifest verifies; a damaged one is said and computed again.
        The pass runs under the dataset's lock, so processes sharing the cache compute it once.
        """
        items = sorted(set(items))
        started = time.perf_counter()
        missing = self._load(items, quiet=True)
        if missing:
            lock = self.root / f"pass-{fingerprint({'model': self.model_id, 'data': self.data.fingerprint})}"
            with held(lock, "the reference pass", notice):
                missing = self._load(missing, quiet=False)
                if missing:
                    self._compute(missing)
        return PassReport(hits=[i for i in items if i not in missing], computed=missing,
                          seconds=time.perf_counter() - started)

    def _load(self, items: list[str], quiet: bool) -> list[str]:
        """Read the intact stored ``items`` into memory; the ones still missing (damage said unless ``quiet``)."""
        missing = []
        for item in items:
            if item in self._tensors:
                continue
            path = self._path(item)
            try:
                verify_manifest(path)
            except Damaged as damage:
                if path.exists() and not quiet:
                    notice(f"{damage}; recomputing the reference cache item {item!r}")
                missing.append(item)
                continue
            self._tensors[item] = load_file(path / "tensors.safetensors")
        return missing

    def _compute(self, items: list[str]) -> None:
        model = self._load_model()
        self.model_loads += 1
        model.eval()
        data = self.data
        width = max(len(r) for rs in data.response_ids for r in rs)
        shape = (len(data), data.n, width)
        out: dict[str, dict[str, Tensor]] = {}
        with torch.inference_mode():
            starts = range(0, len(data), PASS_BATCH_ROWS)
            for start in progress(starts, len(starts), f"reference pass ({', '.join(items)})"):
                rows = torch.arange(start, min(start + PASS_BATCH_ROWS, len(data)))
                for item in items:
                    batch = collate_rows(data, rows, mismatched=item == "mismatched").to(_device(model))
                    if _sae_item_settings(item):
                        for name, value in self._sae_topk(model, batch, item).items():
                            out.setdefault(item, {}).setdefault(
                                name, torch.zeros((len(data), *value.shape[1:]), dtype=value.dtype))[rows] = value
                        continue
                    scores = response_scores(model, batch, full_distribution=item == "distributions")
                    value = scores.log_distributions if item == "distributions" else scores.token_logps
                    if item not in out:
                        out[item] = {"value": torch.zeros(shape + tuple(value.shape[2:]), dtype=torch.float32)}
                    t = value.shape[1]
                    out[item]["value"][rows, :, :t] = value.float().cpu().view(len(rows), data.n, t, *value.shape[2:])
                failpoints.reached("reference-pass")
        for item, tensors in out.items():
            path = self._path(item)
            with atomic.directory(path) as tmp:
                save_file({name: value.contiguous() for name, value in tensors.items()}, tmp / "tensors.safetensors")
                (tmp / "manifest.json").write_text(json.dumps({
                    "item": item, "key": self.key(item), "model": self.model_id,
                    "data": data.fingerprint, "rows": len(data), "n": data.n,
                    "shape": {name: list(value.shape) for name, value in tensors.items()},
                    **({"sae": self._sae().fingerprint} if _sae_item_settings(item) else {}),
                    "format": CACHE_FORMAT}, indent=2))
                write_manifest(tmp)
            self._tensors[item] = tensors

    def _sae_topk(self, model: torch.nn.Module, batch: Batch, item: str) -> dict[str, Tensor]:
        """The reference's top-k mean-pooled SAE codes of ``batch``: indices and values [B, n, k]."""
        layer, k = _sae_item_settings(item)  # type: ignore[misc]
        sae = self._sae().to(_device(model))
        if k > sae.d_sae:
            raise PlanError(f"top-k={k} exceeds the SAE's {sae.d_sae} features (d_sae); lower the objective's k")
        codes = response_scores(model, batch, pooled=PooledFeatures(layer, sae.encode)).pooled
        top = codes.float().topk(k, dim=-1)
        shape = (batch.size, batch.n, k)
        return {"indices": top.indices.cpu().view(shape), "values": top.values.cpu().view(shape)}

    def sae_topk(self, batch: Batch, layer: int, k: int) -> tuple[Tensor, Tensor]:
        """The reference's cached top-k SAE codes of ``batch``'s rows: (indices, values), each [B, n, k]."""
        tensors = self._tensors[sae_item(layer, k)]
        return tensors["indices"][batch.indices], tensors["values"][batch.indices]

    def scores(self, batch: Batch, item: str = "responses") -> ResponseScores:
        """Cached reference statistics for the rows of ``batch`` in its layout."""
        value = self._tensors[item]["value"][batch.indices]
        width = batch.response_mask.shape[1]
        value = value[:, :, :width].reshape(batch.size * batch.n, width, *value.shape[3:])
        mask = batch.response_mask.cpu()
        if item == "distributions":
            return ResponseScores(token_logps=torch.zeros(mask.shape), mask=mask, log_distributions=value)
        return ResponseScores(token_logps=value * mask, mask=mask)


@functools.cache
def _code_fingerprint() -> str:
    """The source the cached statistics are computed by (this module and what it calls), once per process."""
    return source_fingerprint(ReferenceCache)


def distribution_cache_bytes(data: TokenizedDataset, vocab_size: int) -> int:
    """Size of the ``distributions`` item, used to choose cached vs in-memory reference for TDPO."""
    width = max(len(r) for rs in data.response_ids for r in rs)
    return len(data) * data.n * width * vocab_size * 4


def _device(model: torch.nn.Module) -> torch.device:
    return next(model.parameters()).device
