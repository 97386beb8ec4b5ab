"""Bradley–Terry ratings from arena battles, with a seeded bootstrap interval.

Model: P(a beats b) = 1 / (1 + 10^(θ_b − θ_a)); ratings are shown as 400·θ + 1000, so 400 points
mean 10:1 odds, the familiar Elo scale, and the mean model sits at 1000. A tie or a "both bad"
vote counts as half a win for each side.

Why it is fast: battles are first collapsed into counts per (pair, outcome), so the fit never
looks at individual battles. A bootstrap round resamples battles with replacement, which is the
same as drawing those counts from a multinomial; and since rounds are independent, all of them
are fitted together as one block-separable L-BFGS problem instead of one scipy call per round.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize

from cvalues_build.core.records import WINNERS

SCALE = 400.0
BASE = 1000.0
A_WINS, B_WINS, TIE, BOTH_BAD = WINNERS
_OUTCOME = {A_WINS: 0, B_WINS: 1, TIE: 2, BOTH_BAD: 2}  # 2: half a win each
_LN10 = np.log(10.0)


@dataclass(frozen=True)
class Ratings:
    """Ratings of ``models`` (same order everywhere), with bootstrap 95% bounds."""

    models: list[str]
    rating: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    battles: np.ndarray  # battles each model took part in
    rounds: int

    def as_dict(self) -> dict[str, dict[str, float]]:
        return {
            m: {"rating": float(r), "lower": float(lo), "upper": float(hi), "battles": int(n)}
            for m, r, lo, hi, n in zip(self.models, self.rating, self.lower, self.upper, self.battles, strict=True)
        }


@dataclass(frozen=True)
class _Groups:
    """Battles collapsed to (i, j, outcome) groups with i < j, and how many battles each holds."""

    i: np.ndarray
    j: np.ndarray
    win_i: np.ndarray  # share of a battle credited to i: 1, 0 or 0.5
    count: np.ndarray


def _collapse(models: list[str], model_a: Sequence[str], model_b: Sequence[str], winner: Sequence[str]) -> _Groups:
    index = {m: k for k, m in enumerate(models)}
    try:
        a = np.fromiter((index[m] for m in model_a), dtype=np.int64, count=len(model_a))
        b = np.fromiter((index[m] for m in model_b), dtype=np.int64, count=len(model_b))
        out = np.fromiter((_OUTCOME[w] for w in winner), dtype=np.int64, count=len(winner))
    except KeyError as err:
        raise ValueError(f"unknown model or winner {err.args[0]!r}") from err
    if np.any(a == b):
        raise ValueError(f"battle {int(np.argmax(a == b))} pits a model against itself")
    # Canonical order i < j; swapping the sides swaps an a/b win.
    swap = a > b
    i, j = np.where(swap, b, a), np.where(swap, a, b)
    out = np.where(swap & (out < 2), 1 - out, out)
    n = len(models)
    keys, counts = np.unique((i * n + j) * 3 + out, return_counts=True)
    pair, outcome = np.divmod(keys, 3)
    gi, gj = np.divmod(pair, n)
    win_i = np.select([outcome == 0, outcome == 1], [1.0, 0.0], 0.5)
    return _Groups(gi, gj, win_i, counts.astype(np.float64))


def _fit(groups: _Groups, counts: np.ndarray, n_models: int, reg: float) -> np.ndarray:
    """MLE of natural-log strengths for each row of ``counts`` (rounds × groups); mean-zero rows.

    ``reg`` is a weak Gaussian prior that keeps strengths finite when a model never lost.
    """
    rounds = counts.shape[0]
    wins_i = counts * groups.win_i  # (R, G)
    totals = counts
    offsets = (np.arange(rounds) * n_models)[:, None]
    flat_i = (offsets + groups.i[None, :]).ravel()
    flat_j = (offsets + groups.j[None, :]).ravel()
    size = rounds * n_models

    def objective(u_flat: np.ndarray) -> tuple[float, np.ndarray]:
        u = u_flat.reshape(rounds, n_models)
        d = u[:, groups.i] - u[:, groups.j]
        # log σ(d) and log σ(−d), computed stably.
        log_p = -np.logaddexp(0.0, -d)
        log_q = -np.logaddexp(0.0, d)
        nll = -(wins_i * log_p + (totals - wins_i) * log_q).sum() + 0.5 * reg * (u * u).sum()
        resid = (wins_i - totals * np.exp(log_p)).ravel()  # d loglik / d d
        grad = np.bincount(flat_j, resid, size) - np.bincount(flat_i, resid, size) + reg * u_flat
        return float(nll), grad

    res = minimize(objective, np.zeros(size), jac=True, method="L-BFGS-B",
                   options={"maxiter": 1000, "gtol": 1e-8, "ftol": 1e-12})
    u = res.x.reshape(rounds, n_models)
    return u - u.mean(axis=1, keepdims=True)


def _to_rating(u: np.ndarray) -> np.ndarray:
    return SCALE * u / _LN10 + BASE


def fit_bradley_terry(
    model_a: Sequence[str],
    model_b: Sequence[str],
    winner: Sequence[str],
    *,
    models: Sequence[str] | None = None,
    rounds: int = 100,
    seed: int = 0,
    reg: float = 1e-2,
) -> Ratings:
    """Bradley–Terry ratings (400·θ + 1000) with a seeded bootstrap 95% interval over battles.

    ``models`` fixes the order (and may include models without battles); by default the sorted
    names that occur. ``rounds=0`` skips the bootstrap (the bounds then equal the rating).
    """
    if not len(model_a) == len(model_b) == len(winner):
        raise ValueError(f"lengths differ: {len(model_a)} model_a, {len(model_b)} model_b, {len(winner)} winner")
    names = list(models) if models is not None else sorted(set(model_a) | set(model_b))
    n = len(names)
    if n == 0:
        empty = np.zeros(0)
        return Ratings([], empty, empty, empty, np.zeros(0, dtype=int), rounds)
    groups = _collapse(names, model_a, model_b, winner)
    played = np.bincount(groups.i, groups.count, n) + np.bincount(groups.j, groups.count, n)
    point = _to_rating(_fit(groups, groups.count[None, :], n, reg)[0])
    if rounds <= 0 or len(winner) == 0:
        return Ratings(names, point, point.copy(), point.copy(), played.astype(int), 0)
    rng = np.random.default_rng(seed)
    total = int(groups.count.sum())
    resampled = rng.multinomial(total, groups.count / total, size=rounds).astype(np.float64)
    boot = _to_rating(_fit(groups, resampled, n, reg))
    lower, upper = np.percentile(boot, [2.5, 97.5], axis=0)
    return Ratings(names, point, lower, upper, played.astype(int), rounds)


def simulate_battles(
    strengths: Sequence[float], n: int, *, seed: int = 0, tie_rate: float = 0.0
) -> tuple[list[str], list[str], list[str]]:
    """Battles among models ``m0..mK`` whose true ratings are ``strengths`` (rating scale).

    Used by tests and the bench: a tie happens with probability ``tie_rate``; otherwise the
    winner follows the Bradley–Terry probability. Note that ties drawn regardless of strength
    pull the fitted ratings towards the mean under the half-win rule, so recovery checks use
    ``tie_rate=0``.
    """
    rng = np.random.default_rng(seed)
    k = len(strengths)
    theta = (np.asarray(strengths, dtype=float) - BASE) / SCALE
    a = rng.integers(0, k, n)
    b = (a + rng.integers(1, k, n)) % k  # never equal to a
    p_a = 1.0 / (1.0 + 10.0 ** (theta[b] - theta[a]))
    u = rng.random(n)
    tie = rng.random(n) < tie_rate
    names = np.array([f"m{i}" for i in range(k)])
    winner = np.where(tie, TIE, np.where(u < p_a, A_WINS, B_WINS))
    return names[a].tolist(), names[b].tolist(), winner.tolist()
