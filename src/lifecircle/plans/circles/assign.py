"""Assignment of communities to chosen centres: minimise walking cost with a penalty for circle
sizes (residents) outside the size range; every centre gets at least one community."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy.optimize import Bounds, LinearConstraint, milp
from scipy.sparse import csr_matrix

from lifecircle.i18n import t
from lifecircle.network import WalkNetwork
from lifecircle.network.engine import within
from lifecircle.plans.circles.candidates import CommunityTable, DistrictCandidates
from lifecircle.plans.circles.choose import CentreChoice
from lifecircle.plans.circles.config import DelineationSettings
from lifecircle.plans.circles.walking import walk_matrix


def _penalty(pop: NDArray, lo: float, hi: float, lam: float) -> NDArray:
    return lam * (np.maximum(pop - hi, 0.0) + np.maximum(lo - pop, 0.0))


def assign_communities(
    cost: NDArray,
    w: NDArray,
    lo: float,
    hi: float,
    *,
    size_penalty: float,
    exact_max_pairs: int = 20_000,
    time_limit_s: float = 10.0,
) -> tuple[NDArray[np.int64], str]:
    """Assign each row (community) to one column (centre) minimising ``sum cost + size_penalty x
    (residents above hi + below lo)`` per column, with at least one community per column.

    ``cost``: finite ``(n, q)``; ``w``: residents per community. Exact MILP when ``n x q <=
    exact_max_pairs``; else nearest then single-move local search. Returns (column per row, method).
    """
    n, q = cost.shape
    if q == 1:
        return np.zeros(n, dtype=np.int64), "trivial"
    if n * q <= exact_max_pairs:
        nv = n * q
        # variables: x (n*q, row-major), over (q), under (q)
        c = np.concatenate([cost.ravel(), np.full(2 * q, size_penalty)])
        ri = np.repeat(np.arange(n), q)
        cj = np.tile(np.arange(q), n)
        one = LinearConstraint(csr_matrix((np.ones(nv), (ri, np.arange(nv))), shape=(n, nv + 2 * q)), 1.0, 1.0)
        cols = np.arange(nv)
        size_hi = csr_matrix(
            (
                np.concatenate([w[ri], -np.ones(q)]),
                (np.concatenate([cj, np.arange(q)]), np.concatenate([cols, nv + np.arange(q)])),
            ),
            shape=(q, nv + 2 * q),
        )
        size_lo = csr_matrix(
            (
                np.concatenate([w[ri], np.ones(q)]),
                (np.concatenate([cj, np.arange(q)]), np.concatenate([cols, nv + q + np.arange(q)])),
            ),
            shape=(q, nv + 2 * q),
        )
        nonempty = csr_matrix((np.ones(nv), (cj, cols)), shape=(q, nv + 2 * q))
        cons = [
            one,
            LinearConstraint(size_hi, -np.inf, hi),
            LinearConstraint(size_lo, lo, np.inf),
            LinearConstraint(nonempty, 1.0, np.inf),
        ]
        hi_b = np.concatenate([np.ones(nv), np.full(2 * q, np.inf)])
        res = milp(
            c,
            constraints=cons,
            integrality=np.concatenate([np.ones(nv), np.zeros(2 * q)]),
            bounds=Bounds(np.zeros(nv + 2 * q), hi_b),
            options={"time_limit": float(time_limit_s), "mip_rel_gap": 1e-6, "disp": False},
        )
        if res.x is not None:
            x = res.x[:nv].reshape(n, q)
            return np.argmax(x, axis=1).astype(np.int64), "exact" if res.status == 0 else "exact (time limit)"
    return _assign_local(cost, w, lo, hi, size_penalty), "heuristic"


def _assign_local(
    cost: NDArray, w: NDArray, lo: float, hi: float, lam: float, max_passes: int = 50
) -> NDArray[np.int64]:
    n, q = cost.shape
    a = np.argmin(cost, axis=1).astype(np.int64)
    # every column gets at least one row: the cheapest row not the only member of its column
    for j in range(q):
        if (a == j).any():
            continue
        counts = np.bincount(a, minlength=q)
        movable = counts[a] > 1
        extra = cost[:, j] - cost[np.arange(n), a]
        extra[~movable] = np.inf
        a[int(np.argmin(extra))] = j
    for _ in range(max_passes):
        improved = False
        pop = np.bincount(a, weights=w, minlength=q)
        counts = np.bincount(a, minlength=q)
        for i in range(n):
            s = a[i]
            if counts[s] <= 1:
                continue
            base = _penalty(pop[s], lo, hi, lam)
            after_s = _penalty(pop[s] - w[i], lo, hi, lam)
            delta = (
                cost[i] - cost[i, s] + (after_s - base) + _penalty(pop + w[i], lo, hi, lam) - _penalty(pop, lo, hi, lam)
            )
            delta[s] = 0.0
            j = int(np.argmin(delta))
            if delta[j] < -1e-9:
                a[i] = j
                pop[s] -= w[i]
                pop[j] += w[i]
                counts[s] -= 1
                counts[j] += 1
                improved = True
        if not improved:
            break
    return a


# ------------------------------------------------------------------------------- per district
@dataclass
class DistrictAssignment:
    """The communities of one district assigned to its chosen centres.

    ``to_chosen``: walking distance (metres, ``inf`` unreachable) members x chosen centres;
    ``unreachable``: members reaching no chosen centre on the network (assigned by straight line);
    ``column``: position in ``CentreChoice.chosen`` per member; ``method``: how it was solved;
    ``walk_m``: walking distance to the assigned centre (metres); ``size_min``/``size_max``: the
    size range used (residents); ``size_note``: why it was scaled ("" when not)."""

    to_chosen: NDArray[np.float64]
    unreachable: NDArray[np.bool_]
    column: NDArray[np.int64]
    method: str
    walk_m: NDArray[np.float64]
    size_min: float
    size_max: float
    size_note: str

    def flags(self, walk_m: float) -> NDArray[np.object_]:
        """Per member: ``unreachable``, ``beyond_walk`` (farther than ``walk_m`` metres) or ``""``."""
        return np.where(self.unreachable, "unreachable", np.where(within(self.walk_m, walk_m), "", "beyond_walk"))

    def unreachable_note(self, label: str) -> str | None:
        """The note on unreachable communities of district ``label``, None when there are none."""
        if not self.unreachable.any():
            return None
        n = int(self.unreachable.sum())
        return t(
            f"区 {label} 有 {n} 个小区在路网上无法到达任何已选中心（未接入路网或孤立路段），"
            "按直线距离划入最近的生活圈并标记",
            f"district {label}: {n} communities cannot reach any chosen centre on the network (not snapped, or a "
            "disconnected piece); assigned by straight-line distance and flagged",
        )


def _size_range(per: float, lo_nom: float, hi_nom: float) -> tuple[float, float, str]:
    """The size range (residents per circle), scaled when the district's residents per circle
    ``per`` fall outside ``lo_nom``–``hi_nom``; with the note saying so ("" when not scaled)."""
    if per > 0 and (per < lo_nom or per > hi_nom) and hi_nom > 0:
        f = per / ((lo_nom + hi_nom) / 2)
        lo, hi = lo_nom * f, hi_nom * f
        return (
            lo,
            hi,
            t(
                f"本区每圈平均 {per:,.0f} 人，不在 {lo_nom:,.0f}–{hi_nom:,.0f} 人之间；规模区间按比例调整为 "
                f"{lo:,.0f}–{hi:,.0f} 人",
                f"{per:,.0f} residents per circle on average, outside {lo_nom:,.0f}–{hi_nom:,.0f}; size range scaled "
                f"to {lo:,.0f}–{hi:,.0f}",
            ),
        )
    return lo_nom, hi_nom, ""


def assign_district(
    net: WalkNetwork,
    cands: DistrictCandidates,
    choice: CentreChoice,
    comms: CommunityTable,
    *,
    walk_m: float,
    size_range: tuple[float, float],
    settings: DelineationSettings,
) -> DistrictAssignment:
    """Step 4 (per district): every member community to one chosen centre by walking distance
    (metres; ``walk_m`` = the walk), balancing circle sizes (residents) within ``size_range``
    (scaled for the district when its residents per circle fall outside it)."""
    st = settings
    R = float(walk_m)
    search_m = max(R * st.search_factor, R)
    chosen = choice.chosen
    w = cands.residents
    n_m = len(cands.members)
    Dsel = walk_matrix(net, cands.member_snap, cands.pool_snap.subset(np.asarray(chosen, dtype=np.int64)))
    unreach = ~np.isfinite(Dsel).any(axis=1)
    cost_d = Dsel.copy()
    if unreach.any():
        cx, cy = comms.snap.x[cands.members], comms.snap.y[cands.members]
        sx, sy = cands.pool_snap.x[chosen], cands.pool_snap.y[chosen]
        straight = np.hypot(cx[unreach, None] - sx[None, :], cy[unreach, None] - sy[None, :])
        cost_d[unreach] = straight + 10 * search_m
    cost_d = np.where(np.isfinite(cost_d), cost_d, 10 * search_m + R * 100)
    wt = np.maximum(w, 1.0)
    cost = wt[:, None] * (cost_d / R + st.outside_penalty * ~within(cost_d, R))
    per = float(w.sum()) / max(len(chosen), 1)
    lo, hi, size_note = _size_range(per, float(size_range[0]), float(size_range[1]))
    a, a_method = assign_communities(
        cost,
        w,
        lo,
        hi,
        size_penalty=st.size_penalty,
        exact_max_pairs=st.exact_max_pairs,
        time_limit_s=st.exact_time_limit_s,
    )
    return DistrictAssignment(Dsel, np.asarray(unreach, bool), a, a_method, Dsel[np.arange(n_m), a], lo, hi, size_note)
