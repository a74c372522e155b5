"""Composite objectives: a weighted sum of registered objectives, written on the command line.

``method=dpo+0.005*sft`` trains on ``L = L_dpo + 0.005 L_sft``. TRL expresses several published objectives
this way: MPO as ``sigmoid + bco_pair + sft`` with weights, RPO-NLL (Pang et al. 2024) as
``sigmoid + alpha * sft``. The composite reads the union of what its parts read (the same data kind; a
part that learns from demonstrations, such as ``sft``, sees each pair's chosen response, as TRL's ``sft``
loss term does), each part keeps its own hyper-parameters (``methods.dpo.beta=0.2`` applies to the dpo
inside ``dpo+0.005*sft`` as well) and state, and the logged metrics are the first part's plus each part's
loss. Sweeps over a composite are not supported: sweep its parts as methods of their own.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from typing import Any

import torch

from bench.errors import ConfigError
from bench.methods.base import LossOutput, Needs, Objective, SequenceStats

PLUS = re.compile(r"(?<![eE])\+")
"""Terms are separated by '+', except the '+' of an exponent (1e+3)."""
TERM = re.compile(r"\s*(?:(?P<weight>[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*\*\s*)?(?P<name>[A-Za-z][A-Za-z0-9_]*)\s*")
DEMONSTRATIONS, PAIRS = "demonstrations", "pairs"


def is_composite(spec: str) -> bool:
    return "+" in spec or "*" in spec


def parse_composite(spec: str) -> list[tuple[float, str]]:
    """``"dpo+0.005*sft"`` -> ``[(1.0, "dpo"), (0.005, "sft")]``, or a ConfigError naming the bad term."""
    terms = []
    for text in PLUS.split(spec):
        match = TERM.fullmatch(text)
        if match is None:
            raise ConfigError(f"method={spec}: cannot read the term {text!r}; write a composite as "
                              f"NAME[+WEIGHT*NAME...], e.g. method=dpo+0.005*sft")
        weight = float(match["weight"]) if match["weight"] else 1.0
        if not weight > 0:
            raise ConfigError(f"method={spec}: the weight of {match['name']} must be > 0")
        terms.append((weight, match["name"]))
    names = [name for _, name in terms]
    if len(set(names)) != len(names):
        raise ConfigError(f"method={spec}: each objective may appear once; add the weights instead")
    if len(terms) < 2:
        raise ConfigError(f"method={spec}: a composite needs at least two objectives, e.g. dpo+0.005*sft")
    return terms


def canonical(terms: list[tuple[float, str]]) -> str:
    """The composite's name: weights written only where they are not 1 (``dpo+0.005*sft``)."""
    return "+".join(name if weight == 1.0 else f"{weight:g}*{name}" for weight, name in terms)


def _merged_needs(spec: str, parts: list[Objective]) -> Needs:
    kinds = {part.needs.data for part in parts}
    if len(kinds) > 1 and kinds != {PAIRS, DEMONSTRATIONS}:
        raise ConfigError(f"method={spec}: its parts learn from different data ({', '.join(sorted(kinds))}); "
                          f"a composite's parts must share a data kind (or pair it with demonstrations)")
    online = {part.needs.online for part in parts}
    samples = {part.needs.samples_per_prompt for part in parts if part.needs.online or part.needs.reference_samples}
    saes = {part.needs.sae for part in parts if part.needs.sae is not None}
    if len(online) > 1 or len(samples) > 1 or len(saes) > 1:
        raise ConfigError(f"method={spec}: its parts need different sampling or SAE set-ups; combine objectives "
                          f"that read the same kind of batch")
    flags = {f.name: any(getattr(part.needs, f.name) for part in parts) for f in dataclasses.fields(Needs)
             if isinstance(getattr(Needs(), f.name), bool)}
    return Needs(**{**flags, "data": PAIRS if PAIRS in kinds else kinds.pop(), "sae": next(iter(saes), None),
                    "samples_per_prompt": next(iter(samples), 1)})


def chosen_only(stats: SequenceStats) -> SequenceStats:
    """The statistics of each pair's chosen response alone ([B, 1, ...]), for a part that learns from
    demonstrations inside a pairwise composite."""
    sliced = {}
    for field in dataclasses.fields(stats):
        value = getattr(stats, field.name)
        if isinstance(value, torch.Tensor) and value.dim() >= 2 and value.shape[1] == 2:
            sliced[field.name] = value[:, :1]
    return dataclasses.replace(stats, **sliced)


class Composite(Objective):
    """A weighted sum of objectives (module docstring). Not registered: built from its name by :func:`build`."""

    family = "composite"
    source = "a weighted sum of registered objectives (TRL: MPO = sigmoid + bco_pair + sft, RPO = sigmoid + sft)"

    def __init__(self, spec: str, weights: list[float], parts: list[Objective]) -> None:
        self.name, self.weights, self.parts = spec, weights, parts
        self.needs = _merged_needs(spec, parts)  # type: ignore[misc]  # an instance's needs, derived from its parts
        self.monotone_in_chosen = all(part.monotone_in_chosen for part in parts)  # type: ignore[misc]
        self.reduction = "+".join(part.reduction for part in parts)  # type: ignore[assignment]
        self.formula = " + ".join(f"{w:g} * [{part.formula}]" for w, part in zip(weights, parts, strict=True))

    def loss(self, stats: SequenceStats) -> LossOutput:
        total, metrics = None, {}
        for index, (weight, part) in enumerate(zip(self.weights, self.parts, strict=True)):
            own = chosen_only(stats) if part.needs.data == DEMONSTRATIONS and self.needs.data == PAIRS else stats
            output = part.loss(own)
            total = weight * output.loss if total is None else total + weight * output.loss
            if index == 0:
                metrics.update(output.metrics)
            metrics[f"loss_{part.name}"] = output.loss.detach()
        return LossOutput(loss=total, metrics=metrics)

    def state_dict(self) -> dict[str, float]:
        return {f"{part.name}.{key}": value for part in self.parts for key, value in part.state_dict().items()}

    def load_state_dict(self, state: dict[str, float]) -> None:
        for part in self.parts:
            prefix = f"{part.name}."
            part.load_state_dict({k.removeprefix(prefix): v for k, v in state.items() if k.startswith(prefix)})

    def hyperparameters(self) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for weight, part in zip(self.weights, self.parts, strict=True):
            values[f"{part.name}.weight"] = weight
            values.update({f"{part.name}.{key}": value for key, value in part.hyperparameters().items()})
        return values

    def validate(self) -> None:
        for part in self.parts:
            part.validate()


def objective_types(objective: Objective) -> tuple[type, ...]:
    """The classes whose source decides ``objective``'s loss: its own, and a composite's parts' (job keys hash them)."""
    parts = objective.parts if isinstance(objective, Composite) else []
    return (type(objective), *(type(part) for part in parts))


def build(spec: str, overrides: Mapping[str, Mapping[str, Any]]) -> Composite:
    """The composite ``spec`` with each part's ``methods.PART.*`` overrides applied."""
    from bench.methods import build_objective

    terms = parse_composite(spec)
    parts = [build_objective(name, overrides.get(name)) for _, name in terms]
    for part in parts:
        if isinstance(part, Composite):
            raise ConfigError(f"method={spec}: a composite cannot contain another composite")
    composite = Composite(canonical(terms), [weight for weight, _ in terms], parts)
    composite.validate()
    return composite


__all__ = ["Composite", "build", "canonical", "chosen_only", "is_composite", "objective_types", "parse_composite"]
