"""REINFORCE with a leave-one-out baseline (RLOO; Ahmadian et al. 2024, arXiv 2402.14740).

The simplest on-policy objective in the seed list, and the yardstick for the online RPO variants:
sample k responses per prompt from the current policy, score them with the run's reward function, and
push up the log-probability of each response by how much better it scored than the other k - 1.
The other samples' mean is a baseline that costs nothing extra (no value network) and keeps the
estimator unbiased, because it does not depend on the response it is subtracted from.

r_i = R(x, y_i) - beta_kl * sum_t log(pi_theta / pi_ref)(y_i)   (detached: part of the reward)
A_i = r_i - mean_{j != i} r_j
loss = -(1/k) sum_i A_i log pi_theta(y_i | x)

The KL penalty is the sequence-level log-ratio of the sample (summed over its tokens) whatever the
``reduction``; ``reduction="mean"`` divides only the log pi in the policy-gradient term by the
response length (a per-token normalised score function, as some RLHF frameworks do).

:func:`sampled_needs` lets an online objective make its number of samples k a hyper-parameter: the
trainer samples ``needs.samples_per_prompt`` responses, and that must be the instance's k.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor

from bench.errors import ConfigError, PlanError
from bench.methods import register_method
from bench.methods.base import LossOutput, Needs, NeedsFromFields, Objective, SequenceStats

MIN_SAMPLES = 2
"""A leave-one-out baseline (and any pairwise comparison) needs at least two samples per prompt."""


def sampled_needs(needs: Needs, field: str = "k") -> NeedsFromFields:
    """The ``needs`` of an online objective whose samples per prompt are its hyper-parameter ``field``, so
    ``methods.rloo.k=2`` samples two responses per prompt."""
    if not needs.online:
        raise ConfigError("sampled_needs is for online objectives; declare Needs(online=True, ...)")
    return NeedsFromFields(needs, lambda value: {"samples_per_prompt": int(value(field))})


def check_samples(method: str, k: int) -> None:
    """Raise a ConfigError unless ``k`` is a whole number of samples >= 2."""
    if isinstance(k, bool) or not isinstance(k, int) or k < MIN_SAMPLES:
        raise ConfigError(f"methods.{method}.k={k!r}: must be an integer >= {MIN_SAMPLES} "
                          f"(samples per prompt; METHODS.md uses 2 to 4)")


def sampled_scores(stats: SequenceStats, method: str, k: int) -> Tensor:
    """The reward of each of the k on-policy samples [B, k], after checking the batch has k of them."""
    if stats.scores is None:
        raise PlanError(f"{method} read scores that the batch does not carry; online batches are scored by "
                        "the run's reward function (set needs.online=True)")
    if stats.logps.shape[1] != k:
        raise PlanError(f"{method} expects k={k} samples per prompt but the batch has "
                        f"{stats.logps.shape[1]}; the trainer must sample needs.samples_per_prompt responses")
    return stats.scores.to(stats.logps.dtype)


def leave_one_out(values: Tensor) -> Tensor:
    """values_i - mean_{j != i} values_j along dim 1 (shape kept)."""
    k = values.shape[1]
    others = (values.sum(1, keepdim=True) - values) / (k - 1)
    return values - others


@register_method("rloo")
@dataclass
class ReinforceLeaveOneOut(Objective):
    """REINFORCE with the mean reward of the other k - 1 samples of the prompt as the baseline.

    The reward is the run's score minus a detached KL penalty beta_kl * log(pi/pi_ref) of the sample,
    as in the RLHF objective; the gradient flows only through log pi(y_i | x).
    """

    family = "online-policy-gradient"
    source = "Ahmadian et al. 2024, Back to Basics: Revisiting REINFORCE Style Optimization (arXiv 2402.14740)"
    formula = "-(1/k) sum_i (r_i - mean_{j!=i} r_j) log pi(y_i|x), r_i = R(x,y_i) - beta_kl sg[rho(y_i)]"
    needs = sampled_needs(Needs(data="kwise", reference=True, scores=True, online=True))

    k: int = 4
    beta_kl: float = 0.05

    def validate(self) -> None:
        super().validate()
        check_samples(self.name, self.k)
        if not self.beta_kl >= 0:
            raise ConfigError(f"methods.{self.name}.beta_kl={self.beta_kl}: must be >= 0 (0 turns the KL "
                              "penalty off)")

    def loss(self, stats: SequenceStats) -> LossOutput:
        scores = sampled_scores(stats, self.name, self.k)
        kl = stats.logratios("sum").detach()  # the sample's log(pi/pi_ref), summed over its tokens
        rewards = scores - self.beta_kl * kl
        advantages = leave_one_out(rewards)
        losses = -(advantages * stats.policy(self.reduction)).mean(1)
        metrics = {"reward/score": scores.mean(1).detach(), "reward/kl": kl.mean(1),
                   "reward/shaped": rewards.mean(1).detach(), "advantage/abs": advantages.abs().mean(1).detach()}
        return LossOutput(loss=losses.mean(), metrics=metrics)


__all__ = ["MIN_SAMPLES", "ReinforceLeaveOneOut", "check_samples", "leave_one_out",
           "sampled_needs", "sampled_scores"]
