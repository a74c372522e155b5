"""Settings of the embedded benchmark: prompt splits, the annotator's biases, the reference model.

They live in the gym (not in :mod:`bench.config`) so the gym depends on nothing above it; the run
configuration nests :class:`GymSettings` under ``gym.``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from bench.gym.annotator import AnnotatorConfig


@dataclass
class AnnotatorSettings:
    """The gym annotator's biases; defaults live in bench.gym.annotator.AnnotatorConfig (documented there)."""

    temperature: float = AnnotatorConfig.temperature
    length_bonus: float = AnnotatorConfig.length_bonus
    marker_bonus: float = AnnotatorConfig.marker_bonus
    label_noise: float = AnnotatorConfig.label_noise
    score_noise: float = AnnotatorConfig.score_noise
    confounder_strength: float = AnnotatorConfig.confounder_strength
    confounder_correlation: float = AnnotatorConfig.confounder_correlation
    outcome_noise: float = AnnotatorConfig.outcome_noise


@dataclass
class ReferenceModelSettings:
    """The gym's tiny Llama reference (SFT) model and how it is trained."""

    hidden_size: int = 128
    layers: int = 4
    heads: int = 4
    intermediate_size: int = 320
    sft_steps: int = 400
    sft_batch_size: int = 64
    sft_lr: float = 3e-3
    corpus_per_prompt: int = 8


@dataclass
class SaeSettings:
    """The gym's own sparse autoencoder on the reference's residual stream (FPO's feature space).

    Defaults (documented in :mod:`bench.gym.sae`): the middle block, 4x the hidden width, TopK with 16
    active features per token, 300 Adam steps of 512 response tokens.
    """

    layer: int | None = None
    """The block whose output it encodes; None: the middle block (num_hidden_layers // 2)."""
    width_multiplier: int = 4
    k: int = 16
    steps: int = 300
    batch_tokens: int = 512
    lr: float = 3e-3
    seed: int = 0


@dataclass
class GymSettings:
    """The embedded benchmark: prompt splits, annotator and reference model."""

    seed: int = 0
    train_prompts: int = 768
    val_prompts: int = 64
    test_prompts: int = 256
    pair_temperature: float = 1.0
    annotator: AnnotatorSettings = field(default_factory=AnnotatorSettings)
    reference: ReferenceModelSettings = field(default_factory=ReferenceModelSettings)
    sae: SaeSettings = field(default_factory=SaeSettings)
