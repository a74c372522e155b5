"""Loading causal LMs and tokenizers safely: safetensors only, no remote code unless asked.

A model is named by a local directory (an HF ``save_pretrained`` layout), an HF hub id (resolved by
transformers; offline runs need it in the local HF cache) or a GGUF file (``path/to/model.gguf``,
dequantised by transformers). Pickle checkpoints are refused: ``use_safetensors=True``.
"""

from __future__ import annotations

from pathlib import Path

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, PreTrainedModel

from bench.errors import BenchError

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def resolve_dtype(name: str) -> torch.dtype:
    """``auto`` means bf16 on a GPU and fp32 on CPU (the dtype policy of the performance issue)."""
    if name == "auto":
        return torch.bfloat16 if torch.cuda.is_available() else torch.float32
    if name not in DTYPES:
        raise BenchError(f"model.dtype={name!r}: use auto, float32, bfloat16 or float16")
    return DTYPES[name]


def dtype_name(name: str) -> str:
    """The dtype ``name`` resolves to on this machine, as keys and provenance record it (``auto`` is not a
    dtype: it loads bf16 on a GPU and fp32 on a CPU, which give different numbers)."""
    return str(resolve_dtype(name)).removeprefix("torch.")


def _split_gguf(name: str) -> tuple[str, str | None]:
    path = Path(name)
    if path.suffix == ".gguf":
        return str(path.parent), path.name
    return name, None


def load_causal_lm(name: str | Path, dtype: str = "auto", trust_remote_code: bool = False,
                   attn_implementation: str | None = None) -> PreTrainedModel:
    """Load a causal LM from a directory, hub id or GGUF file, refusing pickle weights.

    ``attn_implementation`` picks transformers' attention kernel (None: its default)."""
    location, gguf_file = _split_gguf(str(name))
    kwargs = {"dtype": resolve_dtype(dtype), "trust_remote_code": trust_remote_code}
    if attn_implementation is not None:
        kwargs["attn_implementation"] = attn_implementation
    if gguf_file:
        kwargs["gguf_file"] = gguf_file
    else:
        kwargs["use_safetensors"] = True
    try:
        model = AutoModelForCausalLM.from_pretrained(location, **kwargs)
    except OSError as exc:
        raise BenchError(f"cannot load model {name}: {str(exc).splitlines()[0]}; give a directory with "
                         f"config.json and *.safetensors, a .gguf file, or a cached hub id") from exc
    except (ValueError, ImportError) as exc:
        if attn_implementation is None:
            raise
        raise BenchError(f"model.attn_implementation={attn_implementation!r} cannot load {name}: "
                         f"{str(exc).splitlines()[0]}") from exc
    if gguf_file:
        # The weights are dequantised on load; without the GGUF quantizer marker a trained copy saves
        # as an ordinary safetensors checkpoint (transformers refuses to serialise "gguf-quantised" models).
        model.hf_quantizer = None
        if hasattr(model.config, "quantization_config"):
            del model.config.quantization_config
    return model


def load_run_model(name: str | Path, settings) -> PreTrainedModel:
    """Load ``name`` as a run's policy or reference: the dtype, remote-code choice and attention kernel of the
    run's ``model.*`` settings (:class:`bench.config.ModelSettings`), the same for training and evaluation, on the
    GPU where there is one (the reference pass and a live reference score there, not on the CPU)."""
    model = load_causal_lm(name, dtype=settings.dtype, trust_remote_code=settings.trust_remote_code,
                           attn_implementation=settings.attn_implementation)
    return model.cuda() if torch.cuda.is_available() else model


def load_tokenizer(name: str | Path, trust_remote_code: bool = False):
    """Load the tokenizer that belongs to a model (same naming rules as :func:`load_causal_lm`)."""
    location, gguf_file = _split_gguf(str(name))
    kwargs = {"trust_remote_code": trust_remote_code}
    if gguf_file:
        kwargs["gguf_file"] = gguf_file
    try:
        tokenizer = AutoTokenizer.from_pretrained(location, **kwargs)
    except OSError as exc:
        raise BenchError(f"cannot load tokenizer for {name}: {str(exc).splitlines()[0]}") from exc
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer
