"""The MCLP solvers behind :func:`lifecircle.plans.sites.solve_mclp`: the reduced problem
(demand points that need a site and can reach one), the uncapacitated integer programme and its
LP / Lagrangian / submodular bounds, greedy + swap, and the capacitated assignment model.
Residents are counts of people; ``k`` is a number of sites."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray
from scipy.optimize import Bounds, LinearConstraint, linprog, milp
from scipy.sparse import csr_matrix, diags, hstack, identity, vstack

from lifecircle.i18n import t

if TYPE_CHECKING:
    from lifecircle.plans.sites import SiteSettings


# ------------------------------------------------------------------------------------- reductions
@dataclass
class _Reduced:
    """The instance that matters: demand rows that are uncovered, weighted and coverable (identical
    rows merged, weights summed), and candidate columns that cover at least one of them."""

    A: csr_matrix  # rows x cols, ones
    At: csr_matrix  # cols x rows
    w: NDArray[np.float64]
    cols: NDArray[np.int64]  # original candidate index of each column
    cap: NDArray[np.float64] | None  # residents per column (inf = unlimited)

    @property
    def n_rows(self) -> int:
        return self.A.shape[0]

    @property
    def n_cols(self) -> int:
        return self.A.shape[1]


def _reduce(cover: csr_matrix, w: NDArray, need: NDArray[np.bool_], cap: NDArray | None) -> _Reduced:
    pat = csr_matrix((np.ones(cover.nnz), cover.indices, cover.indptr), shape=cover.shape)
    rows = np.flatnonzero(need & (w > 0) & (np.diff(pat.indptr) > 0))
    sub = pat[rows]
    cols = np.flatnonzero(np.diff(sub.tocsc().indptr) > 0)
    sub = sub[:, cols].tocsr()
    sub.sort_indices()
    # merge identical rows (e.g. homes on the same street): one row, summed residents
    keys: dict[bytes, int] = {}
    group = np.empty(sub.shape[0], dtype=np.int64)
    for r in range(sub.shape[0]):
        key = sub.indices[sub.indptr[r] : sub.indptr[r + 1]].tobytes()
        group[r] = keys.setdefault(key, len(keys))
    _, first = np.unique(group, return_index=True)
    wr = np.bincount(group, weights=w[rows], minlength=len(keys)).astype(np.float64)
    A = sub[first].tocsr() if len(keys) else csr_matrix((0, len(cols)))
    A.sort_indices()
    return _Reduced(A, A.T.tocsr(), wr, cols.astype(np.int64), None if cap is None else cap[cols])


def _value(red: _Reduced, S: Sequence[int]) -> float:
    """Residents covered by columns ``S`` (uncapacitated)."""
    if len(S) == 0 or red.n_rows == 0:
        return 0.0
    cnt = red.A[:, list(S)].sum(axis=1).A1
    return float(red.w[cnt > 0].sum())


def _order_and_marginals(red: _Reduced, S: Sequence[int]) -> tuple[list[int], NDArray[np.float64]]:
    """Order chosen columns greedily by marginal gain; drop those that add nobody."""
    r = red.w.copy()
    left = list(S)
    order, gains = [], []
    while left:
        g = np.array([red.At[j] @ r for j in left]).ravel()
        b = int(np.argmax(g))
        if g[b] <= 0:
            break
        j = left.pop(b)
        order.append(j)
        gains.append(float(g[b]))
        r[red.At[j].indices] = 0.0
    return order, np.asarray(gains, dtype=np.float64)


# ------------------------------------------------------------------------------- uncapacitated
def _mclp_milp(red: _Reduced, k: int, *, integral: bool, time_limit_s: float, mip_rel_gap: float) -> Any:
    """max w.y  s.t.  y_i <= sum_j a_ij x_j,  sum x <= k,  x binary (or [0,1]), y in [0,1]."""
    nr, nc = red.n_rows, red.n_cols
    c = np.concatenate([np.zeros(nc), -red.w])
    cover = hstack([-red.A, identity(nr, format="csr")]).tocsr()
    card = csr_matrix(np.concatenate([np.ones(nc), np.zeros(nr)])[None, :])
    cons = [LinearConstraint(cover, -np.inf, 0.0), LinearConstraint(card, 0.0, float(k))]
    if not integral:
        return _lp(
            c,
            vstack([cover, card]).tocsr(),
            np.concatenate([np.zeros(nr), [float(k)]]),
            np.zeros(nc + nr),
            np.ones(nc + nr),
            time_limit_s,
        )
    integ = np.concatenate([np.ones(nc), np.zeros(nr)])
    opts = {"time_limit": float(time_limit_s), "presolve": True, "mip_rel_gap": float(mip_rel_gap)}
    return milp(c, constraints=cons, integrality=integ, bounds=Bounds(0.0, 1.0), options=opts)


def _lp(c: NDArray, M: csr_matrix, ub: NDArray, lo: NDArray, hi: NDArray, time_limit_s: float) -> Any:
    """min c.x s.t. M x <= ub, lo <= x <= hi, by HiGHS's interior point method with crossover
    (several times faster than simplex on these degenerate covering LPs)."""
    return linprog(
        c,
        A_ub=M,
        b_ub=ub,
        bounds=np.column_stack([lo, hi]),
        method="highs-ipm",
        options={"time_limit": float(time_limit_s)},
    )


def _greedy(red: _Reduced, k: int) -> tuple[list[int], float]:
    r = red.w.copy()
    S: list[int] = []
    total = 0.0
    for _ in range(min(k, red.n_cols)):
        g = red.At @ r
        if S:
            g[S] = -1.0
        j = int(np.argmax(g))
        if g[j] <= 0:
            break
        S.append(j)
        total += float(g[j])
        r[red.At[j].indices] = 0.0
    return S, total


def _swap(red: _Reduced, S: list[int], max_rounds: int) -> tuple[list[int], int]:
    """1-opt interchange: repeatedly make the best swap (one chosen site out, one other in) that
    covers more residents, until none does. Returns the local optimum and the number of swaps."""
    S = list(S)
    if not S or len(S) >= red.n_cols:
        return S, 0
    tol = 1e-9 * max(1.0, float(red.w.sum()))
    cnt = red.A[:, S].sum(axis=1).A1
    swaps = 0
    for _ in range(max_rounds):
        one = red.w * (cnt == 1)
        gain0 = red.At @ (red.w * (cnt == 0))  # residents a new site adds as things stand
        AS = red.A[:, S]
        loss = AS.T @ one  # residents only site s covers
        overlap = (red.At @ AS.multiply(one[:, None]).tocsc()).toarray()  # cols x |S|
        delta = gain0[:, None] + overlap - loss[None, :]
        delta[S, :] = -np.inf
        c, s = np.unravel_index(int(np.argmax(delta)), delta.shape)
        if delta[c, s] <= tol:
            break
        out = S[s]
        cnt[red.At[out].indices] -= 1
        cnt[red.At[c].indices] += 1
        S[s] = int(c)
        swaps += 1
    return S, swaps


def _submodular_bound(red: _Reduced, S: Sequence[int], k: int) -> float:
    """f(S) + the k largest marginal gains w.r.t. S: an upper bound on f(S*) for any |S*| <= k
    (coverage is monotone submodular)."""
    cnt = red.A[:, list(S)].sum(axis=1).A1 if len(S) else np.zeros(red.n_rows)
    g = red.At @ (red.w * (cnt == 0))
    g[list(S)] = 0.0
    top = np.sort(g)[::-1][:k]
    return float(red.w[cnt > 0].sum() + top.sum())


def _lagrangian_bound(red: _Reduced, k: int, lower: float, iters: int) -> float:
    """Lagrangian bound: relax ``y_i <= sum_j a_ij x_j`` with multipliers ``0 <= lam_i <= w_i``;
    ``L(lam) = sum_i max(0, w_i - lam_i) + (sum of the k largest positive A'lam)`` bounds the
    optimum from above for every such ``lam``. Subgradient steps (Polyak, towards ``lower``, the
    best known value) drive it down to about the LP bound in milliseconds."""
    w = red.w
    lam = 0.5 * w
    best, theta, stall = np.inf, 2.0, 0
    k = min(k, red.n_cols)
    for _ in range(iters):
        c = red.At @ lam
        top = np.argpartition(-c, k - 1)[:k] if k < len(c) else np.arange(len(c))
        top = top[c[top] > 0]
        val = float(np.maximum(w - lam, 0.0).sum() + c[top].sum())
        if val < best * (1 - 1e-12):
            best, stall = val, 0
        else:
            stall += 1
            if stall >= 15:
                theta, stall = theta / 2, 0
        g = np.asarray(red.A[:, top].sum(axis=1)).ravel() - (w > lam)
        nn = float(g @ g)
        if nn == 0 or best - lower <= 1e-9 * best or theta < 1e-6:
            break
        lam = np.clip(lam - theta * (val - lower) / nn * g, 0.0, w)
    return best * (1 + 1e-9)


# --------------------------------------------------------------------------------- capacitated
def _cap_model(
    red: _Reduced, k: int, *, integral: bool, x_fixed: NDArray | None, time_limit_s: float, mip_rel_gap: float
) -> Any:
    """Assignment model. Variables x_j (site open) and z_e for each covered pair e = (i, j): the
    share of row i's residents served by site j.
    max sum w_i z_e  s.t.  sum_j z_ij <= 1;  sum_i w_i z_ij <= cap_j x_j;  z_ij <= x_j;  sum x <= k.
    """
    A = red.A.tocoo()
    rows, cols = A.row, A.col
    ne, nr, nc = len(rows), red.n_rows, red.n_cols
    assert red.cap is not None
    capj = np.minimum(red.cap, np.asarray(red.At @ red.w).ravel())  # never more than it can reach
    we = red.w[rows]
    e_idx = np.arange(ne)
    c = np.concatenate([np.zeros(nc), -we])
    R = hstack([csr_matrix((nr, nc)), csr_matrix((np.ones(ne), (rows, e_idx)), shape=(nr, ne))])
    C = hstack([-diags(capj), csr_matrix((we, (cols, e_idx)), shape=(nc, ne))])
    Z = hstack([csr_matrix((-np.ones(ne), (e_idx, cols)), shape=(ne, nc)), identity(ne)])
    K = csr_matrix(np.concatenate([np.ones(nc), np.zeros(ne)])[None, :])
    M = vstack([R, C, Z, K]).tocsr()
    ub = np.concatenate([np.ones(nr), np.zeros(nc), np.zeros(ne), [float(k)]])
    lo_x = np.zeros(nc) if x_fixed is None else x_fixed
    hi_x = np.ones(nc) if x_fixed is None else x_fixed
    bounds = Bounds(np.concatenate([lo_x, np.zeros(ne)]), np.concatenate([hi_x, np.ones(ne)]))
    if integral and x_fixed is None:
        integ = np.concatenate([np.ones(nc), np.zeros(ne)])
        opts = {"time_limit": float(time_limit_s), "presolve": True, "mip_rel_gap": float(mip_rel_gap)}
        res = milp(c, constraints=LinearConstraint(M, -np.inf, ub), integrality=integ, bounds=bounds, options=opts)
    else:
        res = _lp(c, M, ub, bounds.lb, bounds.ub, time_limit_s)
    res.edge_cols = cols
    res.edge_w = we
    return res


def _cap_assignment(red: _Reduced, S: Sequence[int], time_limit_s: float) -> tuple[float, dict[int, float]]:
    """Best assignment of residents to the open sites ``S`` (an LP): total and residents per site."""
    if not S:
        return 0.0, {}
    x = np.zeros(red.n_cols)
    x[list(S)] = 1.0
    res = _cap_model(red, len(S), integral=False, x_fixed=x, time_limit_s=time_limit_s, mip_rel_gap=0.0)
    if res.x is None:
        return 0.0, {j: 0.0 for j in S}
    per = np.bincount(res.edge_cols, weights=res.edge_w * res.x[red.n_cols :], minlength=red.n_cols)
    return float(-res.fun), {int(j): float(per[j]) for j in S}


def _cap_greedy(red: _Reduced, k: int) -> list[int]:
    """Open the site serving the most still-unserved residents up to its capacity; serve first the
    residents with the fewest alternatives."""
    assert red.cap is not None
    r = red.w.copy()
    deg = np.diff(red.A.indptr)
    S: list[int] = []
    for _ in range(min(k, red.n_cols)):
        g = np.minimum(red.cap, red.At @ r)
        if S:
            g[S] = -1.0
        j = int(np.argmax(g))
        if g[j] <= 0:
            break
        S.append(j)
        left = float(red.cap[j])
        rows = red.At[j].indices
        for i in rows[np.argsort(deg[rows], kind="stable")]:
            take = min(left, r[i])
            r[i] -= take
            left -= take
            if left <= 0:
                break
    return S


# -------------------------------------------------------------------------------------- solvers
@dataclass
class _Solution:
    S: list[int]
    value: float
    bound: float
    optimal: bool
    method: str
    notes: list[str]
    per_site: dict[int, float] | None = None  # capacitated: residents assigned per column


def _exact(red: _Reduced, k: int, st: SiteSettings) -> _Solution | None:
    if red.cap is None:
        lp = _mclp_milp(red, k, integral=False, time_limit_s=st.time_limit_s, mip_rel_gap=0.0)
        if lp.status == 0 and lp.x is not None:
            x = lp.x[: red.n_cols]
            if np.all(np.minimum(x, 1.0 - x) <= 1e-7):  # the LP optimum is integral: it is the answer
                S = [int(j) for j in np.flatnonzero(x > 0.5)]
                value, bound = _value(red, S), -float(lp.fun) * (1 + 1e-9)
                if value >= bound * (1 - 1e-6):
                    return _Solution(
                        S,
                        value,
                        max(bound, value),
                        True,
                        "exact",
                        [t("线性松弛的最优解即为整数解", "the LP relaxation's optimum is integral")],
                    )
        res = _mclp_milp(red, k, integral=True, time_limit_s=st.time_limit_s, mip_rel_gap=st.mip_rel_gap)
    else:
        res = _cap_model(red, k, integral=True, x_fixed=None, time_limit_s=st.time_limit_s, mip_rel_gap=st.mip_rel_gap)
    if res.x is None:
        return None
    S = [int(j) for j in np.flatnonzero(res.x[: red.n_cols] > 0.5)]
    per = None
    if red.cap is None:
        value = _value(red, S)
    else:
        value, per = _cap_assignment(red, S, st.time_limit_s)
    dual = getattr(res, "mip_dual_bound", None)
    bound = -float(dual) if dual is not None and np.isfinite(dual) else value
    bound = max(bound, value)
    optimal = res.status == 0 and bound - value <= max(st.mip_rel_gap * bound, 1e-6 * max(1.0, bound))
    notes = []
    if res.status == 1:
        notes.append(
            t(
                f"精确求解达到时间上限 {st.time_limit_s:g} 秒，给出当前最优解与上界",
                f"exact solver hit its {st.time_limit_s:g} s time limit; best answer and bound so far",
            )
        )
    return _Solution(S, value, bound, optimal, "exact", notes, per)


def _heuristic(red: _Reduced, k: int, st: SiteSettings, *, lp_bound: bool = True) -> _Solution:
    notes: list[str] = []
    if red.cap is None:
        S, g_val = _greedy(red, k)
        S, swaps = _swap(red, S, st.swap_max_rounds)
        value = _value(red, S)
        bounds = {
            "submodular": _submodular_bound(red, S, k),
            "Lagrangian": _lagrangian_bound(red, k, value, st.lagrangian_iters),
        }
        if len(S) == min(k, red.n_cols) and g_val > 0:
            bounds["greedy (1-1/e)"] = g_val / (1.0 - 1.0 / math.e)
        notes.append(t(f"贪心后交换改进 {swaps} 次", f"greedy, then {swaps} improving swaps"))
        per = None
    else:
        S = _cap_greedy(red, k)
        value, per = _cap_assignment(red, S, st.time_limit_s)
        reach = np.minimum(red.cap, red.At @ red.w)
        bounds = {"capacity": float(min(red.w.sum(), np.sort(reach)[::-1][:k].sum()))}
        notes.append(t("按容量贪心，再按线性规划重新分配居民", "capacitated greedy, residents then re-assigned by LP"))
    if lp_bound and red.A.nnz <= st.lp_bound_max_nnz:
        if red.cap is None:
            lp = _mclp_milp(red, k, integral=False, time_limit_s=st.time_limit_s, mip_rel_gap=0.0)
        else:
            lp = _cap_model(red, k, integral=False, x_fixed=None, time_limit_s=st.time_limit_s, mip_rel_gap=0.0)
        if lp.status == 0 and lp.fun is not None:
            bounds["LP relaxation"] = -float(lp.fun) * (1 + 1e-9) + 1e-9
    name, bound = min(bounds.items(), key=lambda kv: kv[1])
    bound = max(bound, value)
    notes.append(t(f"上界来自：{name}", f"bound from: {name}"))
    optimal = bound - value <= 1e-6 * max(1.0, bound)
    return _Solution(S, value, bound, optimal, "heuristic", notes, per)
