"""What a loaded base model becomes before training: gradient checkpointing, LoRA adapters, compilation.

These are the memory and speed options real models need (``train.gradient_checkpointing``, ``train.lora.*``,
``train.compile``). They change how the policy is held, not what it computes, except LoRA, which restricts
the update to low-rank adapters. With LoRA the reference is the same base with its adapters disabled
(:class:`AdapterReference`), so one copy of the base weights serves both, and the final checkpoint is the
merged model (what every evaluator and ``AutoModelForCausalLM`` open) with the adapter beside it.
"""

from __future__ import annotations

import torch

from bench.data.tokenize import Batch
from bench.errors import ConfigError
from bench.models.adapters import has_adapters, unwrapped_causal_lm
from bench.models.logprobs import ResponseScores, response_scores
from bench.train.loop import TrainConfig


def prepare_model(model: torch.nn.Module, config: TrainConfig, seed: int) -> torch.nn.Module:
    """Apply ``config``'s gradient checkpointing, LoRA and compilation to ``model`` (in that order).

    Adapters are initialised from ``seed`` (the job's), so a job's adapters are the same whatever ran before it in
    the process, which a resumed or retried job relies on.
    """
    if config.gradient_checkpointing:
        # Non-reentrant checkpointing needs no input that requires grad, which frozen embeddings under LoRA lack.
        options = {"use_reentrant": False}
        if hasattr(model, "activation_checkpointing_enable"):  # transformers >= 5.2x's name for it
            model.activation_checkpointing_enable(activation_checkpointing_kwargs=options)
        else:
            model.gradient_checkpointing_enable(gradient_checkpointing_kwargs=options)
    if config.lora.enabled:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            model = with_adapters(model, config)
    if config.compile:
        unwrapped_causal_lm(model).base_model.compile(dynamic=True)
    return model


def with_adapters(model: torch.nn.Module, config: TrainConfig) -> torch.nn.Module:
    """``model`` with fresh LoRA adapters (peft); only the adapters train."""
    try:
        from peft import LoraConfig, get_peft_model
    except ImportError as exc:
        raise ConfigError("train.lora.r > 0 needs peft: pip install 'bench[scale]' (or pip install peft)") from exc
    lora = config.lora
    targets = "all-linear" if list(lora.target_modules) == ["all-linear"] else list(lora.target_modules)
    try:
        return get_peft_model(model, LoraConfig(r=lora.r, lora_alpha=lora.alpha, lora_dropout=lora.dropout,
                                                target_modules=targets, task_type="CAUSAL_LM"))
    except ValueError as exc:  # peft names the modules it could not find
        raise ConfigError(f"train.lora.target_modules={list(lora.target_modules)}: {str(exc).splitlines()[0]}") from exc


class AdapterReference:
    """The reference model of a LoRA run: the policy's own base with its adapters switched off.

    No second copy of the base weights is loaded; scoring runs without gradients, in eval mode (no dropout),
    and leaves the policy's mode as it found it.
    """

    def __init__(self, model: torch.nn.Module) -> None:
        if not has_adapters(model):
            raise ConfigError("an adapter reference needs a LoRA policy (train.lora.r > 0)")
        self.model = model

    def scores(self, batch: Batch, item: str = "responses") -> ResponseScores:
        was_training = self.model.training
        self.model.eval()
        try:
            with torch.no_grad(), self.model.disable_adapter():
                return response_scores(self.model, batch, full_distribution=item == "distributions")
        finally:
            self.model.train(was_training)
