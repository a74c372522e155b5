"""Contract checks: what every objective must satisfy before it is worth a training run.

A sign error, a NaN on a length-1 response or a field read without being declared costs a whole
training run to find (and the last one fails only on data that happens to carry the field). These
checks find them in well under a second, on CPU, without a model: they build :class:`SequenceStats`
shaped as the objective's ``needs`` implies, filling only what it declares (as the trainer does),
and check

- ``output``: the loss is a finite scalar and the metrics are detached per-example or scalar values;
- ``finite.*``: loss and gradients w.r.t. the policy log-probs stay finite on edge cases (identical
  chosen and rejected responses, length 1 and length 512, log-probs of -1e4 and -1e-6, a batch of one);
- ``monotone_chosen``: raising the chosen (desirable, highest-scored, demonstrated) response's
  log-prob never raises the loss, on a generic batch inside every built-in objective's monotone range
  (objectives that lower it by design opt out with ``monotone_in_chosen = False``);
- ``deterministic``: two fresh instances give bit-identical losses and gradients;
- ``needs.undeclared`` / ``needs.unused``: the fields the loss reads are exactly covered by ``needs``
  (an undeclared field is ``None`` in training; a declared one never read costs a reference pass).

``bench regress`` runs them before the gym run, and :func:`bench.testing.assert_objective_contract`
runs them in a user's own test suite.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor

from bench.methods import METHODS, build_objective
from bench.methods.base import LossOutput, Needs, Objective, SequenceStats
from bench.methods.outcome_stats import (
    OUTCOME_PREDICTIONS,
    REFERENCE_SAMPLES,
    OutcomePredictions,
    ReferenceSampleStats,
)

PairRow = tuple[float, float, int, float, float, int]
"""(log pi(y_w), log pi_ref(y_w), |y_w|, log pi(y_l), log pi_ref(y_l), |y_l|) of one prompt."""

GENERIC_BATCH: tuple[PairRow, ...] = (
    (-3.0, -4.5, 2, -5.0, -3.5, 3),
    (-6.0, -4.0, 3, -2.5, -4.0, 2),  # ranked the wrong way round: h < 0
    (-1.5, -3.5, 1, -4.0, -2.5, 2),
    (-2.0, -4.5, 2, -3.0, -2.5, 1),
)
"""Where ``monotone_chosen`` is evaluated. Several objectives are monotone in log pi(y_w) only in a range,
so the batch sits where all built-ins (both reductions, default hyper-parameters) are: summed
rho_w in [-2, 2.5] and h in [-3.5, 3.5] keep ipo and sppo_hard below their targets 1/(2 beta) = 5,
nca_pair below beta rho_w = log 2, cdpo and exo_pair below their optimal margins (beta h = 2.2 and
6.9); |h| >= 3 as a sum and >= 1.4 as a per-token mean keeps discopop (beta = 0.1, tau = 0.05) outside
the band beta h in [-0.11, 0.07] where its gate makes it non-monotone. Lengths are short and unequal
so per-token means differ from sums without leaving those ranges."""

EXTREME_LOGPS = (-1e4, -1e-6)
"""A response the policy finds all but impossible, and one it is all but certain of."""

EDGE_CASES: dict[str, tuple[str, tuple[PairRow, ...]]] = {
    "identical": ("identical chosen and rejected responses",
                  tuple((w, rw, lw, w, rw, lw) for w, rw, lw, *_ in GENERIC_BATCH)),
    "length_1": ("responses of one token",
                 ((-2.0, -2.5, 1, -3.0, -2.0, 1), (-0.5, -1.0, 1, -4.0, -3.0, 1))),
    "length_512": ("responses of 512 tokens",
                   ((-800.0, -850.0, 512, -900.0, -850.0, 512), (-1200.0, -1100.0, 512, -700.0, -760.0, 512))),
    "extreme_logps": (f"log-probs of {EXTREME_LOGPS[0]:g} and {EXTREME_LOGPS[1]:g}",
                      ((EXTREME_LOGPS[1], EXTREME_LOGPS[0], 1, EXTREME_LOGPS[0], EXTREME_LOGPS[1], 7),
                       (EXTREME_LOGPS[0], EXTREME_LOGPS[1], 7, EXTREME_LOGPS[1], EXTREME_LOGPS[0], 1),
                       (EXTREME_LOGPS[1], EXTREME_LOGPS[1], 1, EXTREME_LOGPS[0], EXTREME_LOGPS[0], 7))),
    "batch_of_one": ("a batch of one prompt", GENERIC_BATCH[:1]),
}

MONOTONE_TOLERANCE = 1e-6
"""Largest d loss / d log pi(chosen) accepted as 'not raising': float32 rounding, far below the
1e-3..1 gradients the generic batch produces."""

TOKEN_KL = 0.05
"""Per-token KL filled in for token_kl objectives (TDPO): small, as near the reference."""

TOKEN_LOG_COLLISION = -1.5
"""Per-token log sum_v p(v)^2 filled in for token_collision objectives (WPO): a distribution about as peaked as
a small model's (collision probability 0.22)."""

PROGRESS = 0.5
"""The training progress filled in for objectives with schedules: half-way, away from both ends."""

DTYPE = torch.float32
"""The trainer's dtype on CPU; float64 would hide overflow the real run would hit."""

SAE_WIDTH_PER_K = 2
"""Synthetic SAE codes (FPO) have 2k features, so the policy's and the reference's top k overlap only partly."""

_KWISE_N = 4
_KNOWN_NEEDS = {"data", "reference", "token_logps", "token_kl", "token_collision", "training_progress", "scores",
                "online", "samples_per_prompt", "batch_level", "mismatched", "sae", "reference_samples",
                "outcome_model", "reference_update"}
"""Every need the checks can synthesise (all the trainer can provide). A reference update changes which reference
the trainer scores against, not the statistics the loss reads, so the checks' synthetic reference serves it."""

_USES: dict[str, frozenset[str]] = {
    "reference": frozenset({"ref_logps", "ref_token_logps", "mismatched_ref_logps"}),
    "token_logps": frozenset({"token_logps", "ref_token_logps"}),
    "token_kl": frozenset({"token_kl"}),
    "token_collision": frozenset({"token_log_collision"}),
    "training_progress": frozenset({"progress"}),
    "scores": frozenset({"scores"}),
    "mismatched": frozenset({"mismatched_logps", "mismatched_ref_logps", "mismatched_lengths"}),
    "sae": frozenset({"sae_codes", "ref_sae_indices", "ref_sae_values"}),
    "reference_samples": frozenset({f"extras.{REFERENCE_SAMPLES}"}),
    "outcome_model": frozenset({f"extras.{OUTCOME_PREDICTIONS}"}),
}
"""A declared need counts as used when the loss reads one of these fields."""

_FIELDS = frozenset(f.name for f in dataclasses.fields(SequenceStats))


@dataclass(frozen=True)
class CheckResult:
    """One named check: passed (or skipped, which counts as passed) with a one-line reason."""

    name: str
    passed: bool
    message: str
    skipped: bool = False

    @property
    def status(self) -> str:
        return "SKIP" if self.skipped else ("PASS" if self.passed else "FAIL")


@dataclass
class ContractReport:
    """The results of :func:`check_objective` for one objective, renderable as a table."""

    objective: str
    results: list[CheckResult] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def passed(self) -> bool:
        return all(r.passed for r in self.results)

    @property
    def failures(self) -> list[CheckResult]:
        return [r for r in self.results if not r.passed]

    def render(self) -> str:
        width = max((len(r.name) for r in self.results), default=0)
        verdict = "passed" if self.passed else f"FAILED ({len(self.failures)} of {len(self.results)} checks)"
        lines = [f"contract checks for {self.objective}: {verdict} in {self.seconds:.2f}s"]
        lines += [f"  {r.status}  {r.name:<{width}}  {r.message}" for r in self.results]
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.render()


class _RecordingExtras(dict):
    """``SequenceStats.extras`` that notes every key the objective reads, as ``extras.KEY``."""

    def __init__(self, values: dict[str, Any], reads: set[str]) -> None:
        super().__init__(values)
        self.reads = reads

    def __getitem__(self, key: str) -> Any:
        self.reads.add(f"extras.{key}")
        return super().__getitem__(key)

    def get(self, key: str, default: Any = None) -> Any:
        self.reads.add(f"extras.{key}")
        return super().get(key, default)


class _RecordingStats(SequenceStats):
    """SequenceStats that notes every field the objective reads (undeclared fields stay None, as in training)."""

    def __getattribute__(self, name: str) -> Any:
        if name in _FIELDS:
            object.__getattribute__(self, "_reads").add(name)
        return object.__getattribute__(self, name)


@dataclass
class _Batch:
    """Stats for one evaluation plus the leaves gradients are read from."""

    stats: _RecordingStats
    leaves: dict[str, Tensor]
    chosen: Tensor | None
    """[B, n] bool: the responses whose log-prob must not raise the loss (None: undefined for the data)."""
    token_mask: Tensor


def _layout(needs: Needs, rows: tuple[PairRow, ...]) -> tuple[list[list[tuple[float, float, int]]],
                                                              dict[str, list[list[float]]], list[list[bool]] | None]:
    """Responses [B][n] as (logp, ref, length), per-response annotations, and which are 'chosen'."""
    chosen_of = [(w, rw, lw) for w, rw, lw, *_ in rows]
    rejected_of = [(lo, rl, ll) for *_, lo, rl, ll in rows]
    b = len(rows)
    if needs.online or needs.data == "kwise":
        n = needs.samples_per_prompt if needs.online else _KWISE_N
        pool = [chosen_of, rejected_of]
        responses = [[pool[j % 2][(i + j // 2) % b] for j in range(n)] for i in range(b)]
        scores = [[float(n - 1 - j) for j in range(n)] for _ in range(b)]
        return responses, {"scores": scores}, [[j == 0 for j in range(n)] for _ in range(b)]
    if needs.data == "pairs":
        return ([[chosen_of[i], rejected_of[i]] for i in range(b)], {"scores": [[1.0, 0.0]] * b},
                [[True, False]] * b)
    if needs.data == "unpaired":
        desirable = [i % 2 == 0 for i in range(b)]
        responses = [[chosen_of[i] if desirable[i] else rejected_of[i]] for i in range(b)]
        return responses, {"labels": [[1.0 if d else -1.0] for d in desirable]}, [[d] for d in desirable]
    if needs.data == "outcomes":
        return [[chosen_of[i]] for i in range(b)], {"outcomes": [[1.0 - 2.0 * (i % 2)] for i in range(b)]}, None
    return [[chosen_of[i]] for i in range(b)], {}, [[True]] * b  # demonstrations


def _build(needs: Needs, rows: tuple[PairRow, ...]) -> _Batch:
    """SequenceStats for ``rows`` holding exactly the fields the trainer would fill for ``needs``."""
    responses, annotations, chosen = _layout(needs, rows)
    logps = torch.tensor([[r[0] for r in row] for row in responses], dtype=DTYPE)
    ref = torch.tensor([[r[1] for r in row] for row in responses], dtype=DTYPE)
    lengths = torch.tensor([[r[2] for r in row] for row in responses], dtype=torch.long)
    width = int(lengths.max())
    mask = torch.arange(width) < lengths.unsqueeze(-1)  # [B, n, T]
    per_token = torch.where(mask, (logps / lengths).unsqueeze(-1), torch.zeros((), dtype=DTYPE))
    leaves: dict[str, Tensor] = {}
    if needs.token_logps:
        token_logps = per_token.clone().requires_grad_(True)
        leaves["token_logps"] = token_logps
        policy = (token_logps * mask).sum(-1)  # the sequence log-prob is the sum of the token ones
    else:
        policy = logps.clone().requires_grad_(True)
        leaves["logps"] = policy
    stats = _RecordingStats(logps=policy, lengths=lengths)
    object.__setattr__(stats, "_reads", set())
    if needs.reference:
        stats.ref_logps = ref
    if needs.token_logps:
        stats.token_logps, stats.token_mask = leaves["token_logps"], mask
        if needs.reference:
            stats.ref_token_logps = torch.where(mask, (ref / lengths).unsqueeze(-1), torch.zeros((), dtype=DTYPE))
    if needs.token_kl:
        token_kl = (TOKEN_KL * mask.to(DTYPE)).requires_grad_(True)
        leaves["token_kl"] = token_kl
        stats.token_kl, stats.token_mask = token_kl, mask
    if needs.token_collision:
        stats.token_log_collision, stats.token_mask = TOKEN_LOG_COLLISION * mask.to(DTYPE), mask
    if needs.training_progress:
        stats.progress = PROGRESS
    if needs.mismatched:  # another example's response: the next row's (itself in a batch of one)
        stats.mismatched_logps = logps.roll(-1, 0)
        stats.mismatched_lengths = lengths.roll(-1, 0)
        if needs.reference:
            stats.mismatched_ref_logps = ref.roll(-1, 0)
    if needs.sae is not None:
        leaves["sae_codes"] = _sae_codes(needs.sae.top_k, logps.shape, seed=0).requires_grad_(True)
        stats.sae_codes = leaves["sae_codes"]
        reference = _sae_codes(needs.sae.top_k, logps.shape, seed=1).topk(needs.sae.top_k, dim=-1)
        stats.ref_sae_indices, stats.ref_sae_values = reference.indices, reference.values
    for name, values in annotations.items():
        if name in _annotations(needs):
            setattr(stats, name, torch.tensor(values, dtype=DTYPE))
    reads = object.__getattribute__(stats, "_reads")
    stats.extras = _RecordingExtras(_provided_extras(needs, responses, leaves), reads)
    reads.clear()
    return _Batch(stats, leaves, None if chosen is None else torch.tensor(chosen), mask)


def _sae_codes(top_k: int, shape: torch.Size, seed: int) -> Tensor:
    """Sparse non-negative mean-pooled codes [B, n, 2k], half of them zero, fixed by ``seed``."""
    generator = torch.Generator().manual_seed(seed)
    values = torch.rand((*shape, SAE_WIDTH_PER_K * top_k), generator=generator, dtype=DTYPE)
    return torch.where(values > 0.5, values, torch.zeros((), dtype=DTYPE))
def _provided_extras(needs: Needs, responses: list[list[tuple[float, float, int]]],
                     leaves: dict[str, Tensor]) -> dict[str, Any]:
    """Reference samples (each prompt's m samples: responses of the following prompts, cyclically) and
    outcome predictions, when ``needs`` asks for them; the samples' policy log-probs are a leaf."""
    extras: dict[str, Any] = {}
    b, m = len(responses), needs.samples_per_prompt
    samples = [[responses[(i + 1 + j) % b][j % len(responses[0])] for j in range(m)] for i in range(b)]
    if needs.reference_samples:
        logps = torch.tensor([[s[0] for s in row] for row in samples], dtype=DTYPE).requires_grad_(True)
        leaves["reference_sample_logps"] = logps
        extras[REFERENCE_SAMPLES] = ReferenceSampleStats(
            logps=logps, ref_logps=torch.tensor([[s[1] for s in row] for row in samples], dtype=DTYPE),
            lengths=torch.tensor([[s[2] for s in row] for row in samples], dtype=torch.long))
    if needs.outcome_model:
        rows = torch.tensor([[0.5 - 0.25 * ((i + j) % 3) for j in range(len(responses[0]))] for i in range(b)],
                            dtype=DTYPE)
        predicted = torch.tensor([[0.25 * ((i + j) % 4) - 0.5 for j in range(m)] for i in range(b)], dtype=DTYPE)
        extras[OUTCOME_PREDICTIONS] = OutcomePredictions(rows=rows,
                                                         samples=predicted if needs.reference_samples else None)
    return extras


def _annotations(needs: Needs) -> set[str]:
    """Per-response annotations the loss may rely on: declared scores, or those its data kind always carries."""
    carried = {"kwise": "scores", "unpaired": "labels", "outcomes": "outcomes"}
    return ({"scores"} if needs.scores or needs.online else set()) | (
        {carried[needs.data]} if needs.data in carried else set())


def _allowed(needs: Needs) -> set[str]:
    """Fields the trainer fills for ``needs``: what the loss may read."""
    allowed = {"logps", "lengths"} | _annotations(needs)
    if needs.reference:
        allowed.add("ref_logps")
    if needs.token_logps:
        allowed |= {"token_logps", "token_mask"} | ({"ref_token_logps"} if needs.reference else set())
    if needs.token_kl:
        allowed |= {"token_kl", "token_mask"}
    if needs.token_collision:
        allowed |= {"token_log_collision", "token_mask"}
    if needs.training_progress:
        allowed.add("progress")
    if needs.mismatched:
        allowed |= {"mismatched_logps", "mismatched_lengths"} | ({"mismatched_ref_logps"} if needs.reference else set())
    if needs.sae is not None:
        allowed |= _USES["sae"]
    for flag in ("reference_samples", "outcome_model"):
        if getattr(needs, flag):
            allowed |= {"extras"} | _USES[flag]
    return allowed


@dataclass
class _Evaluation:
    """One loss evaluation on a fresh objective: output, gradients, fields read, or the error raised."""

    batch: _Batch
    output: LossOutput | None = None
    grads: dict[str, Tensor | None] = field(default_factory=dict)
    reads: set[str] = field(default_factory=set)
    error: str | None = None


def _describe(exc: BaseException) -> str:
    return " ".join(f"{type(exc).__name__}: {exc}".split())


def _show(value: Tensor, exact: bool = False) -> str:
    """A loss for a message: its value (every digit when ``exact``), or its values when it is not a scalar."""
    values = value.detach().flatten().tolist()
    shown = [repr(v) if exact else f"{v:.4g}" for v in values]
    return shown[0] if len(shown) == 1 else f"[{', '.join(shown)}]"


def _evaluate(fresh: Callable[[], Objective], needs: Needs, rows: tuple[PairRow, ...]) -> _Evaluation:
    """Build the batch, compute the loss with a fresh objective and back-propagate, catching any error."""
    batch = _build(needs, rows)
    result = _Evaluation(batch)
    reads: set[str] = object.__getattribute__(batch.stats, "_reads")
    try:
        objective = fresh()
        result.output = objective.loss(batch.stats)
        result.reads = set(reads)
        loss = result.output.loss
        if not isinstance(loss, Tensor) or not loss.requires_grad:
            result.error = "the loss is not differentiable w.r.t. the policy log-probs (no grad_fn)"
            return result
        leaves = list(batch.leaves.values())
        grads = torch.autograd.grad(loss.sum(), leaves, allow_unused=True)
        result.grads = dict(zip(batch.leaves, grads, strict=True))
    except Exception as exc:  # an objective's error is a check result, not a crash of the checker
        result.reads = set(reads)
        result.error = f"loss raised {_describe(exc)}"
    return result


def _resolve(objective: str | type[Objective] | Objective) -> Objective:
    if isinstance(objective, str):
        return build_objective(objective)
    if isinstance(objective, type):
        instance = objective()
        instance.validate()
        return instance
    return objective


def _factory(prototype: Objective) -> Callable[[], Objective]:
    """Fresh copies of ``prototype`` in their initial state (stateful objectives start over each time)."""

    def fresh() -> Objective:
        instance = copy.deepcopy(prototype)
        instance.load_state_dict({})
        return instance

    return fresh


def _check_output(name: str, ev: _Evaluation) -> CheckResult:
    if ev.error:
        return CheckResult(name, False, ev.error)
    assert ev.output is not None
    loss, b = ev.output.loss, ev.batch.stats.logps.shape[0]
    if loss.dim() != 0:
        return CheckResult(name, False, f"the loss has shape {tuple(loss.shape)}; reduce it to a scalar (mean "
                                        "over the batch)")
    if not torch.isfinite(loss):
        return CheckResult(name, False, f"the loss is {_show(loss)} on the generic batch")
    for key, value in ev.output.metrics.items():
        if value.requires_grad:
            return CheckResult(name, False, f"metric {key!r} carries gradients; detach it")
        if value.dim() != 0 and tuple(value.shape) != (b,):
            return CheckResult(name, False, f"metric {key!r} has shape {tuple(value.shape)}; metrics are scalars "
                                            f"or one value per example ({b},)")
    return CheckResult(name, True, f"scalar loss {_show(loss)}, {len(ev.output.metrics)} detached metrics")


def _check_finite(name: str, what: str, ev: _Evaluation) -> CheckResult:
    if ev.error:
        return CheckResult(name, False, f"{what}: {ev.error}")
    assert ev.output is not None
    if not torch.isfinite(ev.output.loss).all():
        return CheckResult(name, False, f"{what}: the loss is {_show(ev.output.loss)}")
    if all(g is None for g in ev.grads.values()):
        return CheckResult(name, False, f"{what}: the loss does not depend on the policy log-probs "
                                        f"({', '.join(ev.grads)})")
    for key, grad in ev.grads.items():
        if grad is not None and not torch.isfinite(grad).all():
            bad = (~torch.isfinite(grad)).nonzero()[0].tolist()
            return CheckResult(name, False, f"{what}: d loss / d {key}{bad} is {grad[tuple(bad)].item()}")
    return CheckResult(name, True, f"{what}: finite loss {_show(ev.output.loss)} and gradients")


def _chosen_gradient(ev: _Evaluation) -> Tensor:
    """d loss / d log pi(y) per response [B, n], raising every token of y alike when token log-probs are read."""
    if "token_logps" in ev.grads:
        grad = ev.grads["token_logps"]
        if grad is None:
            return torch.zeros(ev.batch.stats.lengths.shape, dtype=DTYPE)
        return (grad * ev.batch.token_mask).sum(-1) / ev.batch.stats.lengths
    grad = ev.grads.get("logps")
    return torch.zeros(ev.batch.stats.lengths.shape, dtype=DTYPE) if grad is None else grad


def _check_monotone(prototype: Objective, ev: _Evaluation) -> CheckResult:
    name, needs = "monotone_chosen", prototype.needs
    if not type(prototype).monotone_in_chosen:
        return CheckResult(name, True, f"skipped: {type(prototype).__name__} sets monotone_in_chosen = False "
                                       "(lowers the chosen likelihood by design)", skipped=True)
    if ev.batch.chosen is None:
        return CheckResult(name, True, f"skipped: {needs.data} data has no chosen response", skipped=True)
    if ev.error:
        return CheckResult(name, False, ev.error)
    grad = _chosen_gradient(ev).detach()
    if not torch.isfinite(grad).all():
        bad = (~torch.isfinite(grad)).nonzero()[0].tolist()
        return CheckResult(name, False, f"d loss / d logps{bad} is {grad[tuple(bad)].item()} on the generic batch, "
                                        "so its sign cannot be checked")
    worst = torch.where(ev.batch.chosen, grad, torch.full_like(grad, -math.inf))
    value, index = worst.max(), int(worst.argmax())
    row, column = divmod(index, grad.shape[1])
    which = {"pairs": "chosen", "unpaired": "desirable", "demonstrations": "demonstrated"}.get(
        needs.data, "highest-scored")
    if value > MONOTONE_TOLERANCE:
        return CheckResult(name, False,
                           f"raising log pi of the {which} response raises the loss: d loss / d logps[{row}, "
                           f"{column}] = {value.item():+.4g} > 0 on the generic batch (a sign error? if by design, "
                           f"set monotone_in_chosen = False on the class and say why)")
    return CheckResult(name, True, f"d loss / d log pi({which}) <= {value.item():+.3g} on the generic batch")


def _same_bits(a: Tensor, b: Tensor) -> bool:
    """Bit-identical (a NaN equals the same NaN, unlike ``torch.equal``)."""
    return a.shape == b.shape and a.dtype == b.dtype and a.numpy().tobytes() == b.numpy().tobytes()


def _check_deterministic(first: _Evaluation, second: _Evaluation) -> CheckResult:
    name = "deterministic"
    if first.error or second.error:
        return CheckResult(name, False, first.error or second.error or "")
    assert first.output is not None and second.output is not None
    a, b = first.output.loss.detach(), second.output.loss.detach()
    if not _same_bits(a, b):
        return CheckResult(name, False, f"two fresh instances on the same inputs give losses {_show(a, True)} and "
                                        f"{_show(b, True)}; seed any randomness from the hyper-parameters or state")
    for key, grad in first.grads.items():
        other = second.grads.get(key)
        if (grad is None) != (other is None) or (grad is not None and other is not None
                                                   and not _same_bits(grad, other)):
            return CheckResult(name, False, f"two fresh instances give different gradients w.r.t. {key}")
    return CheckResult(name, True, "two fresh instances give bit-identical losses and gradients")


def _check_needs(needs: Needs, evaluations: list[_Evaluation]) -> list[CheckResult]:
    reads = set().union(*(ev.reads for ev in evaluations))
    undeclared = sorted(reads - _allowed(needs))
    if undeclared:
        hint = {"ref_logps": "reference=True", "token_logps": "token_logps=True", "token_kl": "token_kl=True",
                "token_log_collision": "token_collision=True", "progress": "training_progress=True",
                "mismatched_logps": "mismatched=True", "scores": "scores=True", "sae_codes": "sae=SaeCodes(...)",
                "labels": "data='unpaired'", "outcomes": "data='outcomes'", "extras": "the provider's need",
                f"extras.{REFERENCE_SAMPLES}": "reference_samples=True",
                f"extras.{OUTCOME_PREDICTIONS}": "outcome_model=True"}
        fixes = sorted({hint.get(f, "the matching need") for f in undeclared})
        first = CheckResult("needs.undeclared", False,
                            f"reads {', '.join(undeclared)} without declaring it in needs (the trainer leaves it "
                            f"None); declare {' or '.join(fixes)}")
    else:
        first = CheckResult("needs.undeclared", True, f"reads only declared fields ({', '.join(sorted(reads))})")
    unused = [flag for flag, uses in _USES.items() if getattr(needs, flag) and not reads & uses]
    if unused:
        second = CheckResult("needs.unused", False,
                             f"declares {', '.join(f'{u}=True' for u in unused)} but never reads "
                             f"{' / '.join(sorted(set().union(*(_USES[u] for u in unused))))}; drop the "
                             "declaration (it costs the trainer a pass) or use it")
    else:
        declared = [flag for flag in _USES if getattr(needs, flag)]
        second = CheckResult("needs.unused", True,
                             f"every declared statistic is read ({', '.join(declared) or 'none'})")
    return [first, second]


def _unsupported(needs: Needs) -> list[str]:
    return [f.name for f in dataclasses.fields(needs)
            if f.name not in _KNOWN_NEEDS and getattr(needs, f.name) != f.default]


def check_objective(objective: str | type[Objective] | Objective) -> ContractReport:
    """Run every contract check on ``objective`` (a registered name, a class or a configured instance).

    Nothing trains and nothing is downloaded; it takes well under a second. The instance's own
    hyper-parameters (reduction included) are the ones checked; the instance itself is never called
    (fresh copies are), so its state is left as it was.
    """
    started = time.perf_counter()
    prototype = _resolve(objective)
    registered = bool(prototype.name) and prototype.name in METHODS and METHODS.get(prototype.name) is type(prototype)
    label = prototype.name if registered else type(prototype).__name__  # a subclass inherits its parent's name
    report = ContractReport(objective=label)
    needs = prototype.needs
    unsupported = _unsupported(needs)
    if unsupported:
        report.results.append(CheckResult("needs.supported", False,
                                          f"declares {', '.join(unsupported)}, which the checks cannot synthesise "
                                          "(a need they do not know yet; extend bench/methods/contract.py)"))
        report.seconds = time.perf_counter() - started
        return report
    fresh = _factory(prototype)
    generic = _evaluate(fresh, needs, GENERIC_BATCH)
    report.results.append(_check_output("output", generic))
    evaluations = [generic]
    for case, (what, rows) in EDGE_CASES.items():
        ev = _evaluate(fresh, needs, rows)
        evaluations.append(ev)
        report.results.append(_check_finite(f"finite.{case}", what, ev))
    report.results.append(_check_monotone(prototype, generic))
    report.results.append(_check_deterministic(generic, _evaluate(fresh, needs, GENERIC_BATCH)))
    report.results.extend(_check_needs(needs, evaluations))
    report.seconds = time.perf_counter() - started
    return report


def check_registered(names: list[str] | None = None) -> dict[str, ContractReport]:
    """Contract reports for the registered objectives ``names`` (default: all of them)."""
    return {name: check_objective(name) for name in (names or METHODS.names())}


__all__ = ["EDGE_CASES", "GENERIC_BATCH", "CheckResult", "ContractReport", "check_objective", "check_registered"]
