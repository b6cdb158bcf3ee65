"""Choice of circle centres: ``quota`` columns of a gain matrix (communities x candidates, in
residents-equivalents) that maximise residents within the walk plus a closeness credit. Exact
integer programme (HiGHS via :func:`scipy.optimize.milp`) when small, greedy then swap beyond."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray
from scipy.optimize import Bounds, LinearConstraint, milp
from scipy.sparse import coo_matrix

from lifecircle.plans.circles.candidates import DistrictCandidates
from lifecircle.plans.circles.config import DelineationSettings


@dataclass
class ChoiceResult:
    """Chosen candidates (positions in the pool, in choice order), how they were found, the
    objective (residents-equivalents), its upper bound and the relative gap."""

    chosen: list[int]
    method: str
    objective: float
    bound: float
    gap: float
    optimal: bool


def _value(G: NDArray, S: Sequence[int]) -> float:
    if len(S) == 0:
        return 0.0
    return float(G[:, list(S)].max(axis=1).sum())


def _greedy(G: NDArray, bonus: NDArray, fixed: list[int], k: int, allowed: NDArray[np.bool_]) -> list[int]:
    S = list(fixed)
    best = G[:, S].max(axis=1) if S else np.zeros(G.shape[0])
    avail = allowed.copy()
    avail[S] = False
    for _ in range(k):
        if not avail.any():
            break
        gain = np.maximum(G - best[:, None], 0.0).sum(axis=0) + bonus
        gain[~avail] = -np.inf
        j = int(np.argmax(gain))
        S.append(j)
        avail[j] = False
        best = np.maximum(best, G[:, j])
    return S


def _swap(
    G: NDArray, bonus: NDArray, S: list[int], fixed: set[int], allowed: NDArray[np.bool_], max_rounds: int
) -> list[int]:
    """1-opt interchange: replace one free chosen centre by one unchosen candidate while that
    raises the objective (value + bonus) by more than a rounding error."""
    S = list(S)
    for _ in range(max_rounds):
        cur = _value(G, S) + float(bonus[S].sum())
        best_gain, best_move = 1e-9 * max(1.0, abs(cur)), None
        outside = allowed.copy()
        outside[S] = False
        if not outside.any():
            break
        for pos, s in enumerate(S):
            if s in fixed:
                continue
            rest = [x for x in S if x != s]
            base = G[:, rest].max(axis=1) if rest else np.zeros(G.shape[0])
            vals = np.maximum(G, base[:, None]).sum(axis=0) + bonus + float(bonus[rest].sum())
            vals[~outside] = -np.inf
            j = int(np.argmax(vals))
            if vals[j] - cur > best_gain:
                best_gain, best_move = vals[j] - cur, (pos, j)
        if best_move is None:
            break
        S[best_move[0]] = best_move[1]
    return S


def _choose_exact(
    G: NDArray, bonus: NDArray, fixed: list[int], k: int, allowed: NDArray[np.bool_], time_limit_s: float
) -> tuple[list[int], float, float, bool] | None:
    """Exact choice by an integer programme: max sum_i sum_j G_ij z_ij + bonus . x, with
    sum_j z_ij <= 1, z_ij <= x_j, sum x_j = |fixed| + k. ``None`` when HiGHS finds no solution."""
    n_i, n_j = G.shape
    ii, jj = np.nonzero(G > 0)
    n_p = len(ii)
    q = len(fixed) + k
    c = -np.concatenate([bonus, G[ii, jj]])
    rows = []
    # sum_j z_ij <= 1
    a1 = coo_matrix((np.ones(n_p), (ii, n_j + np.arange(n_p))), shape=(n_i, n_j + n_p))
    rows.append(LinearConstraint(a1, -np.inf, 1.0))
    # z_p - x_j <= 0
    r = np.arange(n_p)
    a2 = coo_matrix(
        (np.concatenate([np.ones(n_p), -np.ones(n_p)]), (np.concatenate([r, r]), np.concatenate([n_j + r, jj]))),
        shape=(n_p, n_j + n_p),
    )
    rows.append(LinearConstraint(a2, -np.inf, 0.0))
    a3 = coo_matrix((np.ones(n_j), (np.zeros(n_j, int), np.arange(n_j))), shape=(1, n_j + n_p))
    rows.append(LinearConstraint(a3, q, q))
    lo = np.zeros(n_j + n_p)
    hi = np.ones(n_j + n_p)
    lo[fixed] = 1.0
    hi[:n_j][~allowed] = 0.0
    hi[fixed] = 1.0
    integrality = np.concatenate([np.ones(n_j), np.zeros(n_p)])
    res = milp(
        c,
        constraints=rows,
        integrality=integrality,
        bounds=Bounds(lo, hi),
        options={"time_limit": float(time_limit_s), "mip_rel_gap": 0.0, "disp": False},
    )
    if res.x is None:
        return None
    x = res.x[:n_j] > 0.5
    chosen = [int(j) for j in np.flatnonzero(x) if j not in set(fixed)]
    value = -float(res.fun)
    bound = -float(getattr(res, "mip_dual_bound", res.fun) or res.fun)
    return chosen, value, max(bound, value), res.status == 0


def choose_centres(
    G: NDArray,
    k: int,
    *,
    fixed: Sequence[int] = (),
    bonus: NDArray | None = None,
    allowed: NDArray[np.bool_] | None = None,
    settings: DelineationSettings | None = None,
    method: str = "auto",
) -> ChoiceResult:
    """Choose ``k`` more columns of the gain matrix ``G`` (communities x candidates, residents-
    equivalents) besides ``fixed`` ones, maximising ``sum_i max_{j in S} G_ij + sum_{j in S} bonus_j``.

    ``method``: ``exact`` (HiGHS), ``heuristic`` (greedy + swap) or ``auto`` (exact when the
    number of positive entries of ``G`` is at most ``settings.exact_max_pairs``). The returned
    ``chosen`` excludes ``fixed`` and is in greedy order within the chosen set.
    """
    st = settings or DelineationSettings()
    _n_i, n_j = G.shape
    bonus = np.zeros(n_j) if bonus is None else np.asarray(bonus, float)
    allowed = np.ones(n_j, bool) if allowed is None else np.asarray(allowed, bool)
    fixed = [int(f) for f in fixed]
    k = min(k, int(allowed.sum()) - len(set(fixed) & set(np.flatnonzero(allowed))))
    if k <= 0:
        v = _value(G, fixed) + float(bonus[fixed].sum())
        return ChoiceResult([], "none", v, v, 0.0, True)
    use_exact = method == "exact" or (method == "auto" and int((G > 0).sum()) + n_j <= st.exact_max_pairs)
    heur = _swap(G, bonus, _greedy(G, bonus, fixed, k, allowed), set(fixed), allowed, st.swap_max_rounds)
    h_val = _value(G, heur) + float(bonus[heur].sum())
    chosen, value, bound, optimal, how = [j for j in heur if j not in set(fixed)], h_val, np.inf, False, "heuristic"
    if use_exact:
        ex = _choose_exact(G, bonus, fixed, k, allowed, st.exact_time_limit_s)
        if ex is not None:
            e_chosen, e_val, e_bound, e_opt = ex
            e_val = _value(G, fixed + e_chosen) + float(bonus[fixed + e_chosen].sum())
            if e_val >= h_val - 1e-9 * max(1.0, abs(h_val)):
                chosen, value, optimal, how = e_chosen, e_val, e_opt, "exact"
            bound = e_bound if not e_opt else max(value, e_bound)
    if not np.isfinite(bound):
        # submodular bound: value + the k largest marginal gains over the chosen set
        S = fixed + chosen
        best = G[:, S].max(axis=1)
        gains = np.maximum(G - best[:, None], 0.0).sum(axis=0) + np.maximum(bonus, 0.0)
        gains[S] = 0.0
        gains[~allowed] = 0.0
        bound = value + float(np.sort(gains)[::-1][:k].sum())
    # order the chosen set greedily (for the explanation)
    order = _greedy(G, bonus, fixed, len(chosen), np.isin(np.arange(n_j), chosen))[len(fixed) :]
    gap = 0.0 if optimal else (bound - value) / max(abs(bound), 1e-12)
    return ChoiceResult(order, how, value, bound, max(gap, 0.0), optimal)


# ------------------------------------------------------------------------------- per district
@dataclass
class CentreChoice:
    """The centres of one district: ``chosen`` positions in its candidate pool (phase by phase,
    greedy order within a phase), ``phases`` (the phase of each), ``methods`` (per phase with a
    quota), and ``objective``/``bound`` of the last phase's choice in residents-equivalents
    (the preference bonus for real candidates taken off)."""

    chosen: list[int]
    phases: list[str]
    methods: list[str] = field(default_factory=list)
    objective: float = 0.0
    bound: float = 0.0

    def __len__(self) -> int:
        return len(self.chosen)


def choose_district_centres(
    cands: DistrictCandidates, phases: Sequence[str], *, settings: DelineationSettings, method: str = "auto"
) -> CentreChoice:
    """Step 3 (per district): choose each phase's quota of centres among the pool, the centres of
    earlier phases fixed (:func:`choose_centres`)."""
    chosen: list[int] = []
    chosen_phase: list[str] = []
    methods, objective, bound = [], 0.0, 0.0
    allowed = np.ones(len(cands.pool), bool)
    for p, q in zip(phases, cands.quotas, strict=True):
        if q == 0:
            continue
        res = choose_centres(
            cands.gain, q, fixed=chosen, bonus=cands.bonus, allowed=allowed, settings=settings, method=method
        )
        chosen += res.chosen
        chosen_phase += [p] * len(res.chosen)
        methods.append(res.method)
        objective, bound = res.objective, res.bound
    b_total = float(cands.bonus[chosen].sum())
    return CentreChoice(chosen, chosen_phase, methods, objective - b_total, bound - b_total)
