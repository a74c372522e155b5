"""DPO with a batch-adaptive beta: beta-DPO (Wu et al. 2024).

The best beta depends on how informative the pairs are: a batch whose implicit-reward margins are
large (clear preferences) tolerates a larger beta than one of near-ties. beta-DPO therefore tracks the
margin distribution with exponential moving averages, drops the pairs whose margins are outliers
under it (sampled by a Gaussian weight), and sets one beta per batch from the surviving pairs.

M_i = h_i; M0 <- m M0 + (1 - m) mean(M); sigma_M <- m sigma_M + (1 - m) std(M)
keep (1 - rho) B pairs sampled without replacement with weight exp(-0.5 ((M_i - M0) / sigma_M)^2)
beta_b = beta0 (1 + a (mean_{kept} M_i - M0)); loss = mean_{kept} -log sigma(beta_b h_i)
"""

from __future__ import annotations

import math

import torch

from bench.errors import PlanError
from bench.methods import register_method
from bench.methods.base import (
    BetaObjective,
    LossOutput,
    Needs,
    SequenceStats,
    in_unit_interval,
    log_sigmoid,
)
from bench.methods.pairwise import pair_output, reference_margin

BETA_FLOOR = 1e-3
"""beta_b is clamped below at this value, as in the authors' code (github.com/junkangwu/beta-DPO)."""
SIGMA_FLOOR = 1e-8
"""sigma_M is 0 at the first step when policy = reference (every h = 0); dividing by it would give nan."""
WEIGHT_FLOOR = 1e-300
"""Sampling weights stay positive so that drawing without replacement never runs out of candidates."""
MAX_SEED = 2**31
"""The filter's generator is seeded with (seed << 32) + step, which must fit torch's 64-bit seed."""
_STATE_KEYS = ("m0", "sigma_m", "step")


@register_method("beta_dpo")
class BetaDPO(BetaObjective):
    """beta-DPO: DPO with a per-batch beta from the margin statistics, on a filtered batch.

    Batch-level: the filtering and beta_b are computed from the examples of one micro-batch on one
    device, so the per-device batch size is part of the objective's definition (the authors gather
    margins across devices; here each device keeps its own statistics).

    As in the authors' code: the EMAs start at 0 and are updated with the current batch before it is
    used (std unbiased), beta_b is clamped at ``BETA_FLOOR`` and not differentiated, and the logged
    rewards use beta0. The filter draws from a ``torch.Generator`` seeded by (``seed``, step), so the
    loss is a deterministic function of the state. State (M0, sigma_M, step) moves only when
    gradients are enabled, so evaluating under ``torch.no_grad()`` does not change training.
    """

    family = "adaptive-beta"
    source = "Wu et al. 2024, beta-DPO: Direct Preference Optimization with Dynamic beta (arXiv 2407.08639)"
    formula = ("-log sigma(beta_b h) on (1-rho) of the batch sampled by exp(-0.5((M-M0)/sigma_M)^2), "
               "beta_b = beta0 (1 + a (mean M_sel - M0)), M = h")
    needs = Needs(data="pairs", reference=True, batch_level=True)

    """beta0, the base value that beta_b scales."""
    a: float = 0.6
    rho: float = 0.2
    """Share of each batch that the filter drops."""
    momentum: float = 0.9
    seed: int = 0

    def __post_init__(self) -> None:
        self._m0 = 0.0
        self._sigma_m = 0.0
        self._step = 0

    def validate(self) -> None:
        super().validate()
        in_unit_interval(self.name, upper_open=math.inf, a=self.a)
        in_unit_interval(self.name, upper_open=MAX_SEED, seed=self.seed)
        in_unit_interval(self.name, rho=self.rho, momentum=self.momentum)

    def state_dict(self) -> dict[str, float]:
        return {"m0": self._m0, "sigma_m": self._sigma_m, "step": float(self._step)}

    def load_state_dict(self, state: dict[str, float]) -> None:
        if not state:
            self.__post_init__()
            return
        if set(state) != set(_STATE_KEYS):
            raise PlanError(f"methods.{self.name}: checkpoint state has keys {sorted(state)}, expected "
                            f"{sorted(_STATE_KEYS)}; resume with the objective that wrote it")
        self._m0, self._sigma_m, self._step = float(state["m0"]), float(state["sigma_m"]), int(state["step"])

    def loss(self, stats: SequenceStats) -> LossOutput:
        rho_w, rho_l, h = reference_margin(stats, self.reduction)
        margins = h.detach().double()
        batch_std = margins.std().item() if margins.numel() > 1 else 0.0
        m0 = self.momentum * self._m0 + (1 - self.momentum) * margins.mean().item()
        sigma_m = self.momentum * self._sigma_m + (1 - self.momentum) * batch_std

        log_weights = -0.5 * ((margins - m0) / max(sigma_m, SIGMA_FLOOR)) ** 2
        weights = (log_weights - log_weights.max()).exp().clamp(min=WEIGHT_FLOOR).cpu()
        keep = max(1, math.floor(margins.numel() * (1 - self.rho) + 1e-9))
        generator = torch.Generator().manual_seed((self.seed << 32) + self._step)
        kept = torch.multinomial(weights, keep, replacement=False, generator=generator).to(h.device)
        selected = torch.zeros_like(h).index_fill(0, kept, 1.0)

        beta_b = max(self.beta * (1 + self.a * (margins[kept].mean().item() - m0)), BETA_FLOOR)
        if torch.is_grad_enabled():
            self._m0, self._sigma_m, self._step = m0, sigma_m, self._step + 1
        losses = -log_sigmoid(beta_b * h[kept])
        return pair_output(losses, self.beta * rho_w, self.beta * rho_l, selected=selected,
                           beta_b=h.new_tensor(beta_b), m0=h.new_tensor(m0), sigma_m=h.new_tensor(sigma_m))
