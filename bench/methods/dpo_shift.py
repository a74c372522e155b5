"""DPO-Shift (Yang et al., 2025, arXiv 2502.07599): DPO with the rejected log-ratio scaled by lambda <= 1.

loss = -log sigma(beta rho(y_w) - lambda beta rho(y_l)); lambda = 1 is DPO. A lambda below one weakens the
push on the rejected response, which counters DPO's tendency to lower the chosen response's likelihood
together with the rejected one ("likelihood displacement"), at the cost of a smaller reward margin; the
paper shows the trade-off as lambda moves from 1 down to about 0.5. The formula is the authors' code's:
lambda multiplies both the policy's and the reference's rejected log-prob.

The authors' trainer defaults to lambda = 1 (plain DPO) and runs lambda from 0.5 to 0.99; the default here,
0.9, sits inside the 0.75-0.95 range of their main experiments so that the registered objective differs
from dpo. Their linear schedules of lambda over training (``increase_linear``, ``decrease_linear``) are not
offered: the contract gives an objective no view of the training progress.
"""

from __future__ import annotations

from bench.errors import ConfigError
from bench.methods import register_method
from bench.methods.base import BetaObjective, LossOutput, Needs, SequenceStats, log_sigmoid, positive
from bench.methods.pairwise import pair_output, reference_margin


@register_method("dpo_shift")
class DPOShift(BetaObjective):
    family = "dpo"
    source = ("Yang et al. 2025, DPO-Shift: Shifting the Distribution of Direct Preference Optimization "
              "(arXiv 2502.07599)")
    formula = "-log sigma(beta rho(y_w) - lambda beta rho(y_l))"
    needs = Needs(data="pairs", reference=True)

    lambda_shift: float = 0.9
    """lambda, the weight of the rejected log-ratio: 1 is DPO, smaller values keep the chosen likelihood up."""

    def validate(self) -> None:
        super().validate()
        positive(self.name, lambda_shift=self.lambda_shift)
        if self.lambda_shift > 1:
            raise ConfigError(f"methods.{self.name}.lambda_shift={self.lambda_shift}: must be <= 1 (1 is plain DPO)")

    def loss(self, stats: SequenceStats) -> LossOutput:
        rho_w, rho_l, _ = reference_margin(stats, self.reduction)
        losses = -log_sigmoid(self.beta * rho_w - self.lambda_shift * self.beta * rho_l)
        return pair_output(losses, self.beta * rho_w, self.beta * rho_l)
