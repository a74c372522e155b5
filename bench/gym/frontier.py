"""The optimal reward-vs-KL frontier of the gym, the best-of-n curve, and a method's regret against it.

For the gold reward r* and the reference pi_ref, the policy with the highest expected reward at a given
KL budget is pi*_beta(y|x) proportional to pi_ref(y|x) exp(r*(x, y) / beta) (METHODS.md, "The optimal
frontier"). Its curve is estimated from N reference samples per prompt by self-normalised importance
resampling: the weights w_i = softmax(r_i / beta) turn the reference samples into samples of pi*.
Because the estimate is a reweighting of the empirical distribution, it cannot reach beyond
KL = log N per prompt and degrades well before: grid points whose effective sample size falls below
:data:`MIN_ESS` are kept in the table but marked invalid, and regret is only read off valid points.

The numerical functions at the top are pure (arrays in, tables out). :func:`gym_frontier` samples the
gym's reference once, scores the samples with the gold reward and caches the reward matrix by content
(reference fingerprint, prompts, N, sampling, gold-reward identity), so a warm call costs a file read.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from bench.cached import write_record
from bench.errors import BenchError, ConfigError
from bench.integrity import Damaged, read_sealed_json
from bench.notices import notice

if TYPE_CHECKING:
    from bench.gym.build import Gym

FRONTIER_VERSION = "1"
"""Bump when the sampling or the cached file's layout changes: it is part of the cache key."""
MIN_SAMPLES = 256
"""METHODS.md: N >= 256 reference samples per prompt."""
MIN_ESS = 10.0
"""METHODS.md: a beta whose effective sample size 1 / sum w_i^2 falls below 10 (on any prompt) is dropped."""
DEFAULT_BETAS: tuple[float, ...] = tuple(float(b) for b in np.geomspace(0.01, 100.0, 65))
"""Log grid, 16 points per decade: dense enough that linear interpolation between points is within a
fraction of a percent of the (concave) frontier for the gym's rewards, which lie in [-4, 4]."""
FRONTIER_PROMPTS = 16
"""Test prompts the gym frontier is estimated on (the first ones of the gym's test split, which is a
random permutation). Measured on the project's 2-core CPU machine (default gym, transformers backend):
16 x 256 samples cost 19 s of CPU, 38 s wall while another job held a core; 32 prompts took 65 s wall.
The frontier's reward is a mean over these prompts: its standard error over prompts is about 0.09 at
KL 1.4 with 16 (0.06 with 32), small next to the gym's regrets. Raise it where sampling is cheap (GPU)."""
FRONTIER_SEED = 7
"""Sampling seed of the frontier's reference samples: not the evaluation's seeds (0, 1), so they are
fresh draws rather than the samples the win rates were computed against."""
FRONTIER_BATCH_PROMPTS = 2
"""Prompts per generate() batch: 2 x 256 sequences. transformers generates a batch until its longest
sample ends, so small batches waste fewer steps; measured fastest on CPU among 1, 2, 4 and 16."""
BEYOND = ("nan", "last")
"""What :func:`regret` does at a KL beyond the last valid frontier point (see there)."""
TABLE_COLUMNS = ("beta", "reward", "kl", "ess_min", "valid")
BEST_OF_N_COLUMNS = ("n", "reward", "kl")


# ---- pure numerics -----------------------------------------------------------------------------------

def _reward_matrix(rewards: Sequence[Sequence[float]] | np.ndarray) -> np.ndarray:
    matrix = np.asarray(rewards, dtype=np.float64)
    if matrix.ndim != 2 or matrix.shape[0] == 0 or matrix.shape[1] == 0:
        raise BenchError(f"rewards must be shaped [prompts, samples] with at least one of each, got shape "
                         f"{matrix.shape}; pass one row of N reference-sample rewards per prompt")
    if not np.isfinite(matrix).all():
        row = int(np.flatnonzero(~np.isfinite(matrix).all(axis=1))[0])
        raise BenchError(f"rewards row {row} holds a non-finite value; every reference sample needs a finite "
                         f"gold reward")
    return matrix


def _log_softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def frontier_from_rewards(rewards: Sequence[Sequence[float]] | np.ndarray,
                          betas: Sequence[float] = DEFAULT_BETAS, min_ess: float = MIN_ESS) -> pd.DataFrame:
    """The pi* frontier estimated from reference-sample rewards [P, N]: one row per beta, KL ascending.

    Per prompt, w_i = softmax(r_i / beta), reward = sum_i w_i r_i and KL(pi* || pi_ref) = sum_i w_i
    log(N w_i) (the same as reward / beta - log Z with log Z = logsumexp(r_i / beta) - log N, written so
    it does not subtract two large numbers at small beta); both are averaged over prompts. ``ess_min``
    is the smallest per-prompt 1 / sum w_i^2, and ``valid`` says whether it reaches ``min_ess``. A first
    row with beta = inf is the reference itself (KL 0), so every frontier starts at the origin of KL.
    """
    matrix = _reward_matrix(rewards)
    grid = np.asarray(list(betas), dtype=np.float64)
    if grid.size == 0 or not np.all(np.isfinite(grid) & (grid > 0)):
        raise BenchError(f"betas must be finite and > 0, got {list(betas)!r}; pass a log grid such as "
                         f"numpy.geomspace(0.01, 100, 65)")
    n = matrix.shape[1]
    rows = [{"beta": math.inf, "reward": float(matrix.mean()), "kl": 0.0, "ess_min": float(n), "valid": True}]
    for beta in np.sort(grid)[::-1]:
        log_w = _log_softmax(matrix / beta)
        w = np.exp(log_w)
        reward = (w * matrix).sum(axis=1)
        kl = np.maximum((w * (log_w + math.log(n))).sum(axis=1), 0.0)  # >= 0 in exact arithmetic: clip rounding
        ess = 1.0 / (w * w).sum(axis=1)
        rows.append({"beta": float(beta), "reward": float(reward.mean()), "kl": float(kl.mean()),
                     "ess_min": float(ess.min()), "valid": bool(ess.min() >= min_ess)})
    return pd.DataFrame(rows, columns=list(TABLE_COLUMNS))


def best_of_n_weights(samples: int, n: int) -> np.ndarray:
    """Weights of the order statistics r_(1) <= ... <= r_(N) in the unbiased estimate of E[max of n].

    Weight k is C(k-1, n-1) / C(N, n): the share of the n-subsets of the N samples whose maximum is the
    k-th smallest. Computed in log space so N in the thousands does not overflow.
    """
    if not 1 <= n <= samples:
        raise BenchError(f"best-of-n needs 1 <= n <= N = {samples}, got n={n}; pick n from 1 to the number "
                         f"of reference samples per prompt")
    log_factorial = np.concatenate([[0.0], np.cumsum(np.log(np.arange(1, samples + 1)))])
    k = np.arange(1, samples + 1)
    weights = np.zeros(samples)
    top = k >= n

    def log_choose(a: np.ndarray | int, b: int) -> np.ndarray:
        return log_factorial[a] - log_factorial[b] - log_factorial[np.asarray(a) - b]

    weights[top] = np.exp(log_choose(k[top] - 1, n - 1) - log_choose(samples, n))
    return weights


def best_of_n_kl(n: int | np.ndarray) -> np.ndarray | float:
    """log n - (n - 1) / n: the analytic KL of best-of-n (an upper bound; ties in r* make it smaller)."""
    n = np.asarray(n, dtype=np.float64)
    value = np.log(n) - (n - 1.0) / n
    return float(value) if value.ndim == 0 else value


def default_ns(samples: int) -> list[int]:
    """Powers of two up to N, and N itself."""
    ns = [2**i for i in range(int(math.log2(samples)) + 1)]
    return ns if ns[-1] == samples else [*ns, samples]


def best_of_n_curve(rewards: Sequence[Sequence[float]] | np.ndarray,
                    ns: Sequence[int] | None = None) -> pd.DataFrame:
    """Expected gold reward of best-of-n sampling from the reference, for each n, with its analytic KL.

    Uses the same samples as the frontier: per prompt, the order-statistics estimator of E[max of n
    draws] (unbiased for n-subsets of the N samples), averaged over prompts.
    """
    matrix = np.sort(_reward_matrix(rewards), axis=1)
    chosen = default_ns(matrix.shape[1]) if ns is None else [int(n) for n in ns]
    rows = [{"n": n, "reward": float((matrix @ best_of_n_weights(matrix.shape[1], n)).mean()),
             "kl": float(best_of_n_kl(n))} for n in chosen]
    return pd.DataFrame(rows, columns=list(BEST_OF_N_COLUMNS))


def valid_points(frontier: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """The valid frontier points as (kl, reward), KL ascending: what regret interpolates between."""
    missing = [c for c in ("kl", "reward", "valid") if c not in frontier.columns]
    if missing:
        raise BenchError(f"frontier table lacks column(s) {', '.join(missing)}; build it with "
                         f"frontier_from_rewards")
    kept = frontier[frontier["valid"].astype(bool)].sort_values(["kl", "reward"], kind="stable")
    if kept.empty:
        raise BenchError("the frontier has no valid point (every ESS is below the limit); draw more reference "
                         "samples per prompt")
    return kept["kl"].to_numpy(dtype=np.float64), kept["reward"].to_numpy(dtype=np.float64)


def frontier_reward(frontier: pd.DataFrame, kl: float | np.ndarray, beyond: str = "nan") -> np.ndarray | float:
    """The frontier's reward at ``kl``, linearly interpolated between valid points (so monotone).

    The estimated frontier is non-decreasing in KL (reward and KL both grow as beta falls), so linear
    interpolation between its points is monotone too; it slightly underestimates the concave frontier
    between grid points. A KL below 0 is estimator noise around 0 and reads as 0. Beyond the last valid
    point the estimate cannot see: ``beyond="nan"`` returns NaN there, ``beyond="last"`` the last valid
    reward, which is a LOWER bound on the true frontier (it only grows with KL).
    """
    if beyond not in BEYOND:
        raise BenchError(f"beyond={beyond!r}: use one of {', '.join(BEYOND)}")
    xs, ys = valid_points(frontier)
    x = np.maximum(np.asarray(kl, dtype=np.float64), 0.0)
    value = np.interp(x, xs, ys)
    outside = x > xs[-1]
    value = np.where(outside, np.nan if beyond == "nan" else ys[-1], value)
    value = np.where(np.isnan(x), np.nan, value)
    return float(value) if value.ndim == 0 else value


def beyond_frontier(frontier: pd.DataFrame, kl: float | np.ndarray) -> np.ndarray | bool:
    """Whether ``kl`` lies past the frontier's last valid point (where regret is only a lower bound)."""
    xs, _ = valid_points(frontier)
    outside = np.asarray(kl, dtype=np.float64) > xs[-1]
    return bool(outside) if outside.ndim == 0 else outside


def regret(frontier: pd.DataFrame, kl: float | np.ndarray, reward: float | np.ndarray,
           beyond: str = "nan") -> np.ndarray | float:
    """Frontier reward at the method's KL minus the method's gold reward (METHODS.md).

    0 means the method is on the frontier: no policy at that KL does better. Negative regret beyond
    the noise means the frontier estimate or the method's KL is wrong. Past the frontier's last valid
    point, ``beyond="nan"`` gives NaN and ``beyond="last"`` a lower bound on the regret (see
    :func:`frontier_reward`).
    """
    value = np.asarray(frontier_reward(frontier, kl, beyond)) - np.asarray(reward, dtype=np.float64)
    return float(value) if value.ndim == 0 else value


# ---- the gym's cached frontier ---------------------------------------------------------------------

@dataclass
class Frontier:
    """The gym's estimated frontier, its best-of-n curve, and what they were estimated from."""

    table: pd.DataFrame
    """:func:`frontier_from_rewards`: beta, reward, kl, ess_min, valid."""
    best_of_n: pd.DataFrame
    """:func:`best_of_n_curve`: n, reward, kl."""
    rewards: np.ndarray
    """Gold rewards of the reference samples, [prompts, N]."""
    prompts: list[str]
    reference: str
    """Fingerprint of the reference model: the ``model`` of the leaderboard rows it applies to."""
    key: str
    seconds: float
    """Cost of sampling and scoring (0 when the rewards came from the cache)."""
    cached: bool
    min_ess: float = MIN_ESS

    @classmethod
    def from_rewards(cls, rewards: np.ndarray, prompts: list[str], reference: str, key: str = "",
                     seconds: float = 0.0, cached: bool = False, betas: Sequence[float] = DEFAULT_BETAS,
                     ns: Sequence[int] | None = None, min_ess: float = MIN_ESS) -> Frontier:
        """The frontier and best-of-n tables of a reward matrix [prompts, N] of ``reference``'s samples."""
        matrix = _reward_matrix(rewards)
        return cls(table=frontier_from_rewards(matrix, betas, min_ess), best_of_n=best_of_n_curve(matrix, ns),
                   rewards=matrix, prompts=list(prompts), reference=reference, key=key, seconds=seconds,
                   cached=cached, min_ess=min_ess)

    @property
    def samples(self) -> int:
        """N, the reference samples per prompt."""
        return int(self.rewards.shape[1])

    @property
    def dropped(self) -> int:
        """Grid points left out because their ESS fell below ``min_ess``."""
        return int((~self.table["valid"].astype(bool)).sum())

    @property
    def kl_max(self) -> float:
        """The largest KL the valid frontier reaches: regret beyond it is a bound, not an estimate."""
        return float(valid_points(self.table)[0][-1])

    def regret(self, kl: float | np.ndarray, reward: float | np.ndarray, beyond: str = "nan"
               ) -> np.ndarray | float:
        """:func:`regret`; past the valid range with ``beyond="last"``, the bound also uses best-of-n.

        Best-of-n from the reference is a policy whose KL is at most log n - (n-1)/n, so its reward is a
        lower bound on pi*'s at any larger KL: the bound is the larger of the last valid frontier point
        and the best best-of-n point at or below the method's KL (far tighter than the frontier alone,
        which the importance weights cannot carry past a few nats).
        """
        value = np.asarray(regret(self.table, kl, reward, beyond), dtype=np.float64)
        if beyond == "last":
            x = np.asarray(kl, dtype=np.float64)
            order = self.best_of_n.sort_values("kl")
            bon_kl, bon_reward = order["kl"].to_numpy(np.float64), np.maximum.accumulate(order["reward"].to_numpy())
            reachable = np.searchsorted(bon_kl, x, side="right") - 1
            floor = np.where(reachable >= 0, bon_reward[np.clip(reachable, 0, None)], -np.inf)
            outside = np.asarray(self.beyond(x))
            value = np.where(outside, np.maximum(value, floor - np.asarray(reward, dtype=np.float64)), value)
        return float(value) if value.ndim == 0 else value

    def beyond(self, kl: float | np.ndarray) -> np.ndarray | bool:
        return beyond_frontier(self.table, kl)

    def note(self) -> str:
        """One line for plots and tables: N, prompts, dropped points and the KL range."""
        return (f"pi* frontier from N={self.samples} reference samples per prompt on {len(self.prompts)} test "
                f"prompts; {self.dropped} of {len(self.table) - 1} beta grid points dropped (ESS < "
                f"{self.min_ess:g}); valid up to KL {self.kl_max:.2f} nats")


def _chosen_prompts(gym: Gym, prompts: int) -> list[str]:
    if prompts < 1:
        raise ConfigError(f"frontier prompts={prompts}: use at least 1")
    return list(gym.test_prompts[:prompts])


def gym_frontier(gym: Gym, max_new_tokens: int, max_prompt_tokens: int, cache: Path | None = None,
                 prompts: int = FRONTIER_PROMPTS, samples: int = MIN_SAMPLES, backend: str = "auto",
                 betas: Sequence[float] = DEFAULT_BETAS, ns: Sequence[int] | None = None,
                 batch_prompts: int = FRONTIER_BATCH_PROMPTS) -> Frontier:
    """Build (or load) the gym's frontier: N reference samples on the first ``prompts`` test prompts.

    Samples are drawn at temperature 1 and top-p 1 (the distribution KL is measured against) with the
    evaluation's ``max_new_tokens``, through :func:`bench.generate.generate`, and scored by the gold
    judge. The reward matrix is cached under ``<cache>/frontier/<key>.json`` (``cache`` defaults to the
    cache the gym was built in); the frontier and best-of-n tables are recomputed from it (milliseconds).
    """
    from bench.cached import cached_record
    from bench.fingerprint import directory_fingerprint, fingerprint
    from bench.generate import choose_backend, generate
    from bench.gym.judges import GoldJudge
    from bench.models.sampling import SamplingParams

    if samples < MIN_SAMPLES:
        raise ConfigError(f"frontier samples={samples}: METHODS.md asks for N >= {MIN_SAMPLES} reference samples "
                          f"per prompt (fewer cannot reach a useful KL); raise it")
    cache = Path(cache) if cache is not None else gym.root.parents[1]
    chosen = _chosen_prompts(gym, prompts)
    judge = GoldJudge()
    params = SamplingParams(max_new_tokens=max_new_tokens, temperature=1.0, top_p=1.0, n=samples,
                            seed=FRONTIER_SEED)
    resolved = choose_backend(backend)
    reference = directory_fingerprint(gym.reference_dir)
    key = fingerprint({"version": FRONTIER_VERSION, "reference": reference, "prompts": chosen,
                       "sampling": params.as_dict(), "max_prompt_tokens": max_prompt_tokens,
                       "backend": resolved, "reward": judge.identity()})
    path = frontier_path(cache, key)

    def compute() -> dict[str, Any]:
        started = time.perf_counter()
        generations = generate(gym.reference_dir, chosen, params, cache, max_prompt_tokens,
                               generator_name="frontier-reference", backend=resolved, batch_prompts=batch_prompts)
        flat_prompts = [p for p in chosen for _ in range(samples)]
        flat_samples = [s for group in generations.samples for s in group]
        rewards = judge.score(flat_prompts, flat_samples).reshape(len(chosen), samples)
        return {"key": key, "reference": reference, "prompts": chosen, "samples": samples,
                "sampling": params.as_dict(), "reward": judge.identity(), "seconds": time.perf_counter() - started,
                "rewards": rewards.tolist()}

    record, computed = cached_record(path, compute, "the gym's optimal frontier")
    frontier = _frontier_of(record, path, betas, ns, cached=not computed)
    if frontier.rewards.shape != (len(chosen), samples):
        raise BenchError(f"{path}: holds rewards shaped {frontier.rewards.shape}, expected ({len(chosen)}, "
                         f"{samples}); delete it and run again")
    return frontier


def frontier_path(cache: Path, key: str) -> Path:
    """Where :func:`gym_frontier` keeps the reward matrix of frontier ``key`` under ``cache``."""
    return Path(cache) / "frontier" / f"{key}.json"


def read_frontier(path: Path, betas: Sequence[float] = DEFAULT_BETAS, ns: Sequence[int] | None = None) -> Frontier:
    """The frontier of a file :func:`gym_frontier` wrote (``<cache>/frontier/<key>.json``).

    For consumers that have the file but not the gym, such as ``bench leaderboard`` given the path.
    """
    return _frontier_of(read_sealed_json(Path(path)), Path(path), betas, ns, cached=True)


def save_frontier(frontier: Frontier, path: Path, comparability_key: str) -> None:
    """Keep ``frontier`` in a results store at ``path``, for the table of ``comparability_key``: the store's
    leaderboards are rebuilt from the store alone (:func:`stored_frontiers`), whichever run rebuilds them."""
    write_record(Path(path), {"key": frontier.key, "reference": frontier.reference, "prompts": frontier.prompts,
                              "samples": frontier.samples, "rewards": frontier.rewards.tolist(),
                              "comparability_key": comparability_key})


def stored_frontiers(store: Path, file_name: str) -> dict[str, Frontier]:
    """Every frontier kept in ``store`` (``<store>/<table>/<file_name>``), by the comparability key of its table.

    A damaged file is said and left out (the table loses its regret column until its run is repeated).
    """
    frontiers = {}
    for path in sorted(Path(store).glob(f"*/{file_name}")):
        try:
            record = read_sealed_json(path)
            frontiers[str(record["comparability_key"])] = _frontier_of(record, path, DEFAULT_BETAS, None, cached=True)
        except (Damaged, KeyError) as problem:
            notice(f"{path}: {problem}; the regret column of its table is left out until its run is repeated")
    return frontiers


def _frontier_of(payload: dict[str, Any], path: Path, betas: Sequence[float], ns: Sequence[int] | None,
                 cached: bool) -> Frontier:
    """The frontier of a verified frontier record (the one :func:`gym_frontier` writes)."""
    try:
        rewards = np.asarray(payload["rewards"], dtype=np.float64)
        prompts, reference, key = list(payload["prompts"]), str(payload["reference"]), str(payload["key"])
    except (ValueError, KeyError, TypeError) as exc:
        raise BenchError(f"{path}: unreadable frontier file ({exc}); delete it and build the frontier again") from exc
    if rewards.ndim != 2 or rewards.shape[0] != len(prompts):
        raise BenchError(f"{path}: holds rewards shaped {rewards.shape} for {len(prompts)} prompts; delete it and "
                         f"build the frontier again")
    seconds = 0.0 if cached else float(payload.get("seconds", 0.0))
    return Frontier.from_rewards(rewards, prompts, reference, key, seconds, cached, betas, ns)
